"""Checks of the statistics by simulation: coverage, family-wise error, power at the printed figure.

The claims the compare phase makes hold only when a simulation shows them on experiments like a
researcher's: more than 3 cells, 6-24 scenarios, discrete 1-5 scores with ties, several judges
with their own biases, some judgments failing, and designs where a judge is tied to a cell. This
module draws such experiments with :mod:`.synthetic`, many replicates stacked in one
frame, runs the real statistics on them (``compare_pairs(..., by=...)`` keeps each replicate's
pairs and Holm families apart), and measures:

- **coverage**: how often a cell's or a pair's interval holds the truth. The truth is the exact
  expectation of the estimator under the realised design (:func:`synthetic.expected_judgments`),
  so a cell judged only by a lenient judge is measured against that judge's expectation, and a
  pair against the expectation on the judges who scored both cells;
- **family-wise error**: with every cell equal, the share of replicates with any better/worse;
- **power at the reported detectable difference**: the detectable difference the procedure
  reports (its median over replicates of equal cells) is put between one cell and the others,
  and the share of those pairs called ``better`` is counted.

Used by the slow tests (``tests/test_stats_simulation.py``) and ``bench/stats_validity.py``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import optimize

from tipbench_lib import stats
from tipbench_lib.stats import intervals
from tipbench_lib.stats.intervals import DEFAULT_METHOD
from tipbench_lib.stats.pairs import judge_grid, pair_differences
from tipbench_lib.validation import synthetic
from tipbench_lib.validation.synthetic import DIMENSIONS

REPLICATE = "replicate"
JUDGE_DESIGNS = ("shared", "one_per_cell")


@dataclass(frozen=True)
class Design:
    """One simulated experiment's shape, judges and noise (latent units of a 1-5 score)."""

    n_cells: int
    n_scenarios: int
    judges: str = "shared"
    """``shared``: every judge scores every cell; ``one_per_cell``: cell i by judge i mod J."""
    n_judges: int = 3
    judge_biases: tuple[float, ...] = (-0.4, 0.0, 0.4)
    n_tips: int = 2
    p_fail: float = 0.05
    effect_sd: float = 0.3
    alpha: float = 0.05
    baseline: bool = False
    """Name the first cell as baseline: primary family = every cell against it."""
    method: str = DEFAULT_METHOD
    n_boot: int = 400
    levels: synthetic.Levels = synthetic.CENTRED
    """Where scores sit: centred on 3, or :data:`synthetic.CEILING` (piled up at 5)."""

    def __post_init__(self) -> None:
        if self.judges not in JUDGE_DESIGNS:
            raise ValueError(f"judges must be one of {JUDGE_DESIGNS}, got {self.judges!r}")
        if self.n_cells % 2:
            raise ValueError("n_cells must be even (models x 2 prompts)")

    @property
    def n_models(self) -> int:
        return self.n_cells // 2

    def assignment(self) -> np.ndarray | None:
        if self.judges == "shared":
            return None
        return synthetic.one_judge_per_cell(self.n_models, 2, self.n_judges)


@dataclass
class Run:
    """One simulation: the statistics' frames joined with their truths."""

    design: Design
    leaderboard: pl.DataFrame
    comparisons: pl.DataFrame
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)


def experiment(
    design: Design, replicates: int, seed: int, effects: np.ndarray | None = None
) -> synthetic.SyntheticExperiment:
    """``replicates`` independent experiments of the design, stacked (names prefixed e0007/)."""
    return synthetic.generate(
        n_models=design.n_models,
        n_prompts=2,
        n_scenarios=design.n_scenarios,
        n_tips=design.n_tips,
        n_judges=design.n_judges,
        judge_biases=design.judge_biases,
        assignment=design.assignment(),
        p_fail=design.p_fail,
        effects=effects,
        effect_sd=design.effect_sd,
        n_experiments=replicates,
        levels=design.levels,
        seed=seed,
    )


def _split(frame: pl.DataFrame) -> pl.DataFrame:
    """Model names 'e0007/model-01' -> replicate 'e0007', model 'model-01'."""
    parts = pl.col("model").str.split_exact("/", 1)
    return frame.with_columns(
        parts.struct.field("field_0").alias(REPLICATE), parts.struct.field("field_1").alias("model")
    )


