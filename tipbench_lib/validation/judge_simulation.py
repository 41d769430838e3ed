"""Simulated judges on a ceiling-heavy rubric: lenient, harsh, noisy and random people, LLM judges.

Which judges a verdict may rest on (:mod:`.judges`) and what an LLM judge adds to people
(:mod:`.ppi`) are decided by simulation on the scores researchers actually see: discrete 1-5
scores piled at the top of the scale, with heavy ties. This module draws them (docs/architecture.md
section 8, "Provisional" and "LLM judge + people")::

    latent[c, s, k, j, d] = location[d] + cell[c] + scenario[s] + interaction[c, s] + tip[c, s, k]
                            + dim_noise[c, s, k, d] + bias[j] + sd[j] * noise[c, s, k, j, d]
    score = clip(round(latent), 1, 5)         (a ``random`` judge: uniform on 1..5)

The ``location`` of each dimension is solved so that an unbiased judge gives the top score to a
set share of the tips (by default 43% of relevance, 35% of actionability and 57% of tone scores
are 5s, as in the audit of issue 18). ``format_ok`` and ``overlong`` are automatic checks, the
same for every judge. A judge's ``bias`` moves every dimension it scores; at the ceiling it no
longer moves the score, so a lenient judge's composites are compressed as well as shifted, the
way real lenient judges are.

The truth is exact: every normal term adds up to one normal latent per dimension, so a judge's
expected composite of a cell over the scenario population has a closed form
(:func:`tipbench_lib.validation.synthetic.expected_score`).

Used by ``bench/judge_consistency.py``, ``bench/ppi_small_samples.py`` and their tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl
from scipy import optimize
from scipy.special import ndtr

from tipbench_lib.validation.synthetic import (
    DIMENSIONS,
    JUDGMENTS,
    WEIGHTS,
    expected_score,
)

TOP_SHARES: tuple[float, ...] = (0.43, 0.35, 0.57)
"""Share of 5s an unbiased judge gives per dimension (relevance, actionability, tone)."""
P_FORMAT_OK = 0.9
P_OVERLONG = 0.1


@dataclass(frozen=True)
class Judge:
    """One simulated judge: a person or an LLM judge, with its leniency and its noise."""

    judge_id: str
    kind: str = "human"
    """``human`` or ``llm``."""
    bias: float = 0.0
    """Latent shift of every dimension: + lenient, - harsh."""
    sd: float = 0.3
    """Per-dimension noise of its own, on top of what every judge sees in a tip."""
    random: bool = False
    """Scores drawn uniformly from 1..5, whatever the tip."""


@dataclass(frozen=True)
class Design:
    """An experiment's shape and its sources of variation (latent units of one dimension)."""

    judges: tuple[Judge, ...]
    n_cells: int = 6
    n_scenarios: int = 12
    n_tips: int = 3
    cell_effects: tuple[float, ...] | None = None
    """One per cell; None: all equal (0)."""
    scenario_sd: float = 0.6
    interaction_sd: float = 0.2
    tip_sd: float = 0.5
    dim_sd: float = 0.3
    top_shares: tuple[float, ...] = TOP_SHARES
    locations: tuple[float, ...] = field(default=(), compare=False)
    """Solved from ``top_shares`` when empty."""

    @property
    def effects(self) -> np.ndarray:
        if self.cell_effects is None:
            return np.zeros(self.n_cells)
        effects = np.asarray(self.cell_effects, dtype=float)
        if effects.shape != (self.n_cells,):
            raise ValueError(f"cell_effects needs {self.n_cells} values, got {effects.size}")
        return effects

    def shared_sd(self) -> float:
        """Sd of what every judge sees in one dimension of a tip, around its cell's effect."""
        return float(
            np.sqrt(self.scenario_sd**2 + self.interaction_sd**2 + self.tip_sd**2 + self.dim_sd**2)
        )

    def total_sd(self, judge: Judge) -> float:
        return float(np.sqrt(self.shared_sd() ** 2 + judge.sd**2))

    def dimension_locations(self) -> np.ndarray:
        """Per dimension, the latent location that gives an unbiased judge (sd 0.3) its share
        of 5s over the cells."""
        if self.locations:
            return np.asarray(self.locations, dtype=float)
        sd = self.total_sd(Judge("reference"))
        effects = self.effects

        def locate(share: float) -> float:
            def gap(location: float) -> float:
                return float(ndtr((location + effects - 4.5) / sd).mean()) - share

            return float(optimize.brentq(gap, -5.0, 15.0))

        return np.array([locate(s) for s in self.top_shares])


@dataclass(frozen=True)
class Draw:
    """Scores of many independent replicates of one design."""

    design: Design
    scores: np.ndarray
    """(replicates, cells, scenarios, tips, judges, dimensions) int8 scores 1-5."""
    flags: np.ndarray
    """(replicates, cells, scenarios, tips) composite points of the automatic checks."""

    @property
    def composite(self) -> np.ndarray:
        """(replicates, cells, scenarios, tips, judges) composites."""
        weights = np.array([WEIGHTS[d] for d in DIMENSIONS])
        return self.scores.astype(float) @ weights + self.flags[..., None]


