"""The judge phase's session: one judge's blind queue, the cards it serves, journal-first saving.

Judging is where people spend their time, so nothing here may lose a score: a save appends to the
judge's own fsynced journal (:mod:`.journal`) before MLflow is touched, and everything a card
shows (done or not, the previous scores) is read back from that file, never from widget state.
MLflow's half of a save is the syncer's (:mod:`.delivery`); the order of the cards (the seeded
interleaving, the people's queue) is :mod:`.queue`'s; a card's HTML and form are :mod:`.cards`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import JudgingError, TrackingError
from tipbench_lib.core.experiment import ExperimentRecords
from tipbench_lib.core.judgments import latest_per_pair
from tipbench_lib.core.names import check_judge_id
from tipbench_lib.core.records import (
    FAILED,
    Candidate,
    Cell,
    JudgeSource,
    Judgment,
    now_iso,
)
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.core.scenarios import ScenarioView, scenario_views
from tipbench_lib.core.schema import PEOPLE_KINDS
from tipbench_lib.judge.delivery import DEFAULT_REQUIRED_JUDGES, JudgmentSyncer
from tipbench_lib.judge.journal import (
    JUDGMENT,
    PAIR,
    JudgeJournal,
    judge_key,
    judgments_dir,
    local_judgments,
    open_journals,
)
from tipbench_lib.judge.queue import (
    APP_PLAN_TTL,
    DEFAULT_ORDER,
    ORDERS,
    SAMPLING,
    Family,
    JournalFeed,
    PeopleQueue,
    choose_family,
    experiment_seed,
    interleaved_order,
    judge_seed,
    recorded_family,
    sampling_record,
)
from tipbench_lib.stats.adaptive import PLAN_CARDS
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import StoredExperiment, read_experiment
from tipbench_lib.tracking.mapping import PPI_SAMPLING_TAG, QUEUE_FAMILY_TAG

# -- scores and records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """One judge's answer for one candidate, before it becomes a record: a value for every
    dimension and flag of the rubric, by id, and a note. The rubric checks it
    (:meth:`tipbench_lib.core.rubric.Rubric.problems`) before anything is written."""

    values: Mapping[str, Any]
    note: str = ""

    def problems(
        self, rubric: Rubric, shown: Callable[[Any], str] = repr, prefix: str = ""
    ) -> list[str]:
        """Why these scores cannot be stored under ``rubric`` (empty when they can)."""
        found = rubric.problems(self.values, shown=shown, prefix=prefix)
        if not isinstance(self.note, str):
            found.append(f"note must be text, got {shown(self.note)}")
        return found


def judgment_record(
    candidate: Candidate,
    source: JudgeSource,
    rubric: Rubric,
    scores: Scores,
    *,
    attempts: int | None = None,
) -> Judgment:
    """A judge's scores as the judgment record the journal and MLflow keep."""
    problems = scores.problems(rubric)
    if problems:
        raise JudgingError("; ".join(problems) + "; correct the scores and save again")
    values = rubric.check(scores.values)
    return Judgment(
        candidate_id=candidate.candidate_id,
        cell_id=candidate.cell_id,
        source=source,
        rubric=rubric.ref,
        scores=values,
        composite=rubric.composite_of(values),
        note=scores.note,
        attempts=attempts,
        created_at=now_iso(),
    )


def failed_record(
    candidate: Candidate, source: JudgeSource, rubric: Rubric, error: str, attempts: int
) -> Judgment:
    """A judgment that could not be made (an LLM answer that never parsed): kept, never a score."""
    return Judgment(
        candidate_id=candidate.candidate_id,
        cell_id=candidate.cell_id,
        source=source,
        rubric=rubric.ref,
        scores={},
        composite=None,
        status=FAILED,
        error=error,
        attempts=attempts,
        created_at=now_iso(),
    )


# -- cards ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """Everything one judging card shows. Blind cards carry no model or prompt at all."""

    candidate_id: str
    cell_id: str
    position: int
    total: int
    scenario: ScenarioView
    text: str
    auto: dict[str, bool]
    """The rubric's automatic verdicts on the tip, by flag id (flags with a check only)."""
    char_count: int
    previous: Judgment | None = None
    revealed: dict[str, str] = field(default_factory=dict)
    """model and prompt_version, only when judging unblind."""


