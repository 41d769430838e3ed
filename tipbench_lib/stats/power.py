"""How large a difference the scenarios at hand can detect, and how many a chosen one needs.

Both figures are for the procedure the verdicts actually run: the two-sided signed-rank test on
per-scenario differences, at the Holm threshold a pair faces as its family's first rejection
(alpha / m for m tests). A t-test at alpha, which this module used before, overstated power
badly: at 12 scenarios in a family of 15 the "80%" difference was detected 0-25% of the time.

The detectable difference is a ratio times the spread of the pair's differences; the ratio
depends on the number of scenarios n, the threshold and, for few scenarios, on how coarse the
differences are:

- differences of whole-number composites averaged over a few tips and judges lie on a grid
  (:func:`grid_step`, e.g. 1/2 point). Up to :data:`SIMULATED_UP_TO` scenarios the grid decides
  how often differences are zero or tied, which near the test's floor decides whether it can pass
  at all, so :func:`discrete_ratio` simulates the test itself (:func:`.paired.wilcoxon_p`, every
  branch) on normal differences rounded to the pair's grid, seeded, bisecting on the shift;
- for continuous differences up to that size, :func:`detectable_ratio` simulates the exact
  test without a grid: the statistic counts the Walsh averages (x_i + x_j) / 2 above 0, so the
  smallest shift that reaches the critical value is minus the c-th largest Walsh average, and
  the shift with 80% power is the 80% quantile of those (one sort, no grid over shifts);
- above it, Lehmann's normal approximation of the statistic under a shift (exact mean and
  variance from p1..p4 of normal differences), within 2% of the simulation from 24 scenarios.

The pair's spread is its sample sd divided by c4(n), the unbiased estimate of sigma, so the figure
is not 3-5% low at 6-12 scenarios. ``bench/stats_validity.py`` checks the result on discrete,
tied, judge-biased data: power 0.76-0.85 at the reported difference across 6 and 20 cells and
8-24 scenarios. ``scenarios_needed`` (a projection) searches the continuous ratios; above
:data:`MAX_SCENARIOS` it gives up (None) rather than promise an impractical study.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import optimize
from scipy.special import gammaln, ndtr, ndtri, owens_t

from tipbench_lib.stats.paired import EXACT_UP_TO, FLIPS_UP_TO, wilcoxon_p

POWER = 0.8
SIMULATED_UP_TO = 30
SIMULATION_DRAWS = 4000
DISCRETE_DRAWS = 2000
MAX_SCENARIOS = 10_000
GRID_STEPS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.3, 1.6, 2.0, 3.0)
"""Grid steps (in units of the differences' sd) the discrete simulation is run for."""


def smallest_testable_n(threshold: float) -> int:
    """Fewest scenarios with which an exact signed-rank test can give p < ``threshold``."""
    return max(1, math.floor(1 - math.log2(threshold)) + 1)


@lru_cache(maxsize=64)
def _null_upper_tail(n: int) -> np.ndarray:
    """P(W+ >= w) for w = 0..n(n+1)/2 under no difference: subsets of {1..n} by their sum."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    probability = counts / counts.sum()
    return np.cumsum(probability[::-1])[::-1]


def normal_branch(n: int, tied: bool) -> bool:
    """Whether the test on n differences uses the normal approximation (:func:`.paired.branches`):
    above 50 differences, or above 13 when they are tied."""
    return n > EXACT_UP_TO or (tied and n > FLIPS_UP_TO)


@lru_cache(maxsize=4096)
def critical_value(n: int, threshold: float, tied: bool = False) -> int | None:
    """Smallest W+ whose two-sided p is below ``threshold``, or None when none is.

    In the exact branch the exact null distribution, as scipy's exact test; in the normal branch
    the normal approximation without continuity correction, as scipy's asymptotic test (with
    untied ranks: ties shrink its variance a little, so this is slightly conservative).
    """
    if n < 1:
        return None
    top = n * (n + 1) // 2
    if not normal_branch(n, tied):
        p = np.minimum(1.0, 2 * _null_upper_tail(n))
        passing = np.flatnonzero((p < threshold) & (np.arange(top + 1) * 2 >= top))
        return int(passing[0]) if passing.size else None
    mean, sd = top / 2, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    c = math.floor(mean + ndtri(1 - threshold / 2) * sd) + 1
    return c if c <= top else None


@lru_cache(maxsize=4096)
def detectable_ratio(n: int, threshold: float, power: float = POWER, tied: bool = False) -> float:
    """Shift / sd of normal differences that n scenarios detect with ``power`` (inf if none).

    ``tied`` says the pair's differences have ties or zeros, as discrete scores do: from 14
    scenarios on their test takes the normal branch, whose far tail is heavier than the exact
    distribution's, so the same threshold needs a larger shift.
    """
    c = critical_value(n, threshold, tied) if n >= 2 else None
    if c is None:
        return math.inf
    if n <= SIMULATED_UP_TO:
        return float(np.quantile(_smallest_shifts(n, c), power))
    return _lehmann_ratio(n, c, power)


def _smallest_shifts(n: int, c: int) -> np.ndarray:
    """Per simulated draw, the shift at which W+ first reaches c: minus the c-th largest Walsh
    average of n standard normal differences (seeded by n, so the table never changes)."""
    z = np.random.default_rng(1000 + n).standard_normal((SIMULATION_DRAWS, n))
    i, j = np.triu_indices(n)
    walsh = (z[:, i] + z[:, j]) / 2
    return np.partition(-walsh, c - 1, axis=1)[:, c - 1]


def grid_step(
    numerators: np.ndarray, denominator: int, max_denominator: int = 60, share: float = 0.8
) -> np.ndarray:
    """Per row, the grid the differences lie on: 1/L for the smallest L with most of them on it.

    Composites are whole numbers averaged over a few tips and judges, so a pair's per-scenario
    differences sit on a grid such as 1/2 or 1/6 point; that grid decides how often differences
    are zero or tied, which near the floor decides whether the test can pass at all. "Most"
    (``share``) so that one scenario with a failed judgment does not refine the grid for all.
    0 when no grid up to 1/``max_denominator`` fits: continuous data. The differences are exact
    (``numerators / denominator`` points, :class:`.pairs.PairDiffs`), so "on the grid" is
    exact: a difference in lowest terms p/r lies on the grid 1/L when r divides L.
    """
    numerators = np.asarray(numerators, dtype=np.int64)
    lowest = denominator // np.gcd(numerators, np.int64(denominator))  # 0 -> 0/1
    step = np.zeros(len(numerators))
    open_ = np.ones(len(numerators), dtype=bool)
    for grid in range(1, max_denominator + 1):
        on_grid = (grid % lowest == 0).mean(axis=1) if lowest.shape[1] else np.zeros(len(step))
        hit = open_ & (on_grid >= share)
        step[hit] = 1.0 / grid
        open_ &= ~hit
    return step


def step_in_sd(step: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """The grid step in units of the sd, snapped to :data:`GRID_STEPS` (0: continuous)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.asarray(step, dtype=float) / np.asarray(sd, dtype=float)
    grid = np.asarray(GRID_STEPS)
    nearest = grid[
        np.argmin(
            np.abs(np.log(grid)[None, :] - np.log(np.maximum(relative, 1e-12))[:, None]), axis=1
        )
    ]
    return np.where(np.isfinite(relative) & (relative >= grid[0] / 2), nearest, 0.0)


