"""One judge's pairwise session: which two tips a card shows, on which sides, and saving the answer
journal first (docs/architecture.md, section 13).

A pairwise card shows one scenario and two tips of it from two different cells. Everything else
a judge session does (the experiment read once, the journal, the syncer that sends MLflow its
half, the scenario views, blinding) is the rubric session's, so a :class:`PairSession` holds a
:class:`~tipbench_lib.judge.session.JudgeSession` opened without the people's score queue and
adds the pairs.

**The order.** The population is every (scenario, cell pair, tip pair) of the experiment. Until
the adaptive pair queue picks the next (scenario, cell pair) (:mod:`tipbench_lib.stats.pair_queue`),
the order is uniform: each (scenario, cell pair) comes once per round with one of its tip pairs
(a seeded shuffle of its tip pairs, one per round), and within a round the cards are interleaved
so no two neighbours share a scenario (:func:`tipbench_lib.judge.queue.interleaved_order`). The
seed is the judge's own, journalled once (a ``pair-queue`` record) and reused on every resume.

**The sides.** Each card's left side is drawn from the judge's seed and the pair's id, so a card
shows the same sides after a reload or when revised, and the sides are balanced over cards; the
record keeps the side shown on the left (:meth:`PairJudgment.shown
<tipbench_lib.core.records.PairJudgment.shown>`), which is what position bias is measured from.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from pathlib import Path
from typing import Any

from tipbench_lib.core.errors import JudgingError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.records import PairJudgment, now_iso, pair_id
from tipbench_lib.core.scenarios import ScenarioView
from tipbench_lib.judge.queue import interleaved_order, judge_seed
from tipbench_lib.judge.session import JudgeSession, JudgingProgress
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import StoredExperiment

PAIR_QUEUE = "pair-queue"
"""The journal record holding the seed of a judge's pair order and sides."""


@dataclass(frozen=True)
class Pair:
    """Two candidates of one scenario from two cells, in the record's canonical order (A: the
    smaller cell id)."""

    candidate_a: str
    candidate_b: str
    cell_a: str
    cell_b: str
    scenario_id: str

    @property
    def pair_id(self) -> str:
        return pair_id(self.candidate_a, self.candidate_b)


@dataclass(frozen=True)
class PairSide:
    """One tip as a pairwise card shows it. Blind cards carry no model or prompt at all."""

    candidate_id: str
    cell_id: str
    text: str
    char_count: int
    revealed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PairCard:
    """Everything one pairwise card shows, and the sides as shown."""

    pair_id: str
    scenario: ScenarioView
    left: PairSide
    right: PairSide
    position: int
    total: int
    previous: PairJudgment | None = None
    """The judge's answer that counts for this pair (revising), None for a new card."""

    @property
    def previous_choice(self) -> str | None:
        """The previous answer as the judge gave it on these sides ("left", "right", "tie")."""
        if self.previous is None or not self.previous.ok:
            return None
        if self.previous.answer == "tie":
            return "tie"
        left_is_a = self.left.candidate_id == self.previous.candidate_a
        return "left" if (self.previous.answer == "a") == left_is_a else "right"


def pair_population(session: JudgeSession) -> list[Pair]:
    """Every (scenario, cell pair, tip pair) of the experiment, in canonical order."""
    by_scenario: dict[str, list[str]] = defaultdict(list)
    for cell_id in sorted(session.by_cell):
        by_scenario[session.cells[cell_id].scenario_id].append(cell_id)
    pairs = []
    for scenario_id, cells in sorted(by_scenario.items()):
        for cell_a, cell_b in combinations(cells, 2):
            for a, b in product(sorted(session.by_cell[cell_a]), sorted(session.by_cell[cell_b])):
                pairs.append(Pair(a, b, cell_a, cell_b, scenario_id))
    return pairs


def uniform_pair_order(pairs: Sequence[Pair], seed: int) -> list[Pair]:
    """The seeded uniform order (module docstring): rounds of one tip pair per (scenario, cell
    pair), interleaved by scenario within a round."""
    units: dict[tuple[str, str, str], list[Pair]] = defaultdict(list)
    for pair in pairs:
        units[(pair.scenario_id, pair.cell_a, pair.cell_b)].append(pair)
    rounds: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for unit, members in sorted(units.items()):
        shuffled = sorted(members, key=lambda p: p.pair_id)
        random.Random(content_hash([seed, *unit])).shuffle(shuffled)
        for index, pair in enumerate(shuffled):
            rounds[index].append(
                {"candidate_id": pair.pair_id, "scenario_id": pair.scenario_id, "pair": pair}
            )
    order: list[Pair] = []
    for index in sorted(rounds):
        rows = interleaved_order(rounds[index], seed + index, group_key="scenario_id")
        order.extend(row["pair"] for row in rows)
    return order


def left_is_a(seed: int, pair: str) -> bool:
    """Whether side A is shown on the left of this pair's card: drawn from the judge's seed and
    the pair id, so the same card always shows the same sides."""
    return random.Random(content_hash([seed, pair, "sides"])).random() < 0.5


