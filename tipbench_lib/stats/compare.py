"""Every pair of (model, prompt) cells, paired on scenarios and judges, with an honest verdict.

**The test.** Per pair, the two-sided signed-rank test on the per-scenario differences (on shared
judges, :mod:`.pairs`): exact, exact over all sign flips, or normal approximation, chosen per row
(:func:`.paired.branches`). Composites are discrete, tied and bounded and a benchmark has 6-24
scenarios, so the test must be exact and nonparametric rather than a t-test on a normal model.

**Families and Holm.** Holm's step-down correction runs within a family. It controls the
family-wise error for any dependence between the tests, which matters here because pairs that
share a cell are strongly correlated. A bootstrap max-T (Westfall-Young) gains power only when
its resampling distribution is trustworthy, which it is not at 6 scenarios (there are 2^6 sign
patterns in all), and no procedure can beat the 2/2^n floor of an exact test anyway.

- With ``baseline`` (named by the user before seeing data) the *primary* family is every cell
  against the baseline (m - 1 pairs); the other pairs form an *exploratory* family with its own
  Holm correction and are labelled as such everywhere.
- Without a baseline the primary family is *all* pairs, so a pair picked after looking (best
  against runner-up) is already accounted for. A "baseline" a report picks for display (the
  best cell) is only a view of these rows and never changes a family.

**Underpowered.** A pair's floor is the smallest p its own test can reach (:func:`.paired.
signed_rank_floor`: zeros dropped, same branch). A pair whose floor exceeds alpha is left out of
the Holm family before any sign is looked at: given the magnitudes of the differences, their
signs are the only randomness under no difference, so this choice cannot favour a rejection.
After Holm, a pair not rejected is ``underpowered`` when its floor exceeds the threshold Holm
stopped at, alpha / (m - r) with r rejections: no data on these scenarios could have made it
pass. With 6 scenarios and 15 pairs the floor 1/32 exceeds 0.05/15, so every pair is
underpowered, whatever the scores. A verdict also needs the interval to exclude 0, so a pair
is ``underpowered`` too when its interval could not exclude 0 even with every difference of
the same sign (``interval_reach``, the interval's lower bound on the magnitudes, is 0 or
less): its differences vary too much for its scenarios. Such a pair leaves the Holm family too,
before any sign is seen: the reach, like the floor, is a function of the magnitudes alone, so
leaving it out cannot favour a rejection, and the pairs that can pass share alpha among fewer.

**Judges.** Scenarios where no judge scored both cells are dropped and counted
(``n_confounded_scenarios``); a pair left with none is ``confounded`` and never better or worse.
A verdict resting on a judge listed in ``provisional_judges`` is marked ``provisional``.

**The verdict rule** (one rule, used everywhere):

- ``confounded``: the cells share scenarios but no judge scored both in any of them;
- ``underpowered``: no shared scenario, or not rejected while the floor is above Holm's stop, or
  an interval that could not exclude 0 whatever the signs;
- ``better`` / ``worse``: Holm-adjusted p < alpha and the (1 - alpha) interval of a - b lies
  above / below 0; requiring both keeps a verdict and the number printed beside it from
  contradicting each other, and the chance of any better/worse among equal cells stays within
  Holm's alpha;
- ``indistinguishable`` otherwise.

The sign-flip permutation p (of the mean difference, the quantity the interval describes) is
reported beside the signed-rank p as an unadjusted check; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import polars as pl

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats import intervals
from tipbench_lib.stats.intervals import DEFAULT_METHOD, check_method
from tipbench_lib.stats.paired import permutation_p, signed_rank_floor, wilcoxon_p
from tipbench_lib.stats.pairs import JudgeGrid, PairDiffs, judge_grid, pair_differences
from tipbench_lib.stats.power import MAX_SCENARIOS, POWER, grid_step, mdd_many, needed_many
from tipbench_lib.stats.resampling import paired_intervals
from tipbench_lib.stats.scale import ScoreScale, scale_for

VERDICTS: tuple[str, ...] = (
    "better",
    "worse",
    "indistinguishable",
    "underpowered",
    "confounded",
)
FAMILIES: tuple[str, ...] = ("primary", "exploratory")
_STATS = (
    "diff_mean",
    "diff_lo",
    "diff_hi",
    "sd_diff",
    "p_wilcoxon",
    "p_permutation",
    "floor",
    "reach",
)


def compare_pairs(
    judge_scores: pl.DataFrame,
    *,
    alpha: float = 0.05,
    baseline: tuple[str, str] | None = None,
    provisional_judges: Collection[str] = (),
    scale: ScoreScale | None = None,
    method: str = DEFAULT_METHOD,
    n_boot: int = 2000,
    n_perm: int = 10000,
    seed: int = 0,
    by: str | None = None,
) -> pl.DataFrame:
    """Paired comparisons of every two cells of a :func:`tipbench_lib.stats.judge_scores` frame.

    Intervals are at level 1 - alpha, the level the verdict uses, and inside +- the composite's
    width. ``by`` names a column of independent experiments stacked in one frame (simulation
    replicates): pairs and families then form within each experiment.
    """
    check_method(method)
    if "judge_id" not in judge_scores.columns:
        raise TipbenchError(
            "compare_pairs needs one row per (candidate, judge) to pair on judges: pass "
            "tipbench_lib.stats.judge_scores(cells, candidates, judgments), not score_table"
        )
    scale = scale or scale_for([])
    grid = judge_grid(judge_scores, by)
    base_slot = _baseline_slots(grid, baseline)
    diffs = pair_differences(grid)
    values = pair_statistics(diffs, alpha, method, n_boot, n_perm, seed, scale)
    flip = _orientation(grid, diffs, base_slot)
    a = np.where(flip, diffs.b, diffs.a)
    b = np.where(flip, diffs.a, diffs.b)
    values["diff_mean"] = np.where(flip, -values["diff_mean"], values["diff_mean"])
    lo, hi = values["diff_lo"], values["diff_hi"]
    values["diff_lo"], values["diff_hi"] = np.where(flip, -hi, lo), np.where(flip, -lo, hi)

    primary = np.ones(len(a), dtype=bool)
    if base_slot is not None:
        primary = (a == base_slot[diffs.e]) | (b == base_slot[diffs.e])
    can_pass = (values["floor"] <= alpha) & (values["reach"] > 0)
    family = holm_families(diffs.e, primary, can_pass, values["p_wilcoxon"], alpha)
    verdict = verdicts(
        family["rejected"],
        values["diff_lo"],
        values["diff_hi"],
        values["floor"],
        family["stop"],
        diffs.n_shared,
        diffs.n_usable,
        alpha,
        reach=values["reach"],
    )
    mdd, needed, power_note = _power(diffs.n_usable, values, family, alpha)
    judges, provisional = _judges(grid, diffs.common, provisional_judges)
    frame = _frame(
        grid,
        diffs,
        a,
        b,
        values,
        family,
        verdict,
        (mdd, needed, power_note),
        (judges, provisional),
        alpha,
        by,
    )
    rank = _ranks(grid)
    order = np.lexsort((rank[diffs.e, b], rank[diffs.e, a], diffs.e))
    return frame[order]


def _baseline_slots(grid: JudgeGrid, baseline: tuple[str, str] | None) -> np.ndarray | None:
    """The baseline's cell slot in each experiment, or an error naming the known cells."""
    if baseline is None:
        return None
    cells = grid.cells
    match = cells.filter(
        (pl.col("model") == baseline[0]) & (pl.col("prompt_version") == baseline[1])
    )
    if match["e"].n_unique() < len(grid.groups):
        keys = sorted(set(zip(cells["model"], cells["prompt_version"], strict=True)))
        known = ", ".join(f"{m}/{p}" for m, p in keys[:10])
        raise TipbenchError(
            f"baseline {baseline[0]}/{baseline[1]} is not a (model, prompt) cell with scores; "
            f"pick one of: {known}{' ...' if len(keys) > 10 else ''}"
        )
    slots = np.full(len(grid.groups), -1, dtype=np.int64)
    slots[match["e"].to_numpy()] = match["c"].to_numpy()
    return slots


