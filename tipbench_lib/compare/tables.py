"""The CSV tables of the compare phase, for tools that read them by column name.

``leaderboard.csv`` and ``comparisons.csv`` start with the fixed columns of
:mod:`tipbench_lib.core.schema` in their fixed order (other tools index them), followed by any
further numeric columns the statistics return, so a new statistic reaches the CSV without
moving an old one; the leaderboard ends with the text columns ``judges`` and ``judge_note`` (who
scored each cell, and its mark when the cells rest on different judges), when present. The
leaderboard's fixed columns include one ``<dimension>_mean`` per dimension of the experiment's
rubric, in the rubric's order (:func:`~tipbench_lib.core.schema.leaderboard_csv_columns`).

An experiment with pairwise judgments gets two more, written the same way (``docs/architecture.md``
section 13): ``pairwise.csv``, one row per cell pair (:data:`PAIRWISE_CSV_COLUMNS`), and
``pairwise_leaderboard.csv``, one row per cell (:data:`PAIRWISE_LEADERBOARD_CSV_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from tipbench_lib.core.schema import (
    COMPARISONS_CSV_COLUMNS,
    leaderboard_csv_columns,
    require_columns,
)
from tipbench_lib.stats import bradley_terry

PAIRWISE_CSV_COLUMNS: tuple[str, ...] = (
    "a_model",
    "a_prompt",
    "b_model",
    "b_prompt",
    "n_scenarios",
    "share_mean",
    "share_lo",
    "share_hi",
    "p",
    "p_holm",
    "verdict",
    "family",
    "family_size",
    "wins_a",
    "wins_b",
    "ties",
    "n_pairs",
)
"""``pairwise.csv``'s fixed columns (``stats.pairwise.compare_pairwise``): A's mean win share
against B over scenarios, a tie counting half, its interval, test, verdict and the counts."""
PAIRWISE_LEADERBOARD_CSV_COLUMNS: tuple[str, ...] = (
    "rank",
    *(c for c in bradley_terry.COLUMNS if c != "rank"),
)
"""``pairwise_leaderboard.csv``'s fixed columns (``stats.bradley_terry.strengths``)."""
PAIRWISE_FILES = ("pairwise_leaderboard.csv", "pairwise.csv")
"""The pairwise tables' names, as :func:`write_pairwise_tables` writes them."""
TRAILING_TEXT = {
    "leaderboard.csv": ("judges", "judge_note"),
    "pairwise.csv": ("judges", "provisional"),
    "pairwise_leaderboard.csv": ("judges", "provisional"),
}
"""Text columns written after every numeric one (added later, so old readers keep working)."""


def write_tables(
    out_dir: Path,
    leaderboard: pl.DataFrame,
    comparisons: pl.DataFrame,
    *,
    dimensions: Sequence[str],
) -> tuple[Path, Path]:
    """Write leaderboard.csv and comparisons.csv, fixed columns first (other tools read them).

    ``dimensions`` are the experiment's rubric's (``rubric.dimension_ids``): the leaderboard has
    a mean per dimension, and which those are is the rubric's, not this module's.
    """
    return (
        write_table(
            out_dir,
            "leaderboard.csv",
            leaderboard,
            leaderboard_csv_columns(dimensions),
            "leaderboard",
        ),
        write_table(
            out_dir, "comparisons.csv", comparisons, COMPARISONS_CSV_COLUMNS, "compare_pairs"
        ),
    )


def write_pairwise_tables(
    out_dir: Path, leaderboard: pl.DataFrame, comparisons: pl.DataFrame
) -> tuple[Path, Path]:
    """Write pairwise_leaderboard.csv and pairwise.csv (strengths; one row per cell pair)."""
    return (
        write_table(
            out_dir,
            PAIRWISE_FILES[0],
            leaderboard,
            PAIRWISE_LEADERBOARD_CSV_COLUMNS,
            "bradley_terry.strengths",
        ),
        write_table(
            out_dir,
            PAIRWISE_FILES[1],
            comparisons,
            PAIRWISE_CSV_COLUMNS,
            "pairwise.compare_pairwise",
        ),
    )


def write_table(
    out_dir: Path, name: str, frame: pl.DataFrame, fixed: Sequence[str], source: str
) -> Path:
    """``name`` in ``out_dir``: the fixed columns, further numeric ones, then the text ones;
    ``source`` names the statistic that makes ``frame`` (for the missing-column message)."""
    require_columns(frame, fixed, f"{name} (to write)", f"tipbench_lib.stats.{source}")
    extra = [
        c for c in frame.columns if c not in fixed and c != "rank" and frame.schema[c].is_numeric()
    ]
    trailing = [c for c in TRAILING_TEXT.get(name, ()) if c in frame.columns]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / name
    frame.select(*fixed, *extra, *trailing).write_csv(path)
    return path
