"""The adaptive judging queue: which card a person should judge next, and where things stand.

Pure functions over plain data, no I/O: the judge app keeps one :class:`QueueState` per
experiment, feeds it every person's scores (:meth:`QueueState.record`) and asks it for a judge's
next cards (:func:`next_cards`) and for the status (:func:`status`, :func:`comparison_status`,
:func:`can_stop`).

**What is compared.** The primary family of :func:`tipbench_lib.stats.compare_pairs`: every cell
against the baseline when one was named before judging, else all pairs. Each comparison a - b is
followed by an anytime-valid sequence at level alpha / m (:mod:`.signflip` by default, the
bounded one of :mod:`.anytime` on request), so a verdict read at any moment, and stopping there,
keeps the family-wise error within alpha.

**Observations: once, complete, never changed.** A scenario enters a comparison's sequence when one
person has scored every tip of both arms there; its value is that person's tip mean of a minus
their tip mean of b (their constant bias cancels, as in :mod:`.pairs`). It enters once and never
changes, in the experiment's seeded order: a completed scenario waits until every scenario
before it in that order that the comparison can take is complete (:meth:`QueueState._flush`;
the policy below plans them in that order, so the wait is for cards someone is judging): later
revisions, withdrawals and other people's
scores of the scenario are for the fixed-sample comparison of the compare phase, not for the
sequence, whose bets were placed on the value it had. A scenario where a cell has no tip never
enters.

**The policy** (``order="adaptive"``). A judge's next cards come from a small plan of *units*, a
unit being one (comparison, scenario): all tips of both arms there that this judge has not
scored, each a separate blind card. Units are picked greedily:

- only comparisons still ``undecided`` (not decided, not out of reach) with a scenario left that
  has not entered and is not planned for someone;
- the scenario is the next one in the *experiment's* seeded permutation of the scenarios (the
  state's ``seed``, one for every comparison and judge), so within a comparison scenarios are
  planned, and enter, in a random order fixed before any score, whatever the data say (this is
  what keeps the sequences exact); and because all comparisons follow the same permutation, a
  cell shared by several comparisons (the baseline) is judged once per scenario and serves them
  all. Not the judge's own permutation, as before: which judge plans a comparison's next unit
  depends on the other comparisons' scores, which share the baseline's tips in the same
  scenarios, so they chose this comparison's next scenario; nor in the order the units
  complete, which the other comparisons' scores move too (a decided comparison's cards leave a
  plan). ``tests/test_adaptive.py`` checks that a comparison's scenarios come in the same order
  whatever the others score; ``bench/adaptive_judging.py --parts order`` measures both rules;
- a judge's cards come scenario by scenario in that order, mixed within a scenario, so one
  judge's units complete in the order they were planned and seldom wait;
- among comparisons, the largest expected shrinkage of the interval per card (Chatbot Arena's
  active-sampling rule, weighted by cost): a sequence's width falls roughly as sd / sqrt(n), so
  one more scenario is worth sd (1/sqrt(n + 1) - 1/sqrt(n + 2)), divided by the cards the unit
  costs this judge. A planned unit counts as observed for the next pick, so a plan spreads over
  comparisons;
- the plan's cards are mixed so that no two neighbours share a model whenever possible (within
  a scenario's cards, and across the boundary between two scenarios).

A comparison that is decided or out of reach gets no more cards: its planned units are dropped
(their cards stay only if another open comparison needs them). Once none is undecided the queue
is empty and :func:`can_stop` is true.

**Out of reach, exact or projected.** ``out of reach`` is exact: no outcome of the scenarios left
could decide the comparison. With the sign-flip sequence the queue also gives up, by default,
on a comparison that is ``out of reach (projected)``: simulated futures of the scenarios left
decide it with a chance under 2% (:mod:`.futility`; ``futility=None`` turns it off, a larger
chance gives up sooner and loses more). Stopping never changes the error rates of
better/worse/equivalent; what it costs is a decision more cards would have made, which
``bench/adaptive_judging.py`` measures (part 1b). :func:`status` counts the two apart and
states the largest chance given up; :func:`comparison_status` states each one's.

``order="uniform"`` serves the order the caller gives (the app's shuffled, interleaved order of
every card); the sequences follow the same rules, so the two orders are compared fairly.
``order="ppi-uniform"`` serves whole scenarios in one seeded order shared by all people
(:mod:`.ppi` needs people's scenarios to be a uniform random sample).

**Cards left** (:func:`comparison_status`). Per undecided comparison, the sequence's own estimate of
the scenarios until it is decided or out of reach, if the scenarios to come look like those seen
so far (:meth:`.signflip.SignFlipSequences.scenarios_needed`); the experiment's estimate is the
number of distinct cards of those scenarios not yet scored by any person (the next scenarios of
the experiment's seeded order), shared cards counted once, plus the cards already planned for
someone. It is an estimate for the progress display, nothing rests on it.

**A design that cannot decide** (:func:`design_reach`). Whether any comparison can be decided
depends on the family's size m and the scenarios, before any score: a sign-flip bettor's wealth
grows at most (1 + b) per scenario and must reach 2m / alpha, and compare's signed-rank test
cannot go below 2 / 2^n, which Holm's first step compares with alpha / m
(:func:`tipbench_lib.stats.power.smallest_testable_n`). With 6 cells, all 15 pairs and 8
scenarios neither can pass, so every comparison is out of reach at 0 judged; the status says the
design cannot decide, the scenarios it would need, and those a named baseline (m = cells - 1)
would need, instead of reporting a queue with nothing to do as finished.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.anytime import (
    DECIDED,
    DEFAULT_DELTA,
    DEFAULT_SEQUENCE,
    PROJECTED,
    SEQUENCES,
    BoundedSequences,
    chance_text,
    check_level,
)
from tipbench_lib.stats.power import smallest_testable_n
from tipbench_lib.stats.scale import ScoreScale, scale_for
from tipbench_lib.stats.signflip import DEFAULT_FUTILITY, SignFlipSequences

ORDERS: tuple[str, ...] = ("adaptive", "uniform", "ppi-uniform")
PLAN_CARDS = 12
"""A plan holds at least this many cards, so its cards can be mixed across models and units."""


@dataclass(frozen=True)
class QueueDesign:
    """The experiment as the queue sees it: cells, scenarios, tips and the primary family."""

    cells: tuple[tuple[str, str], ...]
    """(model, prompt_version) of each cell slot."""
    scenarios: tuple[str, ...]
    tips: Mapping[tuple[int, int], tuple[str, ...]]
    """(cell slot, scenario slot) -> candidate ids of that cell's tips there."""
    where: Mapping[str, tuple[int, int]]
    """candidate id -> (cell slot, scenario slot)."""
    a: np.ndarray
    """Cell slot of each primary comparison's first arm (the difference is a - b)."""
    b: np.ndarray
    baseline: tuple[str, str] | None = None

    @property
    def n_comparisons(self) -> int:
        return len(self.a)


