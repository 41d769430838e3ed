"""The append-only journal: every candidate and judgment is written here before MLflow sees it.

A line is one JSON record, flushed and fsynced before the caller goes on, so a crash, a ``kill -9``
or an MLflow outage never loses work: the next run reads the journal and sends what MLflow lacks.
A line torn by a crash mid-write is the only line that can be incomplete (the last one); readers
skip it and the next writer cuts it off, since its record was never acknowledged to anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tipbench_lib.errors import TipbenchError
from tipbench_lib.paths import tipbench_home


def experiment_dir(experiment: str, home: Path | None = None) -> Path:
    """The journal folder of one experiment; the name is made safe for any file system."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", experiment).strip("._") or "experiment"
    return (home or tipbench_home()) / "journal" / slug


class Journal:
    """One append-only JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably; returns only after the bytes reached the disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        with open(self.path, "a+b") as fh:
            _drop_torn_tail(fh)
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record in order; a torn last line is skipped, never raised."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except json.JSONDecodeError as exc:
                if number == len(lines) or (number == len(lines) - 1 and not lines[-1]):
                    continue  # the torn tail of an interrupted write
                raise TipbenchError(
                    f"{self.path}: line {number} is not valid JSON ({exc.msg}); the journal was "
                    "edited by hand or damaged. Move the line out of the file to continue."
                ) from exc


def _drop_torn_tail(fh: BinaryIO) -> None:
    """Cut a last line without its newline: the remains of a write a crash interrupted."""
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return
    fh.seek(0)
    fh.truncate(fh.read().rfind(b"\n") + 1)  # 0 when the torn line is the only one
    fh.seek(0, os.SEEK_END)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Refuse a second process working on the same journal at the same time.

    Two collectors on one experiment would both generate the same candidates; the lock turns that
    into a clear message instead of duplicated work.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise TipbenchError(
                f"another process is already {what} (lock {path}); wait for it to finish or stop it"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
