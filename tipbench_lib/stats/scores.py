"""From the three frames to scored rows, and to scenario means.

Everything downstream starts from :func:`score_table` (one row per candidate, the mean over the
selected judges: leaderboard, length, charts) or :func:`judge_scores` (one row per candidate and
judge: comparisons, which pair on judges), so the rules that decide what a score *is* live here
and nowhere else: a judge's latest judgment counts, a judgment without scores (a failed LLM
judgment) is no score, and an unjudged candidate is left out rather than counted as 0. Which
columns are scores, and the composite of a row that lacks one, are the rubric's
(:class:`~tipbench_lib.stats.scale.ScoreScale`): the frames are wide, one column per dimension
and flag of the experiment's rubric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict, Unpack

import polars as pl

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.judgments import latest_judgments
from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scale import ScoreScale, scale_for, scale_of

CELL_KEYS: tuple[str, str] = ("model", "prompt_version")


class Selection(TypedDict, total=False):
    """Which judgments a score table is built from, the same keywords for every builder."""

    judges: Sequence[str] | None
    """Only these judge ids (None: every judge)."""
    kinds: Sequence[str] | None
    """Only these judge kinds (None: every kind)."""
    scale: ScoreScale | None
    """The experiment's rubric's scale (None: the rubric the judgments name)."""


def _chosen_judgments(
    cells: pl.DataFrame,
    candidates: pl.DataFrame,
    judgments: pl.DataFrame,
    selection: Selection,
) -> tuple[ScoreScale, pl.DataFrame]:
    """The scale, and the selected judges' latest judgments that carry every score (failed ones
    are no score), once the three frames are checked."""
    unknown = sorted(set(selection) - set(Selection.__annotations__))
    if unknown:
        raise TypeError(f"unexpected keyword(s) {', '.join(unknown)}; use judges, kinds, scale")
    scale = selection.get("scale") or scale_of(judgments)
    _check_frames(cells, candidates, judgments, scale)
    judges, kinds = selection.get("judges"), selection.get("kinds")
    chosen = judgments
    if judges is not None:
        chosen = chosen.filter(pl.col("judge_id").is_in(list(judges)))
    if kinds is not None:
        chosen = chosen.filter(pl.col("judge_kind").is_in(list(kinds)))
    return scale, (
        latest_judgments(chosen)
        .filter(scale.scored())
        .with_columns(scale.composite_expr().alias("composite"))
    )


def _check_frames(
    cells: pl.DataFrame, candidates: pl.DataFrame, judgments: pl.DataFrame, scale: ScoreScale
) -> None:
    require_columns(cells, ["cell_id", *CELL_KEYS, "scenario_id", "persona", "time_slot"], "cells")
    require_columns(
        candidates,
        ["candidate_id", "cell_id", "sample_index", "text", "latency_s", "tokens_per_s"],
        "candidates",
    )
    require_columns(
        judgments,
        ["candidate_id", "judge_id", "judge_kind", *scale.parts, "composite"],
        "judgments",
    )
    orphans = candidates.join(cells, on="cell_id", how="anti")
    if orphans.height:
        raise TipbenchError(
            f"{orphans.height} candidate(s) point at a cell_id missing from cells "
            f"(first: {orphans['cell_id'][0]}); load cells and candidates from the same experiment"
        )


def score_table(
    cells: pl.DataFrame,
    candidates: pl.DataFrame,
    judgments: pl.DataFrame,
    **selection: Unpack[Selection],
) -> pl.DataFrame:
    """One row per judged candidate with its scores averaged over the selected judges.

    ``scale`` is the experiment's rubric's (default: the rubric the judgments name); a flag's
    mean is the share of judges who set it.
    """
    scale, chosen = _chosen_judgments(cells, candidates, judgments, selection)
    per_candidate = chosen.group_by("candidate_id").agg(
        *(pl.col(p).cast(pl.Float64).mean() for p in scale.parts),
        pl.col("composite").mean(),
        pl.col("judge_id").n_unique().cast(pl.Int64).alias("n_judges"),
    )
    cell_cols = ["cell_id", *CELL_KEYS, "scenario_id", "persona", "time_slot"]
    return (
        candidates.join(per_candidate, on="candidate_id", how="inner")
        .join(cells.select(cell_cols), on="cell_id", how="inner")
        .with_columns(pl.col("text").str.len_chars().cast(pl.Int64).alias("char_count"))
        .select(
            "candidate_id",
            "cell_id",
            *CELL_KEYS,
            "scenario_id",
            "persona",
            "time_slot",
            "sample_index",
            "char_count",
            pl.col("latency_s").cast(pl.Float64),
            pl.col("tokens_per_s").cast(pl.Float64),
            *scale.parts,
            "composite",
            "n_judges",
        )
        .sort(*CELL_KEYS, "scenario_id", "sample_index", "candidate_id")
    )


def judge_scores(
    cells: pl.DataFrame,
    candidates: pl.DataFrame,
    judgments: pl.DataFrame,
    **selection: Unpack[Selection],
) -> pl.DataFrame:
    """One row per (judged candidate, judge): what comparisons pair on.

    :func:`score_table` averages the judges of a candidate, which is right for a cell's mean but
    not for comparing two cells: a judge's constant bias cancels only when both cells were scored
    by that judge, so :func:`tipbench_lib.stats.compare_pairs` needs to know who scored what.
    """
    _, chosen = _chosen_judgments(cells, candidates, judgments, selection)
    chosen = chosen.select("candidate_id", "judge_id", "judge_kind", "composite")
    return (
        chosen.join(candidates.select("candidate_id", "cell_id", "sample_index"), on="candidate_id")
        .join(cells.select("cell_id", *CELL_KEYS, "scenario_id"), on="cell_id")
        .select(
            "candidate_id",
            *CELL_KEYS,
            "scenario_id",
            "sample_index",
            "judge_id",
            "judge_kind",
            pl.col("composite").cast(pl.Float64),
        )
        .sort(*CELL_KEYS, "scenario_id", "judge_id", "sample_index", "candidate_id")
    )


def scenario_means(scores: pl.DataFrame, scale: ScoreScale | None = None) -> pl.DataFrame:
    """Tips averaged within each scenario: the unit every comparison pairs and resamples.

    ``scale`` names the score columns (default: tip-v1's, for a scores frame from before
    rubrics were recorded).
    """
    scale = scale or scale_for([])
    measures = (*scale.metrics, *scale.flags)
    require_columns(scores, [*CELL_KEYS, "scenario_id", *measures], "scores")
    return (
        scores.group_by(*CELL_KEYS, "scenario_id")
        .agg(
            pl.len().cast(pl.Int64).alias("n_tips"),
            *(pl.col(m).mean() for m in measures),
        )
        .sort(*CELL_KEYS, "scenario_id")
    )
