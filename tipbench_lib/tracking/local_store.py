"""What can be refused before the embedded MLflow server starts (docs/architecture.md §6).

Starting the embedded server costs about ten seconds, so a misspelt experiment used to be
refused only after it. With no ``MLFLOW_TRACKING_URI`` the server's store is a SQLite file in
the tipbench home, and the experiments' names can be read from it directly, read-only, in a few
milliseconds. The read is used only to *refuse*: a name it finds still goes to the server, which
decides, and whenever the file cannot be read as expected (another MLflow schema, a file that is
not ours, a configured server) the answer is "cannot tell" and the server is asked as before.

The refusal names the closest existing names (:mod:`difflib`) and lists those that exist.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sqlite3
import stat
from collections.abc import Sequence
from pathlib import Path

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.paths import tipbench_home

STORE_NAME = "mlflow.db"
"""The embedded server's SQLite store in the home (``LocalMlflowServer.command``)."""
MAX_NAMES = 10_000
"""More names than this is not a store tipbench made; read no further."""
SHOWN_NAMES = 12


class UnknownExperimentError(TrackingError):
    """No experiment of that name: refused before anything ran."""


def store_path(home: Path | None = None) -> Path:
    return (home or tipbench_home()) / STORE_NAME


def experiment_names_offline(home: Path | None = None) -> list[str] | None:
    """The live experiments of the embedded store, or None when only a server can tell.

    None with ``MLFLOW_TRACKING_URI`` set, or a store that is not a regular file of this user or
    cannot be read as MLflow's; ``[]`` when the home has no store yet (nothing was ever logged).
    """
    if os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return None
    path = store_path(home)
    try:
        info = path.lstat()
    except FileNotFoundError:
        return []
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            rows = db.execute(
                "SELECT name FROM experiments WHERE lifecycle_stage = 'active' LIMIT ?",
                (MAX_NAMES + 1,),
            ).fetchall()
    except sqlite3.Error:
        return None
    if len(rows) > MAX_NAMES:
        return None
    return sorted(str(name) for (name,) in rows if isinstance(name, str))


def missing_experiment_message(name: str, existing: Sequence[str]) -> str:
    """One message: no such experiment, the likely one meant, those that exist, how to make it."""
    collect = shell_command("tipbench", "collect", "--experiment", name, "...")
    text = f"MLflow has no experiment named {name!r}"
    close = difflib.get_close_matches(name, list(existing), n=2, cutoff=0.8)
    if close:
        text += " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
    shown = [n for n in existing if n != "Default"]
    if shown:
        more = f" and {len(shown) - SHOWN_NAMES} more" if len(shown) > SHOWN_NAMES else ""
        text += f". Experiments there: {', '.join(shown[:SHOWN_NAMES])}{more}"
    else:
        text += ". It holds no experiment yet"
    return f"{text}. To start a new one, run `{collect}`"


def refuse_unknown_experiment(name: str, home: Path | None = None) -> None:
    """Raise :class:`UnknownExperimentError` when the embedded store surely lacks ``name``.

    Does nothing when the store holds it or cannot tell (a configured server): then the server
    is asked, as before.
    """
    names = experiment_names_offline(home)
    if names is not None and name not in names:
        raise UnknownExperimentError(missing_experiment_message(name, names))
