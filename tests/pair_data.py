"""Pairwise judgments drawn from a synthetic experiment's own scores, as the pairs frame.

A pair judge here answers the way its rubric scores point: of two tips of one scenario from two
cells, the one its composite scored higher wins, equal composites tie. So the pairwise ranking of
such an experiment agrees with the rubric's unless a test reverses a chosen cell pair
(``reverse``), which is how the tests build two modes that disagree. The sides shown are drawn
from a seeded generator; ``left_lean`` turns that share of ties into wins for the side shown on
the left, a position bias to measure. Every row is ``PairJudgment.row()``, the contract the
loader's pairs frame has (``core/schema.PAIRS``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import combinations

import numpy as np
import polars as pl

from tipbench_lib.core.frames import pairs_frame as frame_of
from tipbench_lib.core.records import JudgeSource, PairJudgment, RubricRef
from tipbench_lib.validation.synthetic import RUBRIC, SyntheticExperiment

Cell = tuple[str, str]
START = datetime(2026, 12, 1, 9, tzinfo=UTC)


def pair_judgments(
    exp: SyntheticExperiment,
    judge_id: str,
    *,
    kind: str = "human",
    reverse: Iterable[tuple[Cell, Cell]] = (),
    left_lean: float = 0.0,
    tips: int = 1,
    first_tip: int = 0,
    seed: int = 0,
) -> list[PairJudgment]:
    """One judgment per scenario, cell pair and tip index (``first_tip`` on, ``tips`` of
    them), by ``judge_id``'s composites; the cell pairs in ``reverse`` get the opposite answer."""
    rng = np.random.default_rng(seed)
    flipped = {frozenset(p) for p in reverse}
    scored = (
        exp.judgments.filter(pl.col("judge_id") == judge_id)
        .select("candidate_id", "composite")
        .join(exp.candidates.select("candidate_id", "cell_id"), on="candidate_id")
        .join(exp.cells.select("cell_id", "model", "prompt_version", "scenario_id"), on="cell_id")
        .sort("cell_id", "candidate_id")
    )
    source = JudgeSource(kind, judge_id, model="gemma3-270m" if kind == "llm" else "")
    rubric = RubricRef(RUBRIC.name, RUBRIC.version, "")
    made: list[PairJudgment] = []
    for (scenario,), rows in scored.group_by(["scenario_id"], maintain_order=True):
        by_cell: dict[str, list[dict]] = {}
        for row in rows.iter_rows(named=True):
            by_cell.setdefault(row["cell_id"], []).append(row)
        for one, two in combinations(sorted(by_cell), 2):
            last = min(first_tip + tips, len(by_cell[one]), len(by_cell[two]))
            for k in range(first_tip, last):
                x, y = by_cell[one][k], by_cell[two][k]
                choice = "tie"
                if x["composite"] != y["composite"]:
                    x_wins = x["composite"] > y["composite"]
                    cells = frozenset(
                        {(x["model"], x["prompt_version"]), (y["model"], y["prompt_version"])}
                    )
                    x_wins = x_wins != (cells in flipped)
                    choice = "x" if x_wins else "y"
                x_left = bool(rng.random() < 0.5)
                if choice == "tie" and rng.random() < left_lean:
                    choice = "x" if x_left else "y"
                shown = {"x": "left" if x_left else "right", "y": "right" if x_left else "left"}
                left, right = (x, y) if x_left else (y, x)
                made.append(
                    PairJudgment.shown(
                        (left["candidate_id"], left["cell_id"]),
                        (right["candidate_id"], right["cell_id"]),
                        shown.get(choice, "tie"),
                        scenario_id=str(scenario),
                        source=source,
                        rubric=rubric,
                        created_at=(START + timedelta(seconds=len(made))).isoformat(),
                    )
                )
    return made


def pairs_frame(judgments: Iterable[PairJudgment]) -> pl.DataFrame:
    """The pairs frame of these judgments, as the loader builds it (``core/frames``)."""
    return frame_of(judgments)
