"""The adaptive judging queue: which card a person should judge next, and where things stand.

Pure functions over plain data, no I/O: the judge app keeps one :class:`QueueState` per
experiment, feeds it every person's scores (:meth:`QueueState.record`) and asks it for a judge's
next cards (:func:`next_cards`) and for the status (:func:`status`, :func:`comparison_status`).

**What is compared.** The primary family of :func:`tipbench_lib.stats.compare_pairs`: every cell
against the baseline when one was named before judging, else all pairs. Each comparison a - b is
followed by an anytime-valid confidence sequence (:mod:`.anytime`) at level alpha / m, so a
verdict read at any moment, and stopping there, keeps the family-wise error within alpha.

**Observations.** As in :mod:`.pairs`: in a scenario, a judge who scored at least one tip of each
arm gives the difference of their tip means (their constant bias cancels); the scenario's value
is the mean over such judges. A comparison's sequence takes its scenarios in the order they were
first observed; a scenario's value is refined when more of its tips are scored (the queue shows
all tips of both arms together, so that window is short).

**The policy** (``order="adaptive"``). A judge's next cards come from a small plan of *units*, a
unit being one (comparison, scenario): all tips of both arms there that this judge has not
scored, each a separate blind card. Units are picked greedily:

- only comparisons still ``undecided`` with a scenario left that nobody has observed or planned;
- the scenario is the next one in the judge's own seeded permutation of the scenarios, so within
  a comparison scenarios come uniformly at random without replacement, whatever the data say;
  and because all comparisons follow the same permutation, a cell shared by several comparisons
  (the baseline) is judged once per scenario and serves them all;
- among comparisons, the largest expected shrinkage of the sequence per card: the half-width
  the sequence would have after one more scenario, with the current spread taken as the truth,
  subtracted from the one it has now, divided by the cards the unit costs (Chatbot Arena's
  active sampling rule, weighted by cost). A planned unit counts as observed for the next pick,
  so a plan spreads over comparisons;
- the plan's cards are mixed so that no two neighbours share a model whenever possible.

``order="uniform"`` serves the order the caller gives (the app's shuffled, interleaved order of
every card); ``order="ppi-uniform"`` serves whole scenarios in one seeded order shared by all
people (:mod:`.ppi` needs people's scenarios to be a uniform random sample).

**Cards left** (:func:`comparison_status`). Per undecided comparison: the scenarios the sequence
would need if the current mean and spread were the truth (the first count at which the predicted
half-width is below ``max(|mean|, delta - |mean|)``), capped at the scenarios left; with fewer
than two scenarios observed, the spread is the prior's (1/4 on the [0, 1] scale, the widest). The
experiment's estimate is the number of distinct cards of those scenarios not yet scored by any
person (the next scenarios of the experiment's seeded order), shared cards counted once, plus
the cards already planned for someone. A comparison that cannot be decided with the scenarios
left costs all of them.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tipbench_lib.errors import TipbenchError
from tipbench_lib.stats.anytime import (
    DEFAULT_DELTA,
    DEFAULT_TRUNCATION,
    check_level,
    decide,
    paired_sequences,
)
from tipbench_lib.stats.scale import ScoreScale, scale_for

ORDERS: tuple[str, ...] = ("adaptive", "uniform", "ppi-uniform")
PLAN_CARDS = 12
"""A plan holds at least this many cards, so its cards can be mixed across models and units."""
DECIDED: tuple[str, ...] = ("better", "worse", "equivalent")


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
    permutation: np.ndarray
    rank: np.ndarray
    """rank[s]: position of scenario slot s in the permutation."""
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
    """Spread of the observed differences on the [0, 1] scale (the prior's 1/2 below 2)."""
    left: np.ndarray
    """Scenarios nobody has observed yet."""


class QueueState:
    """Scores of the people so far, per judge, and what the queue has planned for each judge.

    ``record`` costs a few array updates; the sequences are recomputed, for every comparison at
    once, only when a status or a plan is asked for after new scores (a few hundred microseconds
    for tens of comparisons).
    """

    def __init__(
        self,
        design: QueueDesign,
        *,
        scale: ScoreScale | None = None,
        alpha: float = 0.05,
        delta: float = DEFAULT_DELTA,
        truncation: float = DEFAULT_TRUNCATION,
        seed: int = 0,
    ) -> None:
        check_level(alpha)
        if delta < 0:
            raise TipbenchError(f"delta must be 0 or more composite points, got {delta}")
        self.design = design
        self.scale = scale or scale_for([])
        self.alpha = alpha
        self.delta = delta
        self.truncation = truncation
        self.seed = seed
        self.level = alpha / max(design.n_comparisons, 1)
        n_c, n_s = len(design.cells), len(design.scenarios)
        self.judges: dict[str, _Judge] = {}
        self._slot: dict[str, int] = {}
        self._sums = np.zeros((0, n_c, n_s))
        self._counts = np.zeros((0, n_c, n_s), dtype=np.int64)
        self._scores: dict[tuple[str, str], float] = {}
        self._judged: dict[str, set[str]] = defaultdict(set)
        self._people: dict[str, int] = defaultdict(int)
        """candidate id -> how many people scored it."""
        self._events = 0
        self._first_seen = np.full((design.n_comparisons, n_s), np.inf)
        self._planned = np.zeros((design.n_comparisons, n_s), dtype=bool)
        self._of_cell = [np.flatnonzero((design.a == c) | (design.b == c)) for c in range(n_c)]
        self._experiment_order = scenario_order(n_s, seed)
        self._ppi_taken: dict[int, str] = {}
        self._cache: Evaluation | None = None

    # -- judges and scores -------------------------------------------------------------------

    def add_judge(
        self, judge_id: str, seed: int, uniform_order: Sequence[str] | None = None
    ) -> None:
        """Register a person with the seed of their scenario permutation (recorded by the app,
        reused on resume) and, for ``order="uniform"``, their shuffled order of every card."""
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
        permutation = scenario_order(len(self.design.scenarios), seed)
        rank = np.empty_like(permutation)
        rank[permutation] = np.arange(len(permutation))
        self.judges[judge_id] = _Judge(
            seed,
            permutation,
            rank,
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
        """A person's latest composite for a card (None: no score, e.g. withdrawn)."""
        where = self.design.where.get(candidate_id)
        if where is None:
            raise TipbenchError(f"candidate {candidate_id} is not part of this experiment")
        cell, scenario = where
        j = self._slot_of(judge_id)
        old = self._scores.pop((judge_id, candidate_id), None)
        if old is not None:
            self._sums[j, cell, scenario] -= old
            self._counts[j, cell, scenario] -= 1
            self._judged[judge_id].discard(candidate_id)
            self._people[candidate_id] -= 1
        if composite is not None:
            value = float(composite)
            self._scores[(judge_id, candidate_id)] = value
            self._sums[j, cell, scenario] += value
            self._counts[j, cell, scenario] += 1
            self._judged[judge_id].add(candidate_id)
            self._people[candidate_id] += 1
        self._events += 1
        rows = self._of_cell[cell]
        a, b = self.design.a[rows], self.design.b[rows]
        seen = ((self._counts[:, a, scenario] > 0) & (self._counts[:, b, scenario] > 0)).any(axis=0)
        fresh = seen & np.isinf(self._first_seen[rows, scenario])
        self._first_seen[rows[fresh], scenario] = self._events
        self._cache = None

    def record_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Latest score records (judge_id, candidate_id, composite), e.g. read from journals."""
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

    # -- the sequences -----------------------------------------------------------------------

    def evaluate(self) -> Evaluation:
        """Every comparison's running sequence and decision (cached until the next score)."""
        if self._cache is None:
            self._cache = self._evaluate()
        return self._cache

    def _values(self) -> np.ndarray:
        """(comparisons, scenarios) mean over judges of their paired tip-mean differences."""
        a, b = self.design.a, self.design.b
        with np.errstate(invalid="ignore", divide="ignore"):
            means = self._sums / self._counts
        both = (self._counts[:, a] > 0) & (self._counts[:, b] > 0)  # (J, m, S)
        diff = np.where(both, means[:, a] - means[:, b], 0.0).sum(axis=0)
        count = both.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, diff / count, np.nan)

    def _evaluate(self) -> Evaluation:
        values = self._values()
        order = np.argsort(self._first_seen, axis=1, kind="stable")
        ordered = np.take_along_axis(values, order, axis=1)
        seen = np.take_along_axis(np.isfinite(self._first_seen), order, axis=1)
        ordered = np.where(seen, ordered, np.nan)
        width = self.scale.width
        seq = paired_sequences(ordered, width, self.level, self.truncation)
        lower, upper = seq.current()
        n = seq.n
        left = len(self.design.scenarios) - n
        decision = decide(lower, upper, self.delta, left)
        x = (ordered + width) / (2 * width)
        sd = np.full(len(n), 0.5)
        several = n >= 2
        if several.any():
            sd[several] = np.nanstd(x[several], axis=1, ddof=1)
        return Evaluation(n, seq.mean, lower, upper, decision, sd, left)

    def predicted_halfwidth(self, sd: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """PrPl-EB half-width (composite points) after ``steps`` scenarios if the spread were
        ``sd`` (on [0, 1]) at every step: the quantity the policy and the estimates use."""
        sd = np.maximum(np.asarray(sd, dtype=float), 1e-6)
        steps = np.asarray(steps, dtype=np.int64)
        horizon = int(max(int(steps.max(initial=1)), 1))
        t = np.arange(1, horizon + 1, dtype=float)
        log_term = np.log(2 / self.level)
        var = (sd**2)[:, None]
        bets = np.minimum(np.sqrt(2 * log_term / (t * np.log1p(t) * var)), self.truncation)
        psi = -np.log1p(-bets) - bets
        half = (log_term + np.cumsum(var * psi, axis=1)) / np.cumsum(bets, axis=1)
        index = np.clip(steps - 1, 0, horizon - 1)
        out = half[np.arange(len(sd)), index] * 2 * self.scale.width
        return np.where(steps > 0, np.minimum(out, 2 * self.scale.width), 2 * self.scale.width)

    # -- plans -------------------------------------------------------------------------------

    def _open(self, evaluation: Evaluation) -> np.ndarray:
        return evaluation.decision == "undecided"

    def _available(self, k: int) -> np.ndarray:
        """Scenario slots comparison k has not observed and nobody has planned for it."""
        return np.isinf(self._first_seen[k]) & ~self._planned[k]

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
        extra = self._planned.sum(axis=1)
        open_ = self._open(evaluation)
        batch: list[str] = []
        units: list[tuple[int, int]] = []
        while len(batch) < want:
            candidates = []
            for k in np.flatnonzero(open_):
                free = np.flatnonzero(self._available(k))
                if free.size == 0:
                    continue
                scenario = int(free[np.argmin(judge.rank[free])])
                cards = self._unit_cards(k, scenario, judged)
                candidates.append((int(k), scenario, cards))
            if not candidates:
                break
            ks = np.array([c[0] for c in candidates])
            steps = evaluation.n[ks] + extra[ks]
            now = self.predicted_halfwidth(evaluation.sd[ks], steps)
            after = self.predicted_halfwidth(evaluation.sd[ks], steps + 1)
            cost = np.array([max(len(c[2]), 0.5) for c in candidates])
            gain = (now - after) / cost
            best = np.flatnonzero(gain >= gain.max() - 1e-12)
            k, scenario, cards = candidates[int(best[judge.rng.randrange(len(best))])]
            self._planned[k, scenario] = True
            extra[k] += 1
            units.append((k, scenario))
            batch += cards
            judged.update(cards)
        judge.pending += self._mix(batch, judge.rng)
        judge.units += units

    def _mix(self, cards: list[str], rng: random.Random) -> list[str]:
        """The cards in random order with no two neighbours of one model when possible."""
        groups: dict[str, list[str]] = defaultdict(list)
        for card in cards:
            groups[self.design.cells[self.design.where[card][0]][0]].append(card)
        for members in groups.values():
            rng.shuffle(members)
        out: list[str] = []
        previous = None
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
        # An exhausted comparison keeps its started units: their last tips refine its values.
        live_units = [u for u in judge.units if evaluation.decision[u[0]] not in DECIDED]
        for k, s in judge.units:
            if (k, s) not in live_units and not np.isfinite(self._first_seen[k, s]):
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

    def next_ppi(self, judge_id: str, want: int) -> list[str]:
        """Whole scenarios in the experiment's seeded order, one judge per scenario."""
        judge = self.judges[judge_id]
        judged = self.judged_by(judge_id)
        out: list[str] = []
        for s in self._experiment_order:
            s = int(s)
            owner = self._ppi_taken.get(s)
            if owner not in (None, judge_id):
                continue
            cards = [
                c
                for cell in range(len(self.design.cells))
                for c in self.design.tips.get((cell, s), ())
                if c not in judged
            ]
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
    """Per primary comparison: arms, scenarios observed and left, mean, the sequence's current
    bounds (composite points), the decision and the estimated cards left (module docstring)."""
    evaluation = state.evaluate()
    scenarios_needed = _scenarios_needed(state, evaluation)
    cards = _cards_for(state, scenarios_needed)
    design = state.design
    rows = []
    for k in range(design.n_comparisons):
        a, b = design.cells[design.a[k]], design.cells[design.b[k]]
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
                "decision": str(evaluation.decision[k]),
                "decided": str(evaluation.decision[k]) in DECIDED,
                "scenarios_left_estimate": int(scenarios_needed[k]),
                "cards_left_estimate": int(cards[k]),
                "level": state.level,
                "delta": state.delta,
            }
        )
    return rows