def pair_statistics(
    diffs: PairDiffs,
    alpha: float,
    method: str,
    n_boot: int,
    n_perm: int,
    seed: int,
    scale: ScoreScale,
) -> dict[str, np.ndarray]:
    """Mean, interval, spread, tests and floor of every row, one batch per scenario count.

    Shared by the rubric's comparisons and the pairwise ones (:mod:`.pairwise`, on centred win
    shares), so both rest on one implementation of the test, floor and interval.

    Everything is computed on the exact numerators (:class:`.pairs.PairDiffs`): the tests, the
    floor, ties and the grid step are scale-free, so zeros and ties are exact; the mean, spread
    and interval are computed in numerator units and divided by the one denominator, so a row
    of equal differences has a spread of exactly 0.
    """
    rows_total = len(diffs.n_usable)
    values = {name: np.full(rows_total, np.nan) for name in _STATS}
    values["floor"][:] = 1.0
    values["fallback"] = np.zeros(rows_total, dtype=bool)
    values["tied"] = np.zeros(rows_total, dtype=bool)
    values["step"] = np.zeros(rows_total)
    rng = np.random.default_rng(seed)
    level = 1 - alpha
    per_unit = 1.0 / diffs.denominator
    tolerance = scale.tolerance * diffs.denominator
    for n, rows, units in diffs.groups():
        if n == 0:
            continue
        exact = units.astype(float)  # whole numbers below 2^40: every sum of them is exact
        values["diff_mean"][rows] = units.sum(axis=1) / (n * diffs.denominator)
        values["sd_diff"][rows] = intervals.spread(exact, tolerance) * per_unit
        if method == "t":
            lo, hi, _ = intervals.student_t(exact, level, tolerance)
        else:
            lo, hi, values["fallback"][rows] = paired_intervals(
                exact, n_boot, rng, level, method, tolerance
            )
        values["diff_lo"][rows], values["diff_hi"][rows] = intervals.clip(
            lo * per_unit, hi * per_unit, -scale.width, scale.width
        )
        values["reach"][rows] = _reach(np.abs(exact), method, n_boot, rng, level, tolerance)
        values["reach"][rows] *= per_unit
        values["p_wilcoxon"][rows] = wilcoxon_p(units)
        values["p_permutation"][rows] = permutation_p(units, n_perm, rng)
        values["floor"][rows] = signed_rank_floor(units)
        values["tied"][rows] = _has_ties(units)
        values["step"][rows] = grid_step(units, diffs.denominator)
    return values


