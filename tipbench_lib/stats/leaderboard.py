"""One row per (model, prompt) cell: means over scenarios with intervals that stay on the scale.

A cell's mean is the mean of its scenario means, so a scenario with more surviving tips does not
weigh more than one with fewer; the interval is built around the same quantity. By default it is
Student's t on the scenario means, taken on the logit of the mean's place in the rubric's range
(:mod:`.intervals` says why), so it stays inside the range and reaches further on the side away
from a nearby ceiling (issue 18); the two-stage bootstrap (scenarios, then tips within them)
remains as ``method="studentized"`` or ``"percentile"``.
Bounds are clipped to the rubric's range and ``interval_note`` flags intervals from few
scenarios, from a percentile fallback, or with no spread.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats import intervals
from tipbench_lib.stats.intervals import DEFAULT_METHOD, check_method
from tipbench_lib.stats.resampling import two_stage_intervals
from tipbench_lib.stats.scale import ScoreScale, scale_for
from tipbench_lib.stats.scores import CELL_KEYS, scenario_means


def _positions(scores: pl.DataFrame) -> pl.DataFrame:
    """Each tip's cell, scenario slot and tip slot in a dense (cell, scenario, tip) array.

    Within a cell, scenarios are ordered by tip count (most first), so cells whose counts form
    the same pattern line up and can share one set of resampling indices.
    """
    cells = scores.select(CELL_KEYS).unique().sort(*CELL_KEYS).with_row_index("c")
    slots = (
        scores.group_by(*CELL_KEYS, "scenario_id")
        .agg(pl.len().alias("n_tips"))
        .sort(*CELL_KEYS, "n_tips", "scenario_id", descending=[False, False, True, False])
        .with_columns(pl.int_range(pl.len()).over(CELL_KEYS).alias("s"))
    )
    return (
        scores.sort(*CELL_KEYS, "scenario_id", "sample_index", "candidate_id")
        .with_columns(pl.int_range(pl.len()).over([*CELL_KEYS, "scenario_id"]).alias("k"))
        .join(cells, on=list(CELL_KEYS))
        .join(slots, on=[*CELL_KEYS, "scenario_id"])
    )


def _bootstrap(
    scores: pl.DataFrame,
    metrics: tuple[str, ...],
    n_cells: int,
    n_boot: int,
    seed: int,
    level: float,
    method: str,
    tolerance: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cells, metrics) bounds and fallbacks; cells in (model, prompt) order, metrics as given."""
    located = _positions(scores)
    if located.height == 0:
        empty = np.empty((0, len(metrics)))
        return empty, empty.copy(), empty.astype(bool)
    c, s, k = (located[name].to_numpy() for name in ("c", "s", "k"))
    values = np.full((n_cells, s.max() + 1, k.max() + 1, len(metrics)), np.nan)
    values[c, s, k] = located.select(metrics).to_numpy()
    tips = np.zeros((n_cells, s.max() + 1), dtype=np.int64)
    tips[c, s] = located["n_tips"].to_numpy()

    groups: dict[tuple[int, ...], list[int]] = {}
    for cell in range(n_cells):
        pattern = tuple(int(t) for t in tips[cell] if t > 0)
        groups.setdefault(pattern, []).append(cell)
    lo = np.full((n_cells, len(metrics)), np.nan)
    hi = lo.copy()
    fallback = np.zeros(lo.shape, dtype=bool)
    rng = np.random.default_rng(seed)
    for pattern in sorted(groups):
        members = np.array(groups[pattern])
        n_s, k_max = len(pattern), max(pattern)
        lo[members], hi[members], fallback[members] = two_stage_intervals(
            values[members, :n_s, :k_max],
            np.array(pattern),
            n_boot,
            rng,
            level,
            method,
            tolerance,
        )
    return lo, hi, fallback


