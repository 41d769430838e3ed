"""Vectorised bootstrap intervals: index matrices drawn once, applied to every cell or pair at once.

Two resampling schemes, both with the scenario as the unit:

- :func:`two_stage_intervals` (leaderboard): resample scenarios, then tips within each resampled
  scenario. Cells with the same tip-count pattern share one set of index matrices, and a chunk of
  resamples for all of them is one batched matrix product.
- :func:`paired_intervals` (comparisons): resample scenarios of the per-scenario differences. A
  resample is a vector of counts, so all pairs' resampled means are one matrix product
  ``diffs @ counts.T``.

Two interval methods:

- ``"studentized"`` (default, bootstrap-t): the interval is ``mean - q * se`` with ``q`` the
  quantiles of ``t* = (mean* - mean) / se*``. The percentile interval of a mean under-covers with
  the 8-20 scenarios a benchmark has (it ignores that the spread itself is estimated), and the
  two-stage resample inflates the spread by counting tip noise twice; the t pivot corrects both,
  because ``se*`` is measured on the same resample as ``mean*``.
- ``"percentile"``: the quantiles of ``mean*``, kept for comparison with ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import numpy as np

METHODS: tuple[str, ...] = ("studentized", "percentile")
_CHUNK_ELEMENTS = 4_000_000
"""Upper bound on the elements of one intermediate array, so memory stays near 32 MB."""


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method {method!r} is unknown; use one of {', '.join(METHODS)}")


def interval(
    point: np.ndarray,
    se: np.ndarray,
    boot_mean: np.ndarray,
    boot_se: np.ndarray,
    level: float,
    method: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds from bootstrap replicates on the last axis.

    A replicate whose spread is 0 gives t* = 0 when its mean equals the estimate and +-inf
    otherwise. With discrete scores and a handful of scenarios, resamples collapse onto tied
    values often enough for a t quantile to be infinite; that side then falls back to the
    percentile bound, which the data always bound, instead of reporting an interval to infinity.
    """
    tail = (1 - level) / 2
    if method == "percentile":
        lo, hi = np.quantile(boot_mean, [tail, 1 - tail], axis=-1)
        return lo, hi
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (boot_mean - point[..., None]) / boot_se
    t[np.isnan(t)] = 0.0
    with np.errstate(invalid="ignore"):
        q_lo, q_hi = np.quantile(t, [tail, 1 - tail], axis=-1)
        lo, hi = point - q_hi * se, point - q_lo * se
    flat = se == 0
    lo = np.where(flat, point, lo)
    hi = np.where(flat, point, hi)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        p_lo, p_hi = np.quantile(boot_mean, [tail, 1 - tail], axis=-1)
        lo = np.where(np.isfinite(lo), lo, p_lo)
        hi = np.where(np.isfinite(hi), hi, p_hi)
    return lo, hi


def bootstrap_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) counts of how often each unit appears in each resample of n units."""
    idx = rng.integers(0, n, size=(n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n)


def paired_intervals(
    diffs: np.ndarray, n_boot: int, rng: np.random.Generator, level: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals of the mean of each row of ``diffs`` (pairs x scenarios, no NaN).

    Every row is resampled with the same index matrix; rows are independent questions, so sharing
    the draws changes nothing for one pair and makes all of them one matrix product.
    """
    check_method(method)
    n_pairs, n = diffs.shape
    if n < 2:
        nan = np.full(n_pairs, np.nan)
        return nan, nan.copy()
    counts = bootstrap_counts(n, n_boot, rng).T.astype(float) / n  # (n, B)
    point = diffs.mean(axis=1)
    se = diffs.std(axis=1, ddof=1) / np.sqrt(n)
    lo, hi = np.empty(n_pairs), np.empty(n_pairs)
    step = max(1, _CHUNK_ELEMENTS // n_boot)
    for start in range(0, n_pairs, step):
        rows = slice(start, start + step)
        d = diffs[rows]
        boot_mean = d @ counts
        boot_var = np.maximum((d * d) @ counts - boot_mean**2, 0.0) * n / (n - 1)
        lo[rows], hi[rows] = interval(
            point[rows], se[rows], boot_mean, np.sqrt(boot_var / n), level, method
        )
    return lo, hi


def two_stage_intervals(
    values: np.ndarray,
    tips: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    method: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals for cells that share one tip-count pattern.

    ``values`` is (cells, scenarios, max_tips, metrics), padded with anything beyond ``tips[s]``;
    ``tips`` (scenarios,) gives the number of tips of each scenario, the same for every cell here.
    Returns (cells, metrics) lower and upper bounds of the mean of scenario means.
    """
    check_method(method)
    n_cells, n_s, k_max, n_x = values.shape
    if n_s < 2:
        nan = np.full((n_cells, n_x), np.nan)
        return nan, nan.copy()
    valid = np.arange(k_max) < tips[:, None]
    padded = np.where(valid[None, :, :, None], values, 0.0)
    scen = padded.sum(axis=2) / tips[None, :, None]  # (C, S, X)
    point = scen.mean(axis=1)
    se = scen.std(axis=1, ddof=1) / np.sqrt(n_s)

    # Stage 1: which scenario fills each slot; stage 2: which tips (drawn with replacement
    # among that scenario's own tips) fill it, as weights over the tip positions.
    sigma = rng.integers(0, n_s, size=(n_boot, n_s))
    k = tips[sigma]  # (B, S)
    draws = np.floor(rng.random((n_boot, n_s, k_max)) * k[..., None]).astype(np.int64)
    used = np.arange(k_max) < k[..., None]
    weights = ((draws[..., None] == np.arange(k_max)) & used[..., None]).sum(axis=2)
    weights = weights / k[..., None]  # (B, S, K)

    flat = padded.transpose(1, 2, 0, 3).reshape(n_s, k_max, n_cells * n_x)
    boot_mean = np.empty((n_cells * n_x, n_boot))
    boot_se = np.empty((n_cells * n_x, n_boot))
    step = max(1, _CHUNK_ELEMENTS // (n_s * k_max * n_cells * n_x))
    for start in range(0, n_boot, step):
        rows = slice(start, start + step)
        slot_means = np.matmul(weights[rows][:, :, None, :], flat[sigma[rows]])[:, :, 0, :]
        boot_mean[:, rows] = slot_means.mean(axis=1).T
        boot_se[:, rows] = (slot_means.std(axis=1, ddof=1) / np.sqrt(n_s)).T
    lo, hi = interval(point.ravel(), se.ravel(), boot_mean, boot_se, level, method)
    return lo.reshape(n_cells, n_x), hi.reshape(n_cells, n_x)
