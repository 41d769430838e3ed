"""One judge's pairwise session: which two tips a card shows, on which sides, and saving the answer
journal first (docs/architecture.md, section 13).

A pairwise card shows one scenario and two tips of it from two different cells. Everything else
a judge session does (the experiment read once, the journal, the syncer that sends MLflow its
half, the scenario views, blinding) is the rubric session's, so a :class:`PairSession` holds a
:class:`~tipbench_lib.judge.session.JudgeSession` opened without the people's score queue and
adds the pairs.

**The order.** The population is every (scenario, cell pair, tip pair) of the experiment. By
default (``adaptive``) the pair queue (:mod:`tipbench_lib.stats.pair_queue`) picks the next
(scenario, cell pair) within the primary family, fixed before data as the rubric queue's is
(:meth:`JudgeSession.fixed_family <tipbench_lib.judge.session.JudgeSession.fixed_family>`: the
two modes share it), fed with every person's answers MLflow and this machine's journals hold; it
says when every primary comparison is decided or out of reach. Its tips are the first pair of
that unit in the judge's uniform order not judged yet. In ``uniform`` order (and after the queue
has nothing left) each (scenario, cell pair) comes once per round with one of its tip pairs (a
seeded shuffle of its tip pairs, one per round), and within a round the cards are interleaved so
no two neighbours share a scenario (:func:`tipbench_lib.judge.queue.interleaved_order`). The
seed is the judge's own, journalled once (a ``pair-queue`` record) and reused on every resume.
The slot of the card a judge is handed is journalled as their plan, as the rubric queue's cards
are (a ``plan`` record of mode ``pairwise``: :class:`~tipbench_lib.judge.queue.Plans`), and every
other judge's queue holds it while the plan lives, so two judges (two browser kernels) are not
sent the same (scenario, cell pair).

**The sides.** Each card's left side is drawn from the judge's seed and the pair's id, so a card
shows the same sides after a reload or when revised, and the sides are balanced over cards; the
record keeps the side shown on the left (:meth:`PairJudgment.shown
<tipbench_lib.core.records.PairJudgment.shown>`), which is what position bias is measured from.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from pathlib import Path
from typing import Any

from tipbench_lib.core.errors import JudgingError, TipbenchError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.records import PairJudgment, now_iso, pair_id
from tipbench_lib.core.scenarios import ScenarioView
from tipbench_lib.core.schema import PEOPLE_KINDS
from tipbench_lib.judge.journal import PAIR, judge_key, judgments_dir
from tipbench_lib.judge.queue import (
    APP_PLAN_TTL,
    PAIR_UNITS,
    Family,
    JournalFeed,
    Plans,
    baseline_text,
    experiment_seed,
    interleaved_order,
    judge_seed,
)
from tipbench_lib.judge.session import JudgeSession, JudgingProgress
from tipbench_lib.stats import pair_queue
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import StoredExperiment, read_experiment

PAIR_QUEUE = "pair-queue"
"""The journal record holding the seed of a judge's pair order and sides."""
PAIR_ORDERS = ("adaptive", "uniform")