def _student(
    means: pl.DataFrame,
    cells: pl.DataFrame,
    scale: ScoreScale,
    level: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(cells, metrics) Student-t bounds on the scenario means, on the logit of each metric's
    place in its range (:func:`.intervals.bounded_t`), cells in ``cells`` order."""
    metrics = scale.metrics
    stats_ = (
        means.group_by(*CELL_KEYS)
        .agg(*(pl.col(m).std(ddof=1).alias(f"{m}_sd") for m in metrics))
        .join(
            cells.select(*CELL_KEYS, "n_scenarios", *(f"{m}_mean" for m in metrics)), on=CELL_KEYS
        )
    )
    ordered = cells.select(CELL_KEYS).join(stats_, on=CELL_KEYS, how="left", maintain_order="left")
    n = ordered["n_scenarios"].to_numpy().astype(float)[:, None]
    sd = ordered.select(f"{m}_sd" for m in metrics).to_numpy().astype(float)
    sd = np.where(sd <= scale.tolerance, 0.0, sd)
    mean = ordered.select(f"{m}_mean" for m in metrics).to_numpy().astype(float)
    low, high = np.array([scale.bounds(m) for m in metrics], dtype=float).T
    return intervals.bounded_t(mean, sd, n, level, low, high)


def leaderboard(
    scores: pl.DataFrame,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    method: str = DEFAULT_METHOD,
    scale: ScoreScale | None = None,
) -> pl.DataFrame:
    """Cells ranked by mean composite, with (``level``) intervals clipped to the rubric's range.

    ``level`` is ``1 - alpha`` of the analysis; ``scale`` is the experiment's rubric's (its
    dimensions get intervals beside the composite, its flags a mean); it defaults to tip-v1's.
    """
    check_method(method)
    scale = scale or scale_for([])
    metrics, flags = scale.metrics, scale.flags
    require_columns(
        scores,
        [*CELL_KEYS, "scenario_id", "sample_index", "candidate_id", *metrics, *flags],
        "scores",
    )
    per_scenario = scenario_means(scores, scale)
    means = (
        per_scenario.group_by(*CELL_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n_scenarios"),
            pl.col("n_tips").sum().cast(pl.Int64).alias("n_candidates"),
            *(pl.col(m).mean().alias(f"{m}_mean") for m in (*metrics, *flags)),
        )
        .sort(*CELL_KEYS)
    )
    if method == "t":
        lo, hi = _student(per_scenario, means, scale, level)
        fallback = np.zeros(lo.shape, dtype=bool)
    else:
        lo, hi, fallback = _bootstrap(
            scores, metrics, means.height, n_boot, seed, level, method, scale.tolerance
        )
    bounds = {}
    for i, metric in enumerate(metrics):
        low, high = intervals.clip(lo[:, i], hi[:, i], *scale.bounds(metric))
        bounds[f"{metric}_lo"] = pl.Series(low, dtype=pl.Float64).fill_nan(None)
        bounds[f"{metric}_hi"] = pl.Series(high, dtype=pl.Float64).fill_nan(None)
    n = means["n_scenarios"].to_numpy()
    spread = means.select(CELL_KEYS).join(
        per_scenario.group_by(CELL_KEYS).agg(pl.col("composite").std(ddof=1).alias("_sd")),
        on=CELL_KEYS,
        how="left",
        maintain_order="left",
    )
    flat = spread["_sd"].fill_null(np.nan).to_numpy() <= scale.tolerance
    note = intervals.notes(n, flat, fallback[:, 0])
    ordered = [
        "rank",
        *CELL_KEYS,
        "n_scenarios",
        "n_candidates",
        *(f"{m}_{part}" for m in metrics for part in ("mean", "lo", "hi")),
        *(f"{f}_mean" for f in flags),
        "interval_note",
    ]
    return (
        means.with_columns(**bounds, interval_note=pl.Series(note, dtype=pl.String))
        .sort("composite_mean", *CELL_KEYS, descending=[True, False, False])
        .with_columns(
            pl.col("composite_mean").rank("min", descending=True).cast(pl.Int64).alias("rank")
        )
        .select(ordered)
    )
