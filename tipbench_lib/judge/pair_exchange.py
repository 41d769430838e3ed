"""Pairwise judging outside the app: blind pair cards exported as JSON, a filled file applied.

The pairwise side of :mod:`.exchange` (docs/architecture.md, section 13). An export holds cards of
one scenario and two tips of two different cells of it, as a judge is shown them: the scenario,
a ``left`` and a ``right`` tip (the sides drawn at random per card), no cell, model or prompt. The
judge answers ``"left"``, ``"right"`` or ``"tie"`` per card (a note optional); an unanswered card
is skipped. Each card carries its tips' candidate ids, so the file itself records which tip was
shown on which side and apply maps the answer back to the pair's own terms
(:meth:`~tipbench_lib.core.records.PairJudgment.shown`).

Apply trusts the file no more than a scores file: the same reading (size, encoding, nesting:
:func:`.exchange.read_document`), the same file checks (format, experiment, rubric, judge id; and
the question, which must be the one pairs answer), and
per card: known candidates of this experiment, tip texts unchanged since export, two cells of one
scenario, each pair once, a valid answer and a text note. Any problem refuses the whole file;
otherwise every judgment is journalled first, then sent to MLflow by the judge's syncer
(:mod:`.delivery`), as ``import`` judgments.

Which pairs an export holds: with ``--judge-id ID --next N`` (or without a judge, the same draw),
N pairs drawn uniformly at random over the (scenario, cell pair, tips) that no judge has answered
yet and no other judge's live pair plan holds, seeded by the experiment and the judge, so
exporting twice before applying gives the same cards. With a judge id the batch's (scenario,
cell pair) slots are then journalled as that judge's pair plan for ``--hold-hours``
(:class:`~tipbench_lib.judge.queue.Plans`, docs/architecture.md section 13), so the judge apps'
pair queues and other exports leave them alone while the batch is out, as the rubric's exported
batches are left alone. The adaptive pair queue (``stats/pair_queue``) is to choose them once it
is wired here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from pathlib import Path
from typing import Any

from tipbench_lib.core.errors import JudgingError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.records import (
    PAIR_QUESTION,
    Candidate,
    Cell,
    JudgeSource,
    PairJudgment,
    now_iso,
    pair_id,
)
from tipbench_lib.core.scenarios import scenario_views
from tipbench_lib.judge.delivery import DEFAULT_REQUIRED_JUDGES, JudgmentSyncer
from tipbench_lib.judge.exchange import (
    FORMAT,
    ImportProblem,
    ImportRejected,
    file_problems,
    shown_value,
)
from tipbench_lib.judge.journal import (
    JudgeJournal,
    judge_key,
    judgments_dir,
    local_pairs,
    open_journals,
)
from tipbench_lib.judge.queue import EXPORT_PLAN_TTL, PAIR_UNITS, JournalFeed, Plans
from tipbench_lib.stats.pair_queue import PairSlot
from tipbench_lib.tracking.experiment import StoredExperiment

PAIRS_FORMAT = "tipbench.pairs/1"
CHOICES: tuple[str, ...] = ("left", "right", "tie")
MAX_NOTE_CHARS = 2000
"""The longest note a card's answer may carry (a judge's sentence or two; the app's limit)."""
INSTRUCTIONS = (
    'For each item, read the scenario and both tips, then set "answer" to "left" if the left '
    'tip serves this person better on the rubric as a whole, "right" if the right one does, or '
    '"tie"; leave it null to skip the card. "note" is optional.'
)


@dataclass(frozen=True)
class PairCard:
    """One card to show: a scenario and two tips of two cells, the first shown left."""

    scenario_id: str
    left: Candidate
    right: Candidate


@dataclass(frozen=True)
class PairPlan:
    """A file that passed every check: who judged, and the judgments to store."""

    judge_id: str
    pairs: list[PairJudgment] = field(default_factory=list)
    skipped: int = 0


# -- export ---------------------------------------------------------------------------------------


def latest_answers(stored: StoredExperiment, home: Path | None = None) -> list[PairJudgment]:
    """Every judge's latest pairwise judgment per pair: MLflow's and this machine's journals."""
    return list(stored.records.latest_pairs(local_pairs(stored.records.name, home)).values())


def answered_pairs(latest: Sequence[PairJudgment]) -> set[frozenset[str]]:
    """The two candidate ids of every pair some judge has answered (of :func:`latest_answers`)."""
    return {frozenset((p.candidate_a, p.candidate_b)) for p in latest if p.ok}


