"""The append-only journal: every candidate and judgment is written here before MLflow sees it.

A line is one JSON record, flushed and fsynced before the caller goes on, so a crash, a ``kill -9``
or an MLflow outage never loses work: the next run reads the journal and sends what MLflow lacks.
A line torn by a crash mid-write is the only line that can be incomplete (the last one); readers
skip it and the next writer cuts it off, since its record was never acknowledged to anyone. A last
line that is a complete record but lacks its newline (a file edited by hand, or copied by a tool
that drops the final newline) is a record like any other: readers count it, so the writer keeps it
and only adds the missing newline. Reader and writer share one test of "complete" so they can never
disagree about what the file holds.

Folder and file names come from :func:`name_key`: a readable slug plus a hash of the exact name, so
two different experiments (or judges) never share a journal, whatever characters their names use.
Journals written before that keying (a slug only, see :func:`legacy_slug`) are adopted record by
record by :mod:`tipbench_lib.core.journal_legacy`.

The journals hold people's scores, so only their owner may read them, whatever the umask and
whether or not an embedded MLflow server made the home private: every folder created here is
0700 and every file 0600, and a journal file others could read is tightened at its next append.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import stat
import threading
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.names import check_judge_id
from tipbench_lib.core.paths import tipbench_home

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
SLUG_CHARS = 40
"""Characters of the readable part of a key; the hash, not the slug, is what keeps names apart."""
KEY_HASH_HEX = 8


def name_key(name: str, fallback: str) -> str:
    """A file-system-safe key for ``name`` that no other name can get: ``<slug>-<hash>``.

    The slug (letters of any script, digits, ``.``, ``_`` and ``-``; everything else becomes ``_``)
    is only there for people browsing the folder. The 8 hex digits of SHA-256 over the exact name
    are what tell ``a b``, ``a_b`` and ``a/b`` apart, and keep ``Lab`` and ``lab`` apart on
    case-insensitive file systems (macOS, Windows) too. A name of symbols only gets ``fallback``.
    """
    slug = re.sub(r"[^\w.-]+", "_", unicodedata.normalize("NFC", name))
    slug = slug[:SLUG_CHARS].strip("._-") or fallback
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:KEY_HASH_HEX]
    return f"{slug}-{digest}"


def judge_key(judge_id: str) -> str:
    """A judge's file name stem (journal and MLflow artifacts): unique to the exact id.

    Here, below the judge phase, because the MLflow reader checks that a judge's file on a run
    holds only that judge's records (docs/architecture.md, section 13).
    """
    return name_key(check_judge_id(judge_id), "judge")


def legacy_slug(name: str, fallback: str) -> str:
    """The name as the first journal layout stored it: a slug only, so different names met.

    Kept to find journals written before :func:`name_key`; never used for a new file.
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or fallback


def journal_root(home: Path | None = None) -> Path:
    return (home or tipbench_home()) / "journal"


def experiment_dir(experiment: str, home: Path | None = None) -> Path:
    """``<home>/journal/<slug>-<hash>``: the journal folder of exactly this experiment name."""
    return journal_root(home) / name_key(experiment, "experiment")


def legacy_experiment_dir(experiment: str, home: Path | None = None) -> Path:
    """Where the first layout kept this experiment's journal (shared by colliding names)."""
    return journal_root(home) / legacy_slug(experiment, "experiment")


class Journal:
    """One append-only JSON-lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably; returns only after the bytes reached the disk.

        When this call creates the file (or its folders), their directory entries are fsynced too:
        an fsynced file whose name never reached the disk is gone after a power cut.
        """
        created = make_dirs(self.path.parent)
        is_new = not self.path.exists()
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=True)
        with os.fdopen(open_private_file(self.path, os.O_RDWR | os.O_APPEND), "a+b") as fh:
            _repair_tail(fh)
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        if is_new:
            created.append(self.path.parent)
        for folder in created:
            fsync_dir(folder)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record in order; a torn last line is skipped, never raised."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as fh:
            lines = fh.read().split(b"\n")
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            record = parse_record(raw)
            if record is not None:
                yield record
            elif number == len(lines) or (number == len(lines) - 1 and not lines[-1]):
                continue  # the torn tail of an interrupted write
            else:
                raise TipbenchError(
                    f"{self.path}: line {number} is not a JSON object; the journal was edited by "
                    "hand or damaged. Move the line out of the file to continue."
                )


