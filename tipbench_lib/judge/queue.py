"""The people's queue of one experiment: one adaptive queue state, fed from every journal on disk.

:mod:`tipbench_lib.stats.adaptive` decides which card a person judges next from *every* person's
scores, in the order they were given (a sequence takes a scenario's value when it completes). A
judge's session sees those scores in two places: this machine's journals (every judge's, every
revision, written by other browser kernels, exports applied, imports) and MLflow (each judge's
latest score per candidate, the only trace of judges on other machines). :class:`PeopleQueue`
merges both into one history, ordered by the time each score was made, and keeps up with the
journals as they grow: it reads only the bytes appended since its last look
(:class:`JournalFeed`), so a save costs a few stat calls and one short read, not a replay.

**Plans across processes.** A card handed out and not scored yet is *planned* for its judge,
so no one else is sent the same (comparison, scenario) unit. The app's kernel and an export run
are separate processes, so each plan is journalled (a ``plan`` record: the units, a
time-to-live) and every queue holds the live plans of the others (:class:`Plans`, through the
state's ``hold``). A plan lives while its judge is active: it expires ``ttl`` seconds after the
later of the plan and that judge's last score or answer (30 minutes for the app, whose kernels
cannot tell when a tab was closed; 24 hours by default for an exported batch,
``--hold-hours``). An expired plan's units go back to everyone, so a judge who never comes back
blocks no scenario for longer than that. A judge's newest plan replaces their older ones. Both
judging modes plan this way, each with its own units: the rubric queue's plans list cards
(candidate ids: :meth:`QueueState.hold <tipbench_lib.stats.adaptive.QueueState.hold>`), the
pair queue's (``mode: pairwise``) list pair slots, a scenario and two cells
(:meth:`PairQueueState.hold <tipbench_lib.stats.pair_queue.PairQueueState.hold>`); a judge's
plan in one mode never holds or replaces anything of the other.

**The family is fixed before data.** The primary family follows compare's rule: every cell
against a baseline named with ``--baseline MODEL:PROMPT`` before any person scored, else all
pairs. The first queue session records the choice (``family`` record in the judge's journal and
the MLflow experiment tag :data:`~tipbench_lib.tracking.mapping.QUEUE_FAMILY_TAG`, with the time),
so compare can show that the baseline was named before the data; once people have scored,
another baseline is refused.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tipbench_lib.core.errors import JudgingError, TipbenchError
from tipbench_lib.core.experiment import ExperimentRecords
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.journal import parse_record
from tipbench_lib.core.records import Judgment, now_iso, parse_time
from tipbench_lib.core.schema import PEOPLE_KINDS
from tipbench_lib.judge.journal import judge_key, judgments_dir
from tipbench_lib.stats import adaptive
from tipbench_lib.stats.anytime import DEFAULT_DELTA
from tipbench_lib.stats.pair_queue import PairSlot
from tipbench_lib.stats.ppi import ppi_design
from tipbench_lib.stats.scale import ScoreScale

ORDERS = adaptive.ORDERS
DEFAULT_ORDER = "adaptive"
PLAN = "plan"
FAMILY = "family"
SAMPLING = "sampling"
APP_PLAN_TTL = 30 * 60.0
"""Seconds an app judge's plan outlives their last activity (a closed tab is never reported)."""
EXPORT_PLAN_TTL = 24 * 3600.0
"""Seconds an exported batch stays planned for its judge after the export or their last score."""


def experiment_seed(experiment: str) -> int:
    """The experiment's own seed: the ``ppi-uniform`` order and the cards-left estimate."""
    return int(content_hash([experiment, "experiment-queue"]), 16) % (2**31 - 1)


def parse_baseline(text: str | None) -> tuple[str, str] | None:
    """``MODEL:PROMPT`` as (model, prompt); the prompt is after the last colon, since Ollama's
    model names hold one themselves (``gemma3:270m:v1``)."""
    if text is None or not str(text).strip():
        return None
    model, sep, prompt = str(text).strip().rpartition(":")
    if not sep or not model or not prompt:
        raise JudgingError(
            f"--baseline {text!r} must be MODEL:PROMPT (e.g. smollm2-135m:v1), naming one cell "
            "of the experiment"
        )
    return model, prompt


