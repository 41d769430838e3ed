"""Simulated people judging through the adaptive queue, and PPI against people alone.

The claims of :mod:`.adaptive`, :mod:`.anytime` and :mod:`.ppi` hold only as far as a simulation
on a researcher's experiment shows them. This module draws such experiments with
:mod:`.synthetic` (discrete 1-5 scores, ties, several people with their own biases,
an LLM judge with its own bias and noise), or with the ceiling-heavy generator of
:class:`Ceiling` (most scores at 5, heavy ties, harsh and lenient people), and drives the real
queue with them:

- :func:`queue_run`: people take turns asking :func:`.adaptive.next_cards` for a few cards and
  scoring them (their scores are the synthetic ones), until :func:`.adaptive.can_stop`; it
  records the cards used, the cards when the real difference was found, every decision, and
  whether each comparison's sequence held its truth (the sequences only shrink, so holding it at
  the end is holding it at every step);
- :func:`ppi_widths`: for growing human budgets (whole scenarios in a random order), the PPI++
  and people-only intervals of every primary comparison.

Used by ``bench/adaptive_judging.py`` and the slow tests of ``tests/test_adaptive_simulation.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import ndtr

from tipbench_lib.stats import adaptive, ppi
from tipbench_lib.stats.anytime import DEFAULT_DELTA
from tipbench_lib.stats.signflip import DEFAULT_FUTILITY
from tipbench_lib.validation import synthetic

PEOPLE_BIASES: tuple[float, ...] = (-0.4, 0.0, 0.4)
"""Latent biases of the three simulated people (a strict, a neutral and a kind judge)."""


LENIENT_PEOPLE: tuple[float, ...] = (-0.5, 0.0, 0.5)
"""Latent biases of three people for the ceiling-heavy experiments: harsh, neutral, lenient."""


@dataclass(frozen=True)
class Ceiling:
    """A ceiling-heavy ordinal generator: most scores at the top of the scale, heavy ties.

    Per dimension d of one judged tip the latent is ``top[d] + effect[cell] + scenario +
    cell x scenario + tip + dimension noise + judge bias + judge noise`` and the score is
    ``clip(round(latent), 1, 5)``, as in :mod:`.synthetic`, except that each
    dimension has its own centre ``top[d]``, set so that ``shares[d]`` of all the experiment's
    scores on that dimension (every cell, every person) are 5: by default ~43% of relevance and
    ~57% of tone scores, an audit's figures. A better cell is squeezed against the ceiling, so
    its paired differences are skewed, discrete and tied. The cell x scenario and tip effects
    are larger than :mod:`.synthetic`'s (a cell that suits some scenarios and not
    others): the paired differences' sd is about 2.6 composite points for the +2 cell and 2.9
    between equal cells (1.7 there), the regime where a +2 difference is decided only near
    the last of 24 scenarios in about a third of the runs, and a stop rule is tested hardest.
    format_ok (weight 2) and overlong (weight -1) are drawn per tip as in
    :mod:`.synthetic`, shared by every judge.

    ``fails``: the share of scenarios (drawn per replicate) in which the experiment's ``better``
    cell fails, its latent lowered by ``fail_drop`` for every tip there; its expected
    difference (``Experiment.difference``) is then over failing and good scenarios alike, so a
    cell that is a little better in most scenarios can be worse on average.
    """

    shares: tuple[float, float, float] = (0.43, 0.50, 0.57)
    scenario_sd: float = 0.6
    interaction_sd: float = 0.8
    tip_sd: float = 0.7
    dim_sd: float = 0.3
    judge_sd: float = 0.3
    p_format_ok: float = 0.9
    p_overlong: float = 0.1
    fails: float = 0.0
    fail_drop: float = 3.0

    @property
    def total_sd(self) -> float:
        """The sd of one judged score's latent around its cell's mean."""
        return synthetic.noise_sd(
            self.scenario_sd, self.interaction_sd, self.tip_sd, self.dim_sd, self.judge_sd
        )

    def _shifts(self, effects: np.ndarray, failing: int) -> tuple[np.ndarray, np.ndarray]:
        """(cells, 2) latent shifts of a cell in a good and a failing scenario, and their
        weights (only the failing cell has a failing part)."""
        effects = np.asarray(effects, dtype=float)
        shifts = np.stack([effects, effects], axis=1)
        shifts[failing, 1] -= self.fail_drop
        weights = np.zeros_like(shifts)
        weights[:, 0] = 1.0
        weights[failing] = (1 - self.fails, self.fails)
        return shifts, weights

    def top(self, effects: np.ndarray, biases: np.ndarray, failing: int) -> np.ndarray:
        """(dimensions,) the latent centres that give ``shares`` of 5s over cells of latent
        ``effects`` (``failing`` the cell that fails) scored by people of latent ``biases``."""
        shifts, weights = self._shifts(effects, failing)
        latent = shifts[..., None] + np.asarray(biases)  # (cells, 2, people)
        weight = np.broadcast_to(weights[..., None], latent.shape) / (len(shifts) * len(biases))

        def share(top: float) -> float:
            return float((ndtr((top + latent - 4.5) / self.total_sd) * weight).sum())

        return np.array(
            [optimize.brentq(lambda t, q=q: share(t) - q, -10.0, 15.0) for q in self.shares]
        )

    def expected_composite(
        self, effects: np.ndarray, biases: np.ndarray, top: np.ndarray, failing: int
    ) -> np.ndarray:
        """(cells,) each cell's expected composite over the people of latent ``biases``."""
        shifts, weights = self._shifts(effects, failing)
        latent = top + shifts[..., None, None] + np.asarray(biases)[:, None]
        dims = synthetic.expected_score(latent, self.total_sd)  # (cells, 2, people, dims)
        per_part = dims.sum(axis=-1).mean(axis=-1)  # (cells, 2)
        flags = synthetic.WEIGHTS["format_ok"] * self.p_format_ok
        flags += synthetic.WEIGHTS["overlong"] * self.p_overlong
        return (per_part * weights).sum(axis=1) + flags


