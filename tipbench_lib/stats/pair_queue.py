"""The adaptive pair queue: which two cells, in which scenario, a person should compare next.

Pure functions over plain data, no I/O, the pairwise twin of :mod:`.adaptive` (``docs/
architecture.md`` sections 8 and 13). The judge app keeps one :class:`PairQueueState` per
experiment, feeds it every person's counted pairwise judgments (:meth:`PairQueueState.record`)
and asks it for a judge's next pairs (:func:`next_pairs`), the status (:func:`pair_status`) and
whether the judging can stop (:func:`can_stop`). The judge side picks the two tips of each
:class:`PairSlot` and the sides they are shown on.

**What is compared.** The primary family of :func:`tipbench_lib.stats.pairwise.
compare_pairwise`, fixed before data: every cell against the baseline named before judging
(a = the cell, b = the baseline), else all pairs of cells. Each comparison follows a sign-flip
betting sequence (:class:`tipbench_lib.stats.signflip.SignFlipSequences`) at level α/m, so a
verdict read at any moment, and stopping there, keeps the family-wise error within α.

**Observations.** A comparison's scenario enters its sequence once, with the first
``cards_per_unit`` counted judgments of that pair of cells in that scenario (3 by default,
:data:`DEFAULT_CARDS_PER_UNIT`; whoever made them): the mean of their centred win shares, each
+1/2 when a's tip won, −1/2 when b's did, 0 for a tie. Under "the two cells do not differ" a
scenario's tips are exchangeable and the sides were drawn at random, so that value is symmetric
about 0: the null the bettors test. Later judgments of the same pair and scenario (other tips,
other people, revisions) are for compare's fixed-sample test, not for the sequence, whose bets
were placed on the value it had.

**The policy** (Chatbot Arena's active sampling, within the sequences' guarantees). A judge's next
pairs are picked greedily among the comparisons still ``undecided`` with a scenario left that has
not entered and is not planned for another judge: the one whose interval would shrink most with one
more card, sd · (1/sqrt(n + 1) − 1/sqrt(n + 2)) with sd the spread of its outcomes so far, which is
largest for a comparison whose outcomes are most uncertain (a share near 1/2 spreads most) and seen
least. A planned pair counts as seen for the next pick, so a plan spreads over comparisons. Planned
for another judge means in a plan this state made, or one held for a judge planning in another
process (:meth:`PairQueueState.hold`: the judge app journals every plan, ``judge/queue.Plans``).
The scenario is the next one in the *experiment's* seeded permutation (one for every comparison and
judge, ``seed``), skipping those planned for someone else: the order in which scenarios enter a
comparison is then fixed before any judgment, which keeps its sequence exact. Not the judge's own
permutation (the rubric queue used one until it moved to the experiment's order too,
``stats/adaptive``): which judge plans a comparison's next unit depends on the
other comparisons' answers, and those share the baseline's tips in the same scenarios, so they
would choose this comparison's next scenario with knowledge of its likely outcome
(``tests/test_pair_queue.py`` checks that a comparison's scenarios come in the same order whatever
the others answer).

**Stopping.** A comparison is decided (``better``, ``worse``, ``equivalent``: the share within
±δ of 1/2) or ``out of reach`` exactly as in :mod:`.signflip` (no outcome of the scenarios left
could decide it), or, by default, ``out of reach (projected)`` (simulated futures decide it with
a chance under 2%). :func:`can_stop` is true once none is undecided; a design whose scenarios
cannot decide any comparison whatever the answers is said so before the first card
(:func:`tipbench_lib.stats.adaptive.family_scenarios`, the rubric queue's rule).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import polars as pl

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.adaptive import DesignReach, family_scenarios, scenario_order
from tipbench_lib.stats.anytime import DECIDED, PROJECTED
from tipbench_lib.stats.signflip import DEFAULT_FUTILITY, SignFlipSequences

SHARE_WIDTH = 0.5
"""A judgment's centred win share lies in ±1/2."""
DEFAULT_DELTA = 0.1
"""Equivalence margin on the win share: a comparison is ``equivalent`` when the share stays
within 1/2 ± 0.1 (neither cell wins more than 60% of the pairs)."""
GRID_STEP = 0.01
"""Share points between the centres the displayed sequence tests."""
VALUES = {"a": 0.5, "b": -0.5, "tie": 0.0}
DEFAULT_CARDS_PER_UNIT = 3
"""Cards (tip pairs) whose mean enters a comparison's sequence per scenario. One ternary answer
per scenario is too coarse for a bettor at α/m: on ``bench/pairwise.py``'s queue experiment (9
cells, 24 scenarios, a +2 cell, baseline named, 100 runs) one card per scenario found the +2
cell in 35% of the runs, three (the experiment's tips per cell) in 78%, at a median of 204 cards
(docs/benchmarks.md, pairwise judging)."""