def baseline_text(baseline: tuple[str, str] | None) -> str:
    return "all pairs" if baseline is None else f"baseline {baseline[0]}:{baseline[1]}"


# -- the family -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """The primary family as recorded when judging began: who named it and when."""

    baseline: tuple[str, str] | None
    named_at: str
    named_by: str
    delta: float = DEFAULT_DELTA
    """The equivalence margin: part of the family, since ``equivalent`` verdicts depend on it."""

    def as_record(self, judge_id: str) -> dict[str, Any]:
        return {"type": FAMILY, "judge_id": judge_id, **self.to_json()}

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": list(self.baseline) if self.baseline else None,
            "named_at": self.named_at,
            "named_by": self.named_by,
            "delta": self.delta,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Family | None:
        base = data.get("baseline")
        if base is not None and not (isinstance(base, list) and len(base) == 2):
            return None
        try:  # records written before δ was part of the family used the default
            delta = float(data.get("delta", DEFAULT_DELTA))
        except (TypeError, ValueError):
            return None
        return cls(
            tuple(str(x) for x in base) if base else None,  # type: ignore[arg-type]
            str(data.get("named_at") or ""),
            str(data.get("named_by") or ""),
            delta,
        )

    def describe(self) -> str:
        return (
            f"{baseline_text(self.baseline)} with δ = {self.delta:g}, named by {self.named_by} "
            f"at {self.named_at}"
        )


def recorded_family(tag: str | None, records: Iterable[Mapping[str, Any]]) -> Family | None:
    """The family recorded for the experiment: MLflow's tag, else the latest journalled one."""
    if tag:
        try:
            found = Family.from_json(json.loads(tag))
        except (json.JSONDecodeError, AttributeError):
            found = None
        if found is not None:
            return found
    families = [Family.from_json(r) for r in records if r.get("type") == FAMILY]
    families = [f for f in families if f is not None]
    return max(families, key=lambda f: parse_time(f.named_at)) if families else None


def choose_family(
    recorded: Family | None,
    asked: tuple[str, str] | None,
    people_scored: int,
    judge_id: str,
    delta: float | None = None,
) -> tuple[Family, bool]:
    """The family to judge under, and whether it is new (to be recorded).

    ``asked`` and ``delta`` None keep what was recorded (else all pairs, δ = 1); a different
    baseline or δ is accepted only while no person has scored a card, since after that it could
    have been chosen by looking (a wider δ turns undecided pairs into ``equivalent``).
    """
    baseline = asked if asked is not None else (recorded.baseline if recorded else None)
    margin = delta if delta is not None else (recorded.delta if recorded else DEFAULT_DELTA)
    if recorded is not None and (baseline, margin) == (recorded.baseline, recorded.delta):
        return recorded, False
    if recorded is not None and people_scored:
        raise JudgingError(
            f"judging began under {recorded.describe()}; {people_scored} score(s) by people "
            f"exist, so {baseline_text(baseline)} with δ = {margin:g} now could be chosen after "
            "seeing data. Leave --baseline and --delta out (or repeat the recorded ones), or "
            "collect a new experiment"
        )
    return Family(baseline, now_iso(), judge_id, margin), True


# -- reading the journals as they grow ------------------------------------------------------------


@dataclass
class _Position:
    offset: int = 0
    size: int = -1
    mtime_ns: int = -1