@lru_cache(maxsize=1024)
def discrete_ratio(n: int, threshold: float, step: float, power: float = POWER) -> float:
    """Detectable shift / sd for n differences on a grid of ``step`` sd, by simulating the test.

    Normal differences rounded to the grid go through :func:`.paired.wilcoxon_p` itself, so
    zeros, ties and the branch the test takes are all as in the data; the shift reaching
    ``power`` is found by bisection over common draws (seeded by n). The ratio is to the sd of
    the rounded differences, the spread a pair reports.
    """
    if n < 2 or smallest_testable_n(threshold) > n:
        return math.inf
    z = np.random.default_rng(3000 + n).standard_normal((DISCRETE_DRAWS, n))

    def reach(shift: float) -> float:
        on_grid = np.rint((z + shift) / step).astype(np.int64)  # in units of the step: exact
        return float((wilcoxon_p(on_grid) < threshold).mean())

    low, high = 0.0, 1.0
    while reach(high) < power:
        low, high = high, high * 2
        if high > 64:
            return math.inf
    for _ in range(14):
        middle = (low + high) / 2
        low, high = (low, middle) if reach(middle) >= power else (middle, high)
    return high / math.sqrt(1 + step * step / 12)


def _bivariate_normal(h: np.ndarray, k: np.ndarray, rho: float) -> np.ndarray:
    """P(X <= h, Y <= k) for standard normals with correlation rho, for h, k > 0 (Owen's T)."""
    root = math.sqrt(1 - rho * rho)
    return (
        0.5 * (ndtr(h) + ndtr(k))
        - owens_t(h, (k - rho * h) / (h * root))
        - owens_t(k, (h - rho * k) / (k * root))
    )