@dataclass(frozen=True)
class Experiment:
    """The benchmark's experiment: cells, scenarios, tips, one better cell, the judges."""

    n_models: int = 3
    n_prompts: int = 3
    n_scenarios: int = 24
    n_tips: int = 3
    better: tuple[int, int] = (1, 1)
    """(model, prompt) index of the cell that is better than all the others."""
    difference: float = 2.0
    """How much better, in expected composite points (over the people)."""
    baseline: tuple[int, int] | None = (0, 0)
    """Named before judging: primary family = every cell against it; None: all pairs."""
    people_biases: tuple[float, ...] = PEOPLE_BIASES
    llm_bias: float = 0.3
    llm_sd: float | None = None
    """Per-dimension noise of the LLM judge; None: none in the experiment."""
    ceiling: Ceiling | None = None
    """The ceiling-heavy generator (people only); None: :mod:`.synthetic`'s."""

    @property
    def n_cells(self) -> int:
        return self.n_models * self.n_prompts

    def label(self) -> str:
        family = (
            f"every cell against model-{self.baseline[0]:02d}/v{self.baseline[1] + 1}"
            if self.baseline
            else "all pairs"
        )
        scores = (
            f"; ceiling-heavy scores (5 in {', '.join(f'{x:.0%}' for x in self.ceiling.shares)} "
            "of relevance, actionability, tone)"
            if self.ceiling
            else ""
        )
        return (
            f"{self.n_models} models x {self.n_prompts} prompts x {self.n_scenarios} scenarios x "
            f"{self.n_tips} tips; model-{self.better[0]:02d}/v{self.better[1] + 1} "
            f"+{self.difference:g} points, the rest equal; {len(self.people_biases)} people "
            f"(biases {', '.join(f'{b:+g}' for b in self.people_biases)}); family: {family}{scores}"
        )


def cell_effect(exp: Experiment) -> float:
    """The latent effect that moves a cell's expected composite (over the people) by
    ``exp.difference`` points."""
    biases = np.asarray(exp.people_biases)
    if exp.ceiling is not None:
        return _ceiling_effects(exp)[0][exp.better[0] * exp.n_prompts + exp.better[1]]
    sd = synthetic.noise_sd()
    base = float(synthetic.expected_composite(0.0, biases, sd))

    def gap(effect: float) -> float:
        return float(synthetic.expected_composite(effect, biases, sd)) - base - exp.difference

    return float(optimize.brentq(gap, -4.0, 4.0))