def _reach(
    magnitudes: np.ndarray,
    method: str,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    tolerance: float,
) -> np.ndarray:
    """Per row, the interval's lower bound if every difference had the same sign (> 0: the
    interval can exclude 0; NaN below 2 differences).

    For the t interval this is the most any sign pattern can reach: with the magnitudes fixed,
    the sum of squares is fixed, so the spread falls as |mean| rises, and |t| is largest when
    every sign agrees. A pair whose reach is 0 or less cannot become better or worse whatever
    its signs, like a pair whose signed-rank floor is above its threshold (issue 18).
    """
    if method == "t":
        lo, _, _ = intervals.student_t(magnitudes, level, tolerance)
    else:
        lo, _, _ = paired_intervals(magnitudes, n_boot, rng, level, method, tolerance)
    return lo


def _has_ties(units: np.ndarray) -> np.ndarray:
    """Rows with tied magnitudes or zeros: their test takes the sign-flip or normal branch."""
    ordered = np.sort(np.abs(units), axis=1)
    return (ordered[:, 1:] == ordered[:, :-1]).any(axis=1) | (units == 0).any(axis=1)


def _cell_means(grid: JudgeGrid) -> np.ndarray:
    """(experiments, cell slots) mean composite, NaN for an empty slot."""
    n_e, n_c = grid.shape[:2]
    means = np.full((n_e, n_c), np.nan)
    means[grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()] = grid.cells["cell_mean"]
    return means