def queue_design(
    rows: Iterable[Mapping[str, Any]], baseline: tuple[str, str] | None = None
) -> QueueDesign:
    """The design of an experiment from its candidates (candidate_id, model, prompt_version,
    scenario_id per row, as ``results.candidates_with_cells`` gives them).

    The primary family is that of :func:`tipbench_lib.stats.compare_pairs`: every cell against
    ``baseline`` (a = the cell, b = the baseline), or all pairs of cells (a before b in
    (model, prompt) order) without one.
    """
    rows = list(rows)
    if not rows:
        raise TipbenchError("the experiment has no candidates to judge; collect tips first")
    cells = tuple(sorted({(str(r["model"]), str(r["prompt_version"])) for r in rows}))
    scenarios = tuple(sorted({str(r["scenario_id"]) for r in rows}))
    cell_slot = {c: i for i, c in enumerate(cells)}
    scenario_slot = {s: i for i, s in enumerate(scenarios)}
    tips: dict[tuple[int, int], list[str]] = defaultdict(list)
    where: dict[str, tuple[int, int]] = {}
    for row in sorted(rows, key=lambda r: str(r["candidate_id"])):
        key = (
            cell_slot[(str(row["model"]), str(row["prompt_version"]))],
            scenario_slot[str(row["scenario_id"])],
        )
        tips[key].append(str(row["candidate_id"]))
        where[str(row["candidate_id"])] = key
    if baseline is not None:
        if tuple(baseline) not in cell_slot:
            known = ", ".join(f"{m}/{p}" for m, p in cells[:10])
            raise TipbenchError(
                f"baseline {baseline[0]}/{baseline[1]} is not a cell of this experiment; "
                f"pick one of: {known}"
            )
        base = cell_slot[tuple(baseline)]
        a = np.array([i for i in range(len(cells)) if i != base], dtype=np.int64)
        b = np.full(len(a), base, dtype=np.int64)
    else:
        a, b = (x.astype(np.int64) for x in np.triu_indices(len(cells), k=1))
    return QueueDesign(
        cells,
        scenarios,
        {k: tuple(v) for k, v in tips.items()},
        where,
        a,
        b,
        tuple(baseline) if baseline is not None else None,
    )


def scenario_order(n_scenarios: int, seed: int) -> np.ndarray:
    """A seeded permutation of scenario slots: a judge's (or the experiment's) sampling order."""
    return np.random.default_rng(seed).permutation(n_scenarios)


@dataclass
class _Judge:
    seed: int
    """Breaks ties between equally good comparisons and mixes the judge's cards."""
    rng: random.Random
    uniform: list[str] | None = None
    pending: list[str] = field(default_factory=list)
    units: list[tuple[int, int]] = field(default_factory=list)
    """(comparison, scenario) units the pending cards serve."""
    ppi_scenario: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """Every comparison's sequence and decision at one moment (arrays over comparisons)."""

    n: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    decision: np.ndarray
    sd: np.ndarray
    """Standard deviation of the entered differences (the sequence's prior below 2)."""
    left: np.ndarray
    """Scenarios that have not entered the comparison's sequence yet (and can)."""