def _ceiling_effects(exp: Experiment) -> tuple[np.ndarray, np.ndarray]:
    """(cells,) latent effects and (dimensions,) centres of the ceiling-heavy experiment: the
    better cell ``exp.difference`` composite points above the others, ``exp.ceiling.shares`` of
    5s over all the scores."""
    gen = exp.ceiling
    assert gen is not None
    biases = np.asarray(exp.people_biases, dtype=float)
    better = exp.better[0] * exp.n_prompts + exp.better[1]

    def solved(effect: float) -> tuple[np.ndarray, np.ndarray]:
        effects = np.zeros(exp.n_cells)
        effects[better] = effect
        return effects, gen.top(effects, biases, better)

    def gap(effect: float) -> float:
        effects, top = solved(effect)
        composite = gen.expected_composite(effects, biases, top, better)
        return float(composite[better] - composite[better - 1 if better else 1]) - exp.difference

    try:
        effect = float(optimize.brentq(gap, -6.0, 6.0))
    except ValueError as err:
        raise ValueError(
            f"a {exp.difference:+g}-point cell does not fit under the ceiling with "
            f"{gen.shares} of the scores at 5; lower the shares or the difference"
        ) from err
    return solved(effect)


@dataclass(frozen=True)
class Draw:
    """Composites of many replicates: (replicate, cell, scenario, tip, judge)."""

    scores: np.ndarray
    truth: np.ndarray
    """(cells,) expected composite over the people."""
    design: adaptive.QueueDesign
    n_people: int


def draw(exp: Experiment, replicates: int, seed: int) -> Draw:
    """``replicates`` independent experiments (people, then the LLM judge if it has noise)."""
    if exp.ceiling is not None:
        return _draw_ceiling(exp, replicates, seed)
    effects = np.zeros((exp.n_models, exp.n_prompts))
    effects[exp.better] = cell_effect(exp)
    biases = list(exp.people_biases)
    sds = [0.3] * len(biases)
    if exp.llm_sd is not None:
        biases.append(exp.llm_bias)
        sds.append(exp.llm_sd)
    generated = synthetic.generate(
        n_models=exp.n_models,
        n_prompts=exp.n_prompts,
        n_scenarios=exp.n_scenarios,
        n_tips=exp.n_tips,
        n_judges=len(biases),
        llm_judges=int(exp.llm_sd is not None),
        judge_biases=biases,
        judge_sds=sds,
        effects=effects,
        n_experiments=replicates,
        seed=seed,
    )
    n_j = len(biases)
    shape = (n_j, replicates, exp.n_cells, exp.n_scenarios, exp.n_tips)
    scores = generated.judgments["composite"].to_numpy().reshape(shape)
    scores = np.moveaxis(scores, 0, -1)
    people = generated.judge_truth.filter(generated.judge_truth["experiment"] == "e0000/")
    if replicates == 1:
        people = generated.judge_truth
    per_judge = people["composite"].to_numpy().reshape(exp.n_cells, n_j)
    truth = per_judge[:, : len(exp.people_biases)].mean(axis=1)
    return Draw(scores, truth, design_of(exp), len(exp.people_biases))