class JournalFeed:
    """The records appended to a folder of judge journals since the last call.

    Journals only grow, so a file is read from where the last call stopped, and only complete
    lines (ending in a newline) are taken: a line being written, or torn by a crash, waits for
    its newline (:mod:`tipbench_lib.core.journal` cuts a torn one before the next append). A file
    that got shorter was replaced: it is read again from the start. Each file counts only for the
    judge its name is keyed to, as in :func:`tipbench_lib.judge.journal.local_judgments`.
    """

    def __init__(self, folder: Path, key: Any) -> None:
        self.folder = folder
        self._key = key
        self._positions: dict[Path, _Position] = {}

    def _owns(self, judge: Any, stem: str) -> bool:
        if not isinstance(judge, str) or not judge.strip():
            return False
        try:
            return self._key(judge) == stem
        except TipbenchError:  # an id no judge could have: not this file's
            return False

    def read(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not self.folder.exists():
            return out
        for entry in sorted(os.scandir(self.folder), key=lambda e: e.name):
            if not entry.name.endswith(".jsonl"):
                continue
            path = Path(entry.path)
            stat = entry.stat()
            pos = self._positions.setdefault(path, _Position())
            if stat.st_size == pos.size and stat.st_mtime_ns == pos.mtime_ns:
                continue
            if stat.st_size < pos.offset:
                pos.offset = 0
            with open(path, "rb") as fh:
                fh.seek(pos.offset)
                chunk = fh.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            pos.offset += len(complete)
            pos.size, pos.mtime_ns = stat.st_size, stat.st_mtime_ns
            stem = path.stem
            for raw in complete.split(b"\n"):
                record = parse_record(raw) if raw.strip() else None
                if record is None:
                    continue
                if self._owns(record.get("judge_id"), stem):
                    out.append(record)
        return out


# -- plans across processes ----------------------------------------------------------------------


class Holder(Protocol):
    """A queue state that can hold other judges' plans: the rubric's
    (:class:`~tipbench_lib.stats.adaptive.QueueState`) and the pairs'
    (:class:`~tipbench_lib.stats.pair_queue.PairQueueState`)."""

    def hold(self, judge_id: str, units: Sequence[Any], /) -> None: ...

    def release(self, judge_id: str, /) -> None: ...


@dataclass(frozen=True)
class PlanUnits:
    """What one judging mode's plans hold and how a ``plan`` record writes them: the rubric's
    plans hold cards (candidate ids), the pairs' hold pair slots (a scenario and two cells)."""

    mode: str
    """The record's ``mode`` (a record without one is the rubric's, as before pairs)."""
    key: str
    """The record's field listing the units."""
    write: Callable[[Any], Any]
    read: Callable[[Any], Any]
    """A unit from the record; raises on one no queue could have written."""


def _slot_json(slot: PairSlot) -> dict[str, Any]:
    return {
        "scenario_id": slot.scenario_id,
        "cell_a": list(slot.cell_a),
        "cell_b": list(slot.cell_b),
    }


def _slot_from_json(data: Any) -> PairSlot:
    cells = [data["cell_a"], data["cell_b"]]
    if not all(isinstance(c, list) and len(c) == 2 for c in cells):
        raise ValueError("a pair slot's cells are [model, prompt]")
    a, b = (tuple(str(x) for x in c) for c in cells)
    return PairSlot(str(data["scenario_id"]), a, b)  # type: ignore[arg-type]


CARD_UNITS = PlanUnits("rubric", "candidate_ids", str, str)
PAIR_UNITS = PlanUnits("pairwise", "pair_slots", _slot_json, _slot_from_json)
MAX_PLAN_UNITS = 10_000
"""A plan record listing more units than this is no queue's: it is ignored."""


@dataclass
class _Plan:
    units: list[Any]
    made_at: float
    ttl: float


@dataclass
class Plans:
    """Every judge's plan of one judging mode, as their journals hold it (module docstring,
    "Plans across processes"): the rubric's queue and the pair queue keep one each, so the two
    modes share the record, the time-to-live and the hold, and never each other's units."""

    units: PlanUnits
    own: str | None = None
    """The judge this process plans for (None: a status reader); its own plan is what it
    wrote, not what it reads back."""
    plans: dict[str, _Plan] = field(default_factory=dict)
    active: dict[str, float] = field(default_factory=dict)
    """judge id -> time (epoch seconds) of their latest score or answer seen."""
    clock: Callable[[], float] = time.time
    """Seconds since the epoch, now (a test moves it to see plans expire)."""
    _written: tuple[Any, ...] = ()

    def take(self, record: Mapping[str, Any]) -> None:
        """A journal record: a ``plan`` of this mode replaces its judge's older one; anything
        else, or a record no queue could have written, changes nothing."""
        if record.get("type") != PLAN or record.get("mode", CARD_UNITS.mode) != self.units.mode:
            return
        judge = str(record.get("judge_id"))
        if judge == self.own:
            return
        try:
            listed = record.get(self.units.key) or []
            if not isinstance(listed, list) or len(listed) > MAX_PLAN_UNITS:
                return
            units = [self.units.read(u) for u in listed]
            made = parse_time(record.get("created_at")).timestamp()
            ttl = float(record.get("ttl_seconds", APP_PLAN_TTL))
        except (KeyError, TypeError, ValueError, OverflowError):
            return
        if not 0 < ttl < math.inf:  # a plan that never expires would hold its units forever
            return
        known = self.plans.get(judge)
        if known is None or made >= known.made_at:
            self.plans[judge] = _Plan(units, made, ttl)

    def saw(self, judge: str, stamp: float) -> None:
        """The judge scored or answered at ``stamp``: their plan lives on from then."""
        self.active[judge] = max(self.active.get(judge, 0.0), stamp)

    def _live(self, judge: str, plan: _Plan, now: float) -> bool:
        return now <= max(plan.made_at, self.active.get(judge, 0.0)) + plan.ttl

    def apply(self, state: Holder, now: float | None = None) -> None:
        """Hold every other judge's live plan in ``state``; release the expired ones."""
        now = self.clock() if now is None else now
        for judge, plan in self.plans.items():
            if judge == self.own:
                continue
            if self._live(judge, plan, now):
                state.hold(judge, plan.units)
            else:
                state.release(judge)

    def resume(self, judge: str) -> list[Any]:
        """Plan for ``judge`` from now on; their own live plan as journalled (a closed tab, the
        last exported batch), [] when it expired or there is none."""
        self.own = judge
        plan = self.plans.get(judge)
        if plan is None or not self._live(judge, plan, self.clock()):
            return []
        self._written = tuple(plan.units)
        return list(plan.units)

    def record(
        self, units: Sequence[Any], ttl: float, *, renew: bool = False
    ) -> dict[str, Any] | None:
        """The ``plan`` record to journal when the own plan gained units, or always with
        ``renew`` (an export hands out exactly these, from now); None: no news."""
        fresh = tuple(units)
        if not fresh or (not renew and set(fresh) <= set(self._written)):
            return None
        self._written = fresh
        self.plans[self.own or ""] = _Plan(list(fresh), self.clock(), ttl)
        mode = {} if self.units is CARD_UNITS else {"mode": self.units.mode}
        return {
            "type": PLAN,
            **mode,
            "judge_id": self.own,
            self.units.key: [self.units.write(u) for u in fresh],
            "ttl_seconds": ttl,
            "created_at": now_iso(),
        }


# -- the queue ------------------------------------------------------------------------------------


@dataclass
class PeopleQueue:
    """One experiment's :class:`~tipbench_lib.stats.adaptive.QueueState`, kept up to date with
    every person's scores and every judge's live plan (module docstring)."""

    state: adaptive.QueueState
    feed: JournalFeed
    family: Family | None
    plans: Plans = field(default_factory=lambda: Plans(CARD_UNITS))

    @property
    def own(self) -> str | None:
        """The judge this queue plans for (None: a status reader)."""
        return self.plans.own

    @classmethod
    def build(
        cls,
        records: ExperimentRecords,
        feed: JournalFeed,
        journalled: Sequence[Mapping[str, Any]],
        *,
        family: Family | None,
        alpha: float = 0.05,
        delta: float = DEFAULT_DELTA,
        seed: int = 0,
    ) -> PeopleQueue:
        """The queue over the experiment's candidates, fed with MLflow's scores and the records
        ``feed`` has read so far (``journalled``)."""
        rows = [
            {
                "candidate_id": c.candidate_id,
                "model": records.cells[c.cell_id].model,
                "prompt_version": records.cells[c.cell_id].prompt_version,
                "scenario_id": records.cells[c.cell_id].scenario_id,
            }
            for c in records.candidates
            if c.cell_id in records.cells
        ]
        try:
            design = adaptive.queue_design(rows, family.baseline if family else None)
        except Exception as exc:  # a baseline that is no cell: say so as a judging error
            raise JudgingError(str(exc)) from None
        state = adaptive.QueueState(
            design,
            scale=ScoreScale.from_rubric(records.rubric),
            alpha=alpha,
            delta=delta,
            seed=seed,
        )
        queue = cls(state, feed, family)
        queue._take(list(records.judgments), journalled)
        return queue

    # -- keeping up ------------------------------------------------------------------------

    def _take(self, mlflow: Sequence[Judgment], journalled: Sequence[Mapping[str, Any]]) -> None:
        """Feed scores (MLflow's and the journals', each once, in the order made) and plans."""
        parts = self.state.scale.parts
        seen: set[tuple[str, str, str]] = set()
        events: list[tuple[datetime, int, str, str, float | None]] = []
        stream: list[Judgment] = list(mlflow)
        for record in journalled:
            if record.get("type") == "judgment":
                stream.append(Judgment.from_json(record, parts))
            else:
                self.plans.take(record)
        for index, judgment in enumerate(stream):
            key = (judgment.candidate_id, judgment.judge_id, judgment.created_at)
            if judgment.source.kind not in PEOPLE_KINDS or key in seen:
                continue
            if judgment.candidate_id not in self.state.design.where:
                continue
            seen.add(key)
            composite = judgment.composite if judgment.ok else None
            events.append(
                (judgment.time, index, judgment.judge_id, judgment.candidate_id, composite)
            )
        for stamp, _, judge, candidate, composite in sorted(events, key=lambda e: e[:2]):
            self.state.record(judge, candidate, composite)
            self.plans.saw(judge, stamp.timestamp())

    def refresh(self, now: float | None = None) -> None:
        """Take what the journals gained since the last call, and apply the live plans."""
        self._take([], self.feed.read())
        self.apply_plans(now)

    def apply_plans(self, now: float | None = None) -> None:
        """Hold every other judge's live plan; release the expired ones (module docstring)."""
        self.plans.apply(self.state, now)

    def resume(self, judge_id: str, seed: int, uniform_order: Sequence[str]) -> None:
        """Plan for ``judge_id`` from now on; their own live plan (a closed tab, the last
        exported batch) becomes their pending cards again, so they continue where they were."""
        self.state.add_judge(judge_id, seed=seed, uniform_order=uniform_order)
        own = self.plans.resume(judge_id)
        self.apply_plans()
        if own:
            self.state.hold(judge_id, own)

    # -- cards -------------------------------------------------------------------------------

    def next_cards(self, n: int, order: str) -> list[str]:
        if self.own is None:
            raise JudgingError("this queue plans for no judge; open it for a judge id")
        return adaptive.next_cards(self.state, self.own, n, order)

    def plan_record(
        self, cards: Sequence[str], ttl: float, *, renew: bool = False
    ) -> dict[str, Any] | None:
        """The ``plan`` record to journal when the judge's plan gained cards, or always with
        ``renew`` (:meth:`Plans.record`)."""
        return self.plans.record(cards, ttl, renew=renew)

    def planned(self) -> list[str]:
        """The judge's pending adaptive plan (what the app will show next)."""
        judge = self.state.judges.get(self.own or "")
        return list(judge.pending) if judge is not None else []

    # -- where things stand ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """``--status``'s object: the five keys first, then the extra ones."""
        found = adaptive.status(self.state)
        out: dict[str, Any] = {
            k: found[k]
            for k in ("comparisons", "decided", "undecided", "cards_judged", "cards_left_estimate")
        }
        out["out_of_reach"] = found["out_of_reach"]
        out["out_of_reach_projected"] = found["out_of_reach_projected"]
        out["out_of_reach_projected_chance"] = found["out_of_reach_projected_chance"]
        out["can_stop"] = adaptive.can_stop(self.state)
        for key in (
            "decidable",
            "scenarios_to_decide",
            "scenarios_to_decide_with_baseline",
            "design_note",
        ):
            out[key] = found[key]
        out["family"] = baseline_text(self.family.baseline if self.family else None)
        return out

    def comparisons(self) -> list[dict[str, Any]]:
        return adaptive.comparison_status(self.state)

    def can_stop(self) -> bool:
        return adaptive.can_stop(self.state)


def sampling_record(records: ExperimentRecords, seed: int, judge_id: str) -> dict[str, Any]:
    """The ``ppi-uniform`` design's record (what compare's PPI check reads), for the journal."""
    scenarios = {cell.scenario_id for cell in records.cells.values()}
    return {
        **ppi_design(scenarios, seed).as_record(),
        "judge_id": judge_id,
        "created_at": now_iso(),
    }


# -- the uniform order ---------------------------------------------------------------------------


def judge_seed(experiment: str, judge_id: str) -> int:
    """A per-judge default seed, so two judges never see the same order."""
    return int(content_hash([experiment, judge_id, "queue"]), 16) % (2**31 - 1)


def interleaved_order(
    rows: Sequence[Mapping[str, Any]], seed: int, group_key: str = "model"
) -> list[Mapping[str, Any]]:
    """A seeded shuffle in which no two neighbours share a group (model) whenever that is possible.

    A plain shuffle leaves runs of one model's tips, which a judge starts to recognise; a strict
    round-robin leaks the model through the position. So each step draws a group at random, weighted
    by how many of its tips remain, among groups other than the previous one; a group holding more
    than half of what remains is taken at once so the end of the queue cannot become one block.
    """
    rng = random.Random(seed)
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["candidate_id"]):
        groups[row.get(group_key)].append(row)
    for members in groups.values():
        rng.shuffle(members)
    order: list[Mapping[str, Any]] = []
    previous: Any = object()
    while groups:
        remaining = sum(len(m) for m in groups.values())
        names = sorted(groups, key=str)
        forced = [g for g in names if 2 * len(groups[g]) > remaining and g != previous]
        choices = forced or [g for g in names if g != previous] or names
        weights = [len(groups[g]) for g in choices]
        pick = rng.choices(choices, weights=weights)[0]
        order.append(groups[pick].pop())
        if not groups[pick]:
            del groups[pick]
        previous = pick
    return order