def parse_record(raw: bytes) -> dict[str, Any] | None:
    """The record on one line, or None when the line is not a complete JSON object.

    A record is always an object, so a prefix of one (a torn write) never parses as one: this is
    the one test both the reader and the writer's tail repair use.
    """
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _repair_tail(fh: BinaryIO) -> None:
    """Make the file end with a newline, keeping a complete last record and cutting a torn one.

    A last line without its newline is either the remains of a write a crash interrupted (never
    acknowledged, and skipped by :meth:`Journal.records`) or a complete record whose newline went
    missing (counted by the reader, so it must stay).
    """
    size = fh.seek(0, os.SEEK_END)
    if size == 0:
        return
    fh.seek(size - 1)
    if fh.read(1) == b"\n":
        return
    fh.seek(0)
    content = fh.read()
    start = content.rfind(b"\n") + 1  # 0 when the last line is the only one
    if parse_record(content[start:]) is not None:
        fh.write(b"\n")
    else:
        fh.truncate(start)
    fh.seek(0, os.SEEK_END)


def make_dirs(folder: Path) -> list[Path]:
    """``mkdir -p`` that returns the parents whose entries changed (to fsync them afterwards).

    Every folder it creates is private (0700) whatever the umask: the first journal write is
    what creates the tipbench home when no embedded server did.
    """
    missing = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            path.mkdir(mode=PRIVATE_FOLDER)
            os.chmod(path, PRIVATE_FOLDER)  # the umask may have taken bits away
    return [path.parent for path in reversed(missing)]


def open_private_file(path: Path, flags: int) -> int:
    """Open ``path`` (creating it) with ``flags``, as a file only its owner can read and write.

    The mode is set after opening, so neither the umask nor an earlier, looser mode stays.
    """
    fd = os.open(path, flags | os.O_CREAT, PRIVATE_FILE)
    if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
        with contextlib.suppress(PermissionError):  # not the owner's: leave its mode alone
            os.fchmod(fd, PRIVATE_FILE)
    return fd


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (names of new files and subfolders) to the disk."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWarning(UserWarning):
    """A journal holds records that are not this journal's owner's: they were left unused."""


def own_records(
    journal: Journal, key: str, owner: str | Callable[[Any], bool]
) -> Iterator[dict[str, Any]]:
    """The records of ``journal`` whose ``key`` is ``owner``'s; the others skipped, with a warning.

    ``owner`` is the value itself, or a test of it when a file is keyed to a name it cannot spell
    out. A keyed file can only hold another owner's record after a hash collision or a hand edit;
    using it would mix two experiments (or judges), so it is left alone and named instead. A
    record without the field is the owner's: only an old-layout file moved here by hand has such
    records, and whoever moved it vouched for them.
    """
    owns = owner if callable(owner) else (lambda value: value == owner)
    foreign: dict[str, int] = {}
    for record in journal.records():
        if key not in record or owns(record[key]):
            yield record
        else:
            foreign[str(record[key])] = foreign.get(str(record[key]), 0) + 1
    if foreign:
        named = ", ".join(f"{count} of {name!r}" for name, count in sorted(foreign.items()))
        whose = f"is not {owner!r}" if isinstance(owner, str) else "does not match the file name"
        warnings.warn(
            f"{journal.path}: ignored record(s) whose {key} {whose} ({named}); they were not "
            "used or sent anywhere. Move them to their own journal if you need them.",
            JournalWarning,
            stacklevel=2,
        )


def create_journal(path: Path, records: list[dict[str, Any]]) -> bool:
    """Create ``path`` holding ``records``, all or nothing; False (and no change) if it exists.

    The lines are written and fsynced under a private name, then linked into place, so a crash
    or a second process doing the same leaves either no file or a complete one, never half.
    """
    created = make_dirs(path.parent)
    spare = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with os.fdopen(open_private_file(spare, os.O_WRONLY | os.O_TRUNC), "wb") as fh:
            for record in records:
                line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
                fh.write(line.encode("utf-8") + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(spare, path)
    except FileExistsError:
        return False
    finally:
        spare.unlink(missing_ok=True)
    for folder in [*created, path.parent]:
        fsync_dir(folder)
    return True


@contextlib.contextmanager
def waiting_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting while another process (or thread) holds it."""
    make_dirs(path.parent)
    with os.fdopen(open_private_file(path, os.O_RDWR | os.O_APPEND), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Refuse a second process working on the same journal at the same time.

    Two collectors on one experiment would both generate the same candidates; the lock turns that
    into a clear message instead of duplicated work.
    """
    make_dirs(path.parent)
    with os.fdopen(open_private_file(path, os.O_RDWR | os.O_APPEND), "a+") as fh:
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
