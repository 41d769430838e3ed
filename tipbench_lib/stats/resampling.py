"""Vectorised bootstrap intervals: index matrices drawn once, applied to every cell or pair at once.

Two resampling schemes, both with the scenario as the unit:

- :func:`two_stage_intervals` (leaderboard): resample scenarios, then tips within each resampled
  scenario. Cells with the same tip-count pattern share one set of index matrices, and a chunk of
  resamples for all of them is one batched matrix product.
- :func:`paired_intervals` (comparisons): resample scenarios of the per-scenario differences. A
  resample is a vector of counts, so all pairs' resampled means are one matrix product
  ``diffs @ counts.T``.

Two interval methods:

- ``"studentized"`` (bootstrap-t): the interval is ``mean - q * se`` with ``q`` the
  quantiles of ``t* = (mean* - mean) / se*``. The percentile interval of a mean under-covers with
  the 8-20 scenarios a benchmark has (it ignores that the spread itself is estimated), and the
  two-stage resample inflates the spread by counting tip noise twice; the t pivot corrects both,
  because ``se*`` is measured on the same resample as ``mean*``.
- ``"percentile"``: the quantiles of ``mean*``, kept for comparison with ``scipy.stats.bootstrap``.
"""

from __future__ import annotations

import numpy as np

METHODS: tuple[str, ...] = ("studentized", "percentile")
"""The bootstrap methods; :mod:`tipbench_lib.stats.intervals` adds Student's t and picks one."""
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
    tolerance: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower and upper bounds from bootstrap replicates on the last axis, and where it fell back.

    A spread below ``tolerance`` is exactly 0: a resample of tied scenarios computes its spread
    as about 1e-17 rather than 0, and dividing by that gave t* of 1e16 and bounds in the
    millions. A replicate whose spread is 0 gives t* = 0 when its mean equals the estimate and
    +-inf otherwise. With discrete scores and a handful of scenarios, resamples collapse onto
    tied values often enough for a t quantile to be infinite; that side then falls back to the
    percentile bound, which the data always bound, and the third array marks the fallback.
    """
    tail = (1 - level) / 2
    if method == "percentile":
        lo, hi = np.quantile(boot_mean, [tail, 1 - tail], axis=-1)
        return lo, hi, np.zeros(lo.shape, dtype=bool)
    se = np.where(se <= tolerance, 0.0, se)
    boot_se = np.where(boot_se <= tolerance, 0.0, boot_se)
    shift = boot_mean - point[..., None]
    shift = np.where(np.abs(shift) <= tolerance, 0.0, shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = shift / boot_se
    t[np.isnan(t)] = 0.0
    with np.errstate(invalid="ignore"):
        q_lo, q_hi = np.quantile(t, [tail, 1 - tail], axis=-1)
        lo, hi = point - q_hi * se, point - q_lo * se
    flat = se == 0
    lo = np.where(flat, point, lo)
    hi = np.where(flat, point, hi)
    fallback = ~(np.isfinite(lo) & np.isfinite(hi))
    if fallback.any():
        p_lo, p_hi = np.quantile(boot_mean, [tail, 1 - tail], axis=-1)
        lo = np.where(np.isfinite(lo), lo, p_lo)
        hi = np.where(np.isfinite(hi), hi, p_hi)
    return lo, hi, fallback


def bootstrap_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) counts of how often each unit appears in each resample of n units."""
    idx = rng.integers(0, n, size=(n_boot, n))
    offsets = (np.arange(n_boot) * n)[:, None]
    return np.bincount((idx + offsets).ravel(), minlength=n_boot * n).reshape(n_boot, n)


def paired_intervals(
    diffs: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    method: str,
    tolerance: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals of the mean of each row of ``diffs`` (pairs x scenarios, no NaN), and fallbacks.

    Every row is resampled with the same index matrix; rows are independent questions, so sharing
    the draws changes nothing for one pair and makes all of them one matrix product.
    """
    check_method(method)
    n_pairs, n = diffs.shape
    if n < 2:
        nan = np.full(n_pairs, np.nan)
        return nan, nan.copy(), np.zeros(n_pairs, dtype=bool)
    counts = bootstrap_counts(n, n_boot, rng).T.astype(float) / n  # (n, B)
    point = diffs.mean(axis=1)
    se = diffs.std(axis=1, ddof=1) / np.sqrt(n)
    lo, hi = np.empty(n_pairs), np.empty(n_pairs)
    fallback = np.zeros(n_pairs, dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // n_boot)
    for start in range(0, n_pairs, step):
        rows = slice(start, start + step)
        d = diffs[rows]
        boot_mean = d @ counts
        boot_var = np.maximum((d * d) @ counts - boot_mean**2, 0.0) * n / (n - 1)
        lo[rows], hi[rows], fallback[rows] = interval(
            point[rows], se[rows], boot_mean, np.sqrt(boot_var / n), level, method, tolerance
        )
    return lo, hi, fallback


def two_stage_intervals(
    values: np.ndarray,
    tips: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    method: str,
    tolerance: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intervals for cells that share one tip-count pattern.

    ``values`` is (cells, scenarios, max_tips, metrics), padded with anything beyond ``tips[s]``;
    ``tips`` (scenarios,) gives the number of tips of each scenario, the same for every cell here.
    Returns (cells, metrics) lower and upper bounds of the mean of scenario means, and where the
    bootstrap-t fell back to a percentile bound.
    """
    check_method(method)
    n_cells, n_s, k_max, n_x = values.shape
    if n_s < 2:
        nan = np.full((n_cells, n_x), np.nan)
        return nan, nan.copy(), np.zeros((n_cells, n_x), dtype=bool)
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
    lo, hi, fallback = interval(
        point.ravel(), se.ravel(), boot_mean, boot_se, level, method, tolerance
    )
    shape = (n_cells, n_x)
    return lo.reshape(shape), hi.reshape(shape), fallback.reshape(shape)
