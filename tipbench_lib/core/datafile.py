"""Reading the TOML data files: every file reports problems the same way.

A malformed scenario, prompt or rubric file fails with the file, the key path (such as
``personas[3].tasks[1].title``) or line, and what was expected, so the fix is obvious.
"""

from __future__ import annotations

import numbers
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipbench_lib.core.errors import DataFileError

_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    numbers.Real: "a number",
    list: "an array",
    dict: "a table",
}


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a DataFileError with line and column."""
    return parse_toml(read_text(path), path)


def read_text(path: Path) -> str:
    """A data file's text; a missing or non-UTF-8 file is a DataFileError naming it."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise DataFileError(path, "file", "not found; expected a TOML data file here") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            path, "file", f"not UTF-8 text ({exc.reason}); save it as UTF-8"
        ) from exc


def parse_toml(text: str, source: Path | str) -> dict[str, Any]:
    """Parse TOML text (a file's, or one recorded elsewhere such as an experiment's rubric).

    tomllib in Python 3.11-3.13 carries the position only inside its message, so it is parsed out
    of the text to give the user a location they can jump to.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        where = f"line {match[1]}, column {match[2]}" if match else "TOML syntax"
        problem = _TOML_POSITION.sub("", message).strip()
        raise DataFileError(
            source, where, f"invalid TOML ({problem}); expected valid TOML"
        ) from exc


@dataclass(frozen=True)
class Table:
    """A TOML table with the file and key path it came from, so every error can name both."""

    data: dict[str, Any]
    file: Path | str
    where: str = ""

    def key_path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str | None, problem: str) -> DataFileError:
        where = self.key_path(key) if key else (self.where or "top level")
        return DataFileError(self.file, where, problem)

    def get(self, key: str, kind: type, *, optional: bool = False) -> Any:
        """The value at ``key``, checked to be of ``kind`` (bools are not integers here)."""
        if key not in self.data:
            if optional:
                return None
            raise self.fail(key, f"missing; expected {_TYPE_NAMES.get(kind, kind.__name__)}")
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(
                key,
                f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got "
                f"{type(value).__name__} {value!r:.60}",
            )
        return value

    def text(self, key: str, *, optional: bool = False) -> str | None:
        """A non-empty string (whitespace-only counts as empty: it would render as nothing)."""
        value = self.get(key, str, optional=optional)
        if value is not None and not value.strip():
            raise self.fail(key, "is empty; expected non-empty text")
        return value

    def identifier(self, key: str) -> str:
        value = self.text(key)
        if not _ID_PATTERN.match(value):
            raise self.fail(
                key, f"{value!r} is not a valid id; expected lowercase letters, digits and dashes"
            )
        return value

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.get(key, int)
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
            raise self.fail(key, f"is {value}; expected an integer {bounds}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list)
        for i, item in enumerate(values):
            if not isinstance(item, str) or not item:
                raise self.fail(f"{key}[{i}]", f"expected a non-empty string, got {item!r:.60}")
        return tuple(values)

    def table(self, key: str) -> Table:
        return Table(self.get(key, dict), self.file, self.key_path(key))

    def tables(self, key: str, *, min_len: int = 1, max_len: int | None = None) -> list[Table]:
        """An array of tables (``[[key]]``), with its length checked."""
        items = self.get(key, list)
        if len(items) < min_len or (max_len is not None and len(items) > max_len):
            span = f"{min_len} to {max_len}" if max_len is not None else f"at least {min_len}"
            raise self.fail(key, f"has {len(items)} entries; expected {span}")
        tables = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", f"expected a table, got {type(item).__name__}")
            tables.append(Table(item, self.file, self.key_path(f"{key}[{i}]")))
        return tables

    def only(self, *allowed: str) -> None:
        """Reject keys the loader does not read, so a typo ("titel") is not silently ignored."""
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            raise self.fail(unknown[0], f"unknown key; expected only {', '.join(allowed)}")


def reject_duplicates(tables: Sequence[Table], ids: Sequence[str], key: str = "id") -> None:
    """Ids are how everything downstream refers to an entry, so two entries may not share one."""
    seen: dict[str, int] = {}
    for index, (table, ident) in enumerate(zip(tables, ids, strict=True)):
        if ident in seen:
            raise table.fail(
                key,
                f"duplicate id {ident!r} (first used by entry {seen[ident]}); "
                "expected every id to be unique",
            )
        seen.setdefault(ident, index)