class QueueState:
    """Scores of the people so far, per judge, the comparisons' sequences, and what the queue
    has planned for each judge.

    ``record`` costs a few array updates, plus one update of the sequences when a scenario
    completes; decisions are read from the sequences (cached until the next score).
    """

    def __init__(
        self,
        design: QueueDesign,
        *,
        scale: ScoreScale | None = None,
        alpha: float = 0.05,
        delta: float = DEFAULT_DELTA,
        sequence: str = DEFAULT_SEQUENCE,
        seed: int = 0,
        futility: float | None = DEFAULT_FUTILITY,
    ) -> None:
        check_level(alpha)
        if delta < 0:
            raise TipbenchError(f"delta must be 0 or more composite points, got {delta}")
        if sequence not in SEQUENCES:
            raise TipbenchError(
                f"sequence must be one of {', '.join(SEQUENCES)}, got {sequence!r}; "
                f"{DEFAULT_SEQUENCE!r} is the default"
            )
        self.design = design
        self.scale = scale or scale_for([])
        self.alpha = alpha
        self.delta = delta
        self.sequence = sequence
        self.seed = seed
        m = design.n_comparisons
        self.level = alpha / max(m, 1)
        self.futility = futility if sequence == "sign-flip" else None
        if sequence == "sign-flip":
            self.sequences: SignFlipSequences | BoundedSequences = SignFlipSequences(
                m, self.scale.width, self.level, delta, futility=futility, verdict_alpha=alpha
            )
        else:
            self.sequences = BoundedSequences(m, self.scale.width, self.level, delta)
        n_c, n_s = len(design.cells), len(design.scenarios)
        self.judges: dict[str, _Judge] = {}
        self._slot: dict[str, int] = {}
        self._sums = np.zeros((0, n_c, n_s))
        self._counts = np.zeros((0, n_c, n_s), dtype=np.int64)
        self._scores: dict[tuple[str, str], float] = {}
        self._judged: dict[str, set[str]] = defaultdict(set)
        self._people: dict[str, int] = defaultdict(int)
        """candidate id -> how many people scored it."""
        self._tips = np.zeros((n_c, n_s), dtype=np.int64)
        for (cell, scenario), tips in design.tips.items():
            self._tips[cell, scenario] = len(tips)
        self._possible = (self._tips[design.a] > 0) & (self._tips[design.b] > 0)
        self._entered = np.zeros((m, n_s), dtype=bool)
        self._done = np.zeros((m, n_s), dtype=bool)
        """Completed: the value is fixed, entered or waiting for its turn (:meth:`_flush`)."""
        self._values = np.zeros((m, n_s))
        self._observations: list[list[tuple[int, float]]] = [[] for _ in range(m)]
        self._planned = np.zeros((m, n_s), dtype=bool)
        self._of_cell = [np.flatnonzero((design.a == c) | (design.b == c)) for c in range(n_c)]
        self._experiment_order = scenario_order(n_s, seed)
        self._experiment_rank = np.empty_like(self._experiment_order)
        self._experiment_rank[self._experiment_order] = np.arange(n_s)
        """Each scenario's place in the experiment's order (module docstring, "The policy")."""
        self._ppi_taken: dict[int, str] = {}
        self._held: dict[str, list[tuple[int, int]]] = {}
        """judge id -> units planned for a judge this state does not plan for (:meth:`hold`)."""
        self._cache: Evaluation | None = None

    # -- judges and scores -------------------------------------------------------------------

    def add_judge(
        self, judge_id: str, seed: int, uniform_order: Sequence[str] | None = None
    ) -> None:
        """Register a person with the seed that mixes their cards and breaks ties between
        comparisons (recorded by the app, reused on resume) and, for ``order="uniform"``, their
        shuffled order of every card. Scenarios come in the experiment's order (``seed`` of the
        state), not the judge's (module docstring, "The policy")."""
        if judge_id in self.judges:
            judge = self.judges[judge_id]
            if judge.seed != seed:
                raise TipbenchError(
                    f"judge {judge_id!r} already has queue seed {judge.seed}; a resumed queue "
                    "must reuse the recorded seed"
                )
            if uniform_order is not None:
                judge.uniform = [str(c) for c in uniform_order]
            return
        self.judges[judge_id] = _Judge(
            seed,
            random.Random(seed),
            [str(c) for c in uniform_order] if uniform_order is not None else None,
        )
        self._slot_of(judge_id)

    def _slot_of(self, judge_id: str) -> int:
        if judge_id not in self._slot:
            self._slot[judge_id] = len(self._slot)
            shape = (1, *self._sums.shape[1:])
            self._sums = np.concatenate([self._sums, np.zeros(shape)])
            self._counts = np.concatenate([self._counts, np.zeros(shape, dtype=np.int64)])
        return self._slot[judge_id]

    def record(self, judge_id: str, candidate_id: str, composite: float | None) -> None:
        """A person's latest composite for a card (None: no score, e.g. withdrawn).

        A composite outside the rubric's range is refused before anything changes.
        """
        where = self.design.where.get(candidate_id)
        if where is None:
            raise TipbenchError(f"candidate {candidate_id} is not part of this experiment")
        if composite is not None:
            low, high = self.scale.composite
            value = float(composite)
            if not low - 1e-9 <= value <= high + 1e-9:
                raise TipbenchError(
                    f"composite {value:g} for {candidate_id} lies outside the rubric's range "
                    f"{low:g}-{high:g}; score the card with the experiment's rubric"
                )
        cell, scenario = where
        j = self._slot_of(judge_id)
        old = self._scores.pop((judge_id, candidate_id), None)
        if old is not None:
            self._sums[j, cell, scenario] -= old
            self._counts[j, cell, scenario] -= 1
            self._judged[judge_id].discard(candidate_id)
            self._people[candidate_id] -= 1
        if composite is not None:
            self._scores[(judge_id, candidate_id)] = value
            self._sums[j, cell, scenario] += value
            self._counts[j, cell, scenario] += 1
            self._judged[judge_id].add(candidate_id)
            self._people[candidate_id] += 1
        self._enter_complete(j, cell, scenario)
        self._cache = None

    def _enter_complete(self, j: int, cell: int, scenario: int) -> None:
        """Enter the scenario into every comparison of ``cell`` that judge j has just completed."""
        rows = self._of_cell[cell]
        rows = rows[~self._done[rows, scenario] & self._possible[rows, scenario]]
        if rows.size == 0:
            return
        a, b = self.design.a[rows], self.design.b[rows]
        counts, tips = self._counts[j, :, scenario], self._tips[:, scenario]
        done = (counts[a] == tips[a]) & (counts[b] == tips[b])
        if not done.any():
            return
        rows, a, b = rows[done], a[done], b[done]
        sums = self._sums[j, :, scenario]
        self._values[rows, scenario] = sums[a] / tips[a] - sums[b] / tips[b]
        self._done[rows, scenario] = True
        self._planned[rows, scenario] = False
        self._flush()

    def _flush(self) -> None:
        """Enter the completed scenarios whose turn has come, in the experiment's order.

        A completed scenario waits until every scenario before it in the experiment's order that
        the comparison can take is complete: units are planned in that order, so they enter in
        it, whoever finishes first. Otherwise the order in which cards complete (a plan's mix,
        cards dropped when another comparison is decided) would decide which of the planned
        scenarios a comparison takes next, and the other comparisons' scores, which share the
        baseline's tips, would reach into that choice (module docstring, "The policy"). The
        rule reads the scores alone, so a queue rebuilt from the journals' history enters the
        same values in the same order as the live one did.
        """
        waiting = self._done & ~self._entered
        while waiting.any():
            blocked = self._blocking()
            first_blocked = np.where(blocked, self._experiment_rank, len(self._experiment_rank))
            first_waiting = np.where(waiting, self._experiment_rank, len(self._experiment_rank))
            rows = np.flatnonzero(first_waiting.min(axis=1) < first_blocked.min(axis=1))
            if rows.size == 0:
                return
            scenarios = self._experiment_order[first_waiting[rows].min(axis=1)]
            values = self._values[rows, scenarios]
            self.sequences.add(rows, values)
            self._entered[rows, scenarios] = True
            waiting[rows, scenarios] = False
            for k, scenario, value in zip(rows, scenarios, values, strict=True):
                self._observations[int(k)].append((int(scenario), float(value)))
            self._cache = None

    def record_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Score events (judge_id, candidate_id, composite) in the order they were made.

        A resumed queue must replay the journal's history, revisions and withdrawals included,
        not only each card's latest score: a sequence took each scenario's value when it
        completed, in the order scenarios completed, and only the history reproduces that.
        """
        for rec in records:
            self.record(str(rec["judge_id"]), str(rec["candidate_id"]), rec.get("composite"))

    def judged_by(self, judge_id: str) -> set[str]:
        """The cards this person has a score for (a copy)."""
        return set(self._judged.get(judge_id, ()))

    def scored(self, candidate_id: str) -> bool:
        """Whether any person has a score for the card."""
        return self._people.get(candidate_id, 0) > 0

    @property
    def cards_judged(self) -> int:
        return len(self._scores)

    def observations(self) -> list[list[tuple[str, float]]]:
        """Per comparison, the (scenario id, difference) its sequence took, in entry order."""
        names = self.design.scenarios
        return [[(names[s], value) for s, value in rows] for rows in self._observations]

    # -- the sequences -----------------------------------------------------------------------

    def evaluate(self) -> Evaluation:
        """Every comparison's sequence and decision now (cached until the next score)."""
        if self._cache is None:
            left = (self._possible & ~self._entered).sum(axis=1)
            seq = self.sequences
            lower, upper = seq.bounds()
            decision = seq.decisions(left)
            self._cache = Evaluation(
                seq.n.copy(), seq.mean(), lower, upper, decision, seq.sd(), left
            )
        return self._cache

    def projected_chance(self) -> np.ndarray:
        """Per comparison given up by projection, the chance that judging its scenarios left
        would still decide it (:mod:`.futility`); NaN for the others."""
        evaluation = self.evaluate()
        projected = evaluation.decision == PROJECTED
        if not projected.any() or not isinstance(self.sequences, SignFlipSequences):
            return np.full(len(projected), np.nan)
        chance = self.sequences.decision_chance(evaluation.left, np.flatnonzero(projected))
        return np.where(projected, chance, np.nan)

    def scenarios_needed(self) -> np.ndarray:
        """The sequence's estimate of the scenarios each comparison still needs (0: closed,
        given up by the projection included: the queue sends it no more cards)."""
        evaluation = self.evaluate()
        needed = self.sequences.scenarios_needed(evaluation.left)
        return np.where(evaluation.decision == PROJECTED, 0, needed)

    # -- plans -------------------------------------------------------------------------------

    def _blocking(self) -> np.ndarray:
        """(comparisons, scenarios): scenarios a comparison can take, not complete yet: later
        ones wait for them (:meth:`_flush`)."""
        return self._possible & ~self._done

    def _open(self, evaluation: Evaluation) -> np.ndarray:
        return evaluation.decision == "undecided"

    def _available(self, k: int) -> np.ndarray:
        """Scenario slots comparison k can still take and nobody has planned for it."""
        return self._possible[k] & ~self._done[k] & ~self._planned[k]

    def _candidate(self, judge: _Judge, k: int, judged: set[str]) -> tuple[int, list[str]] | None:
        """Comparison k's next unit for this judge: the first free scenario of the experiment's
        order (the same for every judge: module docstring, "The policy")."""
        free = np.flatnonzero(self._available(k))
        if free.size == 0:
            return None
        scenario = int(free[np.argmin(self._experiment_rank[free])])
        return scenario, self._unit_cards(k, scenario, judged)

    def _unit_cards(self, k: int, scenario: int, judged: set[str]) -> list[str]:
        cards = []
        for cell in (self.design.a[k], self.design.b[k]):
            cards += [c for c in self.design.tips.get((int(cell), scenario), ()) if c not in judged]
        return cards

    def plan_adaptive(self, judge_id: str, want: int) -> None:
        """Extend the judge's pending cards with greedily chosen units (module docstring)."""
        judge = self.judges[judge_id]
        evaluation = self.evaluate()
        judged = self.judged_by(judge_id) | set(judge.pending)
        extra = (self._planned | (self._done & ~self._entered)).sum(axis=1)
        open_ = self._open(evaluation)
        batch: list[str] = []
        units: list[tuple[int, int]] = []
        candidates = {int(k): self._candidate(judge, int(k), judged) for k in np.flatnonzero(open_)}
        while len(batch) < want:
            ks = np.array([k for k, c in candidates.items() if c is not None], dtype=np.int64)
            if ks.size == 0:
                break
            steps = evaluation.n[ks] + extra[ks]
            shrink = 1 / np.sqrt(steps + 1) - 1 / np.sqrt(steps + 2)
            cost = np.array([max(len(candidates[int(k)][1]), 0.5) for k in ks])
            gain = evaluation.sd[ks] * shrink / cost
            best = np.flatnonzero(gain >= gain.max() - 1e-12)
            k = int(ks[best[judge.rng.randrange(len(best))]])
            scenario, cards = candidates[k]
            self._planned[k, scenario] = True
            extra[k] += 1
            units.append((k, scenario))
            batch += cards
            judged.update(cards)
            # Only the picked comparison's next scenario, and the cost of units sharing a cell
            # with it at the same scenario (those cards are now planned), have changed.
            arms = {int(self.design.a[k]), int(self.design.b[k])}
            for other, found in candidates.items():
                shares = {int(self.design.a[other]), int(self.design.b[other])} & arms
                if other == k or (found is not None and found[0] == scenario and shares):
                    candidates[other] = self._candidate(judge, other, judged)
        judge.pending += self._in_order(batch, judge.rng)
        judge.units += units

    def _in_order(self, cards: list[str], rng: random.Random) -> list[str]:
        """The cards scenario by scenario in the experiment's order, each scenario's mixed
        (:meth:`_mix`): a judge then completes a comparison's units in the order they were
        planned, so they enter its sequence without waiting for one another (:meth:`_flush`)."""
        by_scenario: dict[int, list[str]] = defaultdict(list)
        for card in cards:
            by_scenario[self.design.where[card][1]].append(card)
        out: list[str] = []
        for scenario in sorted(by_scenario, key=lambda s: self._experiment_rank[s]):
            previous = self.design.cells[self.design.where[out[-1]][0]][0] if out else None
            out += self._mix(by_scenario[scenario], rng, previous)
        return out

    def _mix(self, cards: list[str], rng: random.Random, previous: str | None = None) -> list[str]:
        """The cards in random order with no two neighbours of one model when possible (the
        first not of model ``previous``)."""
        groups: dict[str, list[str]] = defaultdict(list)
        for card in cards:
            groups[self.design.cells[self.design.where[card][0]][0]].append(card)
        for members in groups.values():
            rng.shuffle(members)
        out: list[str] = []
        while groups:
            remaining = sum(len(m) for m in groups.values())
            names = sorted(groups)
            forced = [g for g in names if 2 * len(groups[g]) > remaining and g != previous]
            choices = forced or [g for g in names if g != previous] or names
            pick = rng.choices(choices, weights=[len(groups[g]) for g in choices])[0]
            out.append(groups[pick].pop())
            if not groups[pick]:
                del groups[pick]
            previous = pick
        return out

    def _prune(self, judge_id: str) -> None:
        """Drop pending cards already scored, or serving only comparisons no longer open."""
        judge = self.judges[judge_id]
        evaluation = self.evaluate()
        live_units = [
            u for u in judge.units if evaluation.decision[u[0]] == "undecided" and not self._done[u]
        ]
        for k, s in judge.units:
            if (k, s) not in live_units:
                self._planned[k, s] = False
        judged = self._judged.get(judge_id, set())
        units, wanted = [], set()
        for k, s in live_units:
            cards = self._unit_cards(k, s, judged)
            if cards:
                units.append((k, s))
                wanted.update(cards)
        judge.units = units
        judge.pending = [c for c in judge.pending if c in wanted]

    def hold(self, judge_id: str, cards: Sequence[str]) -> None:
        """Mark ``cards`` as planned for ``judge_id``, replacing what was held for them before.

        Plans made elsewhere (another browser's kernel, an exported file not applied yet) reach
        this state only as the cards handed out; the units those cards serve are taken out of
        everyone else's plans, as :meth:`plan_adaptive` does for its own, and so are their
        scenarios in the ``ppi-uniform`` order. For a judge registered here (a resumed queue)
        the cards become their pending plan again, so the next card is the one they were shown.
        """
        self.release(judge_id)
        scenarios: set[int] = set()
        units: set[tuple[int, int]] = set()
        for card in cards:
            where = self.design.where.get(str(card))
            if where is None:
                continue
            cell, scenario = where
            scenarios.add(scenario)
            for k in self._of_cell[cell]:
                if self._possible[k, scenario] and not self._done[k, scenario]:
                    units.add((int(k), scenario))
        for k, scenario in units:
            self._planned[k, scenario] = True
        for scenario in scenarios:
            self._ppi_taken.setdefault(scenario, judge_id)
        judge = self.judges.get(judge_id)
        if judge is None:
            self._held[judge_id] = sorted(units)
        else:
            judged = self.judged_by(judge_id)
            judge.pending = [str(c) for c in cards if str(c) in self.design.where]
            judge.pending = [c for c in judge.pending if c not in judged]
            judge.units = sorted(units)
        self._cache = None

    def release(self, judge_id: str) -> None:
        """Forget what was planned for ``judge_id`` (their plan expired): its units and
        scenarios go back to everyone."""
        judge = self.judges.get(judge_id)
        units = self._held.pop(judge_id, [])
        if judge is not None:
            units = units + judge.units
            judge.units, judge.pending = [], []
        for k, scenario in units:
            self._planned[k, scenario] = False
        for scenario in [s for s, owner in self._ppi_taken.items() if owner == judge_id]:
            del self._ppi_taken[scenario]

    def next_ppi(self, judge_id: str, want: int) -> list[str]:
        """Whole scenarios in the experiment's seeded order, one judge per scenario.

        A scenario another person has already scored completely is done (this state may have
        learnt of it from their journal rather than from their own queue).
        """
        judge = self.judges[judge_id]
        judged = self.judged_by(judge_id)
        out: list[str] = []
        for s in self._experiment_order:
            s = int(s)
            owner = self._ppi_taken.get(s)
            if owner not in (None, judge_id):
                continue
            every = [
                c
                for cell in range(len(self.design.cells))
                for c in self.design.tips.get((cell, s), ())
            ]
            if owner is None and every and all(self.scored(c) for c in every):
                continue
            cards = [c for c in every if c not in judged]
            if not cards:
                continue
            self._ppi_taken[s] = judge_id
            judge.ppi_scenario = s
            out += self._mix(cards, random.Random(judge.seed * 1000003 + s))
            if len(out) >= want:
                break
        return out[:want]