SlotKey = tuple[str, frozenset[tuple[str, str]]]
"""A pair slot either way round: the scenario and the two cells' (model, prompt)."""


@dataclass
class HeldSlots:
    """The pair slots other judges' live plans hold (a :class:`~.queue.Holder`)."""

    by_judge: dict[str, list[PairSlot]] = field(default_factory=dict)

    def hold(self, judge_id: str, units: Sequence[PairSlot], /) -> None:
        self.by_judge[judge_id] = list(units)

    def release(self, judge_id: str, /) -> None:
        self.by_judge.pop(judge_id, None)

    def keys(self) -> set[SlotKey]:
        return {slot_key(s) for units in self.by_judge.values() for s in units}


def slot_key(slot: PairSlot) -> SlotKey:
    return (slot.scenario_id, frozenset((tuple(slot.cell_a), tuple(slot.cell_b))))


def pair_plans(
    stored: StoredExperiment,
    judge_id: str | None,
    home: Path | None,
    latest: Sequence[PairJudgment],
) -> Plans:
    """Every other judge's pair plan as this machine's journals hold it, each living on from
    that judge's latest answer (``latest``: :func:`latest_answers`), as the apps' queues read
    them."""
    plans = Plans(PAIR_UNITS, own=judge_id)
    for record in JournalFeed(judgments_dir(stored.records.name, home), judge_key).read():
        plans.take(record)
    for pair in latest:
        plans.saw(pair.judge_id, pair.time.timestamp())
    return plans


def card_slot(stored: StoredExperiment, card: PairCard) -> PairSlot:
    """The (scenario, cell pair) a card serves, as the pair queue names it."""
    cells = stored.records.cells
    left, right = cells[card.left.cell_id], cells[card.right.cell_id]
    return PairSlot(
        card.scenario_id,
        (left.model, left.prompt_version),
        (right.model, right.prompt_version),
    )


def unjudged_slots(
    stored: StoredExperiment,
    n: int,
    seed: int,
    done: Collection[frozenset[str]] = (),
    held: Collection[SlotKey] = (),
) -> list[PairCard]:
    """``n`` cards drawn uniformly at random over the pairs of tips not ``done`` (answered:
    :func:`answered_pairs`) whose slot no other judge holds (``held``), each with its sides
    drawn at random (module doc)."""
    records = stored.records
    by_cell: dict[str, list[Candidate]] = {}
    for candidate in records.candidates:
        if candidate.cell_id in records.cells:
            by_cell.setdefault(candidate.cell_id, []).append(candidate)
    by_scenario: dict[str, list[str]] = {}
    for cell_id in sorted(by_cell):
        by_scenario.setdefault(records.cells[cell_id].scenario_id, []).append(cell_id)
    arm = {c: (records.cells[c].model, records.cells[c].prompt_version) for c in by_cell}
    open_pairs = [
        (scenario, a, b)
        for scenario, cells in sorted(by_scenario.items())
        for cell_a, cell_b in combinations(cells, 2)
        if (scenario, frozenset((arm[cell_a], arm[cell_b]))) not in held
        for a, b in product(by_cell[cell_a], by_cell[cell_b])
        if frozenset((a.candidate_id, b.candidate_id)) not in done
    ]
    return draw_cards(open_pairs, n, seed)


def draw_cards(
    open_pairs: Sequence[tuple[str, Candidate, Candidate]], n: int, seed: int
) -> list[PairCard]:
    """``n`` of the (scenario, tip, tip) drawn uniformly without replacement, each shown with
    its sides drawn at random (a fair coin per card)."""
    rng = random.Random(seed)
    chosen = rng.sample(list(open_pairs), min(n, len(open_pairs)))
    return [
        PairCard(scenario, a, b) if rng.random() < 0.5 else PairCard(scenario, b, a)
        for scenario, a, b in chosen
    ]


def pair_seed(experiment: str, judge_id: str | None) -> int:
    """The seed of a judge's draw of pairs (another judge, another draw)."""
    return int(content_hash([experiment, judge_id or "", "pairs"]), 16) % (2**31 - 1)


