"""Simulated people (and an LLM judge) choosing between two tips, with a known truth.

The pairwise statistics (:mod:`tipbench_lib.stats.pairwise`, :mod:`tipbench_lib.stats.
bradley_terry`, :mod:`tipbench_lib.stats.pair_queue`) hold only as far as a simulation on a
researcher's experiment shows them (``docs/architecture.md`` sections 8 and 13). The tips here
have the latent quality of :mod:`.synthetic`'s rubric simulations::

    quality = effect[cell] + scenario[s] + interaction[cell, s] + tip

(sds 0.6, 0.2 and 0.5, as :func:`.synthetic.generate`), and a judge shown two tips of one
scenario forms, per showing, an overall impression of each on the rubric's 1–5 scale::

    impression = clip(round(level + quality + tip_noise + lean[judge] + judge_noise
                            + position_bias[judge] * shown_left), 1, 5)

(``tip_noise`` shared by every judge of the tip, sd 0.3/√3: the mean of the three dimensions'
own noise; ``judge_noise`` fresh per showing, sd 0.3). The tip with the higher impression wins;
equal impressions are a tie. So ties come from the scale's coarseness, a lenient person near
the ceiling ties more (both tips at 5), and a position bias pushes the left tip up. The LLM
judge (:attr:`Setup.both_orders`) sees each pair in both orders, and its answer is a win only
when both showings agree, otherwise a tie (the rule of ``docs/architecture.md`` section 13).

Every cell pair of every scenario is judged on ``n_tips`` tip pairs (tip k of A against tip k
of B), each by every judge, the sides drawn at random per showing (or A always on the left,
:attr:`Setup.sides`, the case a fixed order would produce). The truth of a pair is its expected
win share (ties half) over scenarios, tips, judges and sides (:func:`true_shares`, by a large
simulation); the true strengths are the Bradley–Terry fit to those shares
(:func:`true_strengths`), the quantity a very large experiment would estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import polars as pl
from scipy import optimize
from scipy.special import ndtr

from tipbench_lib.stats import bradley_terry, pair_queue, pairwise
from tipbench_lib.stats.pairs import pair_slots
from tipbench_lib.validation import queue_simulation

SCENARIO_SD, INTERACTION_SD, TIP_SD = 0.6, 0.2, 0.5
TIP_NOISE_SD = 0.3 / np.sqrt(3)
JUDGE_SD = 0.3
LENIENT_PEOPLE: tuple[float, ...] = (-0.5, 0.0, 0.5)
"""Latent leans of three people: harsh, neutral and lenient (as the rubric simulations)."""
PEOPLE_POSITION: tuple[float, ...] = (0.0, 0.2, 0.4)
"""Latent boost of the tip shown on the left, per person."""


@dataclass(frozen=True)
class Setup:
    """One simulated pairwise experiment."""

    n_cells: int = 6
    n_scenarios: int = 12
    n_tips: int = 2
    effects: tuple[float, ...] | None = None
    """Latent effect of each cell (None: every cell equal, the null)."""
    leans: tuple[float, ...] = LENIENT_PEOPLE
    position: tuple[float, ...] = PEOPLE_POSITION
    judge_sd: float = JUDGE_SD
    noise: tuple[float, ...] | None = None
    """Per-judge noise sd replacing ``judge_sd`` (e.g. a careless person)."""
    level: float = 3.0
    """Where impressions sit: 3 centred, :data:`tipbench_lib.validation.synthetic.CEILING`'s
    base 4.33 for ceiling-heavy ones."""
    baseline: int | None = 0
    """Cell slot named as baseline before judging (None: all pairs)."""
    both_orders: bool = False
    """Each judgment shows the pair in both orders; a win only when both agree."""
    sides: str = "random"
    """"random": sides drawn per showing; "fixed": cell A always shown on the left."""
    judge_kind: str = "human"

    @property
    def n_judges(self) -> int:
        return len(self.leans)

    def cell_effects(self) -> np.ndarray:
        if self.effects is None:
            return np.zeros(self.n_cells)
        if len(self.effects) != self.n_cells:
            raise ValueError(f"effects has {len(self.effects)} values for {self.n_cells} cells")
        return np.asarray(self.effects, dtype=float)

    def cells(self) -> list[tuple[str, str]]:
        return [(f"model-{c // 2:02d}", f"v{c % 2 + 1}") for c in range(self.n_cells)]

    def baseline_cell(self) -> tuple[str, str] | None:
        return None if self.baseline is None else self.cells()[self.baseline]


def answers(setup: Setup, replicates: int, seed: int) -> dict[str, np.ndarray]:
    """(replicates, pairs, scenarios, tips, judges) arrays: ``win`` (+1 A, −1 B, 0 tie),
    ``n_left``, ``n_right``, ``n_showings``, for every pair slot (a < b) of the cells."""
    rng = np.random.default_rng(seed)
    r, c, s, k, j = replicates, setup.n_cells, setup.n_scenarios, setup.n_tips, setup.n_judges
    quality = (
        setup.cell_effects()[None, :, None, None]
        + rng.normal(0, SCENARIO_SD, (r, 1, s, 1))
        + rng.normal(0, INTERACTION_SD, (r, c, s, 1))
        + rng.normal(0, TIP_SD, (r, c, s, k))
        + rng.normal(0, TIP_NOISE_SD, (r, c, s, k))
    )
    a, b = pair_slots(c)
    qa, qb = quality[:, a, ..., None], quality[:, b, ..., None]  # (r, p, s, k, 1)
    lean = np.asarray(setup.leans, dtype=float)
    sd = np.asarray(setup.noise if setup.noise is not None else [setup.judge_sd] * j, dtype=float)
    push = np.asarray(setup.position, dtype=float)
    shape = (r, len(a), s, k, j)
    showings = 2 if setup.both_orders else 1
    picks = []
    left_wins = np.zeros(shape, dtype=np.int64)
    right_wins = np.zeros(shape, dtype=np.int64)
    for showing in range(showings):
        if setup.both_orders:
            a_left = np.full(shape, showing == 0)
        elif setup.sides == "fixed":
            a_left = np.ones(shape, dtype=bool)
        else:
            a_left = rng.random(shape) < 0.5
        seen_a = setup.level + qa + lean + rng.normal(0, 1, shape) * sd + push * a_left
        seen_b = setup.level + qb + lean + rng.normal(0, 1, shape) * sd + push * ~a_left
        score_a = np.clip(np.floor(seen_a + 0.5), 1, 5)
        score_b = np.clip(np.floor(seen_b + 0.5), 1, 5)
        pick = np.sign(score_a - score_b).astype(np.int64)
        picks.append(pick)
        left_wins += ((pick > 0) & a_left) | ((pick < 0) & ~a_left)
        right_wins += ((pick > 0) & ~a_left) | ((pick < 0) & a_left)
    win = picks[0] if showings == 1 else np.where(picks[0] == picks[1], picks[0], 0)
    return {
        "win": win,
        "n_left": left_wins,
        "n_right": right_wins,
        "n_showings": np.full(shape, showings, dtype=np.int64),
    }


def outcomes(setup: Setup, replicates: int, seed: int) -> pl.DataFrame:
    """The pair outcomes frame (:data:`tipbench_lib.core.schema.PAIR_OUTCOMES`) of
    ``replicates`` independent experiments, told apart by the ``experiment`` column."""
    drawn = answers(setup, replicates, seed)
    shape = drawn["win"].shape
    r, p, s, k, j = (np.arange(n) for n in shape)
    grid = np.meshgrid(r, p, s, k, j, indexing="ij")
    a, b = pair_slots(setup.n_cells)
    cells = setup.cells()
    models = np.array([m for m, _ in cells], dtype=object)
    prompts = np.array([q for _, q in cells], dtype=object)
    pair = grid[1].ravel()
    win = drawn["win"].ravel()
    answer = np.where(win > 0, "a", np.where(win < 0, "b", "tie"))
    return pl.DataFrame(
        {
            "experiment": pl.Series(grid[0].ravel(), dtype=pl.Int64).cast(pl.String),
            "scenario_id": pl.Series(grid[2].ravel(), dtype=pl.Int64).cast(pl.String),
            "a_model": models[a[pair]],
            "a_prompt": prompts[a[pair]],
            "b_model": models[b[pair]],
            "b_prompt": prompts[b[pair]],
            "judge_id": pl.Series(grid[4].ravel(), dtype=pl.Int64).cast(pl.String),
            "judge_kind": np.full(win.size, setup.judge_kind, dtype=object),
            "answer": answer,
            "n_left": drawn["n_left"].ravel(),
            "n_right": drawn["n_right"].ravel(),
            "n_showings": drawn["n_showings"].ravel(),
        },
        schema_overrides={
            "a_model": pl.String,
            "a_prompt": pl.String,
            "b_model": pl.String,
            "b_prompt": pl.String,
            "judge_kind": pl.String,
            "answer": pl.String,
        },
    )


def true_shares(setup: Setup, draws: int = 200_000, seed: int = 12345) -> np.ndarray:
    """(cells, cells) expected win share of the row cell against the column cell, ties half,
    over scenarios, tips, judges and sides, by a simulation of ``draws`` scenarios per pair
    (error about 0.5 / sqrt(draws · tips · judges), below 0.001 by default)."""
    return _true_shares(replace(setup, n_scenarios=1), draws, seed)


@lru_cache(maxsize=32)
def _true_shares(setup: Setup, draws: int, seed: int) -> np.ndarray:
    c = setup.n_cells
    shares = np.full((c, c), 0.5)
    total = np.zeros(len(pair_slots(c)[0]))
    done = 0
    chunk = max(1, min(draws, 20_000))
    while done < draws:
        drawn = answers(setup, chunk, seed + done)
        total += ((drawn["win"] + 1) / 2).mean(axis=(2, 3, 4)).sum(axis=0)
        done += chunk
    a, b = pair_slots(c)
    shares[a, b] = total / done
    shares[b, a] = 1 - total / done
    effects = setup.cell_effects()
    shares[effects[:, None] == effects[None, :]] = 0.5  # equal cells: one half by symmetry
    return shares


def true_strengths(setup: Setup) -> np.ndarray:
    """The Bradley–Terry strengths a very large balanced experiment would estimate (the fit
    to :func:`true_shares`, no prior), anchored as :func:`.bradley_terry.strengths` anchors."""
    shares = true_shares(setup)
    wins = shares * 1e6
    np.fill_diagonal(wins, 0)
    anchor = -1 if setup.baseline is None else setup.baseline
    return bradley_terry.fit(wins, np.array(anchor), prior=0.0)


def compare(setup: Setup, frame: pl.DataFrame, alpha: float = 0.05) -> pl.DataFrame:
    """:func:`.pairwise.compare_pairwise` over stacked replicates, with each row's truth."""
    rows = pairwise.compare_pairwise(
        frame, alpha=alpha, baseline=setup.baseline_cell(), by="experiment"
    )
    shares = true_shares(setup)
    slot = {cell: i for i, cell in enumerate(setup.cells())}
    a = [slot[(m, p)] for m, p in zip(rows["a_model"], rows["a_prompt"], strict=True)]
    b = [slot[(m, p)] for m, p in zip(rows["b_model"], rows["b_prompt"], strict=True)]
    return rows.with_columns(pl.Series("true_share", shares[a, b], dtype=pl.Float64))