def open_queue(
    client: Any,
    experiment: str,
    baseline: tuple[str, str] | None = None,
    delta: float | None = None,
    home: Path | None = None,
    stored: Any = None,
) -> PeopleQueue:
    """The experiment's queue as MLflow and this machine's journals have it, every judge's live
    plan held, planning for no one: what ``--status`` reads. It records nothing. The recorded
    family wins over ``baseline``, which counts only while none is recorded. ``stored`` is the
    experiment as already read from MLflow (read here when None)."""
    from tipbench_lib.tracking.experiment import read_experiment
    from tipbench_lib.tracking.mapping import QUEUE_FAMILY_TAG

    stored = stored if stored is not None else read_experiment(client, experiment)
    feed = JournalFeed(judgments_dir(experiment, home), judge_key)
    journalled = feed.read()
    family = recorded_family(stored.experiment.tags.get(QUEUE_FAMILY_TAG), journalled)
    if family is not None and (
        (baseline is not None and baseline != family.baseline)
        or (delta is not None and delta != family.delta)
    ):
        raise JudgingError(
            f"judging runs under {family.describe()}; leave --baseline and --delta out to see "
            "its status"
        )
    family = family or Family(baseline, "", "", DEFAULT_DELTA if delta is None else delta)
    queue = PeopleQueue.build(
        stored.records,
        feed,
        journalled,
        family=family,
        delta=family.delta,
        seed=experiment_seed(experiment),
    )
    queue.apply_plans()
    return queue


def status_of(client: Any, experiment: str, **kw: Any) -> dict[str, Any]:
    """``--status``'s object (see :func:`open_queue` and :meth:`PeopleQueue.status`)."""
    return open_queue(client, experiment, **kw).status()