def analyse(design: Design, exp: synthetic.SyntheticExperiment, seed: int = 0) -> Run:
    """The real statistics on every replicate, each joined with the truth of its design."""
    start = time.perf_counter()
    scores = stats.score_table(exp.cells, exp.candidates, exp.judgments)
    board = stats.leaderboard(
        scores, level=1 - design.alpha, method=design.method, n_boot=design.n_boot, seed=seed
    )
    judged = _split(stats.judge_scores(exp.cells, exp.candidates, exp.judgments))
    baseline = ("model-00", "v1") if design.baseline else None
    pairs = stats.compare_pairs(
        judged,
        alpha=design.alpha,
        baseline=baseline,
        method=design.method,
        n_boot=design.n_boot,
        n_perm=0,
        seed=seed,
        by=REPLICATE,
    )
    seconds = time.perf_counter() - start
    expected = synthetic.expected_judgments(exp)
    true_board = stats.leaderboard(stats.score_table(exp.cells, exp.candidates, expected))
    board = board.join(
        true_board.select(
            "model",
            "prompt_version",
            pl.col("composite_mean").alias("truth"),
            *(pl.col(f"{d}_mean").alias(f"{d}_truth") for d in DIMENSIONS),
        ),
        on=["model", "prompt_version"],
    )
    true_pairs = _pair_means(_split(stats.judge_scores(exp.cells, exp.candidates, expected)))
    pairs = _with_truth(pairs, true_pairs)
    return Run(design, board, pairs, seconds)


def _pair_means(judged: pl.DataFrame) -> pl.DataFrame:
    """The mean per-scenario difference a - b on shared judges of every pair (slot order)."""
    grid = judge_grid(judged, REPLICATE)
    diffs = pair_differences(grid)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(diffs.n_usable[:, None] > 0, diffs.diffs, 0.0), axis=1)
    n_e, n_c = grid.shape[:2]
    names = np.full((n_e, n_c), "", dtype=object)
    names[grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()] = (
        grid.cells["model"] + "|" + grid.cells["prompt_version"]
    ).to_numpy()
    groups = np.array(grid.groups, dtype=object)
    return pl.DataFrame(
        {
            REPLICATE: groups[diffs.e],
            "x": names[diffs.e, diffs.a],
            "y": names[diffs.e, diffs.b],
            "truth_xy": np.where(diffs.n_usable > 0, mean, np.nan),
        }
    )