# -- the adaptive pair queue, driven by simulated people ------------------------------------------


def queue_setup(exp: queue_simulation.Experiment, **options: object) -> Setup:
    """The pairwise twin of the rubric queue's benchmark experiment: the same cells, scenarios,
    tips, better cell (its latent effect found by :func:`.queue_simulation.cell_effect`, so it
    is ``exp.difference`` composite points better on the rubric) and people's leans."""
    effects = np.zeros(exp.n_cells)
    effects[exp.better[0] * exp.n_prompts + exp.better[1]] = queue_simulation.cell_effect(exp)
    baseline = None if exp.baseline is None else exp.baseline[0] * exp.n_prompts + exp.baseline[1]
    fields: dict[str, object] = {
        "n_cells": exp.n_cells,
        "n_scenarios": exp.n_scenarios,
        "n_tips": exp.n_tips,
        "effects": tuple(float(e) for e in effects),
        "leans": tuple(exp.people_biases),
        "position": PEOPLE_POSITION[: len(exp.people_biases)],
        "baseline": baseline,
    }
    fields.update(options)
    return Setup(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class PairQueueRun:
    cards: int
    """Cards judged (one person's answer to one pair) until the queue said stop."""
    cards_found: float
    """Cards judged when every comparison with a true difference was decided in its direction
    (NaN: not before the stop)."""
    decisions: tuple[str, ...]
    false_call: bool
    """Any better/worse on a comparison of equal cells, or of the wrong sign."""
    covered: np.ndarray
    """Per comparison: its sequence held the true centred share at the end (hence throughout)."""


def pair_queue_run(
    setup: Setup,
    drawn: dict[str, np.ndarray],
    replicate: int,
    *,
    alpha: float = 0.05,
    batch: int = 6,
    seed: int = 0,
    cards_per_unit: int = pair_queue.DEFAULT_CARDS_PER_UNIT,
    futility: float | None = pair_queue.DEFAULT_FUTILITY,
) -> PairQueueRun:
    """People take turns judging ``batch`` pairs of their queue until it may stop. A card of
    (cell pair, scenario) takes the unit's next tip pair (tip k of each cell) and the person's
    answer to it from ``drawn`` (:func:`answers`)."""
    cells = setup.cells()
    rows = [
        {"model": m, "prompt_version": p, "scenario_id": f"s{s:03d}"}
        for m, p in cells
        for s in range(setup.n_scenarios)
    ]
    design = pair_queue.pair_design(rows, setup.baseline_cell())
    state = pair_queue.PairQueueState(
        design, alpha=alpha, futility=futility, cards_per_unit=cards_per_unit, seed=seed
    )
    slot = {cell: i for i, cell in enumerate(cells)}
    a_slots, b_slots = pair_slots(setup.n_cells)
    pair_of = {(int(a), int(b)): p for p, (a, b) in enumerate(zip(a_slots, b_slots, strict=True))}
    shares = true_shares(setup)
    truth = np.array(
        [
            shares[slot[design.cells[a]], slot[design.cells[b]]] - 0.5
            for a, b in zip(design.a, design.b, strict=True)
        ]
    )
    real = np.flatnonzero(np.abs(truth) > 1e-9)
    direction = np.where(truth[real] > 0, "better", "worse")
    used: dict[tuple[int, int, int], int] = {}
    people = [f"person-{j}" for j in range(setup.n_judges)]
    cards_found, idle, turn = float("nan"), 0, 0
    while not pair_queue.can_stop(state) and idle < len(people):
        j = turn % len(people)
        turn += 1
        slots = pair_queue.next_pairs(state, people[j], batch, seed=seed * 100 + j)
        idle = idle + 1 if not slots else 0
        for pick in slots:
            ca, cb = slot[pick.cell_a], slot[pick.cell_b]
            s = int(pick.scenario_id[1:])
            low, high = min(ca, cb), max(ca, cb)
            p = pair_of[(low, high)]
            k = used.get((p, s, j), 0) % setup.n_tips
            used[(p, s, j)] = k + 1
            win = int(drawn["win"][replicate, p, s, k, j]) * (1 if ca == low else -1)
            state.record(
                pick.scenario_id, pick.cell_a, pick.cell_b, {1: "a", -1: "b", 0: "tie"}[win]
            )
        if np.isnan(cards_found) and (state.decisions()[real] == direction).all():
            cards_found = float(state.cards_judged)
    decision = state.decisions()
    null = np.abs(truth) < 1e-9
    false_call = bool(
        (np.isin(decision, ("better", "worse")) & null).any()
        | ((decision == "better") & (truth < 0)).any()
        | ((decision == "worse") & (truth > 0)).any()
    )
    lower, upper = state.sequences.bounds()
    covered = (lower[: len(truth)] < truth) & (truth < upper[: len(truth)])
    return PairQueueRun(state.cards_judged, cards_found, tuple(decision), false_call, covered)


# -- position bias: a judge's showings of one pair, and the left share's truth --------------------


@dataclass(frozen=True)
class PositionJudge:
    """How a judge's answer to one showing of a pair comes about, for the left share's interval.

    Per showing the judge weighs ``o·content + habit + lean + noise`` (o = +1 when tip A is on
    the left, −1 when B is): ``content`` (sd ``content_sd``, per pair) is how much better A is,
    ``habit`` (sd ``habit_sd``, per pair) the side this pair happens to pull the judge to, the
    same in both orders, ``noise`` (sd ``noise_sd``) fresh per showing, and ``lean`` the
    judge's constant push to the left (:func:`position_lean`). Above ``tie`` (in units of the
    total sd) the left tip wins, below −``tie`` the right one, else a tie. A judge that reads
    the tips answers one left, one right in the two orders (negatively dependent showings); one
    that picks a side picks it twice (the smollm2-135m judge of section 13, 14 of 20 pairs).
    """

    name: str
    content_sd: float
    habit_sd: float
    noise_sd: float
    tie: float = 0.25

    @property
    def total_sd(self) -> float:
        return float(np.sqrt(self.content_sd**2 + self.habit_sd**2 + self.noise_sd**2))

    def left_share(self, push: float) -> float:
        """The expected share of decided showings won by the left side, ``push`` to the left:
        every showing weighs a normal of mean ``push`` and sd :attr:`total_sd`."""
        sd, tie = self.total_sd, self.tie * self.total_sd
        left, right = ndtr((push - tie) / sd), ndtr((-push - tie) / sd)
        return float(left / (left + right))


POSITION_JUDGES: tuple[PositionJudge, ...] = (
    PositionJudge("reads the tips", content_sd=1.0, habit_sd=0.1, noise_sd=0.3),
    PositionJudge("picks a side", content_sd=0.2, habit_sd=1.0, noise_sd=0.2),
    PositionJudge("noisy", content_sd=0.3, habit_sd=0.3, noise_sd=1.0),
)
"""The judge types of ``bench/pairwise.py --parts bias``."""


def position_lean(judge: PositionJudge, lean: float) -> float:
    """The push to the left that makes the judge's true left share 1/2 + ``lean``."""
    if lean == 0:
        return 0.0
    return float(
        optimize.brentq(lambda push: judge.left_share(push) - 0.5 - lean, 0.0, 50 * judge.total_sd)
    )


def position_showings(
    judge: PositionJudge,
    lean: float,
    n_pairs: int,
    both_orders: bool,
    replicates: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(replicates, n_pairs) showings won by the left side and showings decided, per pair:
    each pair shown in both orders (the LLM judge) or once with its sides at random (a
    person's card)."""
    rng = np.random.default_rng(seed)
    push = position_lean(judge, lean)
    shape = (replicates, n_pairs, 1)
    content = rng.normal(0, judge.content_sd, shape)
    habit = rng.normal(0, judge.habit_sd, shape)
    side = np.array([1.0, -1.0]) if both_orders else rng.choice([-1.0, 1.0], shape)
    showings = 2 if both_orders else 1
    weighed = side * content + habit + push
    weighed = weighed + rng.normal(0, judge.noise_sd, (replicates, n_pairs, showings))
    tie = judge.tie * judge.total_sd
    left = (weighed > tie).sum(axis=-1)
    return left, left + (weighed < -tie).sum(axis=-1)