def _draw_ceiling(exp: Experiment, replicates: int, seed: int) -> Draw:
    """The ceiling-heavy generator (:class:`Ceiling`), people only."""
    if exp.llm_sd is not None:
        raise ValueError("the ceiling-heavy generator draws people only; set llm_sd=None")
    gen = exp.ceiling
    assert gen is not None
    effects, top = _ceiling_effects(exp)
    better = exp.better[0] * exp.n_prompts + exp.better[1]
    rng = np.random.default_rng(seed)
    biases = np.asarray(exp.people_biases, dtype=float)
    r, c, s, k, j = replicates, exp.n_cells, exp.n_scenarios, exp.n_tips, len(biases)
    shift = np.broadcast_to(effects[None, :, None, None], (r, c, s, 1)).copy()
    if gen.fails > 0:
        shift[:, better, :, 0] -= gen.fail_drop * (rng.random((r, s)) < gen.fails)
    quality = (
        shift
        + rng.normal(0, gen.scenario_sd, (r, 1, s, 1))
        + rng.normal(0, gen.interaction_sd, (r, c, s, 1))
        + rng.normal(0, gen.tip_sd, (r, c, s, k))
    )
    dims = top + rng.normal(0, gen.dim_sd, (r, c, s, k, 1, 3))
    latent = (
        quality[..., None, None]
        + dims
        + biases[:, None]
        + rng.normal(0, gen.judge_sd, (r, c, s, k, j, 3))
    )
    scores = np.clip(np.floor(latent + 0.5), 1, 5).sum(axis=-1)  # (r, c, s, k, j)
    weights = synthetic.WEIGHTS
    flags = weights["format_ok"] * (rng.random((r, c, s, k)) < gen.p_format_ok) + weights[
        "overlong"
    ] * (rng.random((r, c, s, k)) < gen.p_overlong)
    scores = scores + flags[..., None]
    truth = gen.expected_composite(effects, biases, top, better)
    return Draw(scores.astype(float), truth, design_of(exp), j)


def design_of(exp: Experiment) -> adaptive.QueueDesign:
    """The queue's design with candidate ids 'm/p/s/k' (the same for every replicate)."""
    rows = [
        {
            "candidate_id": f"{m}/{p}/{s:03d}/{k}",
            "model": f"model-{m:02d}",
            "prompt_version": f"v{p + 1}",
            "scenario_id": f"s{s:03d}",
        }
        for m in range(exp.n_models)
        for p in range(exp.n_prompts)
        for s in range(exp.n_scenarios)
        for k in range(exp.n_tips)
    ]
    baseline = (f"model-{exp.baseline[0]:02d}", f"v{exp.baseline[1] + 1}") if exp.baseline else None
    return adaptive.queue_design(rows, baseline)


@dataclass(frozen=True)
class QueueRun:
    cards: int
    """Cards judged (one person's score of one card) until the queue said stop."""
    cards_found: float
    """Cards judged when every comparison with a true difference was decided in its direction
    (NaN: not before the stop)."""
    decisions: tuple[str, ...]
    covered: np.ndarray
    """Per comparison: its sequence held the truth at every step."""
    false_call: bool
    """Any better/worse on a comparison of equal cells, or of the wrong sign."""
    wrong_equivalent: bool
    """Any equivalent on a comparison whose true difference is delta or more."""
    halfwidth: np.ndarray
    """Per comparison: the half-width of its sequence at the end (composite points)."""
    decisions_after_all: tuple[str, ...] | None = None
    """With ``finish``: the decisions once the first person has judged every card after the
    stop (an out-of-reach comparison must still be out of reach then; one out of reach by
    projection may be decided then: a decision the projection lost)."""
    projected_chance: np.ndarray | None = None
    """Per comparison given up by projection at the stop, the chance the status stated that
    more cards would decide it (NaN for the others)."""


