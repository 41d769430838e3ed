"""Pairs of (model, prompt) cells and their per-scenario differences on shared judges.

Two cells are compared on what both were judged by: for each shared scenario and each judge who
scored both cells there, the difference of that judge's tip means; per scenario the mean of those
judge differences. A judge's constant bias cancels inside each difference, which pairing on
scenarios alone cannot achieve when the judges differ from cell to cell. A scenario that both
cells have but no judge scored in both is *confounded* (judge and cell cannot be told apart) and
is dropped and counted.

**Exact differences.** Composites are whole-number scores times the rubric's weights, so they lie
on a lattice of 1/q point (q = 1 for tip-v1, :func:`composite_unit`), and a difference of means
over a few tips and judges is a rational number: +1/3 from one person and -1/3 from another
average to exactly 0, and two differences of 1/3 reached through different composites are
equal. In floating point the first is about 1e-16 and the second differ in their last bits, so
the signed-rank test counted a zero as a difference and broke ties by rounding (issue 18:
p-values off by up to 0.47, floors of 1/32 where they were 1/16). The differences are therefore
carried as integer numerators over one common denominator (:class:`PairDiffs`), and the tests,
floors, ties and sign-flip p work on those integers (``docs/architecture.md`` section 8).

Everything is dense arrays: a :class:`JudgeGrid` holds integer composite sums and tip counts per
(experiment, cell, scenario, judge). The experiment axis lets a simulation stack thousands of
independent replicates and compare within each at once; the compare phase has one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.scores import CELL_KEYS

_CHUNK_ELEMENTS = 4_000_000
GROUP = "_group"
LARGEST_UNIT = 1000
"""Composites are looked for on lattices of 1/q point up to this q (weights with 3 decimals)."""
FINE_UNIT = 2**20
"""Off every such lattice (continuous data, e.g. expected scores), composites and differences
are read to 1/2^20 point: values closer than that are equal."""
EXACT_LIMIT = 2**40
"""Numerators stay below this, so sums of up to 2^12 of them and their floats are exact."""
_ON_LATTICE = 1e-9
"""A composite times q within this (relative) of a whole number lies on the lattice: the float
error of a weighted sum of a few whole scores is about 1e-15."""


@dataclass(frozen=True)
class JudgeGrid:
    """Composite sums and tip counts of each (experiment, cell, scenario, judge), with labels."""

    sums: np.ndarray
    """(experiments, cells, scenarios, judges) int64: the judge's composites summed over the
    cell's tips in that scenario, in units of 1/``unit`` point; 0 where it scored none."""
    counts: np.ndarray
    """Same shape, int64: how many of those tips the judge scored."""
    unit: int
    """Composites are whole multiples of 1/unit point (:func:`composite_unit`)."""
    cells: pl.DataFrame
    """One row per (experiment, cell slot): _group, e, c, model, prompt_version, cell_mean."""
    judges: list[str]
    groups: list[object]
    """The ``by`` value of each experiment (``[None]`` for a single experiment)."""

    @property
    def shape(self) -> tuple[int, ...]:
        return self.sums.shape

    @property
    def values(self) -> np.ndarray:
        """Tip means in points (floats), NaN where the judge scored no tip: for display."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / (self.counts * self.unit), np.nan)


@dataclass(frozen=True)
class PairDiffs:
    """Per-scenario differences a - b of every pair, flattened over (experiment, pair), exact:
    ``numerators / denominator`` composite points."""

    e: np.ndarray
    a: np.ndarray
    """Cell slot of a within its experiment (b likewise)."""
    b: np.ndarray
    numerators: np.ndarray
    """(rows, scenarios) int64: usable scenarios first, 0 after them (see ``n_usable``)."""
    denominator: int
    """One denominator for every row: a difference is numerator / denominator points."""
    n_usable: np.ndarray
    n_shared: np.ndarray
    """Scenarios both cells have scores for, whoever judged them."""
    common: np.ndarray
    """(rows, judges): the judges who scored both cells in at least one scenario."""

    @property
    def diffs(self) -> np.ndarray:
        """The differences in points as floats, NaN after each row's usable scenarios."""
        usable = np.arange(self.numerators.shape[1]) < self.n_usable[:, None]
        return np.where(usable, self.numerators / self.denominator, np.nan)

    def groups(self) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        """(n, rows, numerators of those rows' n usable differences), one group per distinct n."""
        for n in np.unique(self.n_usable):
            rows = np.flatnonzero(self.n_usable == n)
            yield int(n), rows, self.numerators[rows, : int(n)]


