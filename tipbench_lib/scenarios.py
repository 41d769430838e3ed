"""The benchmark's scenarios: who the user is, when the tip is shown, and what is on their list.

A scenario is (persona, time slot, tasks) with a stable id such as ``nurse-evening``. Ids and
content hashes, not positions, identify scenarios, so a cell logged today can be matched to the
same scenario next month, and an edited persona shows up as a different ``content_hash``.

This module also holds the small TOML reading helpers the prompt and rubric loaders share: every
data file reports problems the same way (file, key path or line, what was expected).
"""

from __future__ import annotations

import numbers
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path
from typing import Any

from tipbench_lib.errors import DataFileError, TipbenchError
from tipbench_lib.hashing import content_hash
from tipbench_lib.paths import DATA_DIR

SCENARIOS_FILE = DATA_DIR / "scenarios.toml"
DEFAULT_N_SCENARIOS = 12
PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
MIN_TASKS, MAX_TASKS = 4, 7
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


# --- TOML reading shared by every data file -------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into a DataFileError with line and column.

    tomllib in Python 3.11-3.13 carries the position only inside its message, so it is parsed out
    of the text to give the user a location they can jump to.
    """
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise DataFileError(path, "file", "not found; expected a TOML data file here") from exc
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_POSITION.search(message)
        where = f"line {match[1]}, column {match[2]}" if match else "TOML syntax"
        problem = _TOML_POSITION.sub("", message).strip()
        raise DataFileError(path, where, f"invalid TOML ({problem}); expected valid TOML") from exc


@dataclass(frozen=True)
class Table:
    """A TOML table with the file and key path it came from, so every error can name both."""

    data: dict[str, Any]
    file: Path
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


# --- The scenario data model ---------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One item on the user's task list, as the app would know it."""

    title: str
    priority: str
    estimate_minutes: int
    due: str | None = None

    def render(self) -> str:
        """One bullet line: compact, because small models have small context windows."""
        details = [f"{self.priority} priority", f"{self.estimate_minutes} min"]
        if self.due:
            details.append(f"due {self.due}")
        return f"- {self.title} ({', '.join(details)})"


@dataclass(frozen=True)
class Persona:
    """A user of the app: who they are, how they work, and what limits them."""

    id: str
    name: str
    role: str
    habits: str
    constraints: str
    tasks: tuple[Task, ...]

    @property
    def description(self) -> str:
        """Role, habits and constraints as one paragraph for a prompt."""
        return " ".join((self.role, self.habits, self.constraints))


@dataclass(frozen=True)
class TimeSlot:
    """When the tip is shown; the same task list calls for different tips at 8 am and 9 pm."""

    id: str
    name: str
    description: str


@dataclass(frozen=True)
class Scenario:
    """One benchmark case: a persona at a time slot with their tasks."""

    id: str
    persona: Persona
    time_slot: TimeSlot
    tasks: tuple[Task, ...]

    @property
    def content_hash(self) -> str:
        """Changes whenever anything a prompt could show changes, so edits are never confused."""
        return content_hash(
            {
                "id": self.id,
                "persona": asdict(self.persona),
                "time_slot": asdict(self.time_slot),
                "tasks": [asdict(t) for t in self.tasks],
            }
        )

    def tasks_text(self) -> str:
        """The task list as bullet lines, the ``{tasks}`` placeholder of every prompt."""
        return "\n".join(task.render() for task in self.tasks)

    def context(self) -> dict[str, Any]:
        """A plain-JSON view for judging cards and exports (persona, time slot, tasks)."""
        return {
            "persona": {"name": self.persona.name, "description": self.persona.description},
            "time_slot": {"name": self.time_slot.name, "description": self.time_slot.description},
            "tasks": [asdict(t) for t in self.tasks],
        }


# --- Loading ---------------------------------------------------------------------------------


def _task(table: Table) -> Task:
    table.only("title", "due", "priority", "estimate_minutes")
    priority = table.text("priority")
    if priority not in PRIORITIES:
        raise table.fail("priority", f"is {priority!r}; expected one of {', '.join(PRIORITIES)}")
    return Task(
        title=table.text("title"),
        priority=priority,
        estimate_minutes=table.integer("estimate_minutes", minimum=1, maximum=24 * 60),
        due=table.text("due", optional=True),
    )