@dataclass(frozen=True)
class PairSlot:
    """One card to hand out: two cells to compare in one scenario (tips and sides: the judge's)."""

    scenario_id: str
    cell_a: tuple[str, str]
    """(model, prompt_version) of the comparison's first arm (the baseline is ``cell_b``)."""
    cell_b: tuple[str, str]


@dataclass(frozen=True)
class PairDesign:
    """The experiment as the pair queue sees it: cells, scenarios and the primary family."""

    cells: tuple[tuple[str, str], ...]
    scenarios: tuple[str, ...]
    possible: np.ndarray
    """(cells, scenarios) bool: the cell has a tip to show in the scenario."""
    a: np.ndarray
    b: np.ndarray
    baseline: tuple[str, str] | None = None

    @property
    def n_comparisons(self) -> int:
        return len(self.a)


def pair_design(
    rows: Iterable[Mapping[str, Any]], baseline: tuple[str, str] | None = None
) -> PairDesign:
    """The design from rows with model, prompt_version and scenario_id (one per candidate or
    per cell; the cells frame will do), and the family fixed before data."""
    rows = [(str(r["model"]), str(r["prompt_version"]), str(r["scenario_id"])) for r in rows]
    if not rows:
        raise TipbenchError("the experiment has no cells to compare; collect tips first")
    cells = tuple(sorted({(m, p) for m, p, _ in rows}))
    scenarios = tuple(sorted({s for _, _, s in rows}))
    cell_slot = {c: i for i, c in enumerate(cells)}
    scenario_slot = {s: i for i, s in enumerate(scenarios)}
    possible = np.zeros((len(cells), len(scenarios)), dtype=bool)
    for m, p, s in rows:
        possible[cell_slot[(m, p)], scenario_slot[s]] = True
    if baseline is not None:
        baseline = (str(baseline[0]), str(baseline[1]))
        if baseline not in cell_slot:
            known = ", ".join(f"{m}/{p}" for m, p in cells[:10])
            raise TipbenchError(
                f"baseline {baseline[0]}/{baseline[1]} is not a cell of this experiment; "
                f"pick one of: {known}"
            )
        base = cell_slot[baseline]
        a = np.array([i for i in range(len(cells)) if i != base], dtype=np.int64)
        b = np.full(len(a), base, dtype=np.int64)
    else:
        a, b = (x.astype(np.int64) for x in np.triu_indices(len(cells), k=1))
    return PairDesign(cells, scenarios, possible, a, b, baseline)


@dataclass
class _Plan:
    units: list[tuple[int, int]] = field(default_factory=list)
    """(comparison, scenario) planned for the judge and not judged yet."""


