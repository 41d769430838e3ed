"""What sits beside quality: tip length, speed, and the quality/latency trade-off."""

from __future__ import annotations

import numpy as np
import polars as pl

from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scores import CELL_KEYS


def length_effect(scores: pl.DataFrame) -> pl.DataFrame:
    """Does a cell score higher when its tips are longer? A verbose winner shows up here.

    ``slope`` is the least-squares change in composite per 100 characters (per character would be
    an unreadably small number); both it and ``spearman`` are null when a cell's lengths or scores
    do not vary.
    """
    require_columns(scores, [*CELL_KEYS, "composite", "char_count"], "scores")
    chars = pl.col("char_count").cast(pl.Float64)
    composite = pl.col("composite")
    slope = 100 * pl.cov(composite, chars) / chars.var()
    return (
        scores.group_by(*CELL_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.corr(composite, chars, method="spearman").alias("spearman"),
            slope.alias("slope"),
        )
        .with_columns(pl.col("spearman", "slope").fill_nan(None))
        .with_columns(
            pl.when(pl.col("slope").is_infinite())
            .then(None)
            .otherwise(pl.col("slope"))
            .alias("slope")
        )
        .sort(*CELL_KEYS)
        .select(*CELL_KEYS, "spearman", "slope", "n")
    )


def speed_by_model(candidates: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """Per model: generation speed, latency (median and 95th percentile) and load time.

    Load time is a per-model cost paid once per run, recorded per cell when ``cells`` has a
    ``load_s`` column; its median over the model's cells is reported, else null.
    """
    require_columns(candidates, ["cell_id", "latency_s", "tokens_per_s"], "candidates")
    require_columns(cells, ["cell_id", "model"], "cells")
    joined = candidates.join(cells.select("cell_id", "model"), on="cell_id", how="inner")
    speed = (
        joined.group_by("model")
        .agg(
            pl.len().cast(pl.Int64).alias("n"),
            pl.col("tokens_per_s").cast(pl.Float64).median().alias("tokens_per_s_median"),
            pl.col("latency_s").cast(pl.Float64).median().alias("latency_s_median"),
            pl.col("latency_s").cast(pl.Float64).quantile(0.95, "linear").alias("latency_s_p95"),
        )
        .sort("model")
    )
    if "load_s" in cells.columns:
        load = cells.group_by("model").agg(pl.col("load_s").cast(pl.Float64).median())
        return speed.join(load, on="model", how="left")
    return speed.with_columns(pl.lit(None, dtype=pl.Float64).alias("load_s"))


def pareto_front(leaderboard: pl.DataFrame, speed: pl.DataFrame) -> pl.DataFrame:
    """Every leaderboard row with its model's median latency and ``pareto`` = not dominated.

    A row is dominated when another is at least as good on composite and at least as fast, and
    strictly better on one of them. Rows without a latency are never on the front. All rows are
    returned so a chart can draw the others too; filter on ``pareto`` for the front alone.
    """
    require_columns(leaderboard, [*CELL_KEYS, "composite_mean"], "leaderboard")
    require_columns(speed, ["model", "latency_s_median"], "speed")
    frame = leaderboard.join(speed.select("model", "latency_s_median"), on="model", how="left")
    quality = frame["composite_mean"].fill_null(np.nan).to_numpy().astype(float)
    latency = frame["latency_s_median"].fill_null(np.nan).to_numpy().astype(float)
    known = ~np.isnan(quality) & ~np.isnan(latency)
    q, lat = quality[:, None], latency[:, None]
    no_worse = (quality[None, :] >= q) & (latency[None, :] <= lat)
    strictly = (quality[None, :] > q) | (latency[None, :] < lat)
    dominated = (no_worse & strictly & known[None, :]).any(axis=1)
    return frame.with_columns(pl.Series("pareto", known & ~dominated, dtype=pl.Boolean))