def next_cards(state: QueueState, judge_id: str, n: int, order: str = "adaptive") -> list[str]:
    """The next ``n`` candidate ids for this judge (fewer when the queue has no more).

    Adaptive: the pending plan first (so the next card does not jump after every score), a new
    plan of at least :data:`PLAN_CARDS` cards when it runs short, nothing once every primary
    comparison is decided or out of scenarios. Uniform: the judge's given order, cards not yet
    scored by them. Ppi-uniform: whole scenarios in the experiment's seeded order.
    """
    if order not in ORDERS:
        raise TipbenchError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    if judge_id not in state.judges:
        raise TipbenchError(
            f"judge {judge_id!r} has no queue yet; add_judge(judge_id, seed) with the recorded seed"
        )
    judge = state.judges[judge_id]
    if order == "uniform":
        if judge.uniform is None:
            raise TipbenchError("order 'uniform' needs the judge's shuffled order (add_judge)")
        done = state.judged_by(judge_id)
        return [c for c in judge.uniform if c not in done][:n]
    if order == "ppi-uniform":
        return state.next_ppi(judge_id, n)
    state._prune(judge_id)
    if len(judge.pending) < n:
        state.plan_adaptive(judge_id, max(PLAN_CARDS, n - len(judge.pending)))
    return judge.pending[:n]