@dataclass
class PeopleFeed:
    """The pair queue's state, fed once with every person's answers (MLflow's at the start, then
    what the journals on this machine gain: :class:`~tipbench_lib.judge.queue.JournalFeed`),
    holding the other judges' live pair plans (:class:`~tipbench_lib.judge.queue.Plans`)."""

    state: pair_queue.PairQueueState
    feed: JournalFeed
    family: Family
    session: PairSession
    plans: Plans = field(default_factory=lambda: Plans(PAIR_UNITS))
    seen: set[tuple[str, str, str]] = field(default_factory=set)

    def refresh(self) -> None:
        """Take what the journals gained since the last call, and apply the live plans."""
        self.take([], self.feed.read())
        self.plans.apply(self.state)

    def take(self, pairs: Sequence[PairJudgment], journalled: Sequence[dict[str, Any]]) -> None:
        """Record each person's answer once, in the order made; a revision of a pair already
        seen counts as a card but its unit has entered already (the sequence keeps the value it
        bet on). Pair plans are taken as they come."""
        found = list(pairs)
        for record in journalled:
            if record.get("type") == PAIR:
                with contextlib.suppress(TipbenchError, KeyError, TypeError, ValueError):
                    found.append(PairJudgment.from_json(record))
            else:
                self.plans.take(record)
        cells = self.session.scores.cells
        for pair in sorted(found, key=lambda p: p.time):
            key = (pair.pair_id, pair.judge_id, pair.created_at)
            if key in self.seen or not pair.ok or pair.source.kind not in PEOPLE_KINDS:
                continue
            self.plans.saw(pair.judge_id, pair.time.timestamp())
            if pair.cell_a not in cells or pair.cell_b not in cells:
                continue
            self.seen.add(key)
            a, b = cells[pair.cell_a], cells[pair.cell_b]
            with contextlib.suppress(TipbenchError):
                self.state.record(
                    pair.scenario_id,
                    (a.model, a.prompt_version),
                    (b.model, b.prompt_version),
                    pair.answer,
                )


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
        order: str = "adaptive",
        baseline: tuple[str, str] | None = None,
        alpha: float = 0.05,
        seed: int | None = None,
        home: Path | None = None,
        stored: StoredExperiment | None = None,
        plan_ttl: float = APP_PLAN_TTL,
    ) -> None:
        if order not in PAIR_ORDERS:
            raise JudgingError(
                f"pairwise judging comes in {' or '.join(PAIR_ORDERS)} order, not {order!r}"
            )
        stored = stored if stored is not None else read_experiment(client, experiment)
        self.scores = JudgeSession(
            client, experiment, judge_id, blind=blind, queue=False, home=home, stored=stored
        )
        self.experiment = self.scores.experiment
        self.judge_id = self.scores.judge_id
        self.blind = blind
        self.rubric = self.scores.rubric
        self.journal = self.scores.journal
        self.pairs = {p.pair_id: p for p in pair_population(self.scores)}
        if not self.pairs:  # refused before anything is journalled
            raise JudgingError(
                f"experiment {experiment!r} has no scenario with two cells, so there is no pair "
                "to judge; collect two models or prompts over the same scenarios, or judge with "
                "the rubric (leave out --mode pairwise)"
            )
        self.seed = self._recorded_seed(
            judge_seed(experiment, f"{self.judge_id} pairwise") if seed is None else seed
        )
        self.order = [p.pair_id for p in uniform_pair_order(list(self.pairs.values()), self.seed)]
        self._position = {pid: index for index, pid in enumerate(self.order, start=1)}
        self.queue_order = order
        self.plan_ttl = plan_ttl
        self.people: PeopleFeed | None = None
        if order == "adaptive":
            self.people = self._open_queue(stored, baseline, alpha)

    def _open_queue(
        self, stored: StoredExperiment, baseline: tuple[str, str] | None, alpha: float
    ) -> PeopleFeed:
        """The pair queue over the primary family (fixed and recorded before data), fed with
        every person's answers so far."""
        feed = JournalFeed(judgments_dir(self.experiment, self.scores.home), judge_key)
        journalled = feed.read()
        family = self.scores.fixed_family(stored, journalled, baseline, None)
        cells = self.scores.cells
        rows = [
            {
                "model": cells[c].model,
                "prompt_version": cells[c].prompt_version,
                "scenario_id": cells[c].scenario_id,
            }
            for c in self.scores.by_cell
        ]
        try:
            design = pair_queue.pair_design(rows, family.baseline)
        except TipbenchError as exc:  # a baseline that is no cell: say so as a judging error
            raise JudgingError(str(exc)) from None
        # Scenarios enter every comparison in the experiment's seeded order (stats/pair_queue);
        # the judge's seed only breaks ties between comparisons (next_pairs in serve).
        state = pair_queue.PairQueueState(
            design,
            alpha=alpha,
            cards_per_unit=self.cards_per_unit(),
            seed=experiment_seed(self.experiment),
        )
        people = PeopleFeed(state, feed, family, self)
        people.take(list(stored.records.pairs), journalled)
        # This judge's own journalled plan is theirs to continue: the pair queue plans afresh
        # for every card, so only the others' plans are held.
        people.plans.resume(self.judge_id)
        people.plans.apply(state)
        return people

    def cards_per_unit(self) -> int:
        """Cards whose mean enters a comparison's sequence per scenario: the pair queue's
        default, or fewer when a (scenario, cell pair) has fewer tip pairs (one tip per cell:
        one), since one judge must be able to fill a unit alone."""
        sizes = Counter((p.scenario_id, p.cell_a, p.cell_b) for p in self.pairs.values())
        return max(1, min(pair_queue.DEFAULT_CARDS_PER_UNIT, *sizes.values()))

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
        """The next card, and whether it is an extra one: the pair queue has none now (every
        comparison decided or out of reach, or its units planned for this judge's others), so it
        comes from the uniform order, which the judge may follow or stop."""
        if self.people is not None:
            self.people.refresh()
            done = self.done_ids()
            for slot in pair_queue.next_pairs(self.people.state, self.judge_id, 3, self.seed):
                found = self._tips_for(slot, done)
                if found is not None:
                    self._hold(slot)
                    return self.card(found), False
        rest = self.uniform_queue()[:1]
        return (self.card(rest[0]) if rest else None), self.people is not None and bool(rest)

    def _hold(self, slot: pair_queue.PairSlot) -> None:
        """Journal the slot of the card handed out as this judge's plan when it is a new one, so
        the other judges' queues (other kernels) leave it alone while the plan lives
        (:class:`~tipbench_lib.judge.queue.Plans`). Only that slot: the queue plans afresh for
        every card, so what else it planned is not handed out, and a record per new slot (about
        one per unit of cards) keeps the journal's fsync off most submits."""
        if self.people is not None:
            record = self.people.plans.record([slot], self.plan_ttl)
            if record is not None:
                self.journal.append_record(record)

    def _tips_for(self, slot: pair_queue.PairSlot, done: set[str]) -> str | None:
        """The first pair of the slot's (scenario, cells) in this judge's order not judged."""
        cells = {
            (c.model, c.prompt_version): cid
            for cid, c in self.scores.cells.items()
            if c.scenario_id == slot.scenario_id and cid in self.scores.by_cell
        }
        wanted = {cells.get(slot.cell_a), cells.get(slot.cell_b)}
        for pid in self.order:
            pair = self.pairs[pid]
            same_unit = (
                pair.scenario_id == slot.scenario_id and {pair.cell_a, pair.cell_b} == wanted
            )
            if same_unit and pid not in done:
                return pid
        return None

    def status(self) -> dict[str, Any]:
        """Where the primary comparisons stand, in the rubric status panel's keys."""
        if self.people is None:
            raise JudgingError("this session has no pair queue (uniform order)")
        self.people.refresh()
        found = pair_queue.pair_status(self.people.state)
        return {
            **{k: v for k, v in found.items() if k != "comparisons"},
            "comparisons": len(found["comparisons"]),
            "family": baseline_text(self.people.family.baseline),
        }

    def comparisons(self) -> list[dict[str, Any]]:
        """Per primary comparison its decision, interval and cards left (arms hidden when blind:
        a judge who knew which cell leads could favour it)."""
        if self.people is None:
            return []
        rows = pair_queue.pair_status(self.people.state)["comparisons"]
        if self.blind:
            for row in rows:
                for key in ("a_model", "a_prompt", "b_model", "b_prompt"):
                    row[key] = ""
        return rows

    def can_stop(self) -> bool:
        return self.people is not None and pair_queue.can_stop(self.people.state)

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

    def card(self, pair: str, judged: dict[str, PairJudgment] | None = None) -> PairCard:
        """The card of ``pair`` (``judged``: this judge's answers, when already read)."""
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
            previous=(self.judged() if judged is None else judged).get(pair),
        )

    def progress(self) -> JudgingProgress:
        return JudgingProgress(len(self.done_ids()), self.total, ())

    def revisable(self, last: int = 10) -> list[tuple[str, str]]:
        """(label, pair id) of this judge's last ``last`` answers, newest first, for the revise
        list (one journal read for the lot)."""
        judged = self.judged()
        recent = sorted(judged.values(), key=lambda j: j.time, reverse=True)[:last]
        out = []
        for judgment in recent:
            card = self.card(judgment.pair_id, judged)
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
        if self.people is not None:
            self.people.take([record], [])
        self.scores.syncer.saved([record])  # cell A's run lacks it until the sender runs
        return record

    # -- MLflow (the syncer's) --

    def sync_pending(self) -> str:
        return self.scores.sync_pending()

    def undelivered(self) -> int:
        return self.scores.undelivered()
