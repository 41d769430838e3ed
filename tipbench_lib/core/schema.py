"""The three frames every phase after collection works on, with their fixed columns and types.

Other tools read these columns by name (snapshots, CSVs), so they live in one place. More columns
are allowed in a frame; these must be present with these types.
"""

from __future__ import annotations

import polars as pl

DIMENSIONS: tuple[str, ...] = ("relevance", "actionability", "tone")
"""The 1-5 rubric dimensions (tip-v1)."""

CELLS: dict[str, pl.DataType] = {
    "cell_id": pl.String(),
    "model": pl.String(),
    "prompt_version": pl.String(),
    "scenario_id": pl.String(),
    "persona": pl.String(),
    "time_slot": pl.String(),
}

CANDIDATES: dict[str, pl.DataType] = {
    "candidate_id": pl.String(),
    "cell_id": pl.String(),
    "sample_index": pl.Int64(),
    "text": pl.String(),
    "latency_s": pl.Float64(),
    "eval_tokens": pl.Int64(),
    "tokens_per_s": pl.Float64(),
    "format_ok_auto": pl.Boolean(),
    "overlong_auto": pl.Boolean(),
}

JUDGMENTS: dict[str, pl.DataType] = {
    "candidate_id": pl.String(),
    "judge_id": pl.String(),
    "judge_kind": pl.String(),
    "rubric_version": pl.String(),
    "relevance": pl.Int64(),
    "actionability": pl.Int64(),
    "tone": pl.Int64(),
    "format_ok": pl.Boolean(),
    "overlong": pl.Boolean(),
    "composite": pl.Float64(),
    "created_at": pl.Datetime("us", "UTC"),
}

FRAMES: dict[str, dict[str, pl.DataType]] = {
    "cells": CELLS,
    "candidates": CANDIDATES,
    "judgments": JUDGMENTS,
}

JUDGE_KINDS: tuple[str, ...] = ("human", "llm", "import")

# The CSV files the compare script writes; other tools read these columns by name.
LEADERBOARD_CSV_COLUMNS: tuple[str, ...] = (
    "model",
    "prompt_version",
    "n_scenarios",
    "n_candidates",
    "composite_mean",
    "composite_lo",
    "composite_hi",
    *(f"{d}_mean" for d in DIMENSIONS),
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
    # Added with issue 8 (after the original twelve, which keep their places):
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
