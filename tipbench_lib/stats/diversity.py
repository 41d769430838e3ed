"""How much a cell's tips differ from each other: distinct-2, per scenario, beside quality.

A prompt can make a model answer every seed with the same tip. Its quality scores may still be
good (the one tip is fine), so the leaderboard alone hides it, yet the user of the app would read
the same tip over and over. The figure shown beside quality is **distinct-2** (Li et al., 2016):
the unique word bigrams of a scenario's K tips over all their bigrams, so 1.0 when no pair of
words comes twice and 1/K when the K tips are one tip repeated. It is computed **per scenario**
(the K tips a model wrote for one situation, which should differ) and then averaged over the
scenarios, like every other figure of a cell (the scenario is the unit, ``docs/architecture.md``
section 8): pooling all scenarios would count two scenarios' tips sharing "your calendar" as
repetition. Beside it, ``near_repeat_share`` is the share of tips that nearly repeat an earlier tip
of their scenario (word-bigram Jaccard of 0.8 or more, the rule ``--diversity`` enforces at
collect), and ``distinct_2_min`` the worst scenario, where a prompt that repeats itself only in
some situations shows.

Words and bigrams are those of :mod:`tipbench_lib.core.bigrams` (case-folded, punctuation
dropped), so this measures exactly what ``--diversity`` prevents. The figures are descriptive:
distinct-2 falls as K grows and rises for shorter tips, so compare cells with the same number of
tips per scenario (one experiment's cells have it) and read it with the tip length beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tipbench_lib.core.bigrams import bigram_list, distinct_ratio
from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scores import CELL_KEYS

SCENARIO_COLUMNS: tuple[str, ...] = (
    *CELL_KEYS,
    "scenario_id",
    "n_tips",
    "distinct_2",
    "near_repeat_share",
)
""":func:`scenario_diversity`'s columns."""
DIVERSITY_COLUMNS: tuple[str, ...] = (
    *CELL_KEYS,
    "n_scenarios",
    "distinct_2",
    "distinct_2_min",
    "near_repeat_share",
)
""":func:`cell_diversity`'s columns: a row per (model, prompt) cell, keyed like the leaderboard."""


def distinct_2(texts: Sequence[str]) -> float | None:
    """Unique word bigrams over all word bigrams of ``texts``; None when they hold no bigram."""
    pairs = [pair for text in texts for pair in bigram_list(text)]
    return len(set(pairs)) / len(pairs) if pairs else None


def scenario_diversity(candidates: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """One row per (model, prompt, scenario): its tips' distinct-2 and near-repeat share.

    ``candidates`` and ``cells`` are the experiment's frames (:mod:`tipbench_lib.core.schema`);
    every candidate counts, judged or not, since diversity is a property of what was generated.
    """
    require_columns(candidates, ["cell_id", "sample_index", "text"], "candidates")
    require_columns(cells, ["cell_id", *CELL_KEYS, "scenario_id"], "cells")
    keys = [*CELL_KEYS, "scenario_id"]
    grouped = (
        candidates.join(cells.select("cell_id", *keys), on="cell_id", how="inner")
        .sort(*keys, "sample_index", "cell_id")
        .group_by(keys, maintain_order=True)
        .agg(pl.col("text"))
    )
    rows = []
    for row in grouped.iter_rows(named=True):
        texts = [t or "" for t in row["text"]]
        rows.append(
            {
                **{k: row[k] for k in keys},
                "n_tips": len(texts),
                "distinct_2": distinct_2(texts),
                "near_repeat_share": 1.0 - distinct_ratio(texts),
            }
        )
    schema = {
        **{k: pl.String() for k in keys},
        "n_tips": pl.Int64(),
        "distinct_2": pl.Float64(),
        "near_repeat_share": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=schema).select(SCENARIO_COLUMNS)


def cell_diversity(candidates: pl.DataFrame, cells: pl.DataFrame) -> pl.DataFrame:
    """One row per (model, prompt) cell: its scenarios' mean distinct-2, the lowest, and the mean
    near-repeat share; join it to the leaderboard on ``model`` and ``prompt_version``.

    A scenario whose tips hold no bigram (one-word tips) has no distinct-2 and is left out of
    that mean; ``n_scenarios`` counts every scenario with tips.
    """
    per_scenario = scenario_diversity(candidates, cells)
    return (
        per_scenario.group_by(*CELL_KEYS)
        .agg(
            pl.len().cast(pl.Int64).alias("n_scenarios"),
            pl.col("distinct_2").mean().alias("distinct_2"),
            pl.col("distinct_2").min().alias("distinct_2_min"),
            pl.col("near_repeat_share").mean().alias("near_repeat_share"),
        )
        .sort(*CELL_KEYS)
        .select(DIVERSITY_COLUMNS)
    )