def status(state: QueueState) -> dict[str, int]:
    """The experiment's status, the object ``judge.py --status`` prints."""
    evaluation = state.evaluate()
    decided = int(np.isin(evaluation.decision, DECIDED).sum())
    needed = _scenarios_needed(state, evaluation)
    return {
        "comparisons": int(state.design.n_comparisons),
        "decided": decided,
        "undecided": int(state.design.n_comparisons - decided),
        "cards_judged": int(state.cards_judged),
        "cards_left_estimate": int(_cards_union(state, needed)),
    }


def can_stop(state: QueueState) -> bool:
    """True once no primary comparison is undecided with scenarios left to judge."""
    return not bool((state.evaluate().decision == "undecided").any())


def _number(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _scenarios_needed(state: QueueState, evaluation: Evaluation) -> np.ndarray:
    """Scenarios still to observe per comparison before the predicted sequence decides."""
    n_s = len(state.design.scenarios)
    steps = np.arange(1, n_s + 1)
    m = state.design.n_comparisons
    sd = np.repeat(evaluation.sd, n_s)
    half = state.predicted_halfwidth(sd, np.tile(steps, m)).reshape(m, n_s)
    gap = np.abs(np.nan_to_num(evaluation.mean, nan=0.0))
    target = np.maximum(gap, state.delta - gap)[:, None]
    reach = (half < target) & (steps[None, :] > evaluation.n[:, None])
    first = np.where(reach.any(axis=1), reach.argmax(axis=1) + 1, n_s)
    needed = np.clip(first - evaluation.n, 0, evaluation.left)
    return np.where(evaluation.decision == "undecided", needed, 0)


def _next_scenarios(state: QueueState, k: int, count: int) -> list[int]:
    unseen = [int(s) for s in state._experiment_order if np.isinf(state._first_seen[k, int(s)])]
    return unseen[:count]


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
    """Distinct cards of the scenarios still needed, plus those already planned for someone."""
    cards = {c for judge in state.judges.values() for c in judge.pending if not state.scored(c)}
    for k in range(state.design.n_comparisons):
        cards |= _open_cards(state, k, _next_scenarios(state, k, int(needed[k])))
    return len(cards)
