"""Records to polars frames with the frames' fixed columns (:mod:`tipbench_lib.core.schema`).

Both the judge phase (agreement between judges, shown while judging) and the compare phase build
the judgments frame, so the builder lives below both: the judge phase never imports the compare
phase (docs/architecture.md, section 2). So do the pairs frame and the outcomes the pairwise
statistics read (section 13).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from tipbench_lib.core.judgments import latest_pair_judgments, latest_pair_rows
from tipbench_lib.core.records import Judgment, PairJudgment
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.core.schema import PAIR_OUTCOMES, PAIRS, judgments_schema, require_columns

OUTCOME_IDS: tuple[str, ...] = ("pair_id", "cell_a", "cell_b")
"""What :func:`pair_outcomes` keeps beside :data:`~tipbench_lib.core.schema.PAIR_OUTCOMES`: which
two tips' cells each row compares."""
MAX_NAMED_PAIRS = 5
"""How many left-out pairs :func:`pair_outcomes` names by id before it only counts them."""


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def rows_frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows to a frame whose fixed columns come first with their fixed types."""
    if not rows:
        return empty_frame(schema)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    for name in schema:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(name))
    fixed = [pl.col(name).cast(dtype) for name, dtype in schema.items()]
    extra = [c for c in frame.columns if c not in schema]
    return frame.select(fixed + extra)


def judgments_frame(judgments: Iterable[Judgment], rubric: Rubric) -> pl.DataFrame:
    """Judgments to the judgments frame; failed LLM judgments are never scores."""
    rows = [j.row(rubric.part_ids) for j in judgments if j.ok]
    return rows_frame(rows, judgments_schema(rubric))


def pairs_frame(pairs: Iterable[PairJudgment]) -> pl.DataFrame:
    """Pairwise judgments to the pairs frame (:data:`~tipbench_lib.core.schema.PAIRS`): one row
    per (pair, judge), the latest of the judge's answers (:mod:`tipbench_lib.core.judgments`).

    A failed LLM judgment holds no answer and is never counted, so it can neither be a row nor
    hide an earlier answer of the same judge (as a failed score in the judgments frame).
    """
    kept = latest_pair_judgments(p for p in pairs if p.ok)
    return rows_frame([p.row() for p in kept.values()], PAIRS)


def pair_outcomes(
    cells: pl.DataFrame, pairs: pl.DataFrame, left_out: list[str] | None = None
) -> pl.DataFrame:
    """The pairs frame with each side's (model, prompt version) from the cells frame
    (:data:`~tipbench_lib.core.schema.PAIR_OUTCOMES`, then ``pair_id``, ``cell_a``,
    ``cell_b``), one row per (pair, judge).

    A pair is left out when a side's cell is not in ``cells`` (a cell whose run was not verified,
    a snapshot cut to fewer cells) or when its two cells are not both of the pair's scenario: a
    statistic over cells nobody can name would compare nothing. ``left_out``, when given, gets
    one sentence counting them and naming the first few, for the caller's warnings.
    """
    require_columns(cells, ("cell_id", "model", "prompt_version", "scenario_id"), "cells frame")
    require_columns(pairs, PAIRS, "pairs frame", "tipbench_lib.core.frames.pairs_frame")
    pairs = latest_pair_rows(pairs)
    sides = cells.select(
        pl.col("cell_id"),
        pl.col("model"),
        pl.col("prompt_version"),
        pl.col("scenario_id").alias("_cell_scenario"),
    )
    joined = pairs.join(
        sides.rename({c: f"{c}_a" for c in sides.columns if c != "cell_id"}),
        left_on="cell_a",
        right_on="cell_id",
        how="left",
    ).join(
        sides.rename({c: f"{c}_b" for c in sides.columns if c != "cell_id"}),
        left_on="cell_b",
        right_on="cell_id",
        how="left",
    )
    known = (
        pl.col("model_a").is_not_null()
        & pl.col("model_b").is_not_null()
        & (pl.col("_cell_scenario_a") == pl.col("scenario_id"))
        & (pl.col("_cell_scenario_b") == pl.col("scenario_id"))
    ).fill_null(False)
    unknown = joined.filter(~known)
    if unknown.height and left_out is not None:
        left_out.append(_unknown_pairs(unknown))
    renamed = {
        "model_a": "a_model",
        "prompt_version_a": "a_prompt",
        "model_b": "b_model",
        "prompt_version_b": "b_prompt",
    }
    return (
        joined.filter(known)
        .rename(renamed)
        .select(
            *(pl.col(name).cast(dtype) for name, dtype in PAIR_OUTCOMES.items()),
            *(pl.col(name).cast(pl.String) for name in OUTCOME_IDS),
        )
    )


def _unknown_pairs(unknown: pl.DataFrame) -> str:
    named = ", ".join(unknown["pair_id"].unique(maintain_order=True).head(MAX_NAMED_PAIRS))
    more = unknown["pair_id"].n_unique() - min(unknown["pair_id"].n_unique(), MAX_NAMED_PAIRS)
    return (
        f"{unknown.height} pairwise judgment(s) left out: a side's cell is not among the "
        f"experiment's cells, or is not of the pair's scenario (pair(s) {named}"
        + (f" and {more} more" if more else "")
        + "); they compare tips nobody can place in a cell"
    )