def queue_run(
    data: Draw,
    replicate: int,
    order: str,
    *,
    alpha: float = 0.05,
    delta: float = DEFAULT_DELTA,
    batch: int = 6,
    seed: int = 0,
    sequence: str = "sign-flip",
    finish: bool = False,
    futility: float | None = DEFAULT_FUTILITY,
    queue: type[adaptive.QueueState] = adaptive.QueueState,
) -> QueueRun:
    """People take turns judging ``batch`` cards of their queue until they may stop (with
    ``finish``, the first person then judges every card left, see :class:`QueueRun`).
    ``futility``: the queue's projected out-of-reach rule (None: only the exact one).
    ``queue``: the state's class (a benchmark's variant of a rule, side by side)."""
    design = data.design
    state = queue(design, alpha=alpha, delta=delta, seed=seed, sequence=sequence, futility=futility)
    people = [f"person-{j}" for j in range(data.n_people)]
    rng = np.random.default_rng(seed)
    for j, person in enumerate(people):
        uniform = None
        if order == "uniform":
            uniform = [str(c) for c in rng.permutation(sorted(design.where))]
        state.add_judge(person, seed=seed * 100 + j, uniform_order=uniform)
    truth = data.truth[design.a] - data.truth[design.b]
    real = np.flatnonzero(np.abs(truth) > 1e-9)
    direction = np.where(truth[real] > 0, "better", "worse")
    cards_found = float("nan")
    idle = 0
    turn = 0
    while not adaptive.can_stop(state) and idle < len(people):
        j = turn % len(people)
        turn += 1
        cards = adaptive.next_cards(state, people[j], batch, order)
        idle = idle + 1 if not cards else 0
        for card in cards:
            cell, scenario = design.where[card]
            tip = int(card.rsplit("/", 1)[1])
            state.record(people[j], card, float(data.scores[replicate, cell, scenario, tip, j]))
        if np.isnan(cards_found) and (state.evaluate().decision[real] == direction).all():
            cards_found = float(state.cards_judged)
    evaluation = state.evaluate()
    decision = evaluation.decision
    null = np.abs(truth) < 1e-9
    false_call = bool(
        (np.isin(decision, ("better", "worse")) & null).any()
        | ((decision == "better") & (truth < 0)).any()
        | ((decision == "worse") & (truth > 0)).any()
    )
    wrong_equivalent = bool(((decision == "equivalent") & (np.abs(truth) >= delta)).any())
    covered = (evaluation.lower < truth) & (truth < evaluation.upper)
    half = (evaluation.upper - evaluation.lower) / 2
    chance = state.projected_chance()
    after = None
    cards = state.cards_judged
    if finish:
        for card in sorted(set(design.where) - state.judged_by(people[0])):
            cell, scenario = design.where[card]
            tip = int(card.rsplit("/", 1)[1])
            state.record(people[0], card, float(data.scores[replicate, cell, scenario, tip, 0]))
        after = tuple(state.evaluate().decision)
    return QueueRun(
        cards,
        cards_found,
        tuple(decision),
        covered,
        false_call,
        wrong_equivalent,
        half,
        after,
        chance,
    )


def scenario_differences(data: Draw, judge: np.ndarray) -> np.ndarray:
    """(replicates, comparisons, scenarios) paired differences of tip means, the judge of each
    scenario given by ``judge`` (replicates, scenarios)."""
    means = data.scores.mean(axis=3)  # (R, C, S, J)
    pick = np.take_along_axis(means, judge[:, None, :, None], axis=3)[..., 0]  # (R, C, S)
    return pick[:, data.design.a] - pick[:, data.design.b]


@dataclass(frozen=True)
class PPIWidths:
    budgets: tuple[int, ...]
    ppi_width: np.ndarray
    """(budgets,) mean interval width over replicates and comparisons (composite points)."""
    people_width: np.ndarray
    ppi_coverage: np.ndarray
    people_coverage: np.ndarray
    lam: np.ndarray
    tip_correlation: float
    """Correlation of the LLM judge's and a person's composite of the same tip."""
    scenario_correlation: float
    """The same for the scenario-level paired differences PPI works on."""


