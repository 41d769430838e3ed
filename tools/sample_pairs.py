"""Blind pair cards for the shipped sample, and their answers as the sample's ``pairs.parquet``.

The shipped sample is a snapshot, not an MLflow experiment, so ``tipbench judge --export --mode
pairwise`` cannot draw its cards; this does the same on the snapshot
(``tipbench_lib/data/sample/README.md`` says who answered them and how):

- ``cards OUT.json``: one card per scenario and pair of cells (12 × 15 = 180), the two tips
  drawn uniformly among the two cells' K × K tip pairs and the sides by a fair coin, from a
  fixed seed; the card shows the scenario and the two tips, never a cell, model or prompt
  (the ``tipbench.pairs/1`` export's items, ``judge/pair_exchange``).
- ``apply OUT.json ANSWERS``: ANSWERS is one letter per card in the cards' order (``L`` left,
  ``R`` right, ``T`` tie; whitespace ignored); the judgments are built with
  ``PairJudgment.shown`` exactly as an applied export's are and written to the sample's
  ``pairs.parquet`` through ``core/frames.pairs_frame``; the snapshot reader then checks every
  row against the sample's own cells and candidates.

Run from the repository root: ``.venv/bin/python tools/sample_pairs.py cards /tmp/cards.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime
from itertools import combinations, product
from pathlib import Path

import polars as pl

from tipbench_lib.compare.load import PAIRS_FILE, read_snapshot
from tipbench_lib.core.frames import pairs_frame
from tipbench_lib.core.records import Cell, JudgeSource, PairJudgment
from tipbench_lib.core.scenarios import scenario_views

SAMPLE = Path("tipbench_lib/data/sample")
SEED = 20261207
JUDGE = JudgeSource(
    "llm",
    "llm:claude-assistant",
    model="Claude (the AI coding assistant that built tipbench; chose blind from pair cards)",
)
CHOICES = {"L": "left", "R": "right", "T": "tie"}


def draw_cards(sample: Path = SAMPLE, seed: int = SEED) -> list[dict]:
    """One blind card per (scenario, pair of cells), in a shuffled order (module docstring)."""
    data = read_snapshot(sample)
    rng = random.Random(seed)
    tips = data.candidates.sort("cell_id", "sample_index")
    by_cell = {
        cell: rows.select("candidate_id", "text").rows()
        for (cell,), rows in tips.group_by(["cell_id"], maintain_order=True)
    }
    cells = data.cells.sort("scenario_id", "cell_id")
    views = scenario_views(
        Cell(
            r["cell_id"],
            r["model"],
            r["prompt_version"],
            r["scenario_id"],
            r["persona"],
            r["time_slot"],
        )
        for r in cells.iter_rows(named=True)
    )
    cards = []
    for (scenario,), rows in cells.group_by(["scenario_id"], maintain_order=True):
        for one, two in combinations(rows["cell_id"].to_list(), 2):
            (a, text_a), (b, text_b) = rng.choice(list(product(by_cell[one], by_cell[two])))
            left, right = ((a, one, text_a), (b, two, text_b))
            if rng.random() < 0.5:
                left, right = right, left
            cards.append(
                {
                    "scenario_id": scenario,
                    "scenario": views[scenario].as_text(),
                    "left": {"candidate_id": left[0], "cell_id": left[1], "tip": left[2]},
                    "right": {"candidate_id": right[0], "cell_id": right[1], "tip": right[2]},
                }
            )
    rng.shuffle(cards)
    return cards


def blind_text(cards: list[dict]) -> str:
    """The cards as a judge reads them: scenario and two tips, nothing that names a cell."""
    lines = []
    for number, card in enumerate(cards, start=1):
        lines += [
            f"## {number} · {card['scenario_id']}",
            f"LEFT: {card['left']['tip']}",
            f"RIGHT: {card['right']['tip']}",
            "",
        ]
    return "\n".join(lines)


def judgments(cards: list[dict], answers: str) -> list[PairJudgment]:
    """The answered cards as pairwise judgments, as an applied export makes them."""
    letters = [c for c in answers.upper() if not c.isspace()]
    if len(letters) != len(cards) or set(letters) - set(CHOICES):
        raise SystemExit(f"{len(letters)} answers of L/R/T for {len(cards)} cards")
    made = datetime.now(UTC).isoformat(timespec="seconds")
    data = read_snapshot(SAMPLE)
    rubric = data.rubric.ref
    return [
        PairJudgment.shown(
            (card["left"]["candidate_id"], card["left"]["cell_id"]),
            (card["right"]["candidate_id"], card["right"]["cell_id"]),
            CHOICES[letter],
            scenario_id=card["scenario_id"],
            source=JUDGE,
            rubric=rubric,
            created_at=made,
        )
        for card, letter in zip(cards, letters, strict=True)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cards = sub.add_parser("cards", help="write the cards (JSON) and print them blind")
    cards.add_argument("out", type=Path)
    apply = sub.add_parser("apply", help="write the answers as the sample's pairs.parquet")
    apply.add_argument("cards", type=Path)
    apply.add_argument("answers", type=Path, help="a file of L/R/T letters, one per card")
    args = parser.parse_args(argv)
    if args.command == "cards":
        drawn = draw_cards()
        args.out.write_text(json.dumps(drawn, ensure_ascii=False, indent=1), encoding="utf-8")
        print(blind_text(drawn))
        return 0
    drawn = json.loads(args.cards.read_text(encoding="utf-8"))
    made = judgments(drawn, args.answers.read_text(encoding="utf-8"))
    frame = pairs_frame(made)
    frame.write_parquet(SAMPLE / PAIRS_FILE)
    print(f"wrote {frame.height} pairwise judgments to {SAMPLE / PAIRS_FILE}")
    print(pl.Series([j.answer for j in made]).value_counts())
    return 0


if __name__ == "__main__":
    sys.exit(main())
