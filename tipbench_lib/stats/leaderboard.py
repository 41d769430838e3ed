"""One row per (model, prompt) cell: means over scenarios and two-stage bootstrap intervals.

A cell's mean is the mean of its scenario means, so a scenario with more surviving tips does not
weigh more than one with fewer; the interval is centred on the same quantity.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tipbench_lib.schema import DIMENSIONS
from tipbench_lib.stats.resampling import check_method, two_stage_intervals
from tipbench_lib.stats.scores import CELL_KEYS, FRACTIONS, METRICS, require_columns, scenario_means


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


def _intervals(
    scores: pl.DataFrame, n_cells: int, n_boot: int, seed: int, level: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """(cells, metrics) bounds; cells in (model, prompt) order, metrics in METRICS order."""
    located = _positions(scores)
    if located.height == 0:
        empty = np.empty((0, len(METRICS)))
        return empty, empty.copy()
    c, s, k = (located[name].to_numpy() for name in ("c", "s", "k"))
    values = np.full((n_cells, s.max() + 1, k.max() + 1, len(METRICS)), np.nan)
    values[c, s, k] = located.select(METRICS).to_numpy()
    tips = np.zeros((n_cells, s.max() + 1), dtype=np.int64)
    tips[c, s] = located["n_tips"].to_numpy()

    groups: dict[tuple[int, ...], list[int]] = {}
    for cell in range(n_cells):
        pattern = tuple(int(t) for t in tips[cell] if t > 0)
        groups.setdefault(pattern, []).append(cell)
    lo = np.full((n_cells, len(METRICS)), np.nan)
    hi = lo.copy()
    rng = np.random.default_rng(seed)
    for pattern in sorted(groups):
        members = np.array(groups[pattern])
        n_s, k_max = len(pattern), max(pattern)
        lo[members], hi[members] = two_stage_intervals(
            values[members, :n_s, :k_max], np.array(pattern), n_boot, rng, level, method
        )
    return lo, hi


def leaderboard(
    scores: pl.DataFrame,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    method: str = "studentized",
) -> pl.DataFrame:
    """Cells ranked by mean composite, with intervals that resample scenarios, then tips."""
    check_method(method)
    require_columns(
        scores,
        [*CELL_KEYS, "scenario_id", "sample_index", "candidate_id", *METRICS, *FRACTIONS],
        "scores",
    )
    means = (
        scenario_means(scores)
        .group_by(*CELL_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n_scenarios"),
            pl.col("n_tips").sum().cast(pl.Int64).alias("n_candidates"),
            *(pl.col(m).mean().alias(f"{m}_mean") for m in (*METRICS, *FRACTIONS)),
        )
        .sort(*CELL_KEYS)
    )
    lo, hi = _intervals(scores, means.height, n_boot, seed, level, method)
    bounds = {}
    for i, metric in enumerate(METRICS):
        bounds[f"{metric}_lo"] = pl.Series(lo[:, i], dtype=pl.Float64).fill_nan(None)
        bounds[f"{metric}_hi"] = pl.Series(hi[:, i], dtype=pl.Float64).fill_nan(None)
    ordered = [
        "rank",
        *CELL_KEYS,
        "n_scenarios",
        "n_candidates",
        *(f"{m}_{part}" for m in ("composite", *DIMENSIONS) for part in ("mean", "lo", "hi")),
        "format_ok_mean",
        "overlong_mean",
    ]
    return (
        means.with_columns(**bounds)
        .sort("composite_mean", *CELL_KEYS, descending=[True, False, False])
        .with_columns(
            pl.col("composite_mean").rank("min", descending=True).cast(pl.Int64).alias("rank")
        )
        .select(ordered)
    )