def composite_unit(composites: np.ndarray) -> int:
    """The smallest q (up to :data:`LARGEST_UNIT`) with every composite a whole multiple of 1/q.

    tip-v1's composites are whole numbers (q = 1); weights of 0.5 or 0.25 give q = 2 or 4. Data
    off every such lattice (expected scores in a simulation) get :data:`FINE_UNIT`.
    """
    distinct = np.unique(np.asarray(composites, dtype=float))
    distinct = distinct[np.isfinite(distinct)]  # none at all: every unit fits, 1 first
    candidates = np.arange(1, LARGEST_UNIT + 1, dtype=float)
    for q in _fitting(distinct[:200], candidates):
        if _fitting(distinct, np.array([q])).size:
            return int(q)
    return FINE_UNIT


def _fitting(values: np.ndarray, units: np.ndarray) -> np.ndarray:
    """The units (ascending) on whose lattice every value lies."""
    scaled = values[None, :] * units[:, None]
    on = np.abs(scaled - np.rint(scaled)) <= _ON_LATTICE * np.maximum(1.0, np.abs(scaled))
    return units[on.all(axis=1)]


def judge_grid(judge_scores: pl.DataFrame, by: str | None = None) -> JudgeGrid:
    """The grid of a :func:`tipbench_lib.stats.judge_scores` frame (experiments given by ``by``).

    Cells within an experiment are in (model, prompt) order; judges are shared across
    experiments. ``cell_mean`` is the cell's mean of scenario means of candidate means, the
    leaderboard's number, which decides which cell of a pair is written first.
    """
    keys = [*CELL_KEYS, "scenario_id", "judge_id", "composite"]
    require_columns(judge_scores, ["candidate_id", *keys, *([by] if by else [])], "judge scores")
    frame = judge_scores.with_columns(
        (pl.col(by) if by else pl.lit(None, dtype=pl.String)).alias(GROUP)
    )
    unit = composite_unit(frame["composite"].drop_nulls().to_numpy())
    group_keys = frame.select(GROUP).unique(maintain_order=False).sort(GROUP, nulls_last=True)
    groups = group_keys[GROUP].to_list()
    judges = sorted(frame["judge_id"].unique().to_list())
    cells = _cell_means(frame)
    cells = cells.join(group_keys.with_row_index("e"), on=GROUP, nulls_equal=True).with_columns(
        pl.int_range(pl.len()).over("e").alias("c")
    )
    scenarios = (
        frame.select(GROUP, "scenario_id")
        .unique()
        .sort(GROUP, "scenario_id", nulls_last=True)
        .with_columns(pl.int_range(pl.len()).over(GROUP).alias("s"))
    )
    tip_sums = (
        frame.filter(pl.col("composite").is_not_null())
        .with_columns((pl.col("composite") * unit).round().cast(pl.Int64).alias("_units"))
        .group_by(GROUP, *CELL_KEYS, "scenario_id", "judge_id")
        .agg(pl.col("_units").sum(), pl.len().cast(pl.Int64).alias("_count"))
        .join(cells.select(GROUP, *CELL_KEYS, "e", "c"), on=[GROUP, *CELL_KEYS], nulls_equal=True)
        .join(scenarios, on=[GROUP, "scenario_id"], nulls_equal=True)
        .join(
            pl.DataFrame({"judge_id": judges}, schema={"judge_id": pl.String}).with_row_index("j"),
            on="judge_id",
        )
    )
    n_e = len(groups)
    n_c = int(cells["c"].max() or 0) + 1 if cells.height else 0
    n_s = int(scenarios["s"].max() or 0) + 1 if scenarios.height else 0
    sums = np.zeros((n_e, n_c, n_s, len(judges)), dtype=np.int64)
    counts = np.zeros(sums.shape, dtype=np.int64)
    index = tuple(tip_sums[k].to_numpy() for k in ("e", "c", "s", "j"))
    sums[index] = tip_sums["_units"].to_numpy()
    counts[index] = tip_sums["_count"].to_numpy()
    return JudgeGrid(sums, counts, unit, cells.sort("e", "c"), judges, groups)


def _cell_means(frame: pl.DataFrame) -> pl.DataFrame:
    """Per cell: mean over scenarios of the tips' means over their judges."""
    return (
        frame.group_by(GROUP, *CELL_KEYS, "scenario_id", "candidate_id")
        .agg(pl.col("composite").mean())
        .group_by(GROUP, *CELL_KEYS, "scenario_id")
        .agg(pl.col("composite").mean())
        .group_by(GROUP, *CELL_KEYS)
        .agg(pl.col("composite").mean().alias("cell_mean"))
        .sort(GROUP, *CELL_KEYS, nulls_last=True)
    )


