"""The range a score can take, read from the rubric, so no interval ever leaves it.

An interval for a cell's mean composite must lie inside the lowest and highest composite the
rubric allows (2 and 17 for tip-v1), one for a rubric dimension inside the dimension's scale, and a
difference of two cells inside plus or minus the composite's width. The numbers live in the rubric
file (``tipbench_lib.core.rubric``); the statistics only ever receive a :class:`ScoreScale`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from tipbench_lib.core.paths import data_dirs
from tipbench_lib.core.rubric import DEFAULT_RUBRIC, Rubric, load_rubric

RELATIVE_TOLERANCE = 1e-6
"""A spread below this fraction of the composite's width is float noise, and counts as 0.

Not 1e-9: the bootstrap takes a resample's variance as E[x^2] - E[x]^2, whose rounding error is
about 1e-16 x^2, so a resample of tied values can show a spread near 1e-8 x. Real spreads of
scenario means of whole-number scores are at least about 0.01 points, far above 1e-6 x 15."""


@dataclass(frozen=True)
class ScoreScale:
    """Lowest and highest value of the composite and of one rubric dimension."""

    composite: tuple[float, float]
    dimension: tuple[float, float]
    rubrics: tuple[str, ...] = ()

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

    @classmethod
    def from_rubric(cls, rubric: Rubric) -> ScoreScale:
        return cls(
            composite=rubric.composite_range,
            dimension=(float(rubric.scale_min), float(rubric.scale_max)),
            rubrics=(rubric.version,),
        )


def scale_for(versions: Iterable[str]) -> ScoreScale:
    """The union of the ranges of the named rubric versions (the default rubric when none).

    Cached per data directory: a user's rubric of the same name is another rubric.
    """
    names = tuple(sorted({v for v in versions if v}) or [DEFAULT_RUBRIC])
    return _scale_for(names, data_dirs().roots)


@lru_cache(maxsize=32)
def _scale_for(names: tuple[str, ...], _roots: tuple[Path, ...]) -> ScoreScale:
    scales = [ScoreScale.from_rubric(load_rubric(name)) for name in names]
    return ScoreScale(
        composite=(min(s.composite[0] for s in scales), max(s.composite[1] for s in scales)),
        dimension=(min(s.dimension[0] for s in scales), max(s.dimension[1] for s in scales)),
        rubrics=tuple(names),
    )


def scale_of(judgments: pl.DataFrame) -> ScoreScale:
    """The scale of the rubric(s) the judgments were scored on."""
    if "rubric_version" not in judgments.columns:
        return scale_for([])
    return scale_for(judgments["rubric_version"].drop_nulls().unique().to_list())
