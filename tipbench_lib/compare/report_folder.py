"""Where the compare app may write its report: only inside one output folder.

The compare app takes the report folder from a text box, and whoever reaches the app types it;
taken as given, ``../../.ssh`` or ``/etc/cron.d`` would have the server's user overwrite files
there. So the box names a folder *under* the app's output root (``out/`` in the directory the app
was started from, or ``-- --out-root DIR`` on its command line, which only the person starting the
server controls). Refused: ``..`` anywhere, an absolute path elsewhere, and a symlink (the folder,
a parent, or a file in it) that leads out of the root.

The check runs just before writing; a symlink created between the check and the write by
someone who can write inside the root is outside what this guards against.
"""

from __future__ import annotations

from pathlib import Path

from tipbench_lib.core.errors import TipbenchError

DEFAULT_ROOT = Path("out")


class ReportFolderError(TipbenchError):
    """The report folder typed in the app points outside the output root."""


def output_root(configured: str | Path | None = None) -> Path:
    """The folder reports go under: ``configured`` (the app's ``--out-root``) or ``./out``."""
    return Path(configured or DEFAULT_ROOT).expanduser().resolve()


def report_folder(text: str, root: Path) -> Path:
    """The folder ``text`` names under ``root`` (relative to it, or absolute inside it)."""
    root = Path(root).resolve()
    raw = str(text).strip()
    if not raw:
        raise ReportFolderError(f"name a report folder under {root}, e.g. 'compare'")
    typed = Path(raw).expanduser()
    if ".." in typed.parts:
        raise ReportFolderError(
            f"{raw!r}: '..' is not allowed in the report folder; name a folder under {root}"
        )
    folder = (typed if typed.is_absolute() else root / typed).resolve()
    if not folder.is_relative_to(root):
        raise ReportFolderError(
            f"{raw!r} leads to {folder}, outside the output folder {root}; name a folder under "
            f"it (restart the app with `-- --out-root DIR` to write elsewhere)"
        )
    if folder.is_dir():
        for entry in folder.iterdir():
            if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                raise ReportFolderError(
                    f"{entry} is a symlink to {entry.resolve()}, outside the output folder "
                    f"{root}; remove it or choose another report folder"
                )
    return folder
