"""The benchmark's scenarios: who the user is, when the tip is shown, and what is on their list.

A scenario is (persona, time slot, tasks) with a stable id such as ``nurse-evening``. Ids and
content hashes, not positions, identify scenarios, so a cell logged today can be matched to the
same scenario next month, and an edited persona shows up as a different ``content_hash``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path
from typing import Any, TypeVar

from tipbench_lib.core.datafile import Table, read_toml, reject_duplicates
from tipbench_lib.core.errors import DataFileError, TipbenchError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.paths import data_dirs
from tipbench_lib.core.records import Cell

SCENARIOS_FILE = "scenarios.toml"
"""Its name in the data directories; a user's own file replaces the shipped one whole."""
DEFAULT_N_SCENARIOS = 12
PRIORITIES: tuple[str, ...] = ("high", "medium", "low")
MIN_TASKS, MAX_TASKS = 4, 7
T = TypeVar("T")


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


@dataclass(frozen=True)
class ScenarioView:
    """What a judge is shown about the user a tip was written for: on a card, in an export, in
    an LLM judge's prompt. All three read it from here, so they show the same scenario."""

    scenario_id: str
    persona: str
    persona_description: str
    time_slot: str
    time_slot_description: str
    tasks: tuple[Task, ...]

    @classmethod
    def of(cls, scenario: Scenario) -> ScenarioView:
        return cls(
            scenario_id=scenario.id,
            persona=scenario.persona.name,
            persona_description=scenario.persona.description,
            time_slot=scenario.time_slot.name,
            time_slot_description=scenario.time_slot.description,
            tasks=scenario.tasks,
        )

    @classmethod
    def unknown(cls, scenario_id: str, persona_id: str, time_slot_id: str) -> ScenarioView:
        """A scenario the scenario file does not have (any more): its cell's ids, no task list."""
        return cls(scenario_id, persona_id, "", time_slot_id, "", ())

    def task_lines(self) -> tuple[str, ...]:
        """Each task as one line, without the bullet (a card shows them as a list)."""
        return tuple(task.render().removeprefix("- ") for task in self.tasks)

    def as_context(self) -> dict[str, Any]:
        """The plain-JSON ``context`` of a ``tipbench.judging/1`` export item."""
        return {
            "persona": {"name": self.persona, "description": self.persona_description},
            "time_slot": {"name": self.time_slot, "description": self.time_slot_description},
            "tasks": [asdict(t) for t in self.tasks],
        }

    def as_text(self) -> str:
        """The scenario as plain text, for an LLM judge's prompt."""
        tasks = "\n".join(f"- {t}" for t in self.task_lines()) or "- (no task list recorded)"
        return (
            f"User: {self.persona}. {self.persona_description}\n"
            f"Time of day: {self.time_slot}. {self.time_slot_description}\n"
            f"Their tasks:\n{tasks}"
        )


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


def _parsed(parse: Callable[[Table], T], table: Table) -> T | DataFileError:
    """The parsed entry, or the problem that stops it, kept until someone asks for the entry."""
    try:
        return parse(table)
    except DataFileError as exc:
        return exc


@dataclass(frozen=True)
class ScenarioFile:
    """The scenario file with every persona and time slot checked on its own.

    Ids are read for every entry because they fix the spread order and name the scenarios; the
    rest of an entry is only needed by the scenarios that use it, so a mistake in one persona
    blocks the runs that use that persona and no others. A listing still reports every problem.
    """

    path: Path
    slot_ids: tuple[str, ...]
    persona_ids: tuple[str, ...]
    slots: dict[str, TimeSlot | DataFileError]
    personas: dict[str, Persona | DataFileError]

    @classmethod
    def read(cls, path: Path | None = None) -> ScenarioFile:
        """``path``, or the scenario file of the data directories."""
        path = Path(path) if path is not None else data_dirs().file(SCENARIOS_FILE)
        root = Table(read_toml(path), path)
        root.only("time_slots", "personas")
        slot_tables = root.tables("time_slots")
        persona_tables = root.tables("personas")
        slot_ids = [t.identifier("id") for t in slot_tables]
        persona_ids = [t.identifier("id") for t in persona_tables]
        reject_duplicates(slot_tables, slot_ids)
        reject_duplicates(persona_tables, persona_ids)
        return cls(
            path=path,
            slot_ids=tuple(slot_ids),
            persona_ids=tuple(persona_ids),
            slots={i: _parsed(_time_slot, t) for i, t in zip(slot_ids, slot_tables, strict=True)},
            personas={
                i: _parsed(_persona, t) for i, t in zip(persona_ids, persona_tables, strict=True)
            },
        )

    def pairs(self) -> dict[str, tuple[str, str]]:
        """Every scenario id with its (persona id, time slot id), persona-major in file order."""
        return {f"{p}-{s}": (p, s) for p in self.persona_ids for s in self.slot_ids}

    def problems(self) -> list[DataFileError]:
        """Every entry that cannot be used, time slots first, in file order."""
        entries = [*self.slots.values(), *self.personas.values()]
        return [e for e in entries if isinstance(e, DataFileError)]

    def scenario(self, persona_id: str, slot_id: str) -> Scenario:
        """One scenario; raises the problem of its persona or time slot if either has one."""
        persona, slot = self.personas[persona_id], self.slots[slot_id]
        for entry in (slot, persona):
            if isinstance(entry, DataFileError):
                raise entry
        assert isinstance(persona, Persona) and isinstance(slot, TimeSlot)
        return Scenario(
            id=f"{persona.id}-{slot.id}", persona=persona, time_slot=slot, tasks=persona.tasks
        )


