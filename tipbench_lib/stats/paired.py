"""Paired tests on per-scenario differences, vectorised over pairs, and Holm's correction."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats as sps

_CHUNK_ELEMENTS = 4_000_000


def min_p_attainable(n_scenarios: int | np.ndarray) -> np.ndarray:
    """The smallest two-sided p an exact signed-rank test on n pairs can give: 2 / 2^n.

    It is reached only when every difference has the same sign; with 4 scenarios it is 0.125, so
    no result of 4 scenarios can be significant at 0.05, whatever the data.
    """
    n = np.asarray(n_scenarios, dtype=float)
    return np.minimum(1.0, 2.0 ** (1.0 - n))


def wilcoxon_p(diffs: np.ndarray) -> np.ndarray:
    """Two-sided signed-rank p of each row (pairs x scenarios), as scipy would give row by row.

    scipy's ``wilcoxon(method="auto")`` picks its method from the whole array it is given, so one
    tied row would switch every row of a batch to the normal approximation. This applies its
    choice per row instead: exact null distribution (scipy) for n <= 50 without ties or zeros; an
    exact sign-flip distribution of the signed-rank statistic for n <= 13 with ties or zeros
    (what scipy does through ``permutation_test``, here as one matrix product, not minutes of
    Python loops); the normal approximation (scipy) otherwise. Zero differences are dropped
    (Wilcoxon's rule); a row of only zeros carries no evidence of a difference: p = 1.
    """
    n_pairs, n = diffs.shape
    p = np.ones(n_pairs)
    if n == 0:
        return p
    magnitude = np.where(diffs == 0, np.nan, np.abs(diffs))
    ordered = np.sort(magnitude, axis=1)
    irregular = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1) | np.any(diffs == 0, axis=1)
    exact = ~irregular if n <= 50 else np.zeros(n_pairs, dtype=bool)
    flips = irregular & (n <= 13)
    normal = ~(exact | flips)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for rows, method in ((exact, "exact"), (normal, "asymptotic")):
            if rows.any():
                p[rows] = sps.wilcoxon(diffs[rows], axis=1, method=method).pvalue
    if flips.any():
        p[flips] = _signed_rank_flip_p(diffs[flips], magnitude[flips])
    p[np.all(diffs == 0, axis=1) | np.isnan(p)] = 1.0
    return p


def _signed_rank_flip_p(diffs: np.ndarray, magnitude: np.ndarray) -> np.ndarray:
    """Exact two-sided p of the signed-rank sum over all 2^n sign flips (ties, zeros allowed).

    Flipping scenario i moves its rank from one side to the other, so the statistic under every
    flip pattern is ``base + bits @ change``: one matrix product for all patterns and rows.
    """
    ranks = np.nan_to_num(sps.rankdata(magnitude, axis=1, nan_policy="omit"), nan=0.0)
    positive = diffs > 0
    observed = (ranks * positive).sum(axis=1)
    change = ranks * np.where(positive, -1.0, 1.0) * (diffs != 0)
    bits = (np.arange(2 ** diffs.shape[1])[:, None] >> np.arange(diffs.shape[1])) & 1
    null = observed[None, :] + bits @ change.T  # (patterns, rows)
    tolerance = 1e-9 * np.maximum(1.0, observed)
    less = (null <= observed + tolerance).mean(axis=0)
    greater = (null >= observed - tolerance).mean(axis=0)
    return np.minimum(1.0, 2 * np.minimum(less, greater))


def sign_matrix(n: int, n_perm: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Sign-flip patterns: all 2^n when that is at most n_perm (exact), else n_perm random ones."""
    if 2**n <= n_perm:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        return (1 - 2 * bits).astype(float), True
    return rng.choice([-1.0, 1.0], size=(n_perm, n)), False


def permutation_p(diffs: np.ndarray, n_perm: int, rng: np.random.Generator) -> np.ndarray:
    """Two-sided paired sign-flip permutation p of the mean difference, per row.

    Under "no difference" each scenario's difference is as likely to have either sign. The exact
    test counts the sign patterns whose |mean| reaches the observed one (the observed pattern is
    among them); the Monte Carlo test adds the observed pattern to n_perm random ones, so p is
    never 0.
    """
    n_pairs, n = diffs.shape
    if n == 0:
        return np.ones(n_pairs)
    signs, exact = sign_matrix(n, n_perm, rng)
    observed = np.abs(diffs.sum(axis=1))
    tolerance = 1e-9 * np.maximum(1.0, np.abs(diffs).sum(axis=1))
    hits = np.empty(n_pairs)
    step = max(1, _CHUNK_ELEMENTS // len(signs))
    for start in range(0, n_pairs, step):
        rows = slice(start, start + step)
        flipped = np.abs(diffs[rows] @ signs.T)
        hits[rows] = (flipped >= (observed[rows] - tolerance[rows])[:, None]).sum(axis=1)
    if exact:
        return hits / len(signs)
    return (hits + 1) / (len(signs) + 1)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries are not part of the family and stay NaN."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = present.size
    if m == 0:
        return adjusted
    order = present[np.argsort(p[present], kind="stable")]
    steps = (m - np.arange(m)) * p[order]
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate(steps))
    return adjusted