def comparison_status(state: QueueState) -> list[dict[str, Any]]:
    """Per primary comparison: arms, scenarios entered and left, mean, the sequence's current
    bounds (composite points), the decision, the estimated scenarios and cards left (module
    docstring) and a sentence saying where it stands."""
    evaluation = state.evaluate()
    needed = state.scenarios_needed()
    cards = _cards_for(state, needed)
    chance = state.projected_chance()
    design = state.design
    rows = []
    for k in range(design.n_comparisons):
        a, b = design.cells[design.a[k]], design.cells[design.b[k]]
        decision = str(evaluation.decision[k])
        rows.append(
            {
                "a_model": a[0],
                "a_prompt": a[1],
                "b_model": b[0],
                "b_prompt": b[1],
                "n_scenarios": int(evaluation.n[k]),
                "scenarios_left": int(evaluation.left[k]),
                "diff_mean": _number(evaluation.mean[k]),
                "cs_lo": _number(evaluation.lower[k]),
                "cs_hi": _number(evaluation.upper[k]),
                "decision": decision,
                "decided": decision in DECIDED,
                "scenarios_left_estimate": int(needed[k]),
                "cards_left_estimate": int(cards[k]),
                "projected_chance": _number(chance[k]),
                "note": _note(state, k, evaluation, int(needed[k]), int(cards[k]), chance[k]),
                "level": state.level,
                "delta": state.delta,
                "sequence": state.sequence,
            }
        )
    return rows