def export_pairs_document(
    stored: StoredExperiment, slots: Sequence[PairCard], judge_id: str | None
) -> dict[str, Any]:
    """Blind pair cards as a ``tipbench.pairs/1`` document (no cell, model or prompt)."""
    records = stored.records
    views = scenario_views(records.cells[s.left.cell_id] for s in slots)
    items = [
        {
            "scenario": views[s.scenario_id].as_context(),
            "left": {"candidate_id": s.left.candidate_id, "tip": s.left.text},
            "right": {"candidate_id": s.right.candidate_id, "tip": s.right.text},
            "answer": None,
            "note": "",
        }
        for s in slots
    ]
    return {
        "format": PAIRS_FORMAT,
        "experiment": records.name,
        "rubric": {**records.rubric.ref.to_json(), "text": records.rubric.prompt_text()},
        "question": PAIR_QUESTION,
        "instructions": INSTRUCTIONS,
        "judge_id": judge_id,
        "blind": True,
        "items": items,
    }


def write_pairs_export(
    stored: StoredExperiment,
    path: Path,
    n: int,
    judge_id: str | None = None,
    home: Path | None = None,
    hold_seconds: float = EXPORT_PLAN_TTL,
) -> int:
    """Write ``n`` unanswered pair cards to ``path``, none of a slot another judge's live plan
    holds; with a judge id, journal the batch's slots as their plan for ``hold_seconds``
    (module doc). Returns how many cards it holds."""
    latest = latest_answers(stored, home)
    plans = pair_plans(stored, judge_id, home, latest)
    held = HeldSlots()
    plans.apply(held)
    seed = pair_seed(stored.records.name, judge_id)
    slots = unjudged_slots(stored, n, seed, answered_pairs(latest), held.keys())
    doc = export_pairs_document(stored, slots, judge_id)
    Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if judge_id and slots:
        record = plans.record([card_slot(stored, c) for c in slots], hold_seconds, renew=True)
        records = stored.records
        journal = JudgeJournal(records.name, judge_id, records.rubric.part_ids, home)
        journal.append_record(record)
    return len(slots)


# -- apply ----------------------------------------------------------------------------------------


def is_pairs_document(doc: Any) -> bool:
    """Whether a read file holds pair cards (apply then checks it as one): it says so, or it
    does not claim to be a scores file and its items have a left and a right tip."""
    if not isinstance(doc, dict) or doc.get("format") == FORMAT:
        return False
    items = doc.get("items")
    cards = isinstance(items, list) and any(
        isinstance(i, dict) and "left" in i and "right" in i for i in items
    )
    return doc.get("format") == PAIRS_FORMAT or cards


def _side(item: Mapping[str, Any], side: str, candidates: Mapping[str, Candidate]) -> Any:
    """The candidate shown on ``side`` of a card, or the problem with it (a string)."""
    shown = item.get(side)
    if not isinstance(shown, dict):
        return f'"{side}" must be an object with candidate_id and tip (as exported)'
    cid = shown.get("candidate_id")
    if not isinstance(cid, str) or cid not in candidates:
        return (
            f"{side}: unknown candidate id {shown_value(cid)}: not a finished candidate of this "
            "experiment"
        )
    if shown.get("tip") != candidates[cid].text:
        return f"{side}: the tip text differs from the candidate's text: changed since export"
    return candidates[cid]


def _card_problem(
    item: Any, candidates: Mapping[str, Candidate], cells: Mapping[str, Cell], seen: set[str]
) -> tuple[str, tuple[Candidate, Candidate, str, str] | None]:
    """What is wrong with one card ('' when nothing), and its (left, right, answer, note) when it
    is answered (None when skipped)."""
    if not isinstance(item, dict):
        return "an item must be a JSON object", None
    left, right = _side(item, "left", candidates), _side(item, "right", candidates)
    for found in (left, right):
        if isinstance(found, str):
            return found, None
    if left.cell_id == right.cell_id:
        return "both tips come from the same cell: a card compares two cells", None
    scenarios = {cells[left.cell_id].scenario_id, cells[right.cell_id].scenario_id}
    if len(scenarios) != 1:
        return f"the tips are of different scenarios ({', '.join(sorted(scenarios))})", None
    pid = pair_id(left.candidate_id, right.candidate_id)
    if pid in seen:
        return "these two tips appear on more than one card", None
    seen.add(pid)
    answer, note = item.get("answer"), item.get("note", "")
    note = "" if note is None else note
    if not isinstance(note, str):
        return f"note must be text, got {shown_value(note)}", None
    if len(note) > MAX_NOTE_CHARS:
        return f"the note holds {len(note):,} characters, over {MAX_NOTE_CHARS:,}", None
    if answer is None or answer == "":
        return "", None
    if answer not in CHOICES:
        return f'answer is {shown_value(answer)}; expected "left", "right", "tie" or null', None
    return "", (left, right, answer, note)