class PairQueueState:
    """The people's pairwise judgments so far, the comparisons' sequences and the plans."""

    def __init__(
        self,
        design: PairDesign,
        *,
        alpha: float = 0.05,
        delta: float = DEFAULT_DELTA,
        futility: float | None = DEFAULT_FUTILITY,
        cards_per_unit: int = DEFAULT_CARDS_PER_UNIT,
        seed: int = 0,
    ) -> None:
        if not 0 < alpha < 1:
            raise TipbenchError(f"alpha must lie between 0 and 1, got {alpha}")
        if not 0 <= delta < SHARE_WIDTH:
            raise TipbenchError(f"delta is a win-share margin in [0, 0.5), got {delta}")
        if cards_per_unit < 1:
            raise TipbenchError(f"cards_per_unit must be 1 or more, got {cards_per_unit}")
        self.design, self.alpha, self.delta = design, float(alpha), float(delta)
        self.cards_per_unit = int(cards_per_unit)
        self.seed = int(seed)
        n_scenarios = len(design.scenarios)
        self._rank = np.empty(n_scenarios, dtype=np.int64)
        self._rank[scenario_order(n_scenarios, self.seed)] = np.arange(n_scenarios)
        """Each scenario's place in the experiment's order (module docstring, "The policy")."""
        m = design.n_comparisons
        self.level = alpha / max(m, 1)
        self.sequences = SignFlipSequences(
            max(m, 1),
            SHARE_WIDTH,
            self.level,
            delta,
            grid_step=GRID_STEP,
            futility=futility,
            verdict_alpha=alpha,
        )
        n_s = len(design.scenarios)
        self._possible = design.possible[design.a] & design.possible[design.b]  # (m, scenarios)
        self._entered = np.zeros((m, n_s), dtype=bool)
        self._planned = np.zeros((m, n_s), dtype=bool)
        self._sum = np.zeros((m, n_s))
        self._count = np.zeros((m, n_s), dtype=np.int64)
        self._plans: dict[str, _Plan] = {}
        self._cell = {c: i for i, c in enumerate(design.cells)}
        self._scenario = {s: i for i, s in enumerate(design.scenarios)}
        self._comparison = {
            (int(a), int(b)): k for k, (a, b) in enumerate(zip(design.a, design.b, strict=True))
        }
        self.cards_judged = 0
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    # -- judgments -------------------------------------------------------------------------------

    def record(
        self,
        scenario_id: str,
        cell_a: tuple[str, str],
        cell_b: tuple[str, str],
        answer: str,
    ) -> None:
        """One counted judgment: ``answer`` "a", "b" or "tie" in terms of ``cell_a``/``cell_b``.

        A pair outside the primary family counts as a card but enters no sequence; a cell or
        scenario the design does not have is refused before anything changes.
        """
        if answer not in VALUES:
            raise TipbenchError(f"answer {answer!r} is not one of a, b, tie")
        try:
            ca, cb = self._cell[tuple(cell_a)], self._cell[tuple(cell_b)]
            s = self._scenario[str(scenario_id)]
        except KeyError as missing:
            raise TipbenchError(
                f"{missing.args[0]} is not a cell or scenario of this experiment's design"
            ) from None
        self.cards_judged += 1
        value = VALUES[answer]
        k = self._comparison.get((ca, cb))
        if k is None:
            k, value = self._comparison.get((cb, ca)), -value
        if k is None or self._entered[k, s] or not self._possible[k, s]:
            return
        self._sum[k, s] += value
        self._count[k, s] += 1
        if self._count[k, s] < self.cards_per_unit:
            return
        self.sequences.add(k, self._sum[k, s] / self._count[k, s])
        self._entered[k, s] = True
        for plan in self._plans.values():
            if (k, s) in plan.units:
                plan.units.remove((k, s))
        self._mark_planned()
        self._cache = None

    def record_outcomes(self, outcomes: pl.DataFrame) -> None:
        """Every row of a pair outcomes frame, in the order made (``created_at`` when given)."""
        if "created_at" in outcomes.columns:
            outcomes = outcomes.sort("created_at", maintain_order=True)
        for row in outcomes.iter_rows(named=True):
            if row["answer"] in VALUES:
                self.record(
                    row["scenario_id"],
                    (row["a_model"], row["a_prompt"]),
                    (row["b_model"], row["b_prompt"]),
                    row["answer"],
                )

    # -- reading ---------------------------------------------------------------------------------

    @property
    def left(self) -> np.ndarray:
        """Scenarios each comparison can still take."""
        return (self._possible & ~self._entered).sum(axis=1)

    def decisions(self) -> np.ndarray:
        if self.design.n_comparisons == 0:
            return np.zeros(0, dtype=str)
        if self._cache is None:
            left = self.left
            decision = self.sequences.decisions(left)
            needed = self.sequences.scenarios_needed(left)
            needed = np.where(decision == PROJECTED, 0, needed)
            self._cache = (decision, needed)
        return self._cache[0]

    def scenarios_needed(self) -> np.ndarray:
        self.decisions()
        return self._cache[1] if self._cache is not None else np.zeros(0, dtype=np.int64)

    # -- plans -----------------------------------------------------------------------------------

    def _mark_planned(self) -> None:
        """A unit is planned while any judge's plan holds it, this state's or held."""
        self._planned[:] = False
        for plan in self._plans.values():
            for k, s in plan.units:
                self._planned[k, s] = True

    def plan(self, judge_id: str, n: int, seed: int) -> list[tuple[int, int]]:
        """Replace the judge's plan with ``n`` greedily picked units (module docstring);
        ``seed`` breaks ties between equally good comparisons. Units held for other judges
        (:meth:`hold`) are not picked."""
        self._plans.pop(judge_id, None)
        self._mark_planned()
        rank = self._rank
        rng = random.Random(seed * 1_000_003 + self.cards_judged)
        open_ = self.decisions() == "undecided"
        seen = self.sequences.n[: self.design.n_comparisons].astype(float)
        sd = self.sequences.sd()[: self.design.n_comparisons]
        plan = _Plan()
        cards = 0
        while cards < n:
            free = self._possible & ~self._entered & ~self._planned & open_[:, None]
            ks = np.flatnonzero(free.any(axis=1))
            if ks.size == 0:
                break
            gain = sd[ks] * (1 / np.sqrt(seen[ks] + 1) - 1 / np.sqrt(seen[ks] + 2))
            best = ks[np.flatnonzero(gain >= gain.max() - 1e-12)]
            k = int(best[rng.randrange(len(best))])
            scenarios = np.flatnonzero(free[k])
            s = int(scenarios[np.argmin(rank[scenarios])])
            self._planned[k, s] = True
            seen[k] += 1
            plan.units.append((k, s))
            cards += self.cards_per_unit - int(self._count[k, s])
        self._plans[judge_id] = plan
        return list(plan.units)

    def hold(self, judge_id: str, slots: Iterable[PairSlot]) -> None:
        """Mark ``slots`` as planned for ``judge_id``, replacing what was held for them before.

        Plans made elsewhere (another browser's kernel) reach this state only as the slots
        handed out (``judge/queue.Plans``); their units are then left out of every other plan,
        as :meth:`plan` does for its own. A slot this design does not have, outside the primary
        family, or already entered holds nothing (a plan from a stranger's file changes nothing
        it should not).
        """
        units = [self._unit(slot) for slot in slots]
        open_ = [u for u in units if u is not None and self._possible[u] and not self._entered[u]]
        self._plans[judge_id] = _Plan(list(dict.fromkeys(open_)))
        self._mark_planned()

    def _unit(self, slot: PairSlot) -> tuple[int, int] | None:
        """The (comparison, scenario) a slot serves, either way round; None: no comparison."""
        ca, cb = self._cell.get(tuple(slot.cell_a)), self._cell.get(tuple(slot.cell_b))
        s = self._scenario.get(str(slot.scenario_id))
        k = self._comparison.get((ca, cb), self._comparison.get((cb, ca)))
        return None if k is None or s is None else (k, s)

    def planned_slots(self, judge_id: str) -> list[PairSlot]:
        """The slots of the judge's plan, one per unit, in the order planned."""
        plan = self._plans.get(judge_id, _Plan())
        return [self.slot(k, s) for k, s in plan.units]

    def slot(self, k: int, s: int) -> PairSlot:
        design = self.design
        return PairSlot(
            design.scenarios[s], design.cells[int(design.a[k])], design.cells[int(design.b[k])]
        )

    def release(self, judge_id: str) -> None:
        """Give the judge's planned pairs back to everyone (the judge left, or their plan
        expired)."""
        if self._plans.pop(judge_id, None) is not None:
            self._mark_planned()