def _note(
    state: QueueState, k: int, evaluation: Evaluation, needed: int, cards: int, chance: float
) -> str:
    """Where comparison k stands, in a researcher's words."""
    design = state.design
    a = "/".join(design.cells[design.a[k]])
    b = "/".join(design.cells[design.b[k]])
    n, left = int(evaluation.n[k]), int(evaluation.left[k])
    delta = f"δ = {state.delta:g}"
    after = f"decided after {n} scenario{'s' if n != 1 else ''}"
    decision = str(evaluation.decision[k])
    if decision == "better":
        return f"{a} is better than {b}: {after}"
    if decision == "worse":
        return f"{a} is worse than {b}: {after}"
    if decision == "equivalent":
        return f"{a} and {b} differ by less than {delta}: {after}"
    if decision == "out of reach":
        if left == 0:
            return f"undecided with every scenario judged at {delta}; add scenarios or widen δ"
        return (
            f"cannot be decided with the {left} scenarios left at {delta}; add scenarios or widen δ"
        )
    if decision == PROJECTED:
        return (
            f"given up after {n} scenario{'s' if n != 1 else ''}: judging the {left} left "
            f"would decide it at {delta} with {chance_text(chance)} (simulated "
            "from these, their mean and spread as uncertain as they leave them); add scenarios "
            "or widen δ"
        )
    lower, upper = evaluation.lower[k], evaluation.upper[k]
    signs = (
        f" (most scenarios favour {a if lower > 0 else b}, but the mean "
        f"{evaluation.mean[k]:+.2f} is not yet clear of 0: a few large differences go the "
        "other way)"
        if lower > 0 or upper < 0
        else ""
    )
    return (
        f"undecided after {n} scenario{'s' if n != 1 else ''}{signs}; about {needed} more "
        f"scenario{'s' if needed != 1 else ''} ({cards} cards) to a decision or to out of reach"
    )