def ppi_widths(data: Draw, budgets: Sequence[int], alpha: float = 0.05, seed: int = 0) -> PPIWidths:
    """PPI++ (the LLM judge on every scenario) against people alone, per human budget.

    In each replicate the people judge whole scenarios in a seeded random order (the
    ``ppi-uniform`` design), the scenario's person drawn at random; the first n are labelled.
    """
    replicates, _, n_s = data.scores.shape[:3]
    rng = np.random.default_rng(seed)
    judge = rng.integers(0, data.n_people, (replicates, n_s))
    people = scenario_differences(data, judge)
    llm = scenario_differences(data, np.full((replicates, n_s), data.scores.shape[-1] - 1))
    truth = data.truth[data.design.a] - data.truth[data.design.b]
    out = {key: [] for key in ("pw", "hw", "pc", "hc", "lam")}
    for n in budgets:
        widths, people_widths, cover, people_cover, lams = [], [], [], [], []
        for r in range(replicates):
            order = adaptive.scenario_order(n_s, seed * 7919 + r)
            labelled, unlabelled = order[:n], order[n:]
            for k in range(len(truth)):
                res = ppi.ppi_mean(
                    people[r, k, labelled], llm[r, k, labelled], llm[r, k, unlabelled], alpha
                )
                widths.append(res.hi - res.lo)
                people_widths.append(res.people_hi - res.people_lo)
                cover.append(res.lo <= truth[k] <= res.hi)
                people_cover.append(res.people_lo <= truth[k] <= res.people_hi)
                lams.append(res.lam)
        for key, values in zip(
            ("pw", "hw", "pc", "hc", "lam"),
            (widths, people_widths, cover, people_cover, lams),
            strict=True,
        ):
            out[key].append(float(np.mean(values)))
    tips = data.scores[..., : data.n_people].reshape(-1, data.n_people)
    tip_corr = float(np.corrcoef(tips[:, 0], data.scores[..., -1].reshape(-1))[0, 1])
    scen_corr = float(np.corrcoef(people.ravel(), llm.ravel())[0, 1])
    return PPIWidths(
        tuple(budgets),
        np.array(out["pw"]),
        np.array(out["hw"]),
        np.array(out["pc"]),
        np.array(out["hc"]),
        np.array(out["lam"]),
        tip_corr,
        scen_corr,
    )


def cards_for_width(budgets: Sequence[int], widths: np.ndarray, target: float) -> float:
    """The (interpolated) human budget at which ``widths`` (decreasing in the budget) reaches
    ``target``; NaN when even the largest budget does not."""
    budgets = np.asarray(budgets, dtype=float)
    below = np.flatnonzero(widths <= target)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(budgets[0])
    x0, x1, y0, y1 = budgets[i - 1], budgets[i], widths[i - 1], widths[i]
    return float(x0 + (y0 - target) * (x1 - x0) / (y0 - y1))


def correlations(data: Draw, seed: int = 0) -> tuple[float, float]:
    """The LLM judge's correlation with a person: on tip composites, and on the scenario-level
    paired differences PPI works on (a person drawn at random per scenario, as in
    :func:`ppi_widths`)."""
    replicates, _, n_s = data.scores.shape[:3]
    judge = np.random.default_rng(seed).integers(0, data.n_people, (replicates, n_s))
    people = scenario_differences(data, judge)
    llm = scenario_differences(data, np.full((replicates, n_s), data.scores.shape[-1] - 1))
    person = data.scores[..., 0].reshape(-1)
    tip = float(np.corrcoef(person, data.scores[..., -1].reshape(-1))[0, 1])
    return tip, float(np.corrcoef(people.ravel(), llm.ravel())[0, 1])


def llm_sd_for(correlation: float, exp: Experiment, seed: int = 0, level: str = "tip") -> float:
    """The LLM judge's per-dimension noise that makes its correlation with a person
    ``correlation``, on tips (``level="tip"``) or on scenario differences (``"scenario"``),
    measured on a draw of 40 experiments."""
    which = {"tip": 0, "scenario": 1}[level]

    def gap(sd: float) -> float:
        trial = Experiment(**{**exp.__dict__, "llm_sd": sd})
        return correlations(draw(trial, 40, seed), seed)[which] - correlation

    return float(optimize.brentq(gap, 0.01, 5.0, xtol=0.005))


def ppi_ratio_bound(rho: float, n_ref: float, n_total: float = float("inf")) -> float:
    """The fewest human scenarios PPI++ can need, as a fraction of the ``n_ref`` people alone
    need for the same standard error, at scenario-level correlation ``rho``.

    With n labelled of n_total scenarios the best PPI++ variance is var(y)/n (1 - rho^2 (n_total
    - n)/n_total) (Angelopoulos, Duchi and Zrnic 2023), so n = n_ref (1 - rho^2) / (1 - rho^2
    n_ref / n_total); with unlimited LLM-only scenarios the fraction is 1 - rho^2. Large-sample:
    the t quantiles of small n only make it worse.
    """
    r2 = rho**2
    return (1 - r2) / (1 - r2 * n_ref / n_total)
