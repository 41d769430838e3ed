"""Paired tests on per-scenario differences, vectorised over pairs, and Holm's correction.

Every test here is scale-free, so it is given the differences as exact whole numbers in one
unit per row (:class:`.pairs.PairDiffs` numerators): a zero is then 0 and a tie is equal, which
the signed-rank test depends on (zeros are dropped, ties share a mid-rank). Floats work too, as
floats: continuous data have neither zeros nor ties.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

_CHUNK_ELEMENTS = 4_000_000


EXACT_UP_TO = 50
"""scipy's exact signed-rank distribution is used up to this many differences (no ties, zeros)."""
FLIPS_UP_TO = 13
"""With ties or zeros, all 2^n sign flips are enumerated up to this many differences."""


def min_p_attainable(n_scenarios: int | np.ndarray) -> np.ndarray:
    """The smallest two-sided p an exact signed-rank test on n nonzero differences can give: 2/2^n.

    It is reached only when every difference has the same sign; with 4 scenarios it is 0.125, so
    no result of 4 scenarios can be significant at 0.05, whatever the data. A pair's own floor,
    which also follows ties and the normal branch, is :func:`signed_rank_floor`.
    """
    n = np.asarray(n_scenarios, dtype=float)
    return np.minimum(1.0, 2.0 ** (1.0 - n))