def _ranks(grid: JudgeGrid) -> np.ndarray:
    """Each cell's place in its experiment's leaderboard (0: best), to order rows best first."""
    means = _cell_means(grid)
    return np.argsort(np.argsort(-np.nan_to_num(means, nan=-np.inf), axis=1, kind="stable"), axis=1)


def _orientation(grid: JudgeGrid, diffs: PairDiffs, base_slot: np.ndarray | None) -> np.ndarray:
    """True where a row must be flipped: the baseline goes in b, else the higher cell in a."""
    means = _cell_means(grid)
    flip = means[diffs.e, diffs.b] > means[diffs.e, diffs.a]
    if base_slot is not None:
        base = base_slot[diffs.e]
        flip = np.where(diffs.a == base, True, np.where(diffs.b == base, False, flip))
    return flip


def holm_families(
    e: np.ndarray, primary: np.ndarray, tested: np.ndarray, p: np.ndarray, alpha: float
) -> dict[str, np.ndarray]:
    """Holm within each (experiment, family): adjusted p, sizes and the threshold Holm stopped at.

    Shared by the rubric's comparisons and the pairwise ones (:mod:`.pairwise`).

    ``tested``: the rows whose signed-rank floor is at most alpha and whose interval can
    exclude 0 (both decided on the magnitudes of the differences alone); the others leave the
    family before any sign is seen.
    Rows are sorted by family and p once, so thousands of stacked experiments cost one pass:
    Holm's running maximum runs over all families together, each family lifted above the one
    before by more than any of its steps can reach.
    """
    key = e * 2 + (~primary).astype(np.int64)
    sort_p = np.where(tested, p, np.inf)
    order = np.lexsort((sort_p, key))
    key_sorted, p_sorted, tested_sorted = key[order], sort_p[order], tested[order]
    n_keys = int(key.max()) + 1 if key.size else 0
    size = np.bincount(key, minlength=n_keys)
    m = np.bincount(key, weights=tested, minlength=n_keys).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(np.bincount(key_sorted, minlength=n_keys))[:-1]])
    rank = np.arange(len(key_sorted)) - start[key_sorted]
    steps = (m[key_sorted] - rank) * np.where(tested_sorted, p_sorted, 0.0)
    lift = key_sorted * (float(m.max(initial=0)) + 2.0)
    running = np.maximum.accumulate(steps + lift) - lift
    p_holm = np.full(len(key), np.nan)
    p_holm[order] = np.where(tested_sorted, np.minimum(1.0, running), np.nan)
    rejected = np.nan_to_num(p_holm, nan=1.0) < alpha
    r = np.bincount(key, weights=rejected, minlength=n_keys).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        stop = np.where(m > r, alpha / (m - r), np.nan)
    return {
        "name": np.where(primary, "primary", "exploratory"),
        "size": size[key],
        "tested": m[key],
        "p_holm": p_holm,
        "rejected": rejected,
        "stop": stop[key],
        "first": alpha / np.maximum(m[key], 1),
        "all": alpha / np.maximum(size[key], 1),
    }


