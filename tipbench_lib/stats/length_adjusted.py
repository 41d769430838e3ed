"""The length-adjusted composite: what each cell would score if its tips were of average length.

Judges (people and LLMs alike) tend to reward longer answers (Chatbot Arena's length bias, the
length-controlled win rate of AlpacaEval 2), so a cell can lead because its prompt makes the model
write more rather than better. This is a sensitivity view beside the raw leaderboard, not a
replacement for it: if the ranking survives the adjustment, length is not what carries it.

The model, fitted per judge on that judge's judgments (one row per judged tip)::

    composite = scenario effect + cell effect + gamma * length_term + error

- Scenario effects absorb how easy each scenario is, cell effects what each (model, prompt) is
  worth, so ``gamma`` is learnt only from length differences *within* a scenario and a cell: a
  cell that is both better and longer does not make length look good.
- ``gamma`` is the judge's verbosity slope, in composite points per standard deviation of the
  length term. Per judge, because judges differ in how much they like length, and a pooled slope
  would mix a length-loving judge with an indifferent one.
- Standard errors are cluster-robust over scenarios (CR1, the correction statsmodels uses), with
  a t interval on (scenarios - 1) degrees of freedom: tips of one scenario share its context, so
  they are not independent, and with 6-24 scenarios the normal quantile would be too narrow.

The length term is ``clip((log(1 + chars) - m) / s, -3, 3)`` with ``m`` and ``s`` the mean and
standard deviation of ``log(1 + chars)`` over the distinct tips of the input. Why:

- log, because an extra sentence matters more to a 60-character tip than to a 400-character one,
  and because lengths are right-skewed (a model that rambles writes 2,000 characters), which on
  a linear scale would let a handful of runaways set the slope; ``1 +`` keeps an empty tip finite;
- standardised over the tips of the view (shared by every judge), so "per SD" is one unit for all
  judges and their slopes compare;
- clipped at 3 SD, so no single tip has unbounded leverage on the slope (a bounded influence).

A cell's length-adjusted composite is its raw mean minus ``gamma`` times how far its mean length
term lies from the view's (``raw - gamma * (cell_term - view_term)``): the cell's score with its
length effect moved to the overall mean length. Pooled over judges, raw and adjusted composites
are the plain means of the per-judge values, each judge weighing the same (a judge whose slope
cannot be estimated is left out of the pooled rows and says why in ``slopes.note``).

Where this view sits in the compare phase: ``docs/architecture.md`` section 8, "Length".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

import numpy as np
import polars as pl
from scipy import linalg
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scores import CELL_KEYS, Selection, judge_scores

INPUT_COLUMNS: tuple[str, ...] = (
    "judge_id",
    "model",
    "prompt_version",
    "scenario_id",
    "candidate_id",
    "char_count",
    "composite",
)
"""What :func:`length_adjusted` needs, one row per (judge, judged tip) (:func:`judgment_scores`)."""

LENGTH_CLIP = 3.0
"""The length term is clipped to ±3 SD: a runaway tip may not set the slope alone."""
FEW_SCENARIOS = 10
"""Below this many scenarios the cluster-robust interval rests on few clusters; it is marked."""

SLOPE_COLUMNS: tuple[str, ...] = (
    "judge_id",
    "gamma",
    "gamma_se",
    "gamma_lo",
    "gamma_hi",
    "p_value",
    "df",
    "n_tips",
    "n_scenarios",
    "n_cells",
    "pooled",
    "note",
)
CELL_COLUMNS: tuple[str, ...] = (
    "judge_id",
    "pooled",
    "model",
    "prompt_version",
    "n_judges",
    "n_tips",
    "n_scenarios",
    "mean_chars",
    "length_term",
    "composite_raw",
    "composite_adjusted",
    "adjustment",
    "rank_raw",
    "rank_adjusted",
)


@dataclass(frozen=True)
class LengthScale:
    """How characters become the bounded, standardised length term (one scale per view)."""

    log_mean: float
    log_sd: float

    @classmethod
    def of(cls, char_count: np.ndarray) -> LengthScale:
        logs = np.log1p(np.asarray(char_count, dtype=float))
        sd = float(logs.std(ddof=1)) if logs.size > 1 else 0.0
        return cls(float(logs.mean()) if logs.size else 0.0, sd)

    def term(self, char_count: np.ndarray) -> np.ndarray:
        """``clip(z of log(1 + chars), -3, 3)``; all zeros when lengths do not vary."""
        logs = np.log1p(np.asarray(char_count, dtype=float))
        if not self.log_sd > 0:
            return np.zeros_like(logs)
        return np.clip((logs - self.log_mean) / self.log_sd, -LENGTH_CLIP, LENGTH_CLIP)


@dataclass(frozen=True)
class LengthAdjusted:
    """The fit's two tables, and the scale and level they were computed with.

    ``slopes``, one row per judge: ``gamma`` (composite points per SD of the length term),
    ``gamma_se`` (cluster-robust over scenarios), ``gamma_lo``/``gamma_hi`` (the 1 - alpha t
    interval), ``p_value`` (two-sided, gamma = 0), ``df`` (scenarios - 1), ``n_tips``,
    ``n_scenarios``, ``n_cells``, ``pooled`` (whether the judge enters the pooled rows) and
    ``note`` (empty, or why the slope is missing or its interval approximate).

    ``cells``, one row per (judge, cell) and one pooled row per cell (``judge_id`` null,
    ``pooled`` true): ``n_judges``, ``n_tips``, ``n_scenarios``, ``mean_chars``, ``length_term``
    (the cell's mean length term), ``composite_raw``, ``composite_adjusted``, ``adjustment``
    (adjusted - raw) and ``rank_raw``/``rank_adjusted`` (1 = best, within the judge or the
    pooled rows). Sorted pooled rows first, then by judge, best adjusted first.
    """

    slopes: pl.DataFrame
    cells: pl.DataFrame
    scale: LengthScale
    alpha: float


@dataclass(frozen=True)
class _Fit:
    gamma: float
    se: float
    df: int
    note: str


def judgment_scores(
    cells: pl.DataFrame,
    candidates: pl.DataFrame,
    judgments: pl.DataFrame,
    **selection: Unpack[Selection],
) -> pl.DataFrame:
    """One row per (judge, judged tip) with the columns :func:`length_adjusted` needs.

    Unlike :func:`tipbench_lib.stats.score_table`, judges are not averaged: the length effect is
    a judge's own. The rows are :func:`tipbench_lib.stats.judge_scores`' (what a score is is
    decided there: a judge's latest judgment, no score from a failed one, the rubric's
    composite), with each tip's length beside them.
    """
    per_judge = judge_scores(cells, candidates, judgments, **selection)
    lengths = candidates.select(
        "candidate_id", pl.col("text").str.len_chars().cast(pl.Int64).alias("char_count")
    )
    return (
        per_judge.join(lengths, on="candidate_id", how="inner")
        .select(*INPUT_COLUMNS)
        .sort("judge_id", *CELL_KEYS, "scenario_id", "candidate_id")
    )


def length_adjusted(scores_per_judge: pl.DataFrame, *, alpha: float = 0.05) -> LengthAdjusted:
    """Each judge's verbosity slope, and every cell's composite with and without it.

    ``scores_per_judge`` holds one row per (judge, judged tip) with the columns in
    :data:`INPUT_COLUMNS` (:func:`judgment_scores` builds it from the three frames); rows without
    a composite or a character count are not scores and are left out. See the module docstring
    for the model, the length term and why.
    """
    require_columns(scores_per_judge, INPUT_COLUMNS, "scores per judge")
    if not 0 < alpha < 1:
        raise TipbenchError(f"alpha must be between 0 and 1, got {alpha}")
    rows = scores_per_judge.select(INPUT_COLUMNS).drop_nulls(["composite", "char_count"])
    _refuse_duplicates(rows)
    tips = rows.unique("candidate_id", keep="first")
    scale = LengthScale.of(tips["char_count"].to_numpy())
    reference = float(scale.term(tips["char_count"].to_numpy()).mean()) if tips.height else 0.0
    rows = rows.with_columns(
        pl.Series("length_term", scale.term(rows["char_count"].to_numpy())),
        pl.col("composite").cast(pl.Float64),
    )
    slopes = []
    per_judge = []
    for judge_id, judge_rows in rows.partition_by("judge_id", as_dict=True).items():
        fit = _fit_judge(judge_rows)
        slopes.append(_slope_row(judge_id[0], judge_rows, fit, alpha))
        per_judge.append(
            _judge_cells(judge_rows, fit.gamma, reference).with_columns(
                pl.lit(judge_id[0], pl.String).alias("judge_id")
            )
        )
    slope_frame = _slope_frame(slopes)
    cell_frame = _cell_frame(per_judge, slope_frame)
    return LengthAdjusted(slope_frame, cell_frame, scale, alpha)


def _refuse_duplicates(rows: pl.DataFrame) -> None:
    twice = rows.group_by("judge_id", "candidate_id").len().filter(pl.col("len") > 1)
    if twice.height:
        first = twice.row(0, named=True)
        raise TipbenchError(
            f"judge {first['judge_id']!r} has {first['len']} rows for candidate "
            f"{first['candidate_id']!r} ({twice.height} such pair(s)); the fit needs one "
            "judgment per judge and tip: build the frame with "
            "tipbench_lib.stats.length_adjusted.judgment_scores, which keeps the latest"
        )


def _codes(rows: pl.DataFrame, *columns: str) -> tuple[np.ndarray, int]:
    """Dense integer codes 0..k-1 of the distinct values of ``columns``, and k."""
    ranks = rows.select(pl.struct(columns).rank("dense").cast(pl.Int64)).to_series()
    codes = ranks.to_numpy() - 1
    return codes, int(codes.max()) + 1 if codes.size else 0


def _fit_judge(rows: pl.DataFrame) -> _Fit:
    """OLS of composite on scenario and cell effects plus gamma * length, CR1 over scenarios.

    No dummy matrix is built: the normal equations come from counts (np.bincount), and the
    scenario effects, whose block is diagonal, are eliminated exactly (a Schur complement), so a
    judge with 25,000 tips in 100 cells and 50 scenarios costs one 100 x 100 solve.
    """
    y = rows["composite"].to_numpy().astype(float)
    x = rows["length_term"].to_numpy().astype(float)
    s, n_s = _codes(rows, "scenario_id")
    c, n_c = _codes(rows, *CELL_KEYS)
    n = y.size
    if n_s < 2:
        return _Fit(np.nan, np.nan, 0, "needs two or more scenarios")
    # Z = [one dummy per cell but the first, length]; S = scenario dummies, S'S = diag(per_s).
    per_s = np.bincount(s, minlength=n_s).astype(float)
    per_c = np.bincount(c, minlength=n_c).astype(float)
    s_z = np.zeros((n_s, n_c))  # S'Z
    s_z[:, :-1] = np.bincount(s * n_c + c, minlength=n_s * n_c).reshape(n_s, n_c)[:, 1:]
    s_z[:, -1] = np.bincount(s, x, n_s)
    z_z = np.diag(np.append(per_c[1:], x @ x))  # Z'Z
    z_z[:-1, -1] = z_z[-1, :-1] = np.bincount(c, x, n_c)[1:]
    z_y = np.append(np.bincount(c, y, n_c)[1:], x @ y)
    s_y = np.bincount(s, y, n_s)
    reduced = z_z - s_z.T @ (s_z / per_s[:, None])  # Z'Z - Z'S (S'S)^-1 S'Z
    solved = _solve_symmetric(reduced, z_y - s_z.T @ (s_y / per_s))
    if solved is None:
        return _Fit(np.nan, np.nan, n_s - 1, "length does not vary within scenarios and cells")
    theta, gamma_row, rank_z = solved
    scenario_effect = (s_y - s_z @ theta) / per_s

    def per_row(v: np.ndarray) -> np.ndarray:  # Z v, row by row
        return np.append(0.0, v[:-1])[c] + v[-1] * x

    residual = y - scenario_effect[s] - per_row(theta)
    # gamma_hat = sum(weight * y): the gamma row of the inverse, scenario means taken out (FWL).
    weight = per_row(gamma_row)
    weight -= (np.bincount(s, weight, n_s) / per_s)[s]
    rank = n_s + rank_z
    if n <= rank:
        return _Fit(float(theta[-1]), np.nan, n_s - 1, "as many parameters as tips: no error left")
    score = np.bincount(s, weight * residual, n_s)
    correction = n_s / (n_s - 1) * (n - 1) / (n - rank)
    se = float(np.sqrt(correction * score @ score))
    note = f"only {n_s} scenarios: the interval is approximate" if n_s < FEW_SCENARIOS else ""
    return _Fit(float(theta[-1]), se, n_s - 1, note)


def _solve_symmetric(
    matrix: np.ndarray, rhs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``matrix⁺ rhs``, the last row of ``matrix⁺`` (gamma's) and the rank; None if gamma is
    not identified.

    Cholesky first: it is the common case (every cell shares scenarios with the others) and
    takes well under a millisecond. A singular matrix (cells in disjoint sets of scenarios)
    falls back to a symmetric eigendecomposition, whose null space also tells whether gamma is
    identified at all. The ``evd`` driver, because the default one is 4x slower when BLAS
    threads compete for a busy machine's cores.
    """
    size = len(matrix)
    last = np.eye(size)[-1]
    try:
        factor = linalg.cho_factor(matrix)
        pivots = np.diag(factor[0]) ** 2
        if pivots.min() > pivots.max() * 1e-10:
            solved = linalg.cho_solve(factor, np.column_stack([rhs, last]))
            return solved[:, 0], solved[:, 1], size
    except linalg.LinAlgError:
        pass
    values, vectors = linalg.eigh(matrix, driver="evd")
    kept = values > values.max() * 1e-10
    if np.sum(vectors[-1, ~kept] ** 2) > 1e-8:
        return None
    inverse = (vectors[:, kept] / values[kept]) @ vectors[:, kept].T
    return inverse @ rhs, inverse[-1], int(kept.sum())


def _slope_row(judge_id: str, rows: pl.DataFrame, fit: _Fit, alpha: float) -> dict:
    half = lo = hi = p_value = None
    if np.isfinite(fit.se) and fit.df > 0:
        half = float(sps.t.ppf(1 - alpha / 2, fit.df)) * fit.se
        lo, hi = fit.gamma - half, fit.gamma + half
        p_value = float(2 * sps.t.sf(abs(fit.gamma) / fit.se, fit.df)) if fit.se > 0 else None
    gamma = fit.gamma if np.isfinite(fit.gamma) else None
    return {
        "judge_id": judge_id,
        "gamma": gamma,
        "gamma_se": fit.se if np.isfinite(fit.se) else None,
        "gamma_lo": lo,
        "gamma_hi": hi,
        "p_value": p_value,
        "df": fit.df,
        "n_tips": rows.height,
        "n_scenarios": rows["scenario_id"].n_unique(),
        "n_cells": rows.select(CELL_KEYS).n_unique(),
        "pooled": gamma is not None,
        "note": fit.note,
    }


def _slope_frame(slopes: list[dict]) -> pl.DataFrame:
    schema = {
        "judge_id": pl.String,
        "gamma": pl.Float64,
        "gamma_se": pl.Float64,
        "gamma_lo": pl.Float64,
        "gamma_hi": pl.Float64,
        "p_value": pl.Float64,
        "df": pl.Int64,
        "n_tips": pl.Int64,
        "n_scenarios": pl.Int64,
        "n_cells": pl.Int64,
        "pooled": pl.Boolean,
        "note": pl.String,
    }
    return pl.DataFrame(slopes, schema=schema, orient="row").sort("judge_id").select(SLOPE_COLUMNS)


def _judge_cells(rows: pl.DataFrame, gamma: float, reference: float) -> pl.DataFrame:
    """Per cell: raw mean and the mean with the length effect moved to the reference length."""
    per_cell = rows.group_by(*CELL_KEYS).agg(
        pl.len().cast(pl.Int64).alias("n_tips"),
        pl.col("scenario_id").n_unique().cast(pl.Int64).alias("n_scenarios"),
        pl.col("char_count").cast(pl.Float64).mean().alias("mean_chars"),
        pl.col("length_term").mean(),
        pl.col("composite").mean().alias("composite_raw"),
    )
    adjusted = (
        pl.col("composite_raw") - gamma * (pl.col("length_term") - reference)
        if np.isfinite(gamma)
        else pl.lit(None, pl.Float64)
    )
    return per_cell.with_columns(
        adjusted.alias("composite_adjusted"), pl.lit(1, pl.Int64).alias("n_judges")
    )


def _cell_frame(per_judge: list[pl.DataFrame], slopes: pl.DataFrame) -> pl.DataFrame:
    if not per_judge:
        return pl.DataFrame(schema=_empty_cell_schema())
    judged = pl.concat(per_judge, how="vertical_relaxed").with_columns(
        pl.lit(False).alias("pooled")
    )
    usable = slopes.filter(pl.col("pooled"))["judge_id"].implode()
    pooled = (
        judged.filter(pl.col("judge_id").is_in(usable))
        .group_by(*CELL_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n_judges"),
            pl.col("n_tips").sum(),
            pl.col("n_scenarios").max(),
            pl.col("mean_chars").mean(),
            pl.col("length_term").mean(),
            pl.col("composite_raw").mean(),
            pl.col("composite_adjusted").mean(),
        )
        .with_columns(pl.lit(None, pl.String).alias("judge_id"), pl.lit(True).alias("pooled"))
    )
    both = pl.concat([pooled.select(judged.columns), judged], how="vertical_relaxed")
    group = [pl.col("pooled"), pl.col("judge_id")]
    return (
        both.with_columns(
            (pl.col("composite_adjusted") - pl.col("composite_raw")).alias("adjustment"),
            pl.col("composite_raw")
            .rank("min", descending=True)
            .over(group)
            .cast(pl.Int64)
            .alias("rank_raw"),
            pl.col("composite_adjusted")
            .rank("min", descending=True)
            .over(group)
            .cast(pl.Int64)
            .alias("rank_adjusted"),
        )
        .sort(
            ["pooled", "judge_id", "composite_adjusted", *CELL_KEYS],
            descending=[True, False, True, False, False],
            nulls_last=True,
        )
        .select(CELL_COLUMNS)
    )


def _empty_cell_schema() -> dict[str, pl.DataType]:
    ints = ("n_judges", "n_tips", "n_scenarios", "rank_raw", "rank_adjusted")
    strings = ("judge_id", "model", "prompt_version")
    schema: dict[str, pl.DataType] = {}
    for name in CELL_COLUMNS:
        if name in strings:
            schema[name] = pl.String()
        elif name in ints:
            schema[name] = pl.Int64()
        elif name == "pooled":
            schema[name] = pl.Boolean()
        else:
            schema[name] = pl.Float64()
    return schema
