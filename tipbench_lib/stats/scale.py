"""What the statistics know of the rubric: its score columns, their ranges, the composite's formula.

An interval for a cell's mean composite must lie inside the lowest and highest composite the
rubric allows (2 and 17 for tip-v1), one for a rubric dimension inside the dimension's scale, and a
difference of two cells inside plus or minus the composite's width. Which columns are dimensions
and flags, and what the composite of a row is, are the rubric's too. All of it lives in the rubric
file (:mod:`tipbench_lib.core.rubric`); the statistics only ever receive a :class:`ScoreScale`,
made from the experiment's rubric (:meth:`ScoreScale.from_rubric`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.paths import data_dirs
from tipbench_lib.core.rubric import DEFAULT_RUBRIC, Rubric, load_rubric, shipped_rubric

RELATIVE_TOLERANCE = 1e-6
"""A spread below this fraction of the composite's width is float noise, and counts as 0.

Not 1e-9: the bootstrap takes a resample's variance as E[x^2] - E[x]^2, whose rounding error is
about 1e-16 x^2, so a resample of tied values can show a spread near 1e-8 x. Real spreads of
scenario means of whole-number scores are at least about 0.01 points, far above 1e-6 x 15."""


@dataclass(frozen=True)
class ScoreScale:
    """A rubric as the statistics see it: score columns, their ranges, the composite's weights."""

    composite: tuple[float, float]
    dimension: tuple[float, float]
    dimensions: tuple[str, ...]
    flags: tuple[str, ...]
    weights: tuple[tuple[str, float], ...]
    """(part, weight) for every dimension and flag: the composite's formula."""
    rubrics: tuple[str, ...] = ()

    @property
    def metrics(self) -> tuple[str, ...]:
        """The scores that get intervals: the composite and every dimension."""
        return ("composite", *self.dimensions)

    @property
    def parts(self) -> tuple[str, ...]:
        return (*self.dimensions, *self.flags)

    @property
    def values(self) -> np.ndarray:
        """Every value a dimension can take (what ordinal agreement counts between)."""
        return np.arange(self.dimension[0], self.dimension[1] + 1)

    def bounds(self, metric: str) -> tuple[float, float]:
        """The range of ``metric``: the composite's, or a dimension's for anything else."""
        return self.composite if metric == "composite" else self.dimension

    @property
    def width(self) -> float:
        """How far apart two composites can be: the bound of any difference of cell means."""
        return self.composite[1] - self.composite[0]

    @property
    def tolerance(self) -> float:
        """Spreads below this are exactly 0 (a resample of tied scenarios is not 1e-17 wide)."""
        return RELATIVE_TOLERANCE * self.width

    def composite_expr(self) -> pl.Expr:
        """The stored composite, or the rubric's weighted sum when a row lacks one."""
        formula = pl.sum_horizontal(w * pl.col(p).cast(pl.Float64) for p, w in self.weights)
        return pl.col("composite").cast(pl.Float64).fill_null(formula)

    def scored(self) -> pl.Expr:
        """Rows with every dimension's score (a row of a failed judgment has none)."""
        return pl.all_horizontal(pl.col(d).is_not_null() for d in self.dimensions)

    @classmethod
    def from_rubric(cls, rubric: Rubric) -> ScoreScale:
        return cls(
            composite=rubric.composite_range,
            dimension=(float(rubric.scale_min), float(rubric.scale_max)),
            dimensions=rubric.dimension_ids,
            flags=rubric.flag_ids,
            weights=tuple(rubric.weights.items()),
            rubrics=(rubric.version,),
        )


def scale_for(versions: Iterable[str]) -> ScoreScale:
    """The scale of the named rubric versions, found in the data directories (tip-v1 when none).

    For callers that hold only frames; the phases pass the experiment's own rubric
    (:meth:`ScoreScale.from_rubric`), which needs no lookup. Several versions must share their
    dimensions and flags; their ranges are joined. Cached per data directory: a user's rubric of
    the same name is another rubric.
    """
    names = tuple(sorted({v for v in versions if v}) or [DEFAULT_RUBRIC])
    return _scale_for(names, data_dirs().roots)


@lru_cache(maxsize=32)
def _scale_for(names: tuple[str, ...], _roots: tuple[Path, ...]) -> ScoreScale:
    scales = [ScoreScale.from_rubric(_rubric(name)) for name in names]
    first = scales[0]
    for other in scales[1:]:
        if (other.dimensions, other.flags) != (first.dimensions, first.flags):
            raise TipbenchError(
                f"judgments under rubrics {', '.join(names)} score different dimensions or "
                "flags; analyse each rubric's judgments apart"
            )
    return ScoreScale(
        composite=(min(s.composite[0] for s in scales), max(s.composite[1] for s in scales)),
        dimension=(min(s.dimension[0] for s in scales), max(s.dimension[1] for s in scales)),
        dimensions=first.dimensions,
        flags=first.flags,
        weights=first.weights,
        rubrics=tuple(names),
    )


def _rubric(name: str) -> Rubric:
    """A rubric by name from the data directories; tip-v1 as shipped when none has it."""
    try:
        return load_rubric(name)
    except TipbenchError:
        if name == DEFAULT_RUBRIC:
            return shipped_rubric(name)
        raise


def scale_of(judgments: pl.DataFrame) -> ScoreScale:
    """The scale of the rubric(s) the judgments name (tip-v1 for frames that name none)."""
    if "rubric_version" not in judgments.columns:
        return scale_for([])
    return scale_for(judgments["rubric_version"].drop_nulls().unique().to_list())