# -- the session ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    """What a save did: always journalled; ``synced`` False: MLflow gets it with the next save."""

    record: Judgment | None
    synced: bool
    sync_error: str = ""
    journal_ms: float = 0.0
    mlflow_ms: float = 0.0


@dataclass(frozen=True)
class CellProgress:
    """How far one judge is in one cell: its label as the judge may see it (blind: no model)."""

    cell_id: str
    label: str
    judged: int
    total: int


@dataclass(frozen=True)
class JudgingProgress:
    """How far one judge is: candidates judged of all, and per cell."""

    judged: int
    total: int
    cells: tuple[CellProgress, ...]

    @property
    def done(self) -> bool:
        return self.judged >= self.total


class JudgeSession:
    """One judge working on one experiment: the queue, the cards, saving and the MLflow update.

    The experiment, its rubric included, is read from MLflow once
    (:func:`tipbench_lib.tracking.experiment.read_experiment`); after that every question about
    this judge's progress is answered from the journal on disk, and what MLflow has and what the
    journals have meet in :meth:`known`.
    """

    def __init__(
        self,
        client: MlflowClient,
        experiment: str,
        judge_id: str,
        *,
        judge_kind: str = "human",
        blind: bool = True,
        required_judges: int = DEFAULT_REQUIRED_JUDGES,
        seed: int | None = None,
        home: Path | None = None,
        stored: StoredExperiment | None = None,
        order: str = DEFAULT_ORDER,
        baseline: tuple[str, str] | None = None,
        queue: bool | None = None,
        plan_ttl: float = APP_PLAN_TTL,
        alpha: float = 0.05,
        delta: float | None = None,
    ) -> None:
        check_judge_id(judge_id)
        if order not in ORDERS:
            raise JudgingError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
        if required_judges < 1:
            raise JudgingError(f"required judges must be at least 1, got {required_judges}")
        self.experiment = experiment
        self.judge_id = judge_id.strip()
        self.source = JudgeSource(judge_kind, self.judge_id)
        self.blind = blind
        self.required_judges = required_judges
        self.home = home
        stored = stored if stored is not None else read_experiment(client, experiment)
        self.records: ExperimentRecords = stored.records
        self.rubric: Rubric = self.records.rubric
        self.cells: dict[str, Cell] = self.records.cells
        self.by_cell: dict[str, list[str]] = open_journals(self.records, home)
        self.candidates: dict[str, Candidate] = {
            c.candidate_id: c for c in self.records.candidates if c.cell_id in self.by_cell
        }
        self.journal = JudgeJournal(experiment, self.judge_id, self.rubric.part_ids, home)
        default_seed = judge_seed(experiment, self.judge_id) if seed is None else seed
        # Only a person works through a queue (in the app, or an outside judge's batches); an
        # import or LLM run must not write to disk here.
        keeps_queue = judge_kind == "human" if queue is None else queue
        self.seed = self.journal.queue_seed(default_seed) if keeps_queue else default_seed
        self.order = [r["candidate_id"] for r in interleaved_order(self.queue_rows(), self.seed)]
        self.syncer = JudgmentSyncer(
            client, self.records, self.journal, self.by_cell, required=required_judges, home=home
        )
        self.views = scenario_views(self.cells.values())
        self.queue_order = order
        self.plan_ttl = plan_ttl
        self.people: PeopleQueue | None = None
        if keeps_queue:
            self.people = self._open_queue(stored, baseline, alpha, delta)

    def _open_queue(
        self,
        stored: StoredExperiment,
        baseline: tuple[str, str] | None,
        alpha: float,
        delta: float | None,
    ) -> PeopleQueue:
        """The people's queue (:mod:`tipbench_lib.judge.queue`), its family fixed and recorded,
        this judge's own plan resumed; in ``ppi-uniform`` order the sampling record written."""
        feed = JournalFeed(judgments_dir(self.experiment, self.home), judge_key)
        journalled = feed.read()
        family = self.fixed_family(stored, journalled, baseline, delta)
        seed = experiment_seed(self.experiment)
        queue = PeopleQueue.build(
            self.records,
            feed,
            journalled,
            family=family,
            alpha=alpha,
            delta=family.delta,
            seed=seed,
        )
        if self.queue_order == "ppi-uniform":
            self._record_sampling(stored, seed)
        queue.resume(self.judge_id, self.seed, self.order)
        return queue

    def fixed_family(
        self,
        stored: StoredExperiment,
        journalled: Sequence[Mapping[str, Any]],
        baseline: tuple[str, str] | None,
        delta: float | None,
    ) -> Family:
        """The primary family judging runs under, fixed before data (:mod:`.queue`): the one
        recorded, else ``baseline`` (all pairs when None), recorded now in the journal and the
        experiment's tag. Scores and pairwise answers by people both count as data, so neither
        mode can change a family the other began under (docs/architecture.md, section 13)."""
        recorded = recorded_family(stored.experiment.tags.get(QUEUE_FAMILY_TAG), journalled)
        people = (
            sum(1 for j in self.records.judgments if j.source.kind in PEOPLE_KINDS and j.ok)
            + sum(1 for p in self.records.pairs if p.source.kind in PEOPLE_KINDS and p.ok)
            + sum(
                1
                for r in journalled
                if r.get("type") in (JUDGMENT, PAIR)
                and r.get("judge_kind", "human") in PEOPLE_KINDS
            )
        )
        family, new = choose_family(recorded, baseline, people, self.judge_id, delta)
        if new:
            self.journal.append_record(family.as_record(self.judge_id))
            self._tag(QUEUE_FAMILY_TAG, json.dumps(family.to_json()))
        return family

    def _record_sampling(self, stored: StoredExperiment, seed: int) -> None:
        """Journal the ppi-uniform design once, and keep MLflow's copy (compare reads it)."""
        record = sampling_record(self.records, seed, self.judge_id)
        design = {k: record[k] for k in ("type", "order", "seed", "population")}
        if not any(
            {k: r.get(k) for k in design} == design for r in self.journal.records_of(SAMPLING)
        ):
            self.journal.append_record(record)
        text = json.dumps(design)
        if stored.experiment.tags.get(PPI_SAMPLING_TAG) != text:
            self._tag(PPI_SAMPLING_TAG, text)

    def _tag(self, key: str, value: str) -> None:
        """An experiment tag; the journal holds the record, so an outage only delays the copy."""
        try:
            experiment = self.client.get_experiment_by_name(self.experiment)
            if experiment is not None:
                self.client.set_experiment_tag(experiment.experiment_id, key, value)
        except TrackingError:
            pass

    def queue_rows(self, candidate_ids: Iterable[str] | None = None) -> list[dict[str, str]]:
        """What the interleaved order needs of each candidate: its id and its model."""
        ids = self.candidates if candidate_ids is None else candidate_ids
        return [
            {"candidate_id": cid, "model": self.cells[self.candidates[cid].cell_id].model}
            for cid in ids
        ]

    # -- reading (always from disk) --

    def local(self) -> list[Judgment]:
        """Every judge's judgments journalled on this machine for this experiment."""
        return local_judgments(self.experiment, self.rubric.part_ids, self.home)

    def known(self) -> dict[tuple[str, str], Judgment]:
        """The judgment that counts per (candidate, judge): MLflow's and this machine's merged."""
        return self.syncer.known()

    @property
    def total(self) -> int:
        return len(self.order)

    def judged(self) -> dict[str, Judgment]:
        """candidate_id → this judge's latest judgment, for candidates of this experiment."""
        return self.syncer.judged()

    def revisable(self) -> list[tuple[str, str]]:
        """(label, candidate id) per tip this judge scored, in queue order, for the revise list.

        One journal read for the lot (a card per tip would read it once per tip).
        """
        judged = self.judged()
        out = []
        for position, candidate_id in enumerate(self.order, start=1):
            if candidate_id in judged:
                text = self.candidates[candidate_id].text.replace("\n", " ")
                summary = record_summary(judged[candidate_id], self.rubric)
                out.append((f"#{position}: {text[:50]}… ({summary})", candidate_id))
        return out

    def done_ids(self) -> set[str]:
        """Candidates this judge has scored; a failed LLM attempt leaves the candidate open."""
        return {c for c, j in self.judged().items() if j.ok}

    def uniform_queue(self) -> list[str]:
        """Every card this judge has not scored, in their shuffled, interleaved order."""
        done = self.done_ids()
        return [c for c in self.order if c not in done]

    def upcoming(self, n: int = 1, *, hold: bool = True) -> list[str]:
        """The next ``n`` cards of this session's order (fewer: the order has no more now).

        Adaptive and ``ppi-uniform`` ask the people's queue, after taking in what the journals
        gained (this judge's last save, other judges' scores and plans), and journal this judge's
        plan when it grew (unless ``hold`` is False: an export holds what it hands out), so other
        processes leave those units alone.
        """
        if self.people is None or self.queue_order == "uniform":
            return self.uniform_queue()[:n]
        self.people.refresh()
        if self.queue_order == "adaptive":
            cards = self.people.next_cards(n, "adaptive")
            plan = self.people.planned()
        else:
            plan = self.people.next_cards(max(n, PLAN_CARDS), "ppi-uniform")
            cards = plan[:n]
        if hold:
            self.hold(plan, self.plan_ttl)
        return cards

    def hold(self, cards: Sequence[str], ttl: float, *, renew: bool = False) -> None:
        """Journal ``cards`` as planned for this judge for ``ttl`` seconds (when they are news,
        or always with ``renew``)."""
        if self.people is not None:
            record = self.people.plan_record(cards, ttl, renew=renew)
            if record is not None:
                self.journal.append_record(record)

    def queue(self) -> list[str]:
        """The cards this judge sees next: the order's current plan, or, once it has none (every
        comparison decided or out of reach, or the rest planned for others), the uniform order."""
        if self.people is None or self.queue_order == "uniform":
            return self.uniform_queue()
        first = self.upcoming(1)
        if not first:
            return self.uniform_queue()
        if self.queue_order == "adaptive":
            return self.people.planned()
        return self.upcoming(PLAN_CARDS)

    def extra(self) -> bool:
        """Whether the next card is beyond the order's queue (served in uniform order)."""
        return self.people is not None and self.queue_order != "uniform" and not self.upcoming(1)

    def next_card(self) -> Card | None:
        return self.serve()[0]

    def serve(self) -> tuple[Card | None, bool]:
        """The next card, and whether it is an extra one: the order's queue has none now (every
        comparison decided or out of reach, or its units planned for others), so it comes from
        the uniform order, which the judge may follow or stop."""
        queued = self.upcoming(1)
        if queued:
            return self.card(queued[0]), False
        rest = self.uniform_queue()[:1]
        return (self.card(rest[0]) if rest else None), bool(rest)

    def can_stop(self) -> bool:
        """Every primary comparison decided or out of reach (the judge may stop)."""
        return self.people is not None and self.people.can_stop()

    def status(self) -> dict[str, Any]:
        """Where the experiment stands (``--status``'s object)."""
        if self.people is None:
            raise JudgingError("this session keeps no queue; open it for a person")
        self.people.refresh()
        return self.people.status()

    def comparisons(self) -> list[dict[str, Any]]:
        """Per primary comparison: its sequence, decision and cards left (arms hidden when
        blind: a judge who knew which cell leads could favour it)."""
        if self.people is None:
            return []
        rows = self.people.comparisons()
        if self.blind:
            for index, row in enumerate(rows, start=1):
                for key in ("a_model", "a_prompt", "b_model", "b_prompt"):
                    row[key] = ""
                row["note"] = f"comparison {index}: {row['decision']}"
        return rows

    def candidate(self, candidate_id: str) -> Candidate:
        found = self.candidates.get(candidate_id)
        if found is None:
            raise JudgingError(f"candidate {candidate_id} is not part of {self.experiment!r}")
        return found

    def card(self, candidate_id: str) -> Card:
        candidate = self.candidate(candidate_id)
        cell = self.cells[candidate.cell_id]
        revealed = (
            {} if self.blind else {"model": cell.model, "prompt_version": cell.prompt_version}
        )
        return Card(
            candidate_id=candidate_id,
            cell_id=candidate.cell_id,
            position=self.order.index(candidate_id) + 1,
            total=self.total,
            scenario=self.views[cell.scenario_id],
            text=candidate.text,
            auto={f: candidate.auto.get(f, False) for f in self.rubric.automatic_flag_ids},
            char_count=candidate.char_count or len(candidate.text),
            previous=self.judged().get(candidate_id),
            revealed=revealed,
        )

    def progress(self) -> JudgingProgress:
        done = self.done_ids()
        cells = []
        for index, (cell_id, ids) in enumerate(sorted(self.by_cell.items()), start=1):
            cell = self.cells[cell_id]
            label = (
                f"{cell.scenario_id} · cell {index}"
                if self.blind
                else cell_label(cell.model, cell.prompt_version, cell.scenario_id)
            )
            cells.append(CellProgress(cell_id, label, sum(c in done for c in ids), len(ids)))
        return JudgingProgress(len(done & set(self.order)), self.total, tuple(cells))

    # -- saving --

    def record_for(
        self,
        candidate_id: str,
        scores: Scores,
        *,
        source: JudgeSource | None = None,
        attempts: int | None = None,
    ) -> Judgment:
        """The judgment these scores make, under the experiment's rubric (checked first)."""
        return judgment_record(
            self.candidate(candidate_id),
            source or self.source,
            self.rubric,
            scores,
            attempts=attempts,
        )

    def save(self, candidate_id: str, scores: Scores, *, sync: bool = True) -> SaveResult:
        """Journal (fsync) first, then the cell's MLflow run; an MLflow outage loses nothing.

        ``sync=False`` leaves MLflow to :meth:`sync_pending` (the app's sender thread).
        """
        return self.save_records([self.record_for(candidate_id, scores)], sync=sync)

    def save_records(self, records: Sequence[Judgment], *, sync: bool = True) -> SaveResult:
        started = time.perf_counter()
        self.journal.append_many(records)
        journalled = time.perf_counter()
        self.syncer.saved(records)
        error = self.sync_pending() if sync else "not sent yet"
        finished = time.perf_counter()
        return SaveResult(
            record=records[-1] if records else None,
            synced=not error,
            sync_error=error,
            journal_ms=(journalled - started) * 1000,
            mlflow_ms=(finished - journalled) * 1000,
        )

    # -- MLflow (the syncer's: :mod:`tipbench_lib.judge.delivery`) --

    @property
    def client(self) -> MlflowClient:
        """The MLflow client this session reads and sends with (the syncer's)."""
        return self.syncer.client

    @client.setter
    def client(self, client: MlflowClient) -> None:
        self.syncer.client = client

    @property
    def unsynced(self) -> dict[str, int]:
        """cell → saves MLflow has not got yet (:attr:`JudgmentSyncer.unsynced`)."""
        return self.syncer.unsynced

    def sync_pending(self) -> str:
        """Send every cell whose journalled scores MLflow has not got; '' when all arrived."""
        return self.syncer.sync_pending()

    def undelivered(self) -> int:
        """How many cells hold journalled scores MLflow has not got yet."""
        return self.syncer.undelivered()

    def sync_cell(self, cell_id: str) -> dict[str, float]:
        """Upload this judge's latest judgments of the cell; refresh the run's metrics and tag."""
        return self.syncer.sync_cell(cell_id)

    def agreement(self) -> Any:
        """Krippendorff's alpha per dimension over every judge known (see :func:`agreement`)."""
        return agreement(self.known().values(), self.rubric)


def agreement(judgments: Iterable[Judgment], rubric: Rubric) -> Any:
    """Agreement per dimension between judges, computed by the stats module from latest scores."""
    from tipbench_lib.core.frames import judgments_frame
    from tipbench_lib.stats import judge_agreement
    from tipbench_lib.stats.scale import ScoreScale

    latest = [j for j in latest_per_pair(judgments).values() if j.ok]
    return judge_agreement(judgments_frame(latest, rubric), scale=ScoreScale.from_rubric(rubric))


def record_summary(judgment: Judgment, rubric: Rubric) -> str:
    """One line for a saved judgment, e.g. for the revise picker."""
    if not judgment.ok:
        return f"failed: {judgment.error}"
    parts = [f"{d[:3]} {judgment.scores[d]}" for d in rubric.dimension_ids]
    return ", ".join(parts) + f" · composite {judgment.composite:g}"
