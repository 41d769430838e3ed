"""The three frames every phase after collection works on, with their columns and types.

Other tools read these columns by name (snapshots, CSVs), so they are decided here. The fixed
columns are the same for every experiment; the score columns are the experiment's rubric's: one
``Int64`` column per dimension and one ``Boolean`` column per flag in the judgments frame, and one
``<flag>_auto`` column per flag with an automatic check in the candidates frame
(:func:`frame_schemas`). More columns are allowed in a frame; these must be present with these
types.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import polars as pl

from tipbench_lib.core.errors import TipbenchError

CELLS: dict[str, pl.DataType] = {
    "cell_id": pl.String(),
    "model": pl.String(),
    "prompt_version": pl.String(),
    "scenario_id": pl.String(),
    "persona": pl.String(),
    "time_slot": pl.String(),
}

CANDIDATE_COLUMNS: dict[str, pl.DataType] = {
    "candidate_id": pl.String(),
    "cell_id": pl.String(),
    "sample_index": pl.Int64(),
    "text": pl.String(),
    "latency_s": pl.Float64(),
    "eval_tokens": pl.Int64(),
    "tokens_per_s": pl.Float64(),
}
"""The candidates frame's columns that do not depend on the rubric."""

AUTO_SUFFIX = "_auto"
"""``<flag>_auto``: the automatic check's verdict on a candidate, for a flag that has one."""

JUDGE_KINDS: tuple[str, ...] = ("human", "llm", "import")
"""Who made a judgment: a person in an app, an LLM judge, or outside judges' scores from a file."""
PEOPLE_KINDS: tuple[str, ...] = ("human", "import")
"""Judge kinds that are people: ``import`` holds scores of outside judges from a JSON file."""

PAIRS_RESERVED: tuple[str, ...] = (
    "pair_id",
    "candidate_a",
    "candidate_b",
    "cell_a",
    "cell_b",
    "question",
    "answer",
    "order_answers",
    "n_showings",
    "n_left",
    "n_right",
)

RESERVED_SCORE_IDS: frozenset[str] = frozenset(
    {
        # the frames' and the records' own columns and keys
        *CELLS,
        *CANDIDATE_COLUMNS,
        "judge_id",
        "judge_kind",
        "judge_model",
        "rubric_version",
        "rubric_name",
        "rubric_hash",
        "composite",
        "created_at",
        "note",
        "status",
        "error",
        "model",
        "digest",
        "parameter_count",
        "attempts",
        "format",
        "type",
        "experiment",
        "raw",
        "seed",
        "load_s",
        "prompt_tokens",
        "done_reason",
        "truncated",
        "char_count",
        "auto_reasons",
        "regenerations",
        "run_id",
        # what the statistics add beside the scores
        "n_judges",
        "n_tips",
        "n_scenarios",
        "n_candidates",
        "rank",
        "interval_note",
        "dimension",
        "judged_count",
        # the pairs frame's own
        *PAIRS_RESERVED,
    }
)
"""Ids a rubric's dimension or flag may not take: they name columns every frame already has."""
RESERVED_SUFFIXES: tuple[str, ...] = (AUTO_SUFFIX, "_mean", "_lo", "_hi", "_rate", "_sd")
"""Endings a score id may not have: the statistics and MLflow metrics add them to score ids."""


class ScoreParts(Protocol):
    """What the frames need to know about a rubric (``tipbench_lib.core.rubric.Rubric``)."""

    @property
    def dimension_ids(self) -> tuple[str, ...]: ...

    @property
    def flag_ids(self) -> tuple[str, ...]: ...

    @property
    def automatic_flag_ids(self) -> tuple[str, ...]: ...


def require_columns(
    frame: pl.DataFrame,
    columns: Iterable[str],
    what: str,
    source: str = "tipbench_lib.compare.load (or tipbench_lib.stats)",
) -> None:
    """Refuse a frame without ``columns``, naming them, before a query or a chart trips on them.

    The statistics, the charts and the CSV tables all check their input here, so a frame from
    another tool gets one kind of message wherever it goes wrong: what lacks which columns, and
    which tipbench function makes the frame that has them.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TipbenchError(
            f"{what} lacks the column(s) {', '.join(missing)}; pass the frame that {source} "
            f"returns for it (this one has {', '.join(frame.columns) or 'no columns'})"
        )


def auto_column(flag: str) -> str:
    return f"{flag}{AUTO_SUFFIX}"


def candidates_schema(rubric: ScoreParts) -> dict[str, pl.DataType]:
    """The candidates frame: the fixed columns, then the rubric's automatic checks."""
    autos = {auto_column(f): pl.Boolean() for f in rubric.automatic_flag_ids}
    return {**CANDIDATE_COLUMNS, **autos}