def validate_pairs_document(
    doc: Any,
    stored: StoredExperiment,
    judge_id: str | None = None,
    path: object = "import file",
) -> PairPlan:
    """Check the whole file; raises :class:`~.exchange.ImportRejected` listing every problem."""
    records = stored.records
    problems = file_problems(doc, records.name, judge_id, records.rubric, PAIRS_FORMAT)
    asked = _question_problem(doc)
    if asked:
        problems.append(ImportProblem(None, "", asked))
    if problems:
        raise ImportRejected(path, problems)
    judge = (judge_id if judge_id is not None else doc["judge_id"]).strip()
    candidates = {c.candidate_id: c for c in records.candidates if c.cell_id in records.cells}
    source = JudgeSource("import", judge)
    pairs, skipped, seen = [], 0, set()
    for position, item in enumerate(doc["items"], start=1):
        problem, answered = _card_problem(item, candidates, records.cells, seen)
        if problem:
            problems.append(ImportProblem(position, _card_ids(item), problem))
        elif answered is None:
            skipped += 1
        else:
            left, right, choice, note = answered
            pairs.append(
                PairJudgment.shown(
                    (left.candidate_id, left.cell_id),
                    (right.candidate_id, right.cell_id),
                    choice,
                    scenario_id=records.cells[left.cell_id].scenario_id,
                    source=source,
                    rubric=records.rubric.ref,
                    note=note,
                    created_at=now_iso(),
                )
            )
    if problems:
        raise ImportRejected(path, problems)
    return PairPlan(judge, pairs, skipped)


def _question_problem(doc: Any) -> str:
    """Why the file's question is not the one pairs answer ('' when it is, or names none).

    An answer means "this tip serves the person better" on the rubric as a whole
    (:data:`~tipbench_lib.core.records.PAIR_QUESTION`); a file asking another question would store
    answers to it as answers to that one (docs/architecture.md, section 13).
    """
    asked = doc.get("question") if isinstance(doc, dict) else None
    if asked in (None, "", PAIR_QUESTION):
        return ""
    return (
        f"the file asks question {shown_value(asked)}, but pairs answer {PAIR_QUESTION!r} (which "
        "tip serves the person better on the rubric as a whole); export a new file with "
        "`tipbench judge --export FILE --mode pairwise`"
    )


def _card_ids(item: Any) -> str:
    """The card's two candidate ids for a problem's line ('' when it has none)."""
    if not isinstance(item, dict):
        return ""
    ids = [
        item[side].get("candidate_id")
        for side in ("left", "right")
        if isinstance(item.get(side), dict)
    ]
    return " vs ".join(shown_value(i) if not isinstance(i, str) else i[:64] for i in ids)


def apply_pairs(
    client: Any,
    stored: StoredExperiment,
    plan: PairPlan,
    *,
    required_judges: int = DEFAULT_REQUIRED_JUDGES,
    home: Path | None = None,
) -> str:
    """Journal every judgment of a validated plan, then send them; '' when MLflow has them all,
    else why not (they are safe in the journal and go out with the next reading command)."""
    if not plan.pairs:
        return ""
    records = stored.records
    by_cell = open_journals(records, home)
    journal = JudgeJournal(records.name, plan.judge_id, records.rubric.part_ids, home)
    for pair in plan.pairs:
        journal.append_pair(pair)
    syncer = JudgmentSyncer(client, records, journal, by_cell, required_judges, home)
    return syncer.sync_pending()


def refuse_mixed_mode(doc: Any, mode: str) -> None:
    """Refuse ``--mode`` naming the other kind of file than the one given to ``--apply``."""
    pairs = is_pairs_document(doc)
    if mode == "pairwise" and not pairs:
        raise JudgingError(
            f"--mode pairwise applies a {PAIRS_FORMAT} file (written by --export --mode "
            "pairwise); this one is not: leave --mode out to apply a scores file"
        )
    if mode == "rubric" and pairs:
        raise JudgingError(
            f"this file holds pair cards ({PAIRS_FORMAT}); apply it with --mode pairwise or "
            "without --mode"
        )