def load_scenarios(path: Path | None = None) -> list[Scenario]:
    """Every (persona, time slot) scenario in the file, persona-major in file order.

    Everything is validated, so a malformed entry anywhere fails with its location; a run that
    needs only some scenarios asks :func:`select_scenarios` or :func:`scenarios_by_ids` instead.
    """
    file = ScenarioFile.read(path)
    if problems := file.problems():
        raise problems[0]
    return [file.scenario(p, s) for p, s in file.pairs().values()]


# --- Selecting -------------------------------------------------------------------------------


def _first_seen(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def spread_order(scenarios: Sequence[Scenario]) -> list[Scenario]:
    """All scenarios in the fixed order ``select_scenarios`` takes a prefix of.

    See :func:`spread_pairs`; scenarios whose (persona, slot) pair is missing are skipped.
    """
    personas = _first_seen(s.persona.id for s in scenarios)
    slots = _first_seen(s.time_slot.id for s in scenarios)
    by_pair = {(s.persona.id, s.time_slot.id): s for s in scenarios}
    return [by_pair[pair] for pair in spread_pairs(personas, slots) if pair in by_pair]


def spread_pairs(personas: Sequence[str], slots: Sequence[str]) -> list[tuple[str, str]]:
    """Every (persona, slot) pair in the order a benchmark takes a prefix of.

    Position i pairs persona ``i mod P`` with slot ``(i + i // lcm(P, S)) mod S``: any prefix
    covers personas as evenly as possible (the first P are all distinct) and rotates slots evenly,
    and the whole order visits every (persona, slot) pair exactly once. Only arithmetic on file
    order is involved, so every machine gets the same list.
    """
    n_p, n_s = len(personas), len(slots)
    if not n_p or not n_s:
        return []
    block = n_p * n_s // gcd(n_p, n_s)
    return [(personas[i % n_p], slots[(i + i // block) % n_s]) for i in range(n_p * n_s)]


def _check_count(n: int, available: int) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise TipbenchError(f"the number of scenarios must be a positive integer, got {n!r}")
    if n > available:
        raise TipbenchError(
            f"asked for {n} scenarios but only {available} exist; ask for at most {available} "
            "or add personas or time slots to the scenario file"
        )
    return int(n)


def select_scenarios(
    n: int, scenarios: Sequence[Scenario] | None = None, *, path: Path | None = None
) -> list[Scenario]:
    """The benchmark's first ``n`` scenarios: the same on every machine, spread across personas.

    With n at most the number of personas, every scenario has a different persona and the time
    slots rotate, so a small benchmark is not eight variations of one user. Read from the file
    (``path``, default the data directories' one), only the chosen scenarios' entries must be
    valid.
    """
    if scenarios is not None:
        pool = list(scenarios)
        return spread_order(pool)[: _check_count(n, len(pool))]
    file = ScenarioFile.read(path)
    order = spread_pairs(file.persona_ids, file.slot_ids)
    return [file.scenario(p, s) for p, s in order[: _check_count(n, len(order))]]


def scenarios_by_ids(
    ids: Sequence[str], scenarios: Sequence[Scenario] | None = None, *, path: Path | None = None
) -> list[Scenario]:
    """The named scenarios in the order given; unknown ids are all reported at once.

    Read from the file, only the named scenarios' entries must be valid.
    """
    if scenarios is not None:
        by_id: dict[str, Callable[[], Scenario]] = {s.id: (lambda s=s: s) for s in scenarios}
    else:
        file = ScenarioFile.read(path)
        by_id = {i: (lambda p=p, s=s: file.scenario(p, s)) for i, (p, s) in file.pairs().items()}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise TipbenchError(
            f"unknown scenario id(s): {', '.join(unknown)}; valid ids are: "
            f"{', '.join(sorted(by_id))}"
        )
    if not ids:
        raise TipbenchError("no scenario ids given; pass a count or a comma list of ids")
    return [by_id[i]() for i in _first_seen(ids)]


def scenario_views(cells: Iterable[Cell], *, path: Path | None = None) -> dict[str, ScenarioView]:
    """scenario_id → what a judge is shown, for the scenarios the cells use.

    Read from the scenario file (``path``, default the data directories' one) like a collect run
    reads it: only the scenarios asked for must be valid, so a malformed persona that these cells
    do not use blocks nothing. An experiment collected with a scenario the file no longer has
    still gets cards: the cell's own persona and time-slot ids stand in, with no task list.
    """
    cells = list(cells)
    if not cells:
        return {}
    file = ScenarioFile.read(path)
    pairs = file.pairs()
    views: dict[str, ScenarioView] = {}
    for cell in cells:
        sid = cell.scenario_id
        if sid in views:
            continue
        if sid in pairs:
            views[sid] = ScenarioView.of(file.scenario(*pairs[sid]))
        else:
            views[sid] = ScenarioView.unknown(sid, cell.persona, cell.time_slot)
    return views
