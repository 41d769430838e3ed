"""The demo's stages, their elapsed times and the ETA of the whole demo (issue 20).

The plan is known before anything runs: the tips to generate (cells x tips) and the tips to
judge (the same number). What a tip costs is not: it depends on the CPU, its load and the
models. So the ETA is the plan's work times a rate measured as the demo goes:

- each stage has a *reference* cost, measured on a 2-core machine (``bench/demo_stages.py``
  prints it): seconds it costs beside its units (starting the server, loading the models,
  writing the report) and seconds per unit (a generated or judged tip);
- this machine's *speed factor* is the ratio of a running stage's measured seconds per unit to
  its reference: from the first cells of collect on, every unit still to come costs its
  reference times that factor, so a machine three times slower gets an ETA three times longer;
  fixed costs get their own factor, measured on the stages' fixed parts (the start, the time to
  a stage's first unit): on a busy machine decoding slows down far more than starting does;
- a running stage's own rate (seconds per unit between its first and its latest unit, so the
  model load does not count as a unit) gives its remaining time: units left times that rate.

Everything here is pure: :class:`Eta` is fed with (stage, units done, seconds since the stage
began) observations, so its rule is tested on recorded timings, never on the wall clock
(``tests/test_demo_progress.py``). :func:`duration` formats seconds as people read them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

RATE_UNITS = 8
"""Units a running stage must have done (after its first) before its own rate replaces the
reference's: one tip's time varies by half or more."""
WINDOW_UNITS = 12
"""A running stage's rate is taken over its last this many units (all of them before)."""
RATE_SPAN_S = 10.0
"""Seconds those units must span: the journals are read every 2 s, so a short span is mostly
the reading's step."""
SLOW_SPAN_S = 40.0
"""On a slow machine 8 tips take minutes: from 2 units over this many seconds the stage's own
rate is taken anyway (noisier, but the reference's would be off several times)."""


FIXED_MIN_S = 4.0
"""A stage whose fixed cost is shorter says nothing about the fixed factor: its time to the
first unit is mostly that unit's own (noisy) cost."""


@dataclass(frozen=True)
class Stage:
    """One step of the demo and its reference cost (seconds on the reference machine)."""

    name: str
    units: int = 0
    """Tips this stage generates or judges (0: a stage without units, e.g. compare)."""
    fixed_s: float = 0.0
    """Seconds the stage costs beside its units (server start, model loads, the report)."""
    unit_s: float = 0.0
    """Seconds per unit of weight 1."""
    weights: tuple[float, ...] = ()
    """Each unit's relative cost, in the order the stage does them (empty: all 1). Collect does
    one model's cells after the other's, and a model that writes longer tips costs more per
    tip: the first cells' rate alone would mispredict the second model's."""

    def weight(self, done: int) -> float:
        """The summed weight of the first ``done`` units."""
        done = max(0, min(done, self.units))
        return float(sum(self.weights[:done])) if self.weights else float(done)

    def reference_s(self) -> float:
        return self.fixed_s + self.unit_s * self.weight(self.units)


@dataclass
class _Seen:
    started: bool = False
    finished_s: float | None = None
    first: tuple[int, float] | None = None
    """(units done, seconds into the stage) when units were first seen done."""
    latest: tuple[int, float] = (0, 0.0)
    history: list[tuple[int, float]] = field(default_factory=list)
    """Every (units done, seconds) seen with units done, in order."""