def pair_queue_state(
    outcomes: pl.DataFrame,
    cells: pl.DataFrame,
    *,
    baseline: tuple[str, str] | None = None,
    alpha: float = 0.05,
    delta: float = DEFAULT_DELTA,
    futility: float | None = DEFAULT_FUTILITY,
    cards_per_unit: int = DEFAULT_CARDS_PER_UNIT,
    seed: int = 0,
) -> PairQueueState:
    """A state from the experiment's cells (model, prompt_version, scenario_id), the family
    (``baseline`` or all pairs, fixed before data), the experiment's seed (its scenario order;
    ``judge/queue.experiment_seed``) and the people's outcomes so far."""
    state = PairQueueState(
        pair_design(cells.iter_rows(named=True), baseline),
        alpha=alpha,
        delta=delta,
        futility=futility,
        cards_per_unit=cards_per_unit,
        seed=seed,
    )
    state.record_outcomes(outcomes)
    return state


def next_pairs(state: PairQueueState, judge_id: str, n: int, seed: int) -> list[PairSlot]:
    """The judge's next ``n`` pairs (fewer, or none once nothing is undecided).

    A fresh plan each call; a unit of several cards repeats its slot (the judge side shows
    different tips). Scenarios come in the experiment's order (the state's ``seed``); ``seed``
    here (the judge's, recorded by the app) only breaks ties between comparisons. An empty list
    while :func:`can_stop` is false means every open unit is planned for someone else."""
    slots: list[PairSlot] = []
    for k, s in state.plan(judge_id, n, seed):
        cards = state.cards_per_unit - int(state._count[k, s])
        slots += [state.slot(k, s)] * cards
    return slots[: max(n, 0)] if slots else slots