def _persona(table: Table) -> Persona:
    table.only("id", "name", "role", "habits", "constraints", "tasks")
    return Persona(
        id=table.identifier("id"),
        name=table.text("name"),
        role=table.text("role"),
        habits=table.text("habits"),
        constraints=table.text("constraints"),
        tasks=tuple(_task(t) for t in table.tables("tasks", min_len=MIN_TASKS, max_len=MAX_TASKS)),
    )


def _time_slot(table: Table) -> TimeSlot:
    table.only("id", "name", "description")
    return TimeSlot(
        id=table.identifier("id"), name=table.text("name"), description=table.text("description")
    )


def load_scenarios(path: Path = SCENARIOS_FILE) -> list[Scenario]:
    """Every (persona, time slot) scenario in the file, persona-major in file order.

    Everything is validated up front so a malformed file fails at load with its location, not
    halfway through a grid run.
    """
    path = Path(path)
    root = Table(read_toml(path), path)
    root.only("time_slots", "personas")
    slot_tables = root.tables("time_slots")
    persona_tables = root.tables("personas")
    slots = [_time_slot(t) for t in slot_tables]
    personas = [_persona(t) for t in persona_tables]
    reject_duplicates(slot_tables, [s.id for s in slots])
    reject_duplicates(persona_tables, [p.id for p in personas])
    return [
        Scenario(id=f"{p.id}-{s.id}", persona=p, time_slot=s, tasks=p.tasks)
        for p in personas
        for s in slots
    ]


# --- Selecting -------------------------------------------------------------------------------


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def spread_order(scenarios: Sequence[Scenario]) -> list[Scenario]:
    """All scenarios in the fixed order ``select_scenarios`` takes a prefix of.

    Position i pairs persona ``i mod P`` with slot ``(i + i // lcm(P, S)) mod S``: any prefix
    covers personas as evenly as possible (the first P are all distinct) and rotates slots evenly,
    and the whole order visits every (persona, slot) pair exactly once. Only arithmetic on file
    order is involved, so every machine gets the same list.
    """
    personas = _first_seen(s.persona.id for s in scenarios)
    slots = _first_seen(s.time_slot.id for s in scenarios)
    by_pair = {(s.persona.id, s.time_slot.id): s for s in scenarios}
    n_p, n_s = len(personas), len(slots)
    block = n_p * n_s // gcd(n_p, n_s)
    ordered = []
    for i in range(n_p * n_s):
        pair = (personas[i % n_p], slots[(i + i // block) % n_s])
        if pair in by_pair:
            ordered.append(by_pair[pair])
    return ordered


def select_scenarios(n: int, scenarios: Sequence[Scenario] | None = None) -> list[Scenario]:
    """The benchmark's first ``n`` scenarios: the same on every machine, spread across personas.

    With n at most the number of personas, every scenario has a different persona and the time
    slots rotate, so a small benchmark is not eight variations of one user.
    """
    pool = list(scenarios) if scenarios is not None else load_scenarios()
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise TipbenchError(f"the number of scenarios must be a positive integer, got {n!r}")
    if n > len(pool):
        raise TipbenchError(
            f"asked for {n} scenarios but only {len(pool)} exist; ask for at most {len(pool)} "
            "or add personas or time slots to data/scenarios.toml"
        )
    return spread_order(pool)[: int(n)]


def scenarios_by_ids(
    ids: Sequence[str], scenarios: Sequence[Scenario] | None = None
) -> list[Scenario]:
    """The named scenarios in the order given; unknown ids are all reported at once."""
    pool = list(scenarios) if scenarios is not None else load_scenarios()
    by_id = {s.id: s for s in pool}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise TipbenchError(
            f"unknown scenario id(s): {', '.join(unknown)}; valid ids are: "
            f"{', '.join(sorted(by_id))}"
        )
    if not ids:
        raise TipbenchError("no scenario ids given; pass a count or a comma list of ids")
    return [by_id[i] for i in _first_seen(ids)]
