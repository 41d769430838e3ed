"""Pairs of (model, prompt) cells and their per-scenario differences, as dense arrays.

Pairing happens on shared scenarios after the tips of each scenario are averaged. Pairs with the
same number of shared scenarios are stacked into one (pairs x n) matrix, so every later step
(bootstrap, tests) runs once per distinct n instead of once per pair.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from tipbench_lib.errors import TipbenchError
from tipbench_lib.stats.scores import CELL_KEYS, scenario_means


@dataclass(frozen=True)
class CellMatrix:
    """Composite scenario means, cells x scenarios (NaN where a cell lacks the scenario)."""

    cells: pl.DataFrame
    """model, prompt_version, composite_mean; ordered best first."""
    scenarios: list[str]
    values: np.ndarray


@dataclass(frozen=True)
class PairSet:
    """Which cells are compared: a = cells[a_index], b = cells[b_index]."""

    a_index: np.ndarray
    b_index: np.ndarray
    n_scenarios: np.ndarray


def composite_matrix(scores: pl.DataFrame) -> CellMatrix:
    """Cells ordered by mean composite (best first), so in a pair ``a`` is the higher-ranked one."""
    means = scenario_means(scores)
    cells = (
        means.group_by(*CELL_KEYS)
        .agg(pl.col("composite").mean().alias("composite_mean"))
        .sort("composite_mean", *CELL_KEYS, descending=[True, False, False])
        .with_row_index("cell_index")
    )
    scenarios = sorted(means["scenario_id"].unique().to_list())
    located = means.join(cells, on=list(CELL_KEYS)).join(
        pl.DataFrame({"scenario_id": scenarios}).with_row_index("scenario_index"),
        on="scenario_id",
    )
    values = np.full((cells.height, len(scenarios)), np.nan)
    values[located["cell_index"].to_numpy(), located["scenario_index"].to_numpy()] = located[
        "composite"
    ].to_numpy()
    return CellMatrix(cells.drop("cell_index"), scenarios, values)


def pair_indices(matrix: CellMatrix, baseline: tuple[str, str] | None) -> tuple[np.ndarray, ...]:
    """Every unordered pair (a ranked above b), or every cell against the baseline as b."""
    n = matrix.cells.height
    if baseline is None:
        a, b = np.triu_indices(n, k=1)
        return a, b
    keys = list(zip(matrix.cells["model"], matrix.cells["prompt_version"], strict=True))
    if tuple(baseline) not in keys:
        known = ", ".join(f"{m}/{p}" for m, p in keys[:10])
        raise TipbenchError(
            f"baseline {baseline[0]}/{baseline[1]} is not a (model, prompt) cell with scores; "
            f"pick one of: {known}{' ...' if len(keys) > 10 else ''}"
        )
    base = keys.index(tuple(baseline))
    others = np.array([i for i in range(n) if i != base], dtype=np.int64)
    return others, np.full(others.size, base, dtype=np.int64)


def pair_set(matrix: CellMatrix, baseline: tuple[str, str] | None) -> PairSet:
    a, b = pair_indices(matrix, baseline)
    present = ~np.isnan(matrix.values)
    shared = (present[a] & present[b]).sum(axis=1)
    return PairSet(a, b, shared)


def grouped_differences(
    matrix: CellMatrix, pairs: PairSet
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(n, pair rows, differences a - b on their n shared scenarios), one group per distinct n.

    Shared scenarios are moved to the front of each row; which columns they came from does not
    matter to a resample or a sign flip, only how many there are.
    """
    diffs = matrix.values[pairs.a_index] - matrix.values[pairs.b_index]
    order = np.argsort(np.isnan(diffs), axis=1, kind="stable")
    packed = np.take_along_axis(diffs, order, axis=1)
    for n in np.unique(pairs.n_scenarios):
        rows = np.flatnonzero(pairs.n_scenarios == n)
        yield int(n), rows, packed[rows, : int(n)]


def pair_labels(matrix: CellMatrix, pairs: PairSet) -> pl.DataFrame:
    """a_model, a_prompt, b_model, b_prompt, n_scenarios for each pair, in pair order."""
    model = matrix.cells["model"].to_numpy()
    prompt = matrix.cells["prompt_version"].to_numpy()
    return pl.DataFrame(
        {
            "a_model": model[pairs.a_index],
            "a_prompt": prompt[pairs.a_index],
            "b_model": model[pairs.b_index],
            "b_prompt": prompt[pairs.b_index],
            "n_scenarios": pairs.n_scenarios.astype(np.int64),
        },
        schema={
            "a_model": pl.String,
            "a_prompt": pl.String,
            "b_model": pl.String,
            "b_prompt": pl.String,
            "n_scenarios": pl.Int64,
        },
    )