def pair_status(state: PairQueueState) -> dict[str, Any]:
    """Per primary comparison its decision, the sequence's interval on the win share and the
    cards left (the sequence's estimate of the scenarios it still needs, times the cards per
    scenario), and the experiment's totals."""
    design = state.design
    decision = state.decisions()
    needed = state.scenarios_needed()
    lower, upper = state.sequences.bounds()
    mean = state.sequences.mean()
    left = state.left
    rows = []
    for k in range(design.n_comparisons):
        a, b = design.cells[int(design.a[k])], design.cells[int(design.b[k])]
        rows.append(
            {
                "a_model": a[0],
                "a_prompt": a[1],
                "b_model": b[0],
                "b_prompt": b[1],
                "n_scenarios": int(state.sequences.n[k]),
                "scenarios_left": int(left[k]),
                "share_mean": None if not np.isfinite(mean[k]) else float(0.5 + mean[k]),
                "cs_lo": float(0.5 + lower[k]),
                "cs_hi": float(0.5 + upper[k]),
                "decision": str(decision[k]),
                "decided": str(decision[k]) in DECIDED,
                "cards_left_estimate": int(needed[k]) * state.cards_per_unit,
            }
        )
    reach = design_reach(state)
    return {
        "comparisons": rows,
        "decided": sum(r["decided"] for r in rows),
        "undecided": sum(not r["decided"] for r in rows),
        "out_of_reach": int((decision == "out of reach").sum()),
        "out_of_reach_projected": int((decision == PROJECTED).sum()),
        "cards_judged": state.cards_judged,
        "cards_left_estimate": int(needed.sum()) * state.cards_per_unit,
        "cards_per_unit": state.cards_per_unit,
        "can_stop": can_stop(state),
        "decidable": reach.decidable,
        "scenarios_to_decide": reach.scenarios_to_decide,
        "design_note": reach.note(),
        "level": state.level,
        "delta": state.delta,
    }


@dataclass(frozen=True)
class PairDesignReach(DesignReach):
    """The rubric queue's :class:`~tipbench_lib.stats.adaptive.DesignReach` (the same floors,
    the same fields) told in pairwise terms: people answer rather than score, the sequence is
    on the win share, and compare's verdicts come from its paired test of the scenarios' win
    shares (:func:`tipbench_lib.stats.pairwise.compare_pairwise`), whose floor is reached when
    one cell wins every pair in every scenario."""

    TEST: ClassVar[str] = (
        "compare's paired test of the win shares (the signed-rank test over scenarios of each "
        "scenario's share − 1/2)"
    )
    WHATEVER: ClassVar[str] = "whatever the answers"
    NO_REACH: ClassVar[str] = (
        ", not even a cell winning every pair in every scenario takes a comparison's sign-flip "
        "sequence on the win share to its threshold"
    )


def design_reach(state: PairQueueState) -> PairDesignReach:
    """Whether the family can decide anything with its scenarios (the rubric queue's rule,
    :func:`~tipbench_lib.stats.adaptive.family_scenarios`, on the win share's range)."""
    design = state.design
    m = design.n_comparisons
    scenarios = int(state._possible.sum(axis=1).max(initial=0))
    args = (state.alpha, "sign-flip", SHARE_WIDTH, state.delta)
    needed = family_scenarios(m, *args)
    with_baseline = design.baseline is None and len(design.cells) >= 3
    return PairDesignReach(
        decidable=m == 0 or scenarios >= needed,
        comparisons=m,
        scenarios=scenarios,
        scenarios_to_decide=needed,
        baseline_comparisons=len(design.cells) - 1 if with_baseline else None,
        scenarios_to_decide_with_baseline=(
            family_scenarios(len(design.cells) - 1, *args) if with_baseline else None
        ),
        level_alpha=state.alpha,
    )


def can_stop(state: PairQueueState) -> bool:
    """True once every primary comparison is decided or out of reach (exact or projected)."""
    return not bool((state.decisions() == "undecided").any())
