"""Where tipbench finds its files: the data it ships, a user's own data on top, and its home.

The data (rubrics, prompt versions, scenarios, the sample experiment) ships inside the package, in
``tipbench_lib/data``, so an installed tipbench (a conda environment, a Docker image, a colleague's
machine) has all of it without a checkout. A user's own directory lies on top of it: a file there
with the same relative path as a shipped one (``prompts/v1.toml``, ``scenarios.toml``,
``rubric/tip-v1.toml``) replaces the shipped file, and any other file adds to it. Messages about a
data file say which of the two directories it came from (:func:`origin_of`).

The user's directory is named by ``--data-dir`` on the command line or by ``TIPBENCH_DATA``. The
command line passes its option on through the same variable, for the length of one command
(:func:`data_dir_for`): the statistics look a rubric up by the version a judgment names, deep
below any code that could be handed a parameter, and a child process (the demo's steps) inherits
the variable, so every part of one command reads the same directories.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tipbench_lib.core.errors import TipbenchError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
SHIPPED_DATA = PACKAGE_ROOT / "data"
"""The data shipped in the package (a checkout's and an installed copy's alike)."""
DATA_ENV = "TIPBENCH_DATA"
"""The environment variable naming the user's data directory (``--data-dir`` sets it too)."""


@dataclass(frozen=True)
class DataDirs:
    """The directories data files are looked up in: the user's (if any) first, then the shipped."""

    user: Path | None = None
    shipped: Path = SHIPPED_DATA

    @property
    def roots(self) -> tuple[Path, ...]:
        return (self.user, self.shipped) if self.user is not None else (self.shipped,)

    def file(self, relative: str) -> Path:
        """The user's ``relative`` when it exists, else the shipped one (which may not exist)."""
        if self.user is not None and (self.user / relative).exists():
            return self.user / relative
        return self.shipped / relative

    def folder_files(self, folder: str, pattern: str = "*.toml") -> dict[str, Path]:
        """Every file of ``folder`` in both directories, by name without suffix; the user's win.

        Names only, nothing is read: a malformed file blocks only the runs that ask for it.
        """
        found: dict[str, Path] = {}
        for root in reversed(self.roots):
            found.update({p.stem: p for p in sorted((root / folder).glob(pattern))})
        return dict(sorted(found.items()))

    def where(self, folder: str) -> str:
        """Where ``folder``'s files are looked up, in words for a message."""
        shipped = f"tipbench's shipped data ({self.shipped / folder})"
        if self.user is None:
            return shipped
        return f"your data directory ({self.user / folder}) and {shipped}"

    def origin(self, path: Path | str) -> str:
        """Which directory ``path`` lies in, in words; empty when it lies in neither."""
        resolved = Path(path).resolve()
        if self.user is not None and resolved.is_relative_to(self.user):
            return f"from your data directory {self.user}"
        if resolved.is_relative_to(self.shipped):
            return "shipped with tipbench"
        return ""


def data_dirs(data_dir: str | Path | None = None) -> DataDirs:
    """The data directories: ``data_dir``, else ``TIPBENCH_DATA``, on top of the shipped data."""
    chosen = data_dir if data_dir is not None else os.environ.get(DATA_ENV) or None
    if chosen is None:
        return DataDirs()
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise TipbenchError(
            f"the data directory {path} (from --data-dir or {DATA_ENV}) is not a directory; "
            "create it with your own prompts/, rubric/ or scenarios.toml, or leave it unset to "
            "use the shipped data"
        )
    return DataDirs(path)


def data_files(folder: str, directory: Path | str | None = None) -> tuple[dict[str, Path], str]:
    """Every ``*.toml`` of a data folder by name, and where they were looked for, in words.

    ``directory`` alone when given (a caller's own folder), else ``folder`` of the data
    directories (a user's file replaces the shipped one of the same name).
    """
    if directory is not None:
        return {p.stem: p for p in sorted(Path(directory).glob("*.toml"))}, str(directory)
    dirs = data_dirs()
    return dirs.folder_files(folder), dirs.where(folder)


def origin_of(path: Path | str) -> str:
    """:meth:`DataDirs.origin` under the current settings; empty if they cannot be read."""
    try:
        return data_dirs().origin(path)
    except TipbenchError:  # a bad TIPBENCH_DATA is reported where it is used, not here
        return DataDirs().origin(path)


@contextlib.contextmanager
def data_dir_for(data_dir: str | Path | None) -> Iterator[DataDirs]:
    """Use ``data_dir`` (when given) as the user's data directory until the block ends.

    It is checked first, so a wrong path is refused before anything runs.
    """
    dirs = data_dirs(data_dir)
    if data_dir is None:
        yield dirs
        return
    before = os.environ.get(DATA_ENV)
    os.environ[DATA_ENV] = str(dirs.user)
    try:
        yield dirs
    finally:
        if before is None:
            os.environ.pop(DATA_ENV, None)
        else:
            os.environ[DATA_ENV] = before


def tipbench_home() -> Path:
    """The working directory for the journal, the embedded MLflow store and artifacts.

    ``TIPBENCH_HOME`` moves it; the default is ``.tipbench`` in the current directory so a
    checkout keeps its own state next to it.
    """
    return Path(os.environ.get("TIPBENCH_HOME", ".tipbench")).resolve()