def judgments_schema(rubric: ScoreParts) -> dict[str, pl.DataType]:
    """The judgments frame: who judged under which rubric, one column per score, the composite."""
    return {
        "candidate_id": pl.String(),
        "judge_id": pl.String(),
        "judge_kind": pl.String(),
        "rubric_version": pl.String(),
        **{d: pl.Int64() for d in rubric.dimension_ids},
        **{f: pl.Boolean() for f in rubric.flag_ids},
        "composite": pl.Float64(),
        "created_at": pl.Datetime("us", "UTC"),
    }


PAIRS: dict[str, pl.DataType] = {
    "pair_id": pl.String(),
    "scenario_id": pl.String(),
    "candidate_a": pl.String(),
    "candidate_b": pl.String(),
    "cell_a": pl.String(),
    "cell_b": pl.String(),
    "judge_id": pl.String(),
    "judge_kind": pl.String(),
    "judge_model": pl.String(),
    "rubric_version": pl.String(),
    "rubric_hash": pl.String(),
    "question": pl.String(),
    "answer": pl.String(),
    "n_showings": pl.Int64(),
    "n_left": pl.Int64(),
    "n_right": pl.Int64(),
    "created_at": pl.Datetime("us", "UTC"),
    "note": pl.String(),
}
"""The pairs frame: one row per counted pairwise judgment (``core/records.PairJudgment.row``).

``answer`` is "a", "b" or "tie" in the pair's canonical order (A: the smaller cell id);
``n_left``/``n_right`` count the showings whose answer was the side shown left/right, the rest
of ``n_showings`` were ties: position bias is ``sum(n_left) / sum(n_left + n_right)``."""

PAIR_OUTCOMES: dict[str, pl.DataType] = {
    "scenario_id": pl.String(),
    "a_model": pl.String(),
    "a_prompt": pl.String(),
    "b_model": pl.String(),
    "b_prompt": pl.String(),
    "judge_id": pl.String(),
    "judge_kind": pl.String(),
    "answer": pl.String(),
    "n_left": pl.Int64(),
    "n_right": pl.Int64(),
    "n_showings": pl.Int64(),
}
"""What the pairwise statistics read (``stats/pairwise``): the pairs frame with each side's
(model, prompt) from the cells frame, built by ``core/frames.pair_outcomes``."""


def frame_schemas(rubric: ScoreParts) -> dict[str, dict[str, pl.DataType]]:
    """Every frame's columns for an experiment scored on ``rubric``."""
    return {
        "cells": CELLS,
        "candidates": candidates_schema(rubric),
        "judgments": judgments_schema(rubric),
    }


def leaderboard_csv_columns(dimension_ids: Sequence[str]) -> tuple[str, ...]:
    """The columns of ``leaderboard.csv`` for a rubric with these dimensions."""
    return (
        "model",
        "prompt_version",
        "n_scenarios",
        "n_candidates",
        "composite_mean",
        "composite_lo",
        "composite_hi",
        *(f"{d}_mean" for d in dimension_ids),
        "interval_note",
    )


PAIR_COLUMNS: tuple[str, ...] = ("a_model", "a_prompt", "b_model", "b_prompt")
"""The two cells of a comparison row: A is compared against B."""
COMPARISONS_CSV_COLUMNS: tuple[str, ...] = (
    *PAIR_COLUMNS,
    "n_scenarios",
    "diff_mean",
    "diff_lo",
    "diff_hi",
    "p_wilcoxon",
    "p_permutation",
    "p_holm",
    "verdict",
    # Added after the original twelve, which keep their places:
    "family",
    "family_size",
    "family_tested",
    "holm_threshold",
    "min_p_attainable",
    "mdd",
    "scenarios_needed",
    "power_note",
    "n_shared_scenarios",
    "n_confounded_scenarios",
    "judges",
    "provisional",
    "interval_note",
    "alpha",
)
"""``p_permutation`` is the unadjusted sign-flip p; ``p_holm`` the Holm-adjusted signed-rank p
within the row's ``family`` (primary or exploratory) of ``family_size`` comparisons."""
