"""The two CSV tables of the compare phase, for tools that read them by column name.

``leaderboard.csv`` and ``comparisons.csv`` start with the fixed columns of
:mod:`tipbench_lib.core.schema` in their fixed order (other tools index them), followed by any
further numeric columns the statistics return, so a new statistic reaches the CSV without
moving an old one; the leaderboard ends with the text columns ``judges`` and ``judge_note`` (who
scored each cell, and its mark when the cells rest on different judges), when present. The
leaderboard's fixed columns include one ``<dimension>_mean`` per dimension of the experiment's
rubric, in the rubric's order (:func:`~tipbench_lib.core.schema.leaderboard_csv_columns`).
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

TRAILING_TEXT = {"leaderboard.csv": ("judges", "judge_note")}
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame, fixed, source in (
        ("leaderboard.csv", leaderboard, leaderboard_csv_columns(dimensions), "leaderboard"),
        ("comparisons.csv", comparisons, COMPARISONS_CSV_COLUMNS, "compare_pairs"),
    ):
        require_columns(frame, fixed, f"{name} (to write)", f"tipbench_lib.stats.{source}")
        extra = [
            c
            for c in frame.columns
            if c not in fixed and c != "rank" and frame.schema[c].is_numeric()
        ]
        trailing = [c for c in TRAILING_TEXT.get(name, ()) if c in frame.columns]
        path = out_dir / name
        frame.select(*fixed, *extra, *trailing).write_csv(path)
        written.append(path)
    return written[0], written[1]