@dataclass
class Eta:
    """The demo's estimated seconds left, from its plan and what was observed so far."""

    stages: Sequence[Stage]
    _seen: dict[str, _Seen] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._seen = {s.name: _Seen() for s in self.stages}

    def _stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def observe(self, name: str, done: int, elapsed_s: float) -> None:
        """``done`` units of stage ``name`` finished ``elapsed_s`` seconds after it began."""
        seen = self._seen[name]
        seen.started = True
        if done > 0 and (seen.first is None or done < seen.first[0]):
            seen.first = (done, elapsed_s)
        if done >= seen.latest[0]:
            seen.latest = (done, elapsed_s)
        if done > 0 and (not seen.history or done > seen.history[-1][0]):
            seen.history.append((done, elapsed_s))

    def finish(self, name: str, elapsed_s: float) -> None:
        seen = self._seen[name]
        seen.started = True
        seen.finished_s = elapsed_s

    def _unit_rate(self, name: str) -> float | None:
        """Seconds per unit of weight measured in a stage, between its first and latest units,
        once at least :data:`RATE_UNITS` units and :data:`RATE_SPAN_S` seconds lie between
        them, or 2 units and :data:`SLOW_SPAN_S` seconds."""
        seen = self._seen[name]
        if seen.first is None:
            return None
        # The recent units only, once there are enough of them: a load that changes mid-stage
        # (another job starting or ending) changes the rate, and the first units would hold it.
        start = seen.first
        for point in seen.history:
            if seen.latest[0] - point[0] < WINDOW_UNITS:
                break
            start = point
        units, span = seen.latest[0] - start[0], seen.latest[1] - start[1]
        enough = units >= RATE_UNITS and span >= RATE_SPAN_S
        if not (enough or (units >= 2 and span >= SLOW_SPAN_S)):
            return None
        stage = self._stage(name)
        return span / (stage.weight(seen.latest[0]) - stage.weight(start[0]))

    def measured(self, name: str) -> bool:
        """Whether stage ``name`` has its own rate yet (its first cells are done)."""
        return self._unit_rate(name) is not None

    def speed_factor(self) -> float:
        """Measured seconds per unit over the reference, from the latest stage with a rate
        (1 before any stage has one)."""
        factor = 1.0
        for stage in self.stages:
            rate = self._unit_rate(stage.name)
            if rate is not None and stage.unit_s > 0:
                factor = rate / stage.unit_s
        return factor

    def fixed_factor(self) -> float:
        """Measured fixed costs over the reference, from the latest stage that showed one: a
        stage without units by its whole time, a stage with units by the time to its first
        unit (less that unit's own cost). Fixed costs (starting Python and the server, loading
        a model, writing the report) do not slow down like decoding on a busy machine: two
        processes decoding on two cores slow each other down about tenfold, a start far less.
        """
        factor = 1.0
        for stage in self.stages:
            seen = self._seen[stage.name]
            if stage.fixed_s < FIXED_MIN_S:
                continue
            if stage.units == 0 and seen.finished_s is not None:
                factor = seen.finished_s / stage.fixed_s
            elif stage.units and seen.first is not None:
                rate = self._unit_rate(stage.name) or stage.unit_s * self.speed_factor()
                first_done, first_s = seen.first
                factor = max(first_s - stage.weight(first_done) * rate, 0.0) / stage.fixed_s
        return factor

    def stage_left(self, name: str) -> float:
        """Seconds stage ``name`` still needs: its units left at its own rate once it has one,
        else at the reference rate times the speed factor, plus what is left of its fixed cost
        (times the fixed factor) while no unit is done."""
        stage, seen = self._stage(name), self._seen[name]
        if seen.finished_s is not None:
            return 0.0
        rate = self._unit_rate(name)
        rate = stage.unit_s * self.speed_factor() if rate is None else rate
        fixed = stage.fixed_s * self.fixed_factor()
        done, elapsed = seen.latest
        if not seen.started:
            return fixed + stage.weight(stage.units) * rate
        units_left = (stage.weight(stage.units) - stage.weight(done)) * rate
        if done == 0:
            return max(fixed - elapsed, 0.0) + units_left
        return units_left

    def left(self) -> float:
        """Seconds the demo still needs, every stage counted."""
        return sum(self.stage_left(s.name) for s in self.stages)


def duration(seconds: float) -> str:
    """``1 min 05 s``, ``42 s``: how long, as people read it."""
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def replay(stages: Sequence[Stage], trace: Iterable[tuple[float, str, int | None]]) -> list:
    """The ETA after each event of a recorded trace, as (time, estimated end, true end, whether
    collect had its own rate by then).

    A trace is (seconds since the demo began, stage, units done) per event, ``None`` units for
    "the stage finished"; a stage begins at its first event. What the tests and the bench hold
    the ETA to.
    """
    events = list(trace)
    end = events[-1][0]
    began: dict[str, float] = {}
    eta = Eta(stages)
    out = []
    for time_s, name, done in events:
        began.setdefault(name, time_s)
        if done is None:
            eta.finish(name, time_s - began[name])
        else:
            eta.observe(name, done, time_s - began[name])
        out.append((time_s, time_s + eta.left(), end, eta.measured("collect")))
    return out