def lehmann_power(shift: np.ndarray, n: np.ndarray, c: np.ndarray) -> np.ndarray:
    """P(W+ >= c) for n normal differences of mean ``shift`` > 0 and sd 1, normal approximation.

    W+ counts the pairs i <= j with x_i + x_j > 0; its exact mean and variance under the shift
    need p1 = P(x > 0), p2 = P(x1 + x2 > 0), p3 = P(x1 > 0, x1 + x2 > 0) and
    p4 = P(x1 + x2 > 0, x1 + x3 > 0) (Lehmann, Nonparametrics, section 4.2).
    """
    shift, n, c = (np.asarray(v, dtype=float) for v in (shift, n, c))
    root2 = math.sqrt(2.0)
    p1, p2 = ndtr(shift), ndtr(root2 * shift)
    p3 = _bivariate_normal(shift, root2 * shift, 1 / root2)
    p4 = _bivariate_normal(root2 * shift, root2 * shift, 0.5)
    pairs = n * (n - 1) / 2
    mean = n * p1 + pairs * p2
    variance = (
        n * p1 * (1 - p1)
        + pairs * p2 * (1 - p2)
        + n * (n - 1) * (n - 2) * (p4 - p2 * p2)
        + 2 * n * (n - 1) * (p3 - p1 * p2)
    )
    return ndtr((mean - (c - 0.5)) / np.sqrt(np.maximum(variance, 1e-300)))


def _lehmann_ratio(n: int, c: int, power: float) -> float:
    high = 1.0
    while lehmann_power(high, n, c) < power:
        high *= 2
    return float(optimize.brentq(lambda s: lehmann_power(s, n, c) - power, 1e-9, high, xtol=1e-8))


def unbiased_sd_factor(n: np.ndarray) -> np.ndarray:
    """c4(n): E[sample sd] = c4 sigma for normal data; sd / c4 is unbiased for sigma.

    The detectable difference is a ratio times sigma; with 6-12 scenarios the sample sd runs
    3-5% low, and so would the reported difference (and with it the power at it).
    """
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            n >= 2, np.sqrt(2 / (n - 1)) * np.exp(gammaln(n / 2) - gammaln((n - 1) / 2)), np.nan
        )


def mdd_many(
    n: np.ndarray,
    sd_diff: np.ndarray,
    threshold: np.ndarray,
    power: float = POWER,
    tied: np.ndarray | bool = False,
    step: np.ndarray | float = 0.0,
) -> np.ndarray:
    """Detectable difference (composite points) per pair: a detectable ratio x the pair's sd.

    Up to :data:`SIMULATED_UP_TO` scenarios, for differences on a grid (``step`` points, from
    :func:`grid_step`) the ratio comes from :func:`discrete_ratio`; otherwise from
    :func:`detectable_ratio` (normal differences, the branch ``tied`` implies). inf where n
    scenarios cannot reach the threshold at all; NaN where the spread is unknown.
    """
    n = np.asarray(n, dtype=np.int64)
    sd_diff = np.asarray(sd_diff, dtype=float)
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), n.shape)
    tied = np.broadcast_to(np.asarray(tied, dtype=bool), n.shape)
    relative = step_in_sd(np.broadcast_to(np.asarray(step, dtype=float), n.shape), sd_diff)
    ratio = np.array(
        [
            discrete_ratio(int(k), float(t), float(g), power)
            if g > 0 and k <= SIMULATED_UP_TO
            else detectable_ratio(int(k), float(t), power, bool(x))
            for k, t, x, g in zip(n, threshold, tied, relative, strict=True)
        ]
    )
    with np.errstate(invalid="ignore"):
        out = ratio * sd_diff / unbiased_sd_factor(n)
    out[np.isinf(ratio)] = math.inf
    return out