def status(state: QueueState) -> dict[str, Any]:
    """The experiment's status, the object ``judge.py --status`` prints.

    ``undecided`` counts every comparison not decided, ``out_of_reach`` those of them that no
    more cards can decide, ``out_of_reach_projected`` those the projection gave up on (more cards
    could still decide them, with a small chance), ``out_of_reach_projected_chance`` the largest
    of those chances (0 when none was given up); the queue is done when
    ``undecided == out_of_reach + out_of_reach_projected``. ``decidable`` is false when the
    design can decide nothing whatever the scores (:func:`design_reach`); ``design_note`` then
    says why and what would (more scenarios, a named baseline), "" otherwise.
    """
    evaluation = state.evaluate()
    decided = int(np.isin(evaluation.decision, DECIDED).sum())
    chance = state.projected_chance()
    reach = design_reach(state)
    return {
        "comparisons": int(state.design.n_comparisons),
        "decided": decided,
        "undecided": int(state.design.n_comparisons - decided),
        "out_of_reach": int((evaluation.decision == "out of reach").sum()),
        "out_of_reach_projected": int((evaluation.decision == PROJECTED).sum()),
        "out_of_reach_projected_chance": float(np.nanmax(chance, initial=0.0)),
        "cards_judged": int(state.cards_judged),
        "cards_left_estimate": int(_cards_union(state, state.scenarios_needed())),
        "decidable": reach.decidable,
        "scenarios_to_decide": reach.scenarios_to_decide,
        "scenarios_to_decide_with_baseline": reach.scenarios_to_decide_with_baseline,
        "design_note": reach.note(),
    }


