"""Judge-adjusted cell means: each cell's composite as if every judge of the view had scored it.

A cell's raw mean (:mod:`.leaderboard`) averages whichever judges scored it, so when the cells
rest on different judges (:mod:`.judge_mix`) a harsh judge lowers the cells it scored. This fits
the additive model, on scenario-level means (one row per cell, scenario and judge: the judge's
mean composite of the cell's tips in that scenario)::

    y[c, s, j] = cell[c] + scenario[s] + judge[j] + noise

by least squares, and reports ``cell[c] + mean_s scenario[s] + mean_j judge[j]``: the cell's
composite averaged over the view's judges (each counted once) and the scenarios of the data. A
judge's bias is only learnt from cells it shares with other judges, so a cell's adjusted mean
exists only when it is estimable (the cell, the judges and the scenarios are linked through
shared scores); otherwise it is null and ``judge_adjusted_note`` says why. A sensitivity view
beside the raw mean, like the length-adjusted composite: the comparisons still decide.
``bench/judge_adjusted.py`` measures it on a researcher's design (discrete 1–5 scores, biased
judges assigned unevenly).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scores import CELL_KEYS

ADJUSTED_SCHEMA = {
    "model": pl.String,
    "prompt_version": pl.String,
    "composite_judge_adjusted": pl.Float64,
    "judge_adjusted_note": pl.String,
}
NOT_LINKED = "not estimable: the judges are not linked by cells they both scored"


def judge_adjusted(judge_scores: pl.DataFrame) -> pl.DataFrame:
    """One row per cell: ``composite_judge_adjusted`` (null when not estimable) and a note.

    ``judge_scores`` is :func:`~tipbench_lib.stats.scores.judge_scores`' frame.
    """
    require_columns(
        judge_scores, [*CELL_KEYS, "scenario_id", "judge_id", "composite"], "judge scores"
    )
    y = (
        judge_scores.group_by(*CELL_KEYS, "scenario_id", "judge_id")
        .agg(pl.col("composite").mean())
        .sort(*CELL_KEYS, "scenario_id", "judge_id")
    )
    cells = y.select(CELL_KEYS).unique().sort(*CELL_KEYS)
    if y.height == 0:
        return pl.DataFrame(schema=ADJUSTED_SCHEMA)
    c_idx = y.join(cells.with_row_index("c"), on=list(CELL_KEYS), how="left")["c"].to_numpy()
    scenarios = sorted(set(y["scenario_id"].to_list()))
    judges = sorted(set(y["judge_id"].to_list()))
    s_idx = np.searchsorted(scenarios, y["scenario_id"].to_numpy())
    j_idx = np.searchsorted(judges, y["judge_id"].to_numpy())
    n_c, n_s, n_j = cells.height, len(scenarios), len(judges)
    x = np.zeros((y.height, n_c + n_s + n_j))
    rows = np.arange(y.height)
    x[rows, c_idx] = 1.0
    x[rows, n_c + s_idx] = 1.0
    x[rows, n_c + n_s + j_idx] = 1.0
    # Normal equations: small (cells + scenarios + judges) square, whatever the number of rows;
    # X'X has the row space of X, so estimability is read from it too. The relative cut-off
    # drops the eigenvalues that are zero up to rounding (the model has at least two free
    # directions: a constant moved between cells, scenarios and judges).
    gram = x.T @ x
    inverse = np.linalg.pinv(gram, 1e-10, hermitian=True)
    beta = inverse @ (x.T @ y["composite"].to_numpy())
    # The quantity each cell reports, as a combination of the parameters.
    wanted = np.zeros((n_c, x.shape[1]))
    wanted[np.arange(n_c), np.arange(n_c)] = 1.0
    wanted[:, n_c : n_c + n_s] = 1.0 / n_s
    wanted[:, n_c + n_s :] = 1.0 / n_j
    # Estimable exactly when it lies in the row space of the design.
    projected = wanted @ inverse @ gram
    estimable = np.abs(projected - wanted).max(axis=1) < 1e-6
    values = wanted @ beta
    return cells.with_columns(
        composite_judge_adjusted=pl.Series(np.where(estimable, values, np.nan)).fill_nan(None),
        judge_adjusted_note=pl.Series(np.where(estimable, "", NOT_LINKED), dtype=pl.String),
    ).select(list(ADJUSTED_SCHEMA))