def needed_many(
    diff: np.ndarray,
    sd_diff: np.ndarray,
    threshold: np.ndarray,
    power: float = POWER,
    max_n: int = MAX_SCENARIOS,
    tied: np.ndarray | bool = False,
) -> np.ndarray:
    """Fewest scenarios that detect ``diff`` with ``power`` at ``threshold``; -1 where none.

    None can when the difference is 0 or unknown, the spread unknown, or more than ``max_n``
    scenarios would be needed. With no spread at all the first n that can reach the threshold is
    enough.
    """
    diff = np.abs(np.asarray(diff, dtype=float))
    sd_diff = np.asarray(sd_diff, dtype=float)
    threshold = np.broadcast_to(np.asarray(threshold, dtype=float), diff.shape)
    out = np.full(diff.shape, -1, dtype=np.int64)
    tied = np.broadcast_to(np.asarray(tied, dtype=bool), diff.shape)
    valid = (diff > 0) & np.isfinite(diff) & np.isfinite(sd_diff)
    for t in np.unique(threshold[valid]):
        for x in (False, True):
            rows = np.flatnonzero(valid & (threshold == t) & (tied == x))
            if rows.size == 0:
                continue
            first = smallest_testable_n(float(t))
            with np.errstate(divide="ignore"):
                ratio = np.where(sd_diff[rows] == 0, np.inf, diff[rows] / sd_diff[rows])
            out[rows] = _first_n(ratio, float(t), power, first, max_n, x)
    return out


def _first_n(
    ratio: np.ndarray, threshold: float, power: float, first: int, max_n: int, tied: bool
) -> np.ndarray:
    """Per ratio, the first n >= ``first`` whose detectable ratio is at most it (-1 if > max_n)."""
    out = np.full(ratio.shape, -1, dtype=np.int64)
    open_ = np.ones(ratio.shape, dtype=bool)
    for n in range(max(2, first), min(SIMULATED_UP_TO, max_n) + 1):
        hit = open_ & (ratio >= detectable_ratio(n, threshold, power, tied))
        out[hit] = n
        open_ &= ~hit
        if not open_.any():
            return out
    if max_n <= SIMULATED_UP_TO:
        return out
    # Above the simulated range power rises smoothly with n: bisect Lehmann's approximation.
    rows = np.flatnonzero(open_)
    low = np.full(rows.size, SIMULATED_UP_TO, dtype=np.int64)  # fails
    high = np.full(rows.size, max_n, dtype=np.int64)
    reach = _lehmann_reaches(ratio[rows], high, threshold, power, tied)
    for _ in range(int(math.ceil(math.log2(max_n))) + 1):
        mid = (low + high) // 2
        ok = _lehmann_reaches(ratio[rows], mid, threshold, power, tied)
        high = np.where(ok & (mid > low), mid, high)
        low = np.where(~ok, mid, low)
    out[rows] = np.where(reach, high, -1)
    return out


def _lehmann_reaches(
    ratio: np.ndarray, n: np.ndarray, threshold: float, power: float, tied: bool
) -> np.ndarray:
    c = np.array([critical_value(int(k), threshold, tied) or -1 for k in n], dtype=float)
    shift = np.where(np.isinf(ratio), 1e6, ratio)
    with np.errstate(invalid="ignore"):
        reached = lehmann_power(shift, n, c) >= power
    return reached & (c > 0)


def minimum_detectable_difference(
    n_scenarios: int, sd_diff: float, threshold: float = 0.05, power: float = POWER
) -> float:
    """The difference (composite points) detected with probability ``power`` at ``threshold``."""
    return float(mdd_many(np.array([n_scenarios]), np.array([sd_diff]), threshold, power)[0])


def scenarios_needed(
    diff: float,
    sd_diff: float,
    threshold: float = 0.05,
    power: float = POWER,
    max_n: int = MAX_SCENARIOS,
) -> int | None:
    """Fewest scenarios that detect ``diff`` with probability ``power``; None when none can."""
    value = int(needed_many(np.array([diff]), np.array([sd_diff]), threshold, power, max_n)[0])
    return None if value < 0 else value
