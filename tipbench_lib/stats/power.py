"""How large a difference the scenarios at hand can detect, and how many a chosen one needs.

Power is computed for the two-sided paired t-test on per-scenario differences (noncentral t, exact
for normal differences). The signed-rank test the verdicts use is nearly as efficient (asymptotic
relative efficiency 3/pi = 0.955 for normal data, higher for heavy tails), so these figures are
close to, and slightly optimistic for, the test actually run. One hard limit is exact and applied
on top: below the scenario count at which an exact signed-rank test can reach alpha at all, no
difference is detectable (the minimum detectable difference is infinite).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import polars as pl
from scipy import optimize
from scipy import stats as sps

from tipbench_lib.stats.paired import min_p_attainable
from tipbench_lib.stats.pairs import composite_matrix, grouped_differences, pair_labels, pair_set


def smallest_testable_n(alpha: float) -> int:
    """Fewest scenarios with which a two-sided exact signed-rank test can reach ``alpha``."""
    return max(1, math.ceil(1 - math.log2(alpha)))


def _t_power(noncentrality: float, df: int, alpha: float) -> float:
    """Power of the two-sided t-test; the far tail is 0 when scipy's nct underflows to NaN."""
    critical = sps.t.ppf(1 - alpha / 2, df)
    far_tail = float(sps.nct.cdf(-critical, df, noncentrality))
    return float(sps.nct.sf(critical, df, noncentrality)) + (
        0.0 if math.isnan(far_tail) else far_tail
    )


@lru_cache(maxsize=4096)
def _noncentrality(n: int, alpha: float, power: float) -> float:
    """The noncentrality at which a paired t-test on n differences reaches ``power``.

    It depends on n, alpha and power only, so one root per scenario count serves every pair.
    """
    df = n - 1
    high = 4.0
    while _t_power(high, df, alpha) < power:
        high *= 2
    return float(optimize.brentq(lambda nc: _t_power(nc, df, alpha) - power, 0.0, high, xtol=1e-10))


EXACT_UP_TO = 200
"""Scenario counts up to this get the exact noncentrality; beyond it ``t(1-a/2) + t(power)``,
whose relative error there is below 1e-4."""


@lru_cache(maxsize=16)
def _unit_mdd(alpha: float, power: float, max_n: int) -> np.ndarray:
    """Detectable difference per unit of sd for n = 0..max_n (inf where no test can reach alpha).

    One table serves every pair: the detectable difference is this factor times the pair's
    spread, and ``scenarios_needed`` is a search in the same decreasing table.
    """
    n = np.arange(max_n + 1, dtype=float)
    factor = np.full(max_n + 1, np.inf)
    floor = max(2, smallest_testable_n(alpha))
    exact_top = min(EXACT_UP_TO, max_n)
    for value in range(floor, exact_top + 1):
        factor[value] = _noncentrality(value, alpha, power)
    if max_n > EXACT_UP_TO:
        df = n[EXACT_UP_TO + 1 :] - 1
        factor[EXACT_UP_TO + 1 :] = sps.t.ppf(1 - alpha / 2, df) + sps.t.ppf(power, df)
    with np.errstate(divide="ignore"):
        return factor / np.sqrt(n)


def minimum_detectable_difference(
    n_scenarios: int, sd_diff: float, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The difference (composite points) detected with probability ``power`` at ``alpha``."""
    return float(
        mdd_many(np.array([n_scenarios]), np.array([sd_diff], dtype=float), alpha, power)[0]
    )


def mdd_many(n: np.ndarray, sd_diff: np.ndarray, alpha: float, power: float) -> np.ndarray:
    """:func:`minimum_detectable_difference` for many pairs at once (inf when undetectable)."""
    n = np.asarray(n, dtype=np.int64)
    table = _unit_mdd(alpha, power, max(EXACT_UP_TO, int(n.max(initial=0))))
    with np.errstate(invalid="ignore"):
        out = table[n] * np.asarray(sd_diff, dtype=float)
    out[~np.isfinite(out)] = math.inf
    return out


def needed_many(
    diff: np.ndarray, sd_diff: np.ndarray, alpha: float, power: float, max_n: int = 100_000
) -> np.ndarray:
    """:func:`scenarios_needed` for many pairs; -1 where none (see there)."""
    diff = np.abs(np.asarray(diff, dtype=float))
    sd_diff = np.asarray(sd_diff, dtype=float)
    table = _unit_mdd(alpha, power, max_n)
    floor = max(2, smallest_testable_n(alpha))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = diff / sd_diff  # the table value that must be reached
    # The table decreases from index `floor` on; search its negation, which increases.
    first = floor + np.searchsorted(-table[floor:], -ratio, side="left")
    out = np.where(first > max_n, -1, first)
    out = np.where(sd_diff == 0, floor, out)
    bad = (diff == 0) | ~np.isfinite(diff) | ~np.isfinite(sd_diff)
    return np.where(bad, -1, out).astype(np.int64)


def scenarios_needed(
    diff: float, sd_diff: float, alpha: float = 0.05, power: float = 0.8, max_n: int = 100_000
) -> int | None:
    """Fewest scenarios that detect ``diff`` with probability ``power``; None when none can.

    None means the difference is 0, the spread unknown, or more than ``max_n`` scenarios would be
    needed. With no spread at all, the signed-rank floor is the only limit.
    """
    value = int(needed_many(np.array([diff]), np.array([sd_diff]), alpha, power, max_n)[0])
    return None if value < 0 else value


def power_table(
    scores: pl.DataFrame,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    target_diff: float | None = None,
) -> pl.DataFrame:
    """Per pair of cells: what the current scenarios can detect, and what a difference needs.

    ``scenarios_needed`` is for ``target_diff`` when given, else for the observed difference (how
    many scenarios would confirm it if it is real), using the pair's own spread of differences.
    """
    matrix = composite_matrix(scores)
    pairs = pair_set(matrix, None)
    n_pairs = len(pairs.n_scenarios)
    diff_mean, sd_diff = np.full(n_pairs, np.nan), np.full(n_pairs, np.nan)
    for n, rows, diffs in grouped_differences(matrix, pairs):
        if n >= 1:
            diff_mean[rows] = diffs.mean(axis=1)
        if n >= 2:
            sd_diff[rows] = diffs.std(axis=1, ddof=1)
    goal = np.full(n_pairs, np.nan) if target_diff is None else np.full(n_pairs, target_diff)
    goal = np.where(np.isnan(goal), np.abs(diff_mean), goal)
    needed = needed_many(goal, sd_diff, alpha, power)
    return pair_labels(matrix, pairs).with_columns(
        pl.Series("diff_mean", diff_mean, dtype=pl.Float64).fill_nan(None),
        pl.Series("sd_diff", sd_diff, dtype=pl.Float64).fill_nan(None),
        pl.Series("min_p_attainable", min_p_attainable(pairs.n_scenarios), dtype=pl.Float64),
        pl.Series("mdd", mdd_many(pairs.n_scenarios, sd_diff, alpha, power), dtype=pl.Float64),
        pl.Series("target_diff", goal, dtype=pl.Float64).fill_nan(None),
        pl.Series("scenarios_needed", needed, dtype=pl.Int64).replace(-1, None),
    )