@dataclass(frozen=True)
class DesignReach:
    """Whether a design's primary family can decide anything at all (module docstring)."""

    decidable: bool
    comparisons: int
    scenarios: int
    """The most scenarios any primary comparison can take (both arms have tips there)."""
    scenarios_to_decide: int
    """Fewest scenarios with which a comparison of this family can be decided."""
    baseline_comparisons: int | None = None
    """Comparisons with a named baseline (None: one is named, or fewer than 3 cells)."""
    scenarios_to_decide_with_baseline: int | None = None
    level_alpha: float = 0.05

    TEST: ClassVar[str] = "compare's signed-rank test"
    """The test whose floor the note names (the pair queue's says its own)."""
    WHATEVER: ClassVar[str] = "whatever the scores"
    NO_REACH: ClassVar[str] = " no comparison's sign-flip sequence can reach its threshold"
    """Why nothing can be decided, after "with n scenarios" (its own punctuation first)."""

    def note(self) -> str:
        """The design's limit in a researcher's words ("" when it can decide)."""
        if self.decidable:
            return ""
        m, n, alpha = self.comparisons, self.scenarios, self.level_alpha
        level = alpha / max(m, 1)
        threshold = "α" if m == 1 else f"α/{m}"
        floor = 2.0 ** (1 - n)
        compare = (
            f", and {self.TEST} cannot go below p = {floor:.2g} (2/2^{n}), "
            f"above the {threshold} = {level:.2g} Holm's first step needs"
            if floor > level
            else ""
        )
        which = "its one primary comparison" if m == 1 else f"any of its {m} primary comparisons"
        these = "it" if m == 1 else f"these {m} comparisons"
        text = (
            f"This design cannot decide {which}, {self.WHATEVER}: with {n} scenarios"
            f"{self.NO_REACH} at {threshold}{compare}. It "
            f"needs at least {self.scenarios_to_decide} scenarios for {these}"
        )
        if self.baseline_comparisons is not None:
            text += (
                "; or name a baseline before anyone judges (--baseline MODEL:PROMPT; "
                f"BASELINE=model:prompt for make judge): its {self.baseline_comparisons} "
                f"comparisons need at least {self.scenarios_to_decide_with_baseline} scenarios"
            )
        return text + "."


def family_scenarios(
    comparisons: int, alpha: float, sequence: str, width: float, delta: float
) -> int:
    """Fewest scenarios with which one comparison of a family of ``comparisons`` can be decided,
    by the queue's sequence at alpha / m (its own out-of-reach rule, asked of a fresh sequence)
    and by compare's signed-rank test at Holm's first step (floor 2 / 2^n within alpha / m)."""
    level = alpha / max(comparisons, 1)
    n = smallest_testable_n(level)
    if sequence == "sign-flip":  # the bounded sequence is never out of reach before the end
        fresh = SignFlipSequences(1, width, level, delta)
        while n < 100_000 and not bool(fresh.reachable(np.array([n]))[0]):
            n += 1
    return n


def design_reach(state: QueueState) -> DesignReach:
    """Whether the state's family can decide anything with its scenarios, and what would."""
    design = state.design
    m = design.n_comparisons
    scenarios = int(state._possible.sum(axis=1).max(initial=0))
    args = (state.alpha, state.sequence, state.scale.width, state.delta)
    needed = family_scenarios(m, *args)
    n_cells = len(design.cells)
    with_baseline = design.baseline is None and n_cells >= 3
    return DesignReach(
        decidable=m == 0 or scenarios >= needed,
        comparisons=m,
        scenarios=scenarios,
        scenarios_to_decide=needed,
        baseline_comparisons=n_cells - 1 if with_baseline else None,
        scenarios_to_decide_with_baseline=(
            family_scenarios(n_cells - 1, *args) if with_baseline else None
        ),
        level_alpha=state.alpha,
    )


def can_stop(state: QueueState) -> bool:
    """True once every primary comparison is decided or out of reach (exact or projected)."""
    return not bool((state.evaluate().decision == "undecided").any())


def _number(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _next_scenarios(state: QueueState, k: int, count: int) -> list[int]:
    """The next ``count`` scenarios comparison k can take, in the experiment's seeded order."""
    order = [int(s) for s in state._experiment_order]
    return [s for s in order if state._possible[k, s] and not state._done[k, s]][:count]


def _open_cards(state: QueueState, k: int, scenarios: Iterable[int]) -> set[str]:
    cards = set()
    for s in scenarios:
        for cell in (state.design.a[k], state.design.b[k]):
            tips = state.design.tips.get((int(cell), s), ())
            cards.update(c for c in tips if not state.scored(c))
    return cards


def _cards_for(state: QueueState, needed: np.ndarray) -> np.ndarray:
    return np.array(
        [
            len(_open_cards(state, k, _next_scenarios(state, k, int(needed[k]))))
            for k in range(state.design.n_comparisons)
        ],
        dtype=np.int64,
    )


def _cards_union(state: QueueState, needed: np.ndarray) -> int:
    """Distinct cards of the scenarios still needed, plus those planned for open comparisons."""
    evaluation = state.evaluate()
    cards = set()
    for judge in state.judges.values():
        if any(evaluation.decision[k] == "undecided" for k, _ in judge.units):
            cards.update(c for c in judge.pending if not state.scored(c))
    for k in range(state.design.n_comparisons):
        cards |= _open_cards(state, k, _next_scenarios(state, k, int(needed[k])))
    return len(cards)
