"""Confidence intervals of means over scenarios: the method, its limits, and what to say about it.

Three methods, all with the scenario as the unit (a cell's tips are averaged per scenario first):

- ``"t"`` (the default): Student's t interval, ``mean +- t(n-1, 1-alpha/2) * sd / sqrt(n)``, on
  per-scenario differences (pairs), and on the logit of a cell's place in the rubric's range
  for scenario means (cells, :func:`bounded_t`: a cell near the ceiling has skewed scenario
  means, and the symmetric interval missed its truth from below). Chosen by simulation
  (``bench/stats_validity.py``: 400 replicates per design, discrete 1-5 scores, 2 tips, three
  biased judges, 6 and 20 cells): at 6, 8, 12 and 24 scenarios it covered 94.6-95.7% for cells
  and 94.7-95.5% for pairs. Bootstrap-t covered as well (94.2-95.9%) but was wider where it
  matters (pairs: 4.3 against 3.8 points at 6 scenarios) and erratic: resamples of nearly tied
  scenarios give huge t* (an interval of [-15, 5.4] at 6 scenarios), so it needs thousands of
  resamples and a fallback. The percentile bootstrap under-covers pairs (86% at 6 scenarios,
  89% at 8): it ignores that the spread is itself estimated.
- ``"studentized"`` and ``"percentile"``: the bootstraps of :mod:`tipbench_lib.stats.resampling`,
  kept for comparison and for scipy cross-checks.

Whatever the method, bounds are clipped to what the rubric allows (:mod:`.scale`), a spread below
the scale's tolerance is exactly 0, and each interval carries a note when it deserves one: from
fewer than :data:`FEW_SCENARIOS` scenarios, from a percentile fallback, or with no spread at all.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from scipy.special import expit, logit

METHODS: tuple[str, ...] = ("t", "studentized", "percentile")
DEFAULT_METHOD = "t"
FEW_SCENARIOS = 10
"""Below this many scenarios an interval rests on very little, and says so."""


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"interval method {method!r} is unknown; use one of {', '.join(METHODS)}")


def t_quantile(level: float, df: np.ndarray | float) -> np.ndarray:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees of freedom."""
    return sps.t.ppf(0.5 + level / 2, df)


def spread(values: np.ndarray, tolerance: float) -> np.ndarray:
    """Sample standard deviation along the last axis; below ``tolerance`` it is exactly 0."""
    if values.shape[-1] < 2:
        return np.full(values.shape[:-1], np.nan)
    sd = values.std(axis=-1, ddof=1)
    return np.where(sd <= tolerance, 0.0, sd)


def student_t(
    values: np.ndarray, level: float, tolerance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, sd) of the mean of each row (rows x n, no NaN); NaN bounds when n < 2."""
    n = values.shape[-1]
    mean = values.mean(axis=-1) if n else np.full(values.shape[:-1], np.nan)
    sd = spread(values, tolerance)
    if n < 2:
        return np.full_like(mean, np.nan), np.full_like(mean, np.nan), sd
    half = t_quantile(level, n - 1) * sd / np.sqrt(n)
    return mean - half, mean + half, sd


def bounded_t(
    mean: np.ndarray,
    sd: np.ndarray,
    n: np.ndarray,
    level: float,
    low: np.ndarray | float,
    high: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Student t for a mean that lives in [low, high], on the logit of its place in the range.

    With p = (mean - low) / (high - low), the interval is logit(p) +- t(n-1) * se / (p (1 - p))
    (the delta method, se the standard error of p), mapped back: it stays inside the range and
    is longer on the side away from the nearer bound. Near the ceiling, scenario means pile up
    at the top and are skewed down, so a symmetric t interval misses on the low side (issue 18:
    the top cell of ceiling-heavy experiments covered 0.92); this one covers 0.95 there and is
    as wide as Student's t in the middle of the scale (``bench/stats_validity.py``). A mean with
    no spread gets [mean, mean], unless every scenario sits at a bound (:func:`at_bound`); NaN
    below 2 scenarios.
    """
    mean, sd, n = (np.asarray(v, dtype=float) for v in (mean, sd, n))
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    width = high - low
    p = (mean - low) / width
    with np.errstate(invalid="ignore", divide="ignore"):
        half = t_quantile(level, n - 1) * sd / np.sqrt(n) / (width * p * (1 - p))
        centre = logit(p)
        lo = low + width * expit(centre - half)
        hi = low + width * expit(centre + half)
    flat = sd == 0
    lo, hi = np.where(flat, mean, lo), np.where(flat, mean, hi)
    lo, hi = at_bound(mean, sd, n, level, low, high, lo, hi)
    few = ~(n >= 2)
    return np.where(few, np.nan, lo), np.where(few, np.nan, hi)


def at_bound(
    mean: np.ndarray,
    sd: np.ndarray,
    n: np.ndarray,
    level: float,
    low: np.ndarray,
    high: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds for means whose every scenario sits at the top (or bottom) of the range.

    No spread says nothing about how far below the ceiling the truth may be: a cell whose tone
    is 5 in every one of 4 scenarios can have a true mean of 4.8 (11% of the top cell's
    intervals at 4 scenarios in the ceiling simulation, every one a miss as [5, 5]). A variable
    in [low, high] with mean mu is at ``high`` with probability at most (mu - low) / (high - low)
    (Markov's inequality on high - X), so n scenarios all at ``high`` have probability at most
    that to the n-th power, and mu >= low + (high - low) tail^(1/n) at level 1 - tail: an
    exact bound whatever the distribution, wide because it must be (with 4 scenarios at the top
    of 1-5, 2.6).
    """
    tail = (1 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        reach = (high - low) * tail ** (1 / n)
    top = (sd == 0) & (mean >= high)
    bottom = (sd == 0) & (mean <= low)
    lo = np.where(top, low + reach, lo)
    hi = np.where(bottom, high - reach, hi)
    return lo, hi


def clip(lo: np.ndarray, hi: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """Bounds inside [low, high]: a mean of scores on a bounded scale is on that scale."""
    return np.clip(lo, low, high), np.clip(hi, low, high)


def notes(n: np.ndarray, zero_spread: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Why an interval deserves a second look, as short phrases joined by '; ' ('' when none)."""
    n = np.asarray(n)
    parts = [
        (n < FEW_SCENARIOS) & (n >= 2),
        np.asarray(zero_spread, dtype=bool) & (n >= 2),
        np.asarray(fallback, dtype=bool),
        n < 2,
    ]
    words = ("few scenarios", "no spread", "percentile fallback", "too few scenarios")
    out = np.full(n.shape, "", dtype=object)
    for mask, word in zip(parts, words, strict=True):
        out = np.where(mask & (out == ""), word, np.where(mask, out + "; " + word, out))
    return out.astype(str)
