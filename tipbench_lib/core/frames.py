"""Records to polars frames with the frames' fixed columns (:mod:`tipbench_lib.core.schema`).

Both the judge phase (agreement between judges, shown while judging) and the compare phase build
the judgments frame, so the builder lives below both: the judge phase never imports the compare
phase (docs/architecture.md, section 2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import polars as pl

from tipbench_lib.core.records import Judgment
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.core.schema import judgments_schema


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
