"""Every pair of (model, prompt) cells, paired on scenarios, with an honest verdict.

Which p is corrected, and why: Holm runs over the family of signed-rank p-values. The signed-rank
test is the primary test because composites are bounded, discrete and often skewed, it is exact
for the handful of scenarios a benchmark has, and its attainable-p floor defines "underpowered".
The sign-flip permutation p (on the mean difference, the quantity the interval describes) is shown
beside it as a check, uncorrected. Underpowered pairs are left out of the family: whether a pair
can reach alpha at all depends on its number of scenarios only, never on the data, so dropping
them is decided before looking and makes the correction no stricter than it must be.

The verdict rule (one rule, used everywhere):

- ``underpowered`` when ``min_p_attainable = 2 / 2^n > alpha`` for the n shared scenarios;
- ``better`` when ``p_holm < alpha`` and the (1 - alpha) bootstrap interval of a - b lies above 0;
- ``worse`` when ``p_holm < alpha`` and the interval lies below 0;
- ``indistinguishable`` otherwise.

Requiring both keeps a verdict and the number printed beside it from contradicting each other
("better, by 0.4 (95% CI -0.2 to 1.0)" can never be written). Since both conditions must hold,
the chance of any better/worse verdict among truly equal cells stays within Holm's alpha.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tipbench_lib.stats.paired import holm, min_p_attainable, permutation_p, wilcoxon_p
from tipbench_lib.stats.pairs import composite_matrix, grouped_differences, pair_labels, pair_set
from tipbench_lib.stats.power import mdd_many
from tipbench_lib.stats.resampling import check_method, paired_intervals

VERDICTS: tuple[str, ...] = ("better", "worse", "indistinguishable", "underpowered")
POWER = 0.8


def verdicts(
    min_p: np.ndarray, p_holm: np.ndarray, lo: np.ndarray, hi: np.ndarray, alpha: float
) -> np.ndarray:
    """The verdict rule of this module's docstring, applied to arrays."""
    significant = np.nan_to_num(p_holm, nan=1.0) < alpha
    out = np.full(min_p.shape, "indistinguishable", dtype=object)
    out[significant & (lo > 0)] = "better"
    out[significant & (hi < 0)] = "worse"
    out[min_p > alpha] = "underpowered"
    return out


def compare_pairs(
    scores: pl.DataFrame,
    *,
    alpha: float = 0.05,
    baseline: tuple[str, str] | None = None,
    n_boot: int = 2000,
    n_perm: int = 10000,
    seed: int = 0,
    method: str = "studentized",
) -> pl.DataFrame:
    """Paired comparisons of cells; intervals at level 1 - alpha, the level the verdict uses."""
    check_method(method)
    matrix = composite_matrix(scores)
    pairs = pair_set(matrix, baseline)
    n_pairs = len(pairs.n_scenarios)
    columns = {
        name: np.full(n_pairs, np.nan)
        for name in ("diff_mean", "diff_lo", "diff_hi", "p_wilcoxon", "p_permutation", "sd_diff")
    }
    rng = np.random.default_rng(seed)
    for n, rows, diffs in grouped_differences(matrix, pairs):
        if n == 0:
            continue
        columns["diff_mean"][rows] = diffs.mean(axis=1)
        if n >= 2:
            columns["sd_diff"][rows] = diffs.std(axis=1, ddof=1)
        lo, hi = paired_intervals(diffs, n_boot, rng, 1 - alpha, method)
        columns["diff_lo"][rows], columns["diff_hi"][rows] = lo, hi
        columns["p_wilcoxon"][rows] = wilcoxon_p(diffs)
        columns["p_permutation"][rows] = permutation_p(diffs, n_perm, rng)
    min_p = min_p_attainable(pairs.n_scenarios)
    testable = min_p <= alpha
    p_holm = np.full(n_pairs, np.nan)
    p_holm[testable] = holm(columns["p_wilcoxon"][testable])
    verdict = verdicts(min_p, p_holm, columns["diff_lo"], columns["diff_hi"], alpha)
    mdd = mdd_many(pairs.n_scenarios, columns["sd_diff"], alpha, POWER)
    return pair_labels(matrix, pairs).with_columns(
        *(
            pl.Series(name, columns[name], dtype=pl.Float64).fill_nan(None)
            for name in ("diff_mean", "diff_lo", "diff_hi", "p_wilcoxon", "p_permutation")
        ),
        pl.Series("p_holm", p_holm, dtype=pl.Float64).fill_nan(None),
        pl.Series("verdict", verdict.astype(str), dtype=pl.String),
        pl.Series("min_p_attainable", min_p, dtype=pl.Float64),
        pl.Series("mdd", mdd, dtype=pl.Float64),
        pl.Series("sd_diff", columns["sd_diff"], dtype=pl.Float64).fill_nan(None),
        pl.lit(alpha, dtype=pl.Float64).alias("alpha"),
    )