class PairSession:
    """One judge choosing between pairs of tips of one experiment (module docstring)."""

    def __init__(
        self,
        client: MlflowClient,
        experiment: str,
        judge_id: str,
        *,
        blind: bool = True,
        seed: int | None = None,
        home: Path | None = None,
        stored: StoredExperiment | None = None,
    ) -> None:
        self.scores = JudgeSession(
            client, experiment, judge_id, blind=blind, queue=False, home=home, stored=stored
        )
        self.experiment = self.scores.experiment
        self.judge_id = self.scores.judge_id
        self.blind = blind
        self.rubric = self.scores.rubric
        self.journal = self.scores.journal
        self.seed = self._recorded_seed(
            judge_seed(experiment, f"{self.judge_id} pairwise") if seed is None else seed
        )
        self.pairs = {p.pair_id: p for p in pair_population(self.scores)}
        if not self.pairs:
            raise JudgingError(
                f"experiment {experiment!r} has no scenario with two cells, so there is no pair "
                "to judge; collect two models or prompts over the same scenarios, or judge with "
                "the rubric (leave out --mode pairwise)"
            )
        self.order = [p.pair_id for p in uniform_pair_order(list(self.pairs.values()), self.seed)]
        self._position = {pid: index for index, pid in enumerate(self.order, start=1)}
        self.queue_order = "uniform"
        self.people = None

    def _recorded_seed(self, default: int) -> int:
        """The seed of this judge's pair order and sides: journalled once, reused on resume."""
        for record in self.journal.records_of(PAIR_QUEUE):
            return int(record["seed"])
        self.journal.append_record({"type": PAIR_QUEUE, "seed": default, "created_at": now_iso()})
        return default

    # -- reading (always from disk) --

    @property
    def total(self) -> int:
        return len(self.order)

    def judged(self) -> dict[str, PairJudgment]:
        """pair_id → this judge's answer that counts, for pairs of this experiment."""
        return {p: j for p, j in self.journal.latest_pairs().items() if p in self.pairs}

    def done_ids(self) -> set[str]:
        return {p for p, j in self.judged().items() if j.ok}

    def uniform_queue(self) -> list[str]:
        done = self.done_ids()
        return [p for p in self.order if p not in done]

    def serve(self) -> tuple[PairCard | None, bool]:
        """The next card, and whether it is beyond the order's queue (never, in uniform order)."""
        rest = self.uniform_queue()[:1]
        return (self.card(rest[0]) if rest else None), False

    def next_card(self) -> PairCard | None:
        return self.serve()[0]

    def side(self, candidate_id: str) -> PairSide:
        candidate = self.scores.candidate(candidate_id)
        cell = self.scores.cells[candidate.cell_id]
        revealed = (
            {} if self.blind else {"model": cell.model, "prompt_version": cell.prompt_version}
        )
        return PairSide(
            candidate_id,
            candidate.cell_id,
            candidate.text,
            candidate.char_count or len(candidate.text),
            revealed,
        )

    def card(self, pair: str) -> PairCard:
        found = self.pairs.get(pair)
        if found is None:
            raise JudgingError(f"pair {pair} is not part of {self.experiment!r}")
        a, b = self.side(found.candidate_a), self.side(found.candidate_b)
        left, right = (a, b) if left_is_a(self.seed, pair) else (b, a)
        return PairCard(
            pair_id=pair,
            scenario=self.scores.views[found.scenario_id],
            left=left,
            right=right,
            position=self._position[pair],
            total=self.total,
            previous=self.judged().get(pair),
        )

    def progress(self) -> JudgingProgress:
        return JudgingProgress(len(self.done_ids()), self.total, ())

    def revisable(self, last: int = 10) -> list[tuple[str, str]]:
        """(label, pair id) of this judge's last ``last`` answers, newest first, for the revise
        list (one journal read for the lot)."""
        judged = sorted(self.judged().values(), key=lambda j: j.time, reverse=True)[:last]
        out = []
        for judgment in judged:
            card = self.card(judgment.pair_id)
            words = {"left": "left better", "right": "right better", "tie": "tie"}
            choice = words.get(card.previous_choice or "", "failed")
            text = card.left.text.replace("\n", " ")[:40]
            out.append((f"#{card.position}: {choice} · left: {text}…", judgment.pair_id))
        return out

    # -- saving --

    def record_for(self, card: PairCard, choice: str, note: str = "") -> PairJudgment:
        """The judgment the judge's ``choice`` on ``card`` makes, with the sides as shown."""
        return PairJudgment.shown(
            (card.left.candidate_id, card.left.cell_id),
            (card.right.candidate_id, card.right.cell_id),
            choice,
            scenario_id=card.scenario.scenario_id,
            source=self.scores.source,
            rubric=self.rubric.ref,
            note=note,
            created_at=now_iso(),
        )

    def save(self, card: PairCard, choice: str, note: str = "") -> PairJudgment:
        """Journal (fsync) the answer; MLflow gets it from the sender (:meth:`sync_pending`)."""
        record = self.record_for(card, choice, note)
        self.journal.append_pair(record)
        self._mark_unsynced(record)
        return record

    def _mark_unsynced(self, record: PairJudgment) -> None:
        """Tell the syncer cell A's run lacks this answer (the pair's artifact lives there)."""
        saved_pairs = getattr(self.scores.syncer, "saved_pairs", None)
        if saved_pairs is not None:
            saved_pairs([record])

    # -- MLflow (the syncer's) --

    def sync_pending(self) -> str:
        return self.scores.sync_pending()

    def undelivered(self) -> int:
        return self.scores.undelivered()