def verdicts(
    rejected: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    floor: np.ndarray,
    stop: np.ndarray,
    n_shared: np.ndarray,
    n_usable: np.ndarray,
    alpha: float,
    *,
    reach: np.ndarray,
) -> np.ndarray:
    """The verdict rule of the module docstring, applied to arrays.

    ``rejected``: Holm rejected the pair in its family; ``stop``: the threshold Holm stopped at
    (NaN when it rejected everything it tested); ``n_shared``/``n_usable``: scenarios both cells
    have / that have a judge in common; ``reach``: the interval's lower bound were every sign
    the same (:func:`_reach`).
    """
    out = np.full(len(rejected), "indistinguishable", dtype=object)
    out[rejected & (lo > 0)] = "better"
    out[rejected & (hi < 0)] = "worse"
    hopeless = (~rejected & (floor > np.fmin(stop, alpha))) | ~(reach > 0)
    out[hopeless | (n_shared == 0)] = "underpowered"
    out[(n_shared > 0) & (n_usable == 0)] = "confounded"
    return out.astype(str)


def _power(
    n: np.ndarray, values: dict[str, np.ndarray], family: dict[str, np.ndarray], alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detectable difference at the family's first Holm threshold, and scenarios needed.

    ``mdd`` is for the scenarios at hand and the tests Holm runs now (alpha / tested);
    ``scenarios_needed`` for the observed difference, with every pair of the family tested, as
    it would be with that many scenarios (alpha / family size).
    """
    sd, tied = values["sd_diff"], values["tied"]
    mdd = mdd_many(n, sd, family["first"], POWER, tied, values["step"])
    mdd[n < 2] = np.nan
    mdd[sd == 0] = np.nan
    needed = needed_many(values["diff_mean"], sd, family["all"], POWER, tied=tied)
    note = np.full(n.shape, "", dtype=object)
    observed = np.abs(np.nan_to_num(values["diff_mean"])) > 0
    note[(needed < 0) & observed & (sd > 0)] = (
        f"more than {MAX_SCENARIOS:,} scenarios would be needed for the observed difference"
    )
    note[np.isinf(mdd)] = "no signed-rank test on these scenarios can pass the family's threshold"
    note[sd == 0] = "the scenario differences do not vary"
    note[n < 2] = "fewer than 2 scenarios"
    return mdd, needed, note.astype(str)


def _judges(
    grid: JudgeGrid, common: np.ndarray, provisional_judges: Collection[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the judges both cells were scored by (comma-joined) and whether any is weak."""
    weak = np.array([j in set(provisional_judges) for j in grid.judges], dtype=bool)
    provisional = (common & weak).any(axis=1) if common.size else np.zeros(len(common), bool)
    weights = 1 << np.arange(common.shape[1], dtype=np.int64) if common.shape[1] else np.zeros(0)
    pattern = (common.astype(np.int64) * weights).sum(axis=1) if common.size else np.zeros(0)
    names = {
        int(p): ", ".join(j for i, j in enumerate(grid.judges) if (int(p) >> i) & 1)
        for p in np.unique(pattern)
    }
    return np.array([names[int(p)] for p in pattern], dtype=object), provisional


def _frame(
    grid: JudgeGrid,
    diffs: PairDiffs,
    a: np.ndarray,
    b: np.ndarray,
    values: dict[str, np.ndarray],
    family: dict[str, np.ndarray],
    verdict: np.ndarray,
    power: tuple[np.ndarray, np.ndarray, np.ndarray],
    judges: tuple[np.ndarray, np.ndarray],
    alpha: float,
    by: str | None,
) -> pl.DataFrame:
    n_e, n_c = grid.shape[:2]
    model = np.full((n_e, n_c), "", dtype=object)
    prompt = np.full((n_e, n_c), "", dtype=object)
    e_cells, c_cells = grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()
    model[e_cells, c_cells] = grid.cells["model"].to_numpy()
    prompt[e_cells, c_cells] = grid.cells["prompt_version"].to_numpy()
    mdd, needed, power_note = power
    names, provisional = judges
    n = diffs.n_usable
    zero_spread = values["sd_diff"] == 0
    note = intervals.notes(n, zero_spread, values["fallback"])

    def floats(name: str, array: np.ndarray) -> pl.Series:
        return pl.Series(name, array, dtype=pl.Float64).fill_nan(None)

    columns = [
        pl.Series("a_model", model[diffs.e, a], dtype=pl.String),
        pl.Series("a_prompt", prompt[diffs.e, a], dtype=pl.String),
        pl.Series("b_model", model[diffs.e, b], dtype=pl.String),
        pl.Series("b_prompt", prompt[diffs.e, b], dtype=pl.String),
        pl.Series("n_scenarios", n, dtype=pl.Int64),
        floats("diff_mean", values["diff_mean"]),
        floats("diff_lo", values["diff_lo"]),
        floats("diff_hi", values["diff_hi"]),
        floats("p_wilcoxon", values["p_wilcoxon"]),
        floats("p_permutation", values["p_permutation"]),
        floats("p_holm", family["p_holm"]),
        pl.Series("verdict", verdict, dtype=pl.String),
        pl.Series("family", family["name"], dtype=pl.String),
        pl.Series("family_size", family["size"], dtype=pl.Int64),
        pl.Series("family_tested", family["tested"], dtype=pl.Int64),
        floats("holm_threshold", family["stop"]),
        pl.Series("min_p_attainable", values["floor"], dtype=pl.Float64),
        floats("interval_reach", values["reach"]),
        pl.Series("ties", values["tied"], dtype=pl.Boolean),
        pl.Series("mdd", mdd, dtype=pl.Float64).fill_nan(None),
        pl.Series("scenarios_needed", needed, dtype=pl.Int64).replace(-1, None),
        pl.Series("power_note", power_note, dtype=pl.String),
        floats("sd_diff", values["sd_diff"]),
        pl.Series("n_shared_scenarios", diffs.n_shared, dtype=pl.Int64),
        pl.Series("n_confounded_scenarios", diffs.n_shared - n, dtype=pl.Int64),
        pl.Series("judges", names, dtype=pl.String),
        pl.Series("provisional", provisional, dtype=pl.Boolean),
        pl.Series("interval_note", note, dtype=pl.String),
        pl.Series("alpha", np.full(len(n), alpha), dtype=pl.Float64),
    ]
    if by is not None:
        columns.append(pl.Series(by, np.array(grid.groups, dtype=object)[diffs.e]))
    return pl.DataFrame(columns)


def power_table(
    judge_scores: pl.DataFrame,
    *,
    alpha: float = 0.05,
    baseline: tuple[str, str] | None = None,
    target_diff: float | None = None,
) -> pl.DataFrame:
    """Per pair: what the scenarios at hand can detect, and how many a difference would need.

    The columns of :func:`compare_pairs` that size a study; ``scenarios_needed`` is for
    ``target_diff`` when given (at the family's threshold once every pair is testable), else
    for the observed difference.
    """
    pairs = compare_pairs(judge_scores, alpha=alpha, baseline=baseline, n_perm=0)
    if target_diff is not None:
        size = np.maximum(pairs["family_size"].to_numpy(), 1)
        needed = needed_many(
            np.full(pairs.height, float(target_diff)),
            pairs["sd_diff"].fill_null(np.nan).to_numpy(),
            alpha / size,
            POWER,
            tied=pairs["ties"].to_numpy(),
        )
        pairs = pairs.with_columns(
            pl.Series("scenarios_needed", needed, dtype=pl.Int64).replace(-1, None)
        )
    goal = (
        pl.lit(target_diff, dtype=pl.Float64)
        if target_diff is not None
        else pl.col("diff_mean").abs()
    )
    return pairs.select(
        "a_model",
        "a_prompt",
        "b_model",
        "b_prompt",
        "n_scenarios",
        "family",
        "family_size",
        "diff_mean",
        "sd_diff",
        "min_p_attainable",
        "mdd",
        goal.alias("target_diff"),
        "scenarios_needed",
        "power_note",
    )
