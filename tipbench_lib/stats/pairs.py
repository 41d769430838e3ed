"""Pairs of (model, prompt) cells and their per-scenario differences on shared judges.

Two cells are compared on what both were judged by: for each shared scenario and each judge who
scored both cells there, the difference of that judge's tip means; per scenario the mean of those
judge differences. A judge's constant bias cancels inside each difference, which pairing on
scenarios alone cannot achieve when the judges differ from cell to cell. A scenario that both
cells have but no judge scored in both is *confounded* (judge and cell cannot be told apart) and
is dropped and counted.

Everything is dense arrays: a :class:`JudgeGrid` holds tip means per (experiment, cell,
scenario, judge), NaN where a judge scored nothing. The experiment axis lets a simulation stack
thousands of independent replicates and compare within each at once; the compare phase has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from tipbench_lib.compare.load import require_columns
from tipbench_lib.stats.scores import CELL_KEYS

_CHUNK_ELEMENTS = 4_000_000
GROUP = "_group"


@dataclass(frozen=True)
class JudgeGrid:
    """Tip means of each (experiment, cell, scenario, judge), with the labels of every axis."""

    values: np.ndarray
    """(experiments, cells, scenarios, judges); NaN where that judge scored no tip there."""
    cells: pl.DataFrame
    """One row per (experiment, cell slot): _group, e, c, model, prompt_version, cell_mean."""
    judges: list[str]
    groups: list[object]
    """The ``by`` value of each experiment (``[None]`` for a single experiment)."""

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape


@dataclass(frozen=True)
class PairDiffs:
    """Per-scenario differences a - b of every pair, flattened over (experiment, pair)."""

    e: np.ndarray
    a: np.ndarray
    """Cell slot of a within its experiment (b likewise)."""
    b: np.ndarray
    diffs: np.ndarray
    """(rows, scenarios): usable scenarios first, NaN after them."""
    n_usable: np.ndarray
    n_shared: np.ndarray
    """Scenarios both cells have scores for, whoever judged them."""
    common: np.ndarray
    """(rows, judges): the judges who scored both cells in at least one scenario."""

    def groups(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(n, rows, n usable differences of those rows), one group per distinct n."""
        for n in np.unique(self.n_usable):
            rows = np.flatnonzero(self.n_usable == n)
            yield int(n), rows, self.diffs[rows, : int(n)]


def judge_grid(judge_scores: pl.DataFrame, by: str | None = None) -> JudgeGrid:
    """The grid of a :func:`tipbench_lib.stats.judge_scores` frame (experiments given by ``by``).

    Cells within an experiment are in (model, prompt) order; judges are shared across
    experiments. ``cell_mean`` is the cell's mean of scenario means of candidate means, the
    leaderboard's number, which decides which cell of a pair is written first.
    """
    keys = [*CELL_KEYS, "scenario_id", "judge_id", "composite"]
    require_columns(judge_scores, ["candidate_id", *keys, *([by] if by else [])], "judge scores")
    frame = judge_scores.with_columns(
        (pl.col(by) if by else pl.lit(None, dtype=pl.String)).alias(GROUP)
    )
    group_keys = frame.select(GROUP).unique(maintain_order=False).sort(GROUP, nulls_last=True)
    groups = group_keys[GROUP].to_list()
    judges = sorted(frame["judge_id"].unique().to_list())
    cells = _cell_means(frame)
    cells = cells.join(group_keys.with_row_index("e"), on=GROUP, nulls_equal=True).with_columns(
        pl.int_range(pl.len()).over("e").alias("c")
    )
    scenarios = (
        frame.select(GROUP, "scenario_id")
        .unique()
        .sort(GROUP, "scenario_id", nulls_last=True)
        .with_columns(pl.int_range(pl.len()).over(GROUP).alias("s"))
    )
    tip_means = (
        frame.group_by(GROUP, *CELL_KEYS, "scenario_id", "judge_id")
        .agg(pl.col("composite").mean())
        .join(cells.select(GROUP, *CELL_KEYS, "e", "c"), on=[GROUP, *CELL_KEYS], nulls_equal=True)
        .join(scenarios, on=[GROUP, "scenario_id"], nulls_equal=True)
        .join(
            pl.DataFrame({"judge_id": judges}, schema={"judge_id": pl.String}).with_row_index("j"),
            on="judge_id",
        )
    )
    n_e = len(groups)
    n_c = int(cells["c"].max() or 0) + 1 if cells.height else 0
    n_s = int(scenarios["s"].max() or 0) + 1 if scenarios.height else 0
    values = np.full((n_e, n_c, n_s, len(judges)), np.nan)
    index = tuple(tip_means[k].to_numpy() for k in ("e", "c", "s", "j"))
    values[index] = tip_means["composite"].to_numpy()
    return JudgeGrid(values, cells.sort("e", "c"), judges, groups)


def _cell_means(frame: pl.DataFrame) -> pl.DataFrame:
    """Per cell: mean over scenarios of the tips' means over their judges."""
    return (
        frame.group_by(GROUP, *CELL_KEYS, "scenario_id", "candidate_id")
        .agg(pl.col("composite").mean())
        .group_by(GROUP, *CELL_KEYS, "scenario_id")
        .agg(pl.col("composite").mean())
        .group_by(GROUP, *CELL_KEYS)
        .agg(pl.col("composite").mean().alias("cell_mean"))
        .sort(GROUP, *CELL_KEYS, nulls_last=True)
    )


def pair_slots(n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of cell slots (a < b)."""
    a, b = np.triu_indices(n_cells, k=1)
    return a.astype(np.int64), b.astype(np.int64)


def pair_differences(grid: JudgeGrid) -> PairDiffs:
    """Per-scenario differences on shared judges for every pair of cells of every experiment."""
    n_e, n_c, n_s, n_j = grid.shape
    a, b = pair_slots(n_c)
    present = np.zeros((n_e, n_c), dtype=bool)
    present[grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()] = True
    n_p = len(a)
    diffs = np.full((n_e, n_p, n_s), np.nan)
    n_usable = np.zeros((n_e, n_p), dtype=np.int64)
    n_shared = np.zeros((n_e, n_p), dtype=np.int64)
    common = np.zeros((n_e, n_p, n_j), dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_p * n_s * n_j))
    for start in range(0, n_e, step):
        e = slice(start, start + step)
        va, vb = grid.values[e][:, a], grid.values[e][:, b]  # (E, P, S, J)
        both = ~np.isnan(va) & ~np.isnan(vb)
        judged = np.isfinite(va).any(axis=3) & np.isfinite(vb).any(axis=3)  # (E, P, S)
        count = both.sum(axis=3)
        total = np.where(both, va - vb, 0.0).sum(axis=3)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_scenario = np.where(count > 0, total / count, np.nan)
        order = np.argsort(np.isnan(per_scenario), axis=2, kind="stable")
        diffs[e] = np.take_along_axis(per_scenario, order, axis=2)
        n_usable[e] = (count > 0).sum(axis=2)
        n_shared[e] = judged.sum(axis=2)
        common[e] = both.any(axis=2)
    keep = (present[:, a] & present[:, b]).ravel()
    e_index = np.repeat(np.arange(n_e), n_p)
    return PairDiffs(
        e=e_index[keep],
        a=np.tile(a, n_e)[keep],
        b=np.tile(b, n_e)[keep],
        diffs=diffs.reshape(n_e * n_p, n_s)[keep],
        n_usable=n_usable.ravel()[keep],
        n_shared=n_shared.ravel()[keep],
        common=common.reshape(n_e * n_p, n_j)[keep],
    )