def draw(design: Design, replicates: int, seed: int) -> Draw:
    """``replicates`` independent experiments (every judge scores every tip)."""
    rng = np.random.default_rng(seed)
    r, c, s, k = replicates, design.n_cells, design.n_scenarios, design.n_tips
    n_j, n_d = len(design.judges), len(DIMENSIONS)
    quality = (
        design.effects[None, :, None, None]
        + rng.normal(0, design.scenario_sd, (r, 1, s, 1))
        + rng.normal(0, design.interaction_sd, (r, c, s, 1))
        + rng.normal(0, design.tip_sd, (r, c, s, k))
    )
    shared = quality[..., None] + rng.normal(0, design.dim_sd, (r, c, s, k, n_d))
    shared = shared + design.dimension_locations()
    scores = np.empty((r, c, s, k, n_j, n_d), dtype=np.int8)
    for j, judge in enumerate(design.judges):
        if judge.random:
            scores[..., j, :] = rng.integers(1, 6, (r, c, s, k, n_d))
            continue
        latent = shared + judge.bias + judge.sd * rng.normal(0, 1, shared.shape)
        scores[..., j, :] = np.clip(np.floor(latent + 0.5), 1, 5)
    format_ok = rng.random((r, c, s, k)) < P_FORMAT_OK
    overlong = rng.random((r, c, s, k)) < P_OVERLONG
    flags = WEIGHTS["format_ok"] * format_ok + WEIGHTS["overlong"] * overlong
    return Draw(design, scores, flags.astype(float))


def expected_composites(design: Design) -> np.ndarray:
    """(cells, judges) each judge's expected composite of a tip of each cell."""
    locations = design.dimension_locations()
    flags = WEIGHTS["format_ok"] * P_FORMAT_OK + WEIGHTS["overlong"] * P_OVERLONG
    out = np.empty((design.n_cells, len(design.judges)))
    for j, judge in enumerate(design.judges):
        if judge.random:
            out[:, j] = 3.0 * len(DIMENSIONS) + flags
            continue
        mean = design.effects[:, None] + locations[None, :] + judge.bias
        dims = expected_score(mean, design.total_sd(judge))
        out[:, j] = dims @ np.array([WEIGHTS[d] for d in DIMENSIONS]) + flags
    return out


def people_truth(design: Design) -> np.ndarray:
    """(cells,) expected composite averaged over the people: what people-only verdicts estimate."""
    people = [j for j, judge in enumerate(design.judges) if judge.kind != "llm"]
    return expected_composites(design)[:, people].mean(axis=1)


def top_share(data: Draw, judges: Sequence[int] | None = None) -> np.ndarray:
    """Per dimension, the share of 5s the given judges (default: all) gave."""
    scores = data.scores if judges is None else data.scores[..., list(judges), :]
    return (scores == 5).reshape(-1, scores.shape[-1]).mean(axis=0)


def candidate_ids(design: Design) -> list[str]:
    """'c{cell}/s{scenario}/{tip}' for every tip, in the order of the drawn arrays."""
    return [
        f"c{c}/s{s:03d}/{k}"
        for c in range(design.n_cells)
        for s in range(design.n_scenarios)
        for k in range(design.n_tips)
    ]


def judgments_frame(data: Draw, replicate: int) -> pl.DataFrame:
    """One replicate's judgments, with the columns of the judgments schema (tip-v1)."""
    design = data.design
    ids = candidate_ids(design)
    n_tips = len(ids)
    scores = data.scores[replicate].reshape(n_tips, len(design.judges), len(DIMENSIONS))
    composite = data.composite[replicate].reshape(n_tips, len(design.judges))
    flags = data.flags[replicate].reshape(n_tips)
    format_ok = np.isin(flags, (2.0, 1.0))
    overlong = np.isin(flags, (-1.0, 1.0))
    n_j = len(design.judges)
    return pl.DataFrame(
        {
            "candidate_id": np.tile(ids, n_j),
            "judge_id": np.repeat([j.judge_id for j in design.judges], n_tips),
            "judge_kind": np.repeat([j.kind for j in design.judges], n_tips),
            "rubric_version": "tip-v1",
            **{d: scores[:, :, i].T.ravel() for i, d in enumerate(DIMENSIONS)},
            "format_ok": np.tile(format_ok, n_j),
            "overlong": np.tile(overlong, n_j),
            "composite": composite.T.ravel(),
            "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        },
        schema_overrides=JUDGMENTS,
    ).select(*JUDGMENTS)


def scenario_of(design: Design) -> pl.DataFrame:
    """candidate_id -> cell and scenario, for joining to a judgments frame."""
    ids = candidate_ids(design)
    return pl.DataFrame(
        {
            "candidate_id": ids,
            "cell": [int(i.split("/")[0][1:]) for i in ids],
            "scenario_id": [i.split("/")[1] for i in ids],
        }
    )
