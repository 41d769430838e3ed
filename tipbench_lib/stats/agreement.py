"""How far judges agree: among judges (Krippendorff's alpha) and LLM judge against people.

Krippendorff's alpha is computed here, vectorised, and held equal to the ``krippendorff`` package
by the tests; missing values (a judge who skipped a candidate) are simply absent from the pairs.
The rubric's dimensions are ordinal (on the rubric's scale), so that is the level used among
judges. For the LLM-versus-people comparison each side may be several judges; their mean is no
longer on the rubric's grid, so that alpha is at the interval level.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats as sps

from tipbench_lib.core.judgments import latest_judgments
from tipbench_lib.core.schema import PEOPLE_KINDS, require_columns
from tipbench_lib.stats.scale import ScoreScale, scale_of

AGREEMENT_SCHEMA = {
    "dimension": pl.String,
    "alpha": pl.Float64,
    "n_items": pl.Int64,
    "n_judges": pl.Int64,
}
LLM_VS_HUMAN_SCHEMA = {
    "dimension": pl.String,
    "n_items": pl.Int64,
    "alpha": pl.Float64,
    "mean_diff": pl.Float64,
    "spearman": pl.Float64,
}


def krippendorff_alpha(
    reliability: np.ndarray, level: str = "ordinal", domain: np.ndarray | None = None
) -> float:
    """Krippendorff's alpha of a (judges x items) array with NaN for missing scores.

    The same coincidence-matrix formula as the ``krippendorff`` package (tests hold the two
    equal), written as a few matrix products: the package takes minutes for the 25,000 items of
    a large benchmark. ``level`` is "ordinal" or "interval"; ``domain`` lists the possible values
    (ordinal distances count the values in between, including ones nobody used). NaN when
    undefined: fewer than two pairable values, or every value the same.
    """
    if level not in ("ordinal", "interval"):
        raise ValueError(f"level {level!r} is not supported; use 'ordinal' or 'interval'")
    values = np.asarray(reliability, dtype=float)
    present = ~np.isnan(values)
    pairable = present.sum(axis=0) >= 2
    values, present = values[:, pairable], present[:, pairable]
    if values.size == 0 or not present.any():
        return float("nan")
    if level == "interval":
        return _interval_alpha(values, present)
    scale = np.unique(values[present]) if domain is None else np.asarray(domain, dtype=float)
    if not np.isin(values[present], scale).all():
        raise ValueError(f"scores outside the value domain {scale.tolist()}")
    index = np.searchsorted(scale, np.where(present, values, scale[0]))
    n_items, n_values = values.shape[1], len(scale)
    items = np.broadcast_to(np.arange(n_items), values.shape)
    counts = (
        np.bincount((items * n_values + index)[present], minlength=n_items * n_values)
        .reshape(n_items, n_values)
        .astype(float)
    )
    weight = 1.0 / (counts.sum(axis=1) - 1)
    coincidence = counts.T @ (counts * weight[:, None]) - np.diag(counts.T @ weight)
    totals = coincidence.sum(axis=1)
    distance = _ordinal_distance(totals)
    expected = np.outer(totals, totals)
    denominator = (expected * distance).sum()
    if denominator == 0:
        return float("nan")
    return float(1 - (totals.sum() - 1) * (coincidence * distance).sum() / denominator)


def within_scenario_alpha(
    mine: np.ndarray, reference: np.ndarray, scenario: np.ndarray
) -> tuple[float, int]:
    """Interval alpha of two judges' scores of the same tips, each centred within scenario.

    ``mine`` and ``reference`` are per tip (NaN where that side did not score it), ``scenario``
    the tip's scenario code. Over the tips both scored, each side's mean per scenario is taken
    away before alpha is computed, so what is left is what the paired verdicts compare: how a
    judge orders the tips *of one scenario*. A judge's constant leniency and everything the
    judges agree on about scenarios as a whole are gone. Scenarios with fewer than two such tips
    say nothing about that and are left out. Returns (alpha, tips used); alpha is NaN when
    undefined (no spread, or no scenario with two tips).
    """
    mine, reference = np.asarray(mine, dtype=float), np.asarray(reference, dtype=float)
    both = ~np.isnan(mine) & ~np.isnan(reference)
    codes = np.unique(np.asarray(scenario)[both], return_inverse=True)[1]
    counts = np.bincount(codes)
    kept = counts[codes] >= 2
    if not kept.any():
        return float("nan"), 0
    codes = np.unique(codes[kept], return_inverse=True)[1]
    sides = np.vstack([mine[both][kept], reference[both][kept]])
    sums = np.stack([np.bincount(codes, weights=side) for side in sides])
    centred = sides - (sums / np.bincount(codes))[:, codes]
    return krippendorff_alpha(centred, "interval"), int(kept.sum())


def _interval_alpha(values: np.ndarray, present: np.ndarray) -> float:
    """Interval alpha from sums of squares: no values x values matrix for continuous scores.

    Over the pairs of one item, the sum of squared differences is 2 (m sum v^2 - (sum v)^2);
    observed and expected disagreement are both such sums, so the coincidence matrix cancels.
    """
    m = present.sum(axis=0).astype(float)
    v = np.where(present, values, 0.0)
    s1, s2 = v.sum(axis=0), (v * v).sum(axis=0)
    within = ((m * s2 - s1**2) / (m - 1)).sum()
    n = m.sum()
    total = n * s2.sum() - s1.sum() ** 2
    if total <= 0:
        return float("nan")
    return float(1 - (n - 1) * within / total)


def _ordinal_distance(totals: np.ndarray) -> np.ndarray:
    """Squared ordinal distance: how many values lie between two, counting half of each end."""
    cumulative = np.concatenate([[0.0], np.cumsum(totals)])
    positions = np.arange(len(totals))
    low, high = np.minimum.outer(positions, positions), np.maximum.outer(positions, positions)
    between = cumulative[high + 1] - cumulative[low]
    return (between - (totals[:, None] + totals[None, :]) / 2) ** 2


def _reliability_matrix(scored: pl.DataFrame, column: str) -> np.ndarray:
    """(judges x candidates) scores with NaN where a judge did not score a candidate."""
    coded = scored.with_columns(
        (pl.col("judge_id").rank("dense").cast(pl.Int64) - 1).alias("_j"),
        (pl.col("candidate_id").rank("dense").cast(pl.Int64) - 1).alias("_c"),
    )
    if coded.height == 0:
        return np.empty((0, 0))
    matrix = np.full((coded["_j"].max() + 1, coded["_c"].max() + 1), np.nan)
    matrix[coded["_j"].to_numpy(), coded["_c"].to_numpy()] = (
        coded[column].cast(pl.Float64).to_numpy()
    )
    return matrix


def judge_agreement(judgments: pl.DataFrame, scale: ScoreScale | None = None) -> pl.DataFrame:
    """Ordinal alpha per dimension of the rubric (``scale``: the experiment's; default the one
    the judgments name) over the candidates that two or more judges scored."""
    scale = scale or scale_of(judgments)
    require_columns(judgments, ["candidate_id", "judge_id", *scale.dimensions], "judgments")
    latest = latest_judgments(judgments)
    if latest["judge_id"].n_unique() < 2:
        return pl.DataFrame(schema=AGREEMENT_SCHEMA)
    rows = []
    for dimension in scale.dimensions:
        scored = latest.filter(pl.col(dimension).is_not_null())
        shared = scored.filter(pl.col("judge_id").count().over("candidate_id") >= 2)
        matrix = _reliability_matrix(shared, dimension)
        rows.append(
            {
                "dimension": dimension,
                "alpha": krippendorff_alpha(matrix, "ordinal", scale.values),
                "n_items": shared["candidate_id"].n_unique(),
                "n_judges": shared["judge_id"].n_unique(),
            }
        )
    return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA).with_columns(pl.col("alpha").fill_nan(None))


def llm_vs_human(judgments: pl.DataFrame, scale: ScoreScale | None = None) -> pl.DataFrame:
    """Per dimension and composite, on candidates scored by both an LLM and a person."""
    scale = scale or scale_of(judgments)
    require_columns(
        judgments,
        ["candidate_id", "judge_id", "judge_kind", *scale.dimensions, "composite"],
        "judgments",
    )
    measures = [*scale.dimensions, "composite"]
    side = (
        latest_judgments(judgments)
        .with_columns(
            pl.when(pl.col("judge_kind") == "llm")
            .then(pl.lit("llm"))
            .when(pl.col("judge_kind").is_in(PEOPLE_KINDS))
            .then(pl.lit("human"))
            .otherwise(None)
            .alias("side")
        )
        .filter(pl.col("side").is_not_null())
        .group_by("candidate_id", "side")
        .agg(*(pl.col(m).cast(pl.Float64).mean() for m in measures))
    )
    llm = side.filter(pl.col("side") == "llm").drop("side")
    human = side.filter(pl.col("side") == "human").drop("side")
    both = llm.join(human, on="candidate_id", suffix="_human").sort("candidate_id")
    rows = []
    for measure in measures:
        pair = both.select(measure, f"{measure}_human").drop_nulls().to_numpy().astype(float)
        rows.append(_llm_row(measure, pair))
    return pl.DataFrame(rows, schema=LLM_VS_HUMAN_SCHEMA).with_columns(
        pl.col("alpha", "mean_diff", "spearman").fill_nan(None)
    )


def _llm_row(measure: str, pair: np.ndarray) -> dict[str, object]:
    """One measure's agreement; pair is (items, [llm, human])."""
    n = len(pair)
    spearman = float("nan")
    if n >= 3 and np.ptp(pair[:, 0]) > 0 and np.ptp(pair[:, 1]) > 0:
        spearman = float(sps.spearmanr(pair[:, 0], pair[:, 1]).statistic)
    return {
        "dimension": measure,
        "n_items": n,
        "alpha": krippendorff_alpha(pair.T, "interval") if n else float("nan"),
        "mean_diff": float(np.mean(pair[:, 0] - pair[:, 1])) if n else float("nan"),
        "spearman": spearman,
    }