def pair_slots(n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of cell slots (a < b)."""
    a, b = np.triu_indices(n_cells, k=1)
    return a.astype(np.int64), b.astype(np.int64)


def pair_differences(grid: JudgeGrid) -> PairDiffs:
    """Per-scenario differences on shared judges for every pair of cells of every experiment.

    Per scenario, with n judges in common and M the least common multiple of their tip counts,
    the difference is N / (n M unit) with N = sum over judges of (sum_a M / k_a - sum_b M / k_b),
    an integer; every scenario is then put over the least common multiple of all their
    denominators. Should that exceed what int64 holds exactly (:data:`EXACT_LIMIT`, which takes
    dozens of distinct tip counts), the differences are read to 1/:data:`FINE_UNIT` point.
    """
    n_e, n_c, n_s, n_j = grid.shape
    a, b = pair_slots(n_c)
    present = np.zeros((n_e, n_c), dtype=bool)
    present[grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()] = True
    n_p = len(a)
    numerator = np.zeros((n_e, n_p, n_s), dtype=np.int64)
    scale = np.ones((n_e, n_p, n_s), dtype=np.int64)  # n M: numerator / (scale unit) points
    usable = np.zeros((n_e, n_p, n_s), dtype=bool)
    n_usable = np.zeros((n_e, n_p), dtype=np.int64)
    n_shared = np.zeros((n_e, n_p), dtype=np.int64)
    common = np.zeros((n_e, n_p, n_j), dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // max(1, n_p * n_s * n_j))
    for start in range(0, n_e, step):
        e = slice(start, start + step)
        ka, kb = grid.counts[e][:, a], grid.counts[e][:, b]  # (E, P, S, J)
        sa, sb = grid.sums[e][:, a], grid.sums[e][:, b]
        both = (ka > 0) & (kb > 0)
        judged = (ka > 0).any(axis=3) & (kb > 0).any(axis=3)  # (E, P, S)
        ka, kb = np.where(both, ka, 1), np.where(both, kb, 1)
        lcm = np.lcm.reduce(np.lcm(ka, kb), axis=3)  # (E, P, S)
        terms = sa * (lcm[..., None] // ka) - sb * (lcm[..., None] // kb)
        count = both.sum(axis=3)
        numerator[e] = np.where(both, terms, 0).sum(axis=3)
        scale[e] = np.where(count > 0, count * lcm, 1)
        usable[e] = count > 0
        n_usable[e] = (count > 0).sum(axis=2)
        n_shared[e] = judged.sum(axis=2)
        common[e] = both.any(axis=2)
    keep = (present[:, a] & present[:, b]).ravel()
    rows = (n_e * n_p, n_s)
    numerators, denominator = common_denominator(
        numerator.reshape(rows), scale.reshape(rows), usable.reshape(rows), grid.unit
    )
    e_index = np.repeat(np.arange(n_e), n_p)
    return PairDiffs(
        e=e_index[keep],
        a=np.tile(a, n_e)[keep],
        b=np.tile(b, n_e)[keep],
        numerators=numerators[keep],
        denominator=denominator,
        n_usable=n_usable.ravel()[keep],
        n_shared=n_shared.ravel()[keep],
        common=common.reshape(n_e * n_p, n_j)[keep],
    )


def common_denominator(
    numerator: np.ndarray, scale: np.ndarray, usable: np.ndarray, unit: int
) -> tuple[np.ndarray, int]:
    """Every usable difference numerator / (scale unit) over one denominator, usable ones first
    in each row (in scenario order) and 0 after them. Also used by :mod:`.pairwise` for its
    centred win shares (unit 2)."""
    distinct = [int(v) for v in np.unique(scale[usable])]
    common = math.lcm(*distinct) if distinct else 1
    factor = np.where(usable, common // scale, 0) if common * unit < EXACT_LIMIT else None
    if factor is not None and np.all(np.abs(numerator) * factor.astype(float) < EXACT_LIMIT):
        values, denominator = numerator * factor, common * unit
    else:
        points = numerator / (scale * float(unit))  # correctly rounded: equal ratios stay equal
        values, denominator = np.rint(points * FINE_UNIT).astype(np.int64), FINE_UNIT
    order = np.argsort(~usable, axis=1, kind="stable")
    ordered = np.take_along_axis(np.where(usable, values, 0), order, axis=1)
    return ordered, denominator