def _with_truth(pairs: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Each comparison with the true a - b (its pair's truth, sign-flipped when reversed)."""
    a = pl.col("a_model") + "|" + pl.col("a_prompt")
    b = pl.col("b_model") + "|" + pl.col("b_prompt")
    keyed = pairs.with_columns(
        pl.min_horizontal(a, b).alias("x"),
        pl.max_horizontal(a, b).alias("y"),
        (a <= b).alias("_ab"),
    )
    truth = truth.with_columns(
        pl.when(pl.col("x") <= pl.col("y"))
        .then(pl.col("truth_xy"))
        .otherwise(-pl.col("truth_xy"))
        .alias("truth_xy"),
        pl.min_horizontal("x", "y").alias("x2"),
        pl.max_horizontal("x", "y").alias("y2"),
    ).select(REPLICATE, pl.col("x2").alias("x"), pl.col("y2").alias("y"), "truth_xy")
    return (
        keyed.join(truth, on=[REPLICATE, "x", "y"], how="left")
        .with_columns(
            pl.when(pl.col("_ab"))
            .then(pl.col("truth_xy"))
            .otherwise(-pl.col("truth_xy"))
            .fill_nan(None)
            .alias("truth")
        )
        .drop("x", "y", "_ab", "truth_xy")
    )


# ---------------------------------------------------------------- the measures


def cell_coverage(run: Run, metric: str = "composite") -> float:
    """Share of cells whose interval of ``metric`` (composite or a dimension) holds the truth."""
    truth = "truth" if metric == "composite" else f"{metric}_truth"
    board = run.leaderboard.filter(pl.col(f"{metric}_lo").is_not_null())
    inside = (board[f"{metric}_lo"] <= board[truth]) & (board[truth] <= board[f"{metric}_hi"])
    return float(inside.mean())


def cell_coverages(run: Run, metric: str = "composite") -> pl.DataFrame:
    """Per cell (the same cell across replicates): coverage of ``metric``'s interval, the share
    of replicates whose interval lies wholly above the truth (a miss from below), and the mean
    truth, sorted highest truth first: row 0 is the top cell, nearest the ceiling."""
    truth = "truth" if metric == "composite" else f"{metric}_truth"
    board = _split(run.leaderboard.filter(pl.col(f"{metric}_lo").is_not_null()))
    inside = (pl.col(f"{metric}_lo") <= pl.col(truth)) & (pl.col(truth) <= pl.col(f"{metric}_hi"))
    return (
        board.group_by("model", "prompt_version")
        .agg(
            inside.mean().alias("coverage"),
            (pl.col(truth) < pl.col(f"{metric}_lo")).mean().alias("above_truth"),
            pl.col(truth).mean().alias("truth"),
            pl.len().alias("replicates"),
        )
        .sort("truth", "model", "prompt_version", descending=[True, False, False])
    )


def symmetric_t_coverages(
    run: Run, exp: synthetic.SyntheticExperiment, metric: str = "composite"
) -> pl.DataFrame:
    """:func:`cell_coverages` of the symmetric Student-t interval on the same draws, the cells'
    interval before issue 18, for a side-by-side figure (clipped to the range, as it was)."""
    scale = stats.scale_for([])
    low, high = scale.bounds(metric)
    scores = stats.score_table(exp.cells, exp.candidates, exp.judgments)
    level = 1 - run.design.alpha
    per_cell = (
        stats.scenario_means(scores)
        .group_by("model", "prompt_version")
        .agg(
            pl.col(metric).mean().alias("_mean"),
            pl.col(metric).std(ddof=1).fill_null(np.nan).alias("_sd"),
            pl.len().alias("_n"),
        )
        .filter(pl.col("_n") >= 2)
    )
    n = per_cell["_n"].to_numpy().astype(float)
    half = intervals.t_quantile(level, n - 1) * per_cell["_sd"].to_numpy() / np.sqrt(n)
    mean = per_cell["_mean"].to_numpy()
    lo, hi = intervals.clip(mean - half, mean + half, low, high)
    truth = "truth" if metric == "composite" else f"{metric}_truth"
    board = per_cell.with_columns(
        pl.Series(f"{metric}_lo", lo), pl.Series(f"{metric}_hi", hi)
    ).join(run.leaderboard.select("model", "prompt_version", truth), on=["model", "prompt_version"])
    return cell_coverages(Run(run.design, board, run.comparisons, 0.0), metric)


def pair_coverage(run: Run) -> float:
    pairs = run.comparisons.filter(pl.col("diff_lo").is_not_null() & pl.col("truth").is_not_null())
    inside = (pairs["diff_lo"] <= pairs["truth"]) & (pairs["truth"] <= pairs["diff_hi"])
    return float(inside.mean()) if pairs.height else math.nan


def familywise_error(run: Run, family: str = "primary") -> float:
    """Share of replicates with any better/worse in ``family`` (every cell equal in truth)."""
    called = (
        run.comparisons.filter(pl.col("family") == family)
        .group_by(REPLICATE)
        .agg(pl.col("verdict").is_in(["better", "worse"]).any().alias("called"))
    )
    return float(called["called"].mean())


def null_run(design: Design, replicates: int, seed: int) -> Run:
    """Every cell equal (judges still biased): the design for the family-wise error."""
    zeros = np.zeros((design.n_models, 2))
    return analyse(design, experiment(design, replicates, seed, effects=zeros), seed)


def reported_mdd(run: Run) -> float:
    """The detectable difference the procedure reports for a primary pair, on average.

    NaN when the design cannot detect anything: fewer than half of its primary pairs report a
    finite difference (the rest could not pass their Holm threshold with any data). A few
    finite ones then come from unusual replicates, where failed judgments shrank the family.
    """
    primary = run.comparisons.filter((pl.col("family") == "primary") & pl.col("mdd").is_not_null())
    finite = primary.filter(pl.col("mdd").is_finite())["mdd"]
    if primary.height == 0 or finite.len() < primary.height / 2:
        return math.nan
    return float(finite.mean())


def judges_of(design: Design, index: int) -> np.ndarray:
    """Biases of the judges who score cell ``index``."""
    biases = np.asarray(design.judge_biases)
    if design.judges == "one_per_cell":
        return biases[[index % design.n_judges]]
    return biases


def shift_for(design: Design, difference: float, index: int = 0) -> float:
    """Latent effect that moves cell ``index``'s expected composite by ``difference``.

    Expected composites are taken over the judges who score that cell (a judge's bias moves a
    composite difference through the rounding and clipping of scores), as the paired
    estimator does on shared judges.
    """
    biases, sd, levels = judges_of(design, index), synthetic.noise_sd(), design.levels
    base = float(synthetic.expected_composite(0.0, biases, sd, levels=levels))

    def gap(effect: float) -> float:
        value = synthetic.expected_composite(effect, biases, sd, levels=levels)
        return float(value) - base - difference

    return float(optimize.brentq(gap, -4.0, 4.0))


def cell_name(index: int) -> str:
    """The synthetic cell at position ``index`` of (model, prompt) order, as 'model|prompt'."""
    return f"model-{index // 2:02d}|v{index % 2 + 1}"


def power_at(design: Design, difference: float, replicates: int, seed: int) -> tuple[float, int]:
    """Share of replicates whose one non-null pair is called ``better`` at ``difference`` apart,
    and how many replicates that share is over.

    The reported detectable difference is the power of a pair facing its family's first Holm
    threshold, so the check puts exactly one real difference where it can be found: with a
    baseline (cell 0), a cell that shares a judge with it is ``difference`` above it, the others
    equal to it (all of them ``difference / 2`` below the design's level and that cell as far
    above, so a large difference fits under a ceiling). Without one (all pairs), cell A is
    ``difference / 2`` above the others and a cell B sharing its judge ``difference / 2`` below:
    A - B is the pair checked; the half-size differences to the other cells are rarely found and
    lower Holm's later thresholds little.
    Only replicates where the pair reports a finite detectable difference count: where failed
    judgments cost it a scenario, the procedure itself says it cannot detect anything.
    """
    partner = design.n_judges if design.judges == "one_per_cell" else 1
    effects = np.zeros((design.n_models, 2))
    if design.baseline:
        high, low = partner, 0
        moves = {i: -difference / 2 for i in range(design.n_cells)} | {partner: difference / 2}
    else:
        high, low, moves = 0, partner, {0: difference / 2, partner: -difference / 2}
    for index, move in moves.items():
        effects[index // 2, index % 2] = shift_for(design, move, index)
    run = analyse(design, experiment(design, replicates, seed, effects=effects), seed)
    a = pl.col("a_model") + "|" + pl.col("a_prompt")
    b = pl.col("b_model") + "|" + pl.col("b_prompt")
    up, down = cell_name(high), cell_name(low)
    pair = run.comparisons.filter(
        (((a == up) & (b == down)) | ((a == down) & (b == up))) & pl.col("mdd").is_finite()
    )
    right = ((a == up) & (pl.col("verdict") == "better")) | (
        (a == down) & (pl.col("verdict") == "worse")
    )
    return (float(pair.select(right.mean()).item()) if pair.height else math.nan), pair.height


@dataclass(frozen=True)
class Row:
    """One line of the validity table."""

    design: Design
    cell_coverage: float
    pair_coverage: float
    familywise_error: float
    mdd: float
    power: float
    power_pairs: int
    seconds: float


def null_and_power(design: Design, replicates: int, seed: int) -> tuple[Run, float, float, int]:
    """Equal cells' run, the detectable difference it reports, and the power at that difference
    (NaN and 0 pairs when no difference is detectable)."""
    null = null_run(design, replicates, seed + 7)
    target = reported_mdd(null)
    power, pairs = math.nan, 0
    if math.isfinite(target):
        power, pairs = power_at(design, target, replicates, seed + 11)
    return null, target, power, pairs


def validity_row(design: Design, replicates: int, seed: int = 0) -> Row:
    """Coverage (random cell effects), family-wise error (equal cells) and power, one design."""
    start = time.perf_counter()
    coverage = analyse(design, experiment(design, replicates, seed), seed)
    null, target, power, pairs = null_and_power(design, replicates, seed)
    return Row(
        design,
        cell_coverage(coverage),
        pair_coverage(coverage),
        familywise_error(null),
        target,
        power,
        pairs,
        time.perf_counter() - start,
    )


# ---------------------------------------------------------------- at the edges (issue 18)

PEOPLE_BIASES = (-0.5, 0.0, 0.5)
"""A harsh, a neutral and a lenient person (latent units), as an audit of the statistics used."""


def ceiling_design(n_cells: int, n_scenarios: int, **options: object) -> Design:
    """A design whose scores pile up at 5 (:data:`synthetic.CEILING`) with people at ±0.5."""
    settings = {"judge_biases": PEOPLE_BIASES, "levels": synthetic.CEILING} | options
    return Design(n_cells, n_scenarios, **settings)  # type: ignore[arg-type]


def out_of_range(run: Run) -> int:
    """Interval bounds outside what the rubric allows (cells: each metric's range; pairs: +-
    the composite's width), or NaN where an interval is due (2 scenarios or more)."""
    scale = stats.scale_for([])
    bad = 0
    board = run.leaderboard.filter(pl.col("n_scenarios") >= 2)
    for metric in scale.metrics:
        low, high = scale.bounds(metric)
        lo, hi = board[f"{metric}_lo"].fill_null(np.nan), board[f"{metric}_hi"].fill_null(np.nan)
        bad += int((~((lo >= low) & (hi <= high) & (lo <= hi))).sum())
    pairs = run.comparisons.filter(pl.col("n_scenarios") >= 2)
    lo, hi = pairs["diff_lo"].fill_null(np.nan), pairs["diff_hi"].fill_null(np.nan)
    width = scale.width
    bad += int((~((lo >= -width) & (hi <= width) & (lo <= hi))).sum())
    return bad


def undecidable_indistinguishable(run: Run) -> int:
    """Rows read ``indistinguishable`` that no signs could have made better or worse: their
    interval would include 0 even with every difference on one side (issue 18's finding 5)."""
    rows = run.comparisons.filter(pl.col("verdict") == "indistinguishable")
    return int((~(rows["interval_reach"].fill_null(np.nan) > 0)).sum())


def undecidable_share(run: Run) -> float:
    """Of the rows the floor alone would call ``indistinguishable``, the share now
    ``underpowered`` because their interval could not exclude 0 whatever the signs."""
    rows = run.comparisons.filter(pl.col("n_shared_scenarios") > 0)
    stop = rows["holm_threshold"].fill_null(np.nan).to_numpy()
    floor_ok = rows["min_p_attainable"].to_numpy() <= np.fmin(stop, rows["alpha"].to_numpy())
    reach_ok = rows["interval_reach"].fill_null(np.nan).to_numpy() > 0
    verdict = rows["verdict"].to_numpy()
    relabelled = (verdict == "underpowered") & floor_ok & ~reach_ok
    before = relabelled.sum() + (verdict == "indistinguishable").sum()
    return float(relabelled.sum() / before) if before else math.nan


def passable_underpowered(run: Run) -> int:
    """Rows read ``underpowered`` that could have passed: floor within Holm's stop (or alpha)
    and an interval that could exclude 0 (must be none)."""
    rows = run.comparisons.filter(
        (pl.col("verdict") == "underpowered") & (pl.col("n_shared_scenarios") > 0)
    )
    stop = rows["holm_threshold"].fill_null(np.nan).to_numpy()
    bar = np.fmin(stop, rows["alpha"].to_numpy())
    floor_ok = rows["min_p_attainable"].to_numpy() <= bar
    reach_ok = rows["interval_reach"].fill_null(np.nan).to_numpy() > 0
    return int((floor_ok & reach_ok).sum())


@dataclass(frozen=True)
class EdgeRow:
    """One line of the ceiling table: every cell's coverage, the top cell's, and the rest."""

    design: Design
    cover_cells: float
    """All cells' intervals (composite), pooled."""
    cover_worst_cell: float
    """The lowest coverage of any one cell across replicates."""
    cover_top_cell: float
    """The cell with the highest true mean (nearest the ceiling)."""
    top_misses_from_below: float
    """Of the top cell's misses, the share where the interval lay wholly above the truth."""
    cover_top_tone: float
    """The top cell's tone interval (57% of tone scores are 5)."""
    before_top: float
    """The top cell's coverage by the symmetric t interval on the same draws (before issue 18)."""
    before_top_tone: float
    pair_coverage: float
    familywise_error: float
    mdd: float
    power: float
    power_pairs: int
    out_of_range: int
    undecidable_indistinguishable: int
    passable_underpowered: int
    relabelled: float
    """Of the equal cells' rows the floor alone called indistinguishable, the share that no
    signs could decide (now underpowered; issue 18 measured 14% at 6 scenarios)."""
    seconds: float


def edge_row(design: Design, replicates: int, seed: int = 0) -> EdgeRow:
    """Coverage per cell (random cell effects), FWER and the verdict checks (equal cells), power
    at the reported detectable difference, for one design."""
    start = time.perf_counter()
    drawn = experiment(design, replicates, seed)
    coverage = analyse(design, drawn, seed)
    per_cell = cell_coverages(coverage)
    top = per_cell.row(0, named=True)
    missed = 1 - top["coverage"]
    null, target, power, pairs = null_and_power(design, replicates, seed)
    return EdgeRow(
        design,
        cell_coverage(coverage),
        float(per_cell["coverage"].min()),
        top["coverage"],
        top["above_truth"] / missed if missed > 0 else math.nan,
        cell_coverages(coverage, "tone").row(0, named=True)["coverage"],
        symmetric_t_coverages(coverage, drawn).row(0, named=True)["coverage"],
        symmetric_t_coverages(coverage, drawn, "tone").row(0, named=True)["coverage"],
        pair_coverage(coverage),
        familywise_error(null),
        target,
        power,
        pairs,
        out_of_range(coverage) + out_of_range(null),
        undecidable_indistinguishable(coverage) + undecidable_indistinguishable(null),
        passable_underpowered(coverage) + passable_underpowered(null),
        undecidable_share(null),
        time.perf_counter() - start,
    )