def branches(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which rows get the exact, the sign-flip and the normal-approximation signed-rank test.

    scipy's ``wilcoxon(method="auto")`` picks its method from the whole array it is given, so one
    tied row would switch every row of a batch to the normal approximation; the choice is made
    here per row instead: exact for n <= 50 without ties or zeros; an exact sign-flip
    distribution for n <= 13 with ties or zeros (what scipy does through ``permutation_test``);
    the normal approximation otherwise.
    """
    n_pairs, n = diffs.shape
    magnitude = np.where(diffs == 0, np.nan, np.abs(diffs))
    ordered = np.sort(magnitude, axis=1)
    irregular = np.any(ordered[:, 1:] == ordered[:, :-1], axis=1) | np.any(diffs == 0, axis=1)
    exact = ~irregular if n <= EXACT_UP_TO else np.zeros(n_pairs, dtype=bool)
    flips = irregular & (n <= FLIPS_UP_TO)
    return exact, flips, ~(exact | flips)


def wilcoxon_p(diffs: np.ndarray) -> np.ndarray:
    """Two-sided signed-rank p of each row (pairs x scenarios), as scipy would give row by row.

    The method is chosen per row (:func:`branches`). Exact rows (no ties or zeros, and small tied
    rows through all 2^n sign flips, which is what scipy does via ``permutation_test``) share
    the null distribution of their rank pattern, computed once per distinct pattern by
    counting subset sums; normal-approximation rows use scipy's formula with its tie
    correction, vectorised. Zero differences are dropped (Wilcoxon's rule); a row of only zeros
    carries no evidence of a difference: p = 1. The tests hold every branch equal to scipy.
    """
    n_pairs, n = diffs.shape
    p = np.ones(n_pairs)
    if n == 0:
        return p
    exact, flips, normal = branches(diffs)
    ranks, sizes = _ranks(diffs)
    closed = exact | flips
    if closed.any():
        p[closed] = _exact_p(diffs[closed], ranks[closed])
    if normal.any():
        p[normal] = _normal_p(diffs[normal], ranks[normal], sizes[normal])
    p[np.all(diffs == 0, axis=1) | np.isnan(p)] = 1.0
    return p


def _ranks(diffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-ranks of the nonzero magnitudes within each row (0 for a zero difference), and for
    each difference the size of its tie group (0 for a zero): one sort for both."""
    magnitude = np.where(diffs == 0, np.inf, np.abs(diffs))
    order = np.argsort(magnitude, axis=1, kind="stable")
    ordered = np.take_along_axis(magnitude, order, axis=1)
    n = ordered.shape[1]
    columns = np.broadcast_to(np.arange(n), ordered.shape)
    new_group = np.ones(ordered.shape, dtype=bool)
    new_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    start = np.maximum.accumulate(np.where(new_group, columns, 0), axis=1)
    last = np.ones(ordered.shape, dtype=bool)
    last[:, :-1] = new_group[:, 1:]
    stop = np.minimum.accumulate(np.where(last, columns, n)[:, ::-1], axis=1)[:, ::-1]
    real = np.isfinite(ordered)
    sorted_ranks = np.where(real, (start + stop) / 2 + 1, 0.0)
    sorted_sizes = np.where(real, stop - start + 1, 0)
    ranks, sizes = np.empty(ordered.shape), np.empty(ordered.shape, dtype=np.int64)
    np.put_along_axis(ranks, order, sorted_ranks, axis=1)
    np.put_along_axis(sizes, order, sorted_sizes, axis=1)
    return ranks, sizes


def _exact_p(diffs: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """Exact two-sided p over all 2^n sign flips of each row's ranks (ties and zeros allowed).

    Mid-ranks are multiples of 1/2, so twice the signed-rank sum is an integer and its null
    distribution is the distribution of subset sums of the doubled ranks. Rows with the same
    rank pattern share it; the distinct patterns are counted together, one rank position at a
    time, as one array operation per position.
    """
    doubled = np.rint(2 * ranks).astype(np.int64)
    observed = (doubled * (diffs > 0)).sum(axis=1)
    sorted_rows = np.ascontiguousarray(np.sort(doubled, axis=1))
    keys = sorted_rows.view(np.dtype((np.void, sorted_rows.dtype.itemsize * sorted_rows.shape[1])))
    _, first, inverse = np.unique(keys.ravel(), return_index=True, return_inverse=True)
    patterns = sorted_rows[first]  # (P, n)
    top = int(patterns.sum(axis=1).max())
    sums = np.arange(top + 1)
    counts = np.zeros((len(patterns), top + 1))
    counts[:, 0] = 1.0
    for column in patterns.T:
        source = sums[None, :] - column[:, None]
        shifted = np.take_along_axis(counts, np.maximum(source, 0), axis=1)
        counts = counts + np.where(source >= 0, shifted, 0.0) * (column[:, None] > 0)
    cdf = np.cumsum(counts, axis=1) / counts.sum(axis=1, keepdims=True)
    pattern_of = inverse.ravel()
    lower = cdf[pattern_of, observed]
    upper = 1.0 - np.where(observed > 0, cdf[pattern_of, np.maximum(observed - 1, 0)], 0.0)
    return np.minimum(1.0, 2 * np.minimum(lower, upper))


def _normal_p(diffs: np.ndarray, ranks: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """scipy's asymptotic signed-rank p (no continuity correction, tie-corrected variance)."""
    count = (diffs != 0).sum(axis=1).astype(float)
    r_plus = (ranks * (diffs > 0)).sum(axis=1)
    mean = count * (count + 1) / 4
    ties = (np.maximum(sizes, 1) ** 2 - 1).sum(axis=1)  # sum over groups of t^3 - t
    variance = count * (count + 1) * (2 * count + 1) / 24 - ties / 48
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(r_plus - mean) / np.sqrt(variance)
    return np.minimum(1.0, 2 * sps.norm.sf(z))


def signed_rank_floor(diffs: np.ndarray) -> np.ndarray:
    """The smallest p the pair's own test can reach: that test on the differences' magnitudes.

    Zero differences are dropped, so they do not count; the branch is the one :func:`branches`
    picks for the row (it looks only at magnitudes, so it is the same for the real signs). In
    the exact and sign-flip branches the floor is 2 / 2^(nonzero differences); in the normal
    branch it is the approximation's p with all signs positive, which with ties is far above
    2 / 2^n. Since it depends on the magnitudes only, it can decide who enters a Holm family
    before anyone looks at the signs.
    """
    n_pairs, n = diffs.shape
    floor = np.ones(n_pairs)
    if n == 0:
        return floor
    exact, flips, normal = branches(diffs)
    nonzero = (diffs != 0).sum(axis=1)
    closed = exact | flips
    floor[closed] = np.minimum(1.0, 2.0 ** (1.0 - nonzero[closed]))
    if normal.any():
        floor[normal] = wilcoxon_p(np.abs(diffs[normal]))
    floor[nonzero == 0] = 1.0
    return floor


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
    never 0. ``n_perm = 0`` skips the test (NaN), for simulations that do not report it.

    Whole-number differences (an integer array, below 2^40) are compared exactly: their sums
    are exact in floating point. Float differences are continuous data, whose sums in another
    order differ in the last bits, so a pattern within 1e-9 (relative) of the observed one
    counts as reaching it.
    """
    n_pairs, n = diffs.shape
    if n_perm <= 0:
        return np.full(n_pairs, np.nan)
    if n == 0:
        return np.ones(n_pairs)
    signs, exact = sign_matrix(n, n_perm, rng)
    observed = np.abs(diffs.sum(axis=1))
    tolerance = np.zeros(n_pairs)
    if not np.issubdtype(diffs.dtype, np.integer):
        tolerance = 1e-9 * np.maximum(1.0, np.abs(diffs).sum(axis=1))
    diffs = diffs.astype(float)
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
