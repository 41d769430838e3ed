"""The judge phase: each judge's blind queue, journal-first saving, the cell run's MLflow update.

Judging is where people spend their time, so nothing here may lose a score: a save appends to the
judge's own fsynced journal (``journal/<experiment key>/judgments/<judge key>.jsonl``, keys from
:func:`tipbench_lib.core.journal.name_key`, so judges ``a b`` and ``a_b`` never share one) before
MLflow is touched, and everything a card shows (done or not, the previous scores) is read back from
that file, never from widget state. One file per judge because ``marimo run`` gives every browser
its own kernel: two judges never write the same file. The journal keeps every record; the latest
one per (candidate, judge) counts (:mod:`tipbench_lib.core.judgments`), so revising a score is just
saving again. Every read also checks the ``judge_id`` each record carries, so a record of another
judge is never counted as this judge's.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

from tipbench_lib.collect.journal import now_iso
from tipbench_lib.core import names
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import JudgingError, TrackingError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.journal import (
    Journal,
    experiment_dir,
    legacy_experiment_dir,
    name_key,
    own_records,
)
from tipbench_lib.core.journal_legacy import adopt_judgments
from tipbench_lib.core.judgments import is_score, latest_per_pair, pending_candidates
from tipbench_lib.core.scenarios import ScenarioView, scenario_views
from tipbench_lib.core.schema import DIMENSIONS, JUDGE_KINDS
from tipbench_lib.tracking.mapping import (
    JUDGED_COUNT,
    PENDING_TAG,
    judgments_artifact,
    mean_metric,
)

JUDGMENT = "judgment"
QUEUE = "queue"
DEFAULT_REQUIRED_JUDGES = 1
BOOL_FIELDS = ("format_ok", "overlong")
SCORE_FIELDS = (*DIMENSIONS, *BOOL_FIELDS)


# -- scores and records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """One judge's answer for one candidate, before it becomes a record."""

    relevance: int
    actionability: int
    tone: int
    format_ok: bool
    overlong: bool
    note: str = ""

    def problems(self, shown: Callable[[Any], str] = repr, prefix: str = "") -> list[str]:
        """Why these scores cannot be stored; checked before anything is written.

        ``prefix`` says where the scores sit (``scores.`` in an import file) and ``shown`` how a
        wrong value is quoted (an import cuts a huge one short).
        """
        found = []
        for name in DIMENSIONS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                found.append(f"{prefix}{name} must be an integer from 1 to 5, got {shown(value)}")
        for name in BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                found.append(f"{prefix}{name} must be true or false, got {shown(value)}")
        if not isinstance(self.note, str):
            found.append(f"note must be text, got {shown(self.note)}")
        return found

    def check(self) -> None:
        problems = self.problems()
        if problems:
            raise JudgingError("; ".join(problems) + "; correct the scores and save again")


def check_judge_id(judge_id: str) -> str:
    """The judge id as scores record it (surrounding spaces dropped), within the name rules.

    An empty id is refused because scores must have an owner; the length and character limits
    are those of :mod:`tipbench_lib.core.names`.
    """
    if not isinstance(judge_id, str) or not judge_id.strip():
        raise JudgingError("a judge id is needed (e.g. your initials) so scores have an owner")
    return names.check_judge_id(judge_id.strip())


def judge_key(judge_id: str) -> str:
    """The judge's file name stem (journal and MLflow artifact): unique to the exact id."""
    return name_key(check_judge_id(judge_id), "judge")


def judge_artifact_path(judge_id: str) -> str:
    """Where a cell run keeps this judge's latest judgments in MLflow."""
    return judgments_artifact(judge_key(judge_id))


def judgments_dir(experiment: str, home: Path | None = None) -> Path:
    return experiment_dir(experiment, home) / "judgments"


def adopt_legacy_judgments(
    experiment: str, cell_ids: Collection[str], home: Path | None = None
) -> None:
    """Take this experiment's judgments out of the old layout's shared folder, once.

    See :mod:`tipbench_lib.core.journal_legacy`: a judgment moves to the keyed journal of exactly
    the judge id it carries, and only when its cell is one of this experiment's runs.
    """
    folder = judgments_dir(experiment, home)
    adopt_judgments(
        legacy_experiment_dir(experiment, home) / "judgments",
        folder,
        cell_ids,
        lambda judge: folder / f"{judge_key(judge)}.jsonl",
    )


def judgment_record(
    candidate: Mapping[str, Any],
    judge_id: str,
    judge_kind: str,
    rubric: Any,
    scores: Scores,
    **extra: Any,
) -> dict[str, Any]:
    """The journal and MLflow form of one judgment (what ``compare.load.judgments_frame`` reads)."""
    if judge_kind not in JUDGE_KINDS:
        raise JudgingError(f"judge kind {judge_kind!r} is not one of {', '.join(JUDGE_KINDS)}")
    scores.check()
    values = {name: getattr(scores, name) for name in SCORE_FIELDS}
    return {
        "type": JUDGMENT,
        "candidate_id": candidate["candidate_id"],
        "cell_id": candidate["cell_id"],
        "judge_id": judge_id,
        "judge_kind": judge_kind,
        "rubric_version": rubric.version,
        **values,
        "composite": float(rubric.composite(**values)),
        "note": scores.note,
        "status": "ok",
        "error": "",
        "created_at": now_iso(),
        **extra,
    }


def failed_record(
    candidate: Mapping[str, Any], judge_id: str, rubric: Any, error: str, **extra: Any
) -> dict[str, Any]:
    """A judgment that could not be made (an LLM answer that never parsed): kept, never a score."""
    return {
        "type": JUDGMENT,
        "candidate_id": candidate["candidate_id"],
        "cell_id": candidate["cell_id"],
        "judge_id": judge_id,
        "judge_kind": "llm",
        "rubric_version": rubric.version,
        **dict.fromkeys(SCORE_FIELDS),
        "composite": None,
        "note": "",
        "status": "failed",
        "error": error,
        "created_at": now_iso(),
        **extra,
    }


# -- journals -------------------------------------------------------------------------------------


class JudgeJournal:
    """One judge's append-only journal of judgments (and the queue seed it was given)."""

    def __init__(self, experiment: str, judge_id: str, home: Path | None = None) -> None:
        self.judge_id = judge_id
        self.path = judgments_dir(experiment, home) / f"{judge_key(judge_id)}.jsonl"
        self._journal = Journal(self.path)

    def append(self, record: Mapping[str, Any]) -> None:
        if record.get("judge_id") != self.judge_id:
            raise JudgingError(
                f"record for judge {record.get('judge_id')!r} sent to {self.judge_id!r}'s journal"
            )
        self._journal.append(dict(record))

    def append_many(self, records: Sequence[Mapping[str, Any]]) -> None:
        for record in records:
            self.append(record)

    def _records(self) -> list[dict[str, Any]]:
        return list(own_records(self._journal, "judge_id", self.judge_id))

    def judgments(self) -> list[dict[str, Any]]:
        """Every judgment this judge ever saved, revisions included, in the order written."""
        return [r for r in self._records() if r.get("type") == JUDGMENT]

    def latest(self) -> dict[str, dict[str, Any]]:
        """candidate_id → the record that counts for this judge."""
        return {cid: rec for (cid, _), rec in latest_per_pair(self.judgments()).items()}

    def history(self, candidate_id: str) -> list[dict[str, Any]]:
        return [r for r in self.judgments() if r["candidate_id"] == candidate_id]

    def queue_seed(self, default: int) -> int:
        """The seed this judge's order was shuffled with: recorded once, reused on every resume."""
        for rec in self._records():
            if rec.get("type") == QUEUE:
                return int(rec["seed"])
        self._journal.append(
            {"type": QUEUE, "judge_id": self.judge_id, "seed": default, "created_at": now_iso()}
        )
        return default


def local_judgments(experiment: str, home: Path | None = None) -> list[dict[str, Any]]:
    """Every judge's journalled judgments on this machine (all kernels, the LLM judge, imports).

    A file counts only for the judge its name is keyed to; a record of any other judge in it is
    left out with a warning.
    """
    folder = judgments_dir(experiment, home)
    records: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl")) if folder.exists() else []:
        records.extend(
            r
            for r in own_records(Journal(path), "judge_id", _keyed_to(path.stem))
            if r.get("type") == JUDGMENT
        )
    return records


def _keyed_to(stem: str) -> Callable[[Any], bool]:
    """Whether a record's judge id is the one a journal file's name was made from."""
    return lambda judge: isinstance(judge, str) and bool(judge.strip()) and judge_key(judge) == stem


# -- the queue ------------------------------------------------------------------------------------


def judge_seed(experiment: str, judge_id: str) -> int:
    """A per-judge default seed, so two judges never see the same order."""
    return int(content_hash([experiment, judge_id, "queue"]), 16) % (2**31 - 1)


def interleaved_order(
    rows: Sequence[Mapping[str, Any]], seed: int, group_key: str = "model"
) -> list[Mapping[str, Any]]:
    """A seeded shuffle in which no two neighbours share a group (model) whenever that is possible.

    A plain shuffle leaves runs of one model's tips, which a judge starts to recognise; a strict
    round-robin leaks the model through the position. So each step draws a group at random, weighted
    by how many of its tips remain, among groups other than the previous one; a group holding more
    than half of what remains is taken at once so the end of the queue cannot become one block.
    """
    rng = random.Random(seed)
    groups: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["candidate_id"]):
        groups[row.get(group_key)].append(row)
    for members in groups.values():
        rng.shuffle(members)
    order: list[Mapping[str, Any]] = []
    previous: Any = object()
    while groups:
        remaining = sum(len(m) for m in groups.values())
        names = sorted(groups, key=str)
        forced = [g for g in names if 2 * len(groups[g]) > remaining and g != previous]
        choices = forced or [g for g in names if g != previous] or names
        weights = [len(groups[g]) for g in choices]
        pick = rng.choices(choices, weights=weights)[0]
        order.append(groups[pick].pop())
        if not groups[pick]:
            del groups[pick]
        previous = pick
    return order


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
    format_ok_auto: bool
    overlong_auto: bool
    char_count: int
    previous: dict[str, Any] | None = None
    revealed: dict[str, str] = field(default_factory=dict)
    """model and prompt_version, only when judging unblind."""


# -- cell metrics ---------------------------------------------------------------------------------


def cell_summary(
    candidate_ids: Sequence[str], records: Iterable[Mapping[str, Any]], required: int
) -> tuple[dict[str, float], bool]:
    """The cell run's judging metrics over every judge's latest score, and whether it is pending.

    ``judged_count`` counts candidates with at least one score; the cell stops being pending when
    every candidate has scores from ``required`` distinct judges. Failed LLM judgments never count.
    """
    wanted = set(candidate_ids)
    latest = latest_per_pair(r for r in records if r["candidate_id"] in wanted)
    scores = [r for r in latest.values() if is_score(r)]
    metrics: dict[str, float] = {JUDGED_COUNT: float(len({r["candidate_id"] for r in scores}))}
    if scores:
        for name in SCORE_FIELDS:
            metrics[mean_metric(name)] = fmean(float(r[name]) for r in scores)
        metrics[mean_metric("composite")] = fmean(float(r["composite"]) for r in scores)
    pending = bool(pending_candidates(wanted, latest.values(), required))
    return metrics, pending


# -- the session ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    """What a save did: always journalled; ``synced`` False: MLflow gets it with the next save."""

    record: dict[str, Any]
    synced: bool
    sync_error: str = ""
    journal_ms: float = 0.0
    mlflow_ms: float = 0.0


@dataclass(frozen=True)
class CellProgress:
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

    The experiment is read from MLflow once (``compare.load.load_experiment``); after that every
    question about this judge's progress is answered from the journal on disk.
    """

    def __init__(
        self,
        client: Any,
        experiment: str,
        judge_id: str,
        *,
        judge_kind: str = "human",
        blind: bool = True,
        required_judges: int = DEFAULT_REQUIRED_JUDGES,
        seed: int | None = None,
        home: Path | None = None,
        data: Any = None,
        rubric: Any = None,
    ) -> None:
        from tipbench_lib.compare.load import candidates_with_cells, load_experiment
        from tipbench_lib.core.rubric import load_rubric

        check_judge_id(judge_id)
        if required_judges < 1:
            raise JudgingError(f"required judges must be at least 1, got {required_judges}")
        self.client = client
        self.experiment = experiment
        self.judge_id = judge_id.strip()
        self.judge_kind = judge_kind
        self.blind = blind
        self.required_judges = required_judges
        self.home = home
        self.data = data if data is not None else load_experiment(client, experiment)
        self.rubric = rubric if rubric is not None else load_rubric()
        rows = candidates_with_cells(self.data).to_dicts()
        if not rows:
            raise JudgingError(
                f"experiment {experiment!r} has no finished cells with candidates to judge; "
                "run `tipbench collect` for it first"
            )
        self.candidates: dict[str, dict[str, Any]] = {r["candidate_id"]: r for r in rows}
        self.by_cell: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            self.by_cell[row["cell_id"]].append(row["candidate_id"])
        adopt_legacy_judgments(experiment, set(self.by_cell) | set(self.data.run_ids), home)
        self.journal = JudgeJournal(experiment, self.judge_id, home)
        default_seed = judge_seed(experiment, self.judge_id) if seed is None else seed
        # Only a person works through the queue; an import or LLM run must not write to disk here.
        self.seed = self.journal.queue_seed(default_seed) if judge_kind == "human" else default_seed
        self.order = [r["candidate_id"] for r in interleaved_order(rows, self.seed)]
        self.remote = self.data.judgments.to_dicts()
        self.unsynced: set[str] = set()
        self.views = scenario_views(rows)

    # -- reading (always from disk) --

    @property
    def total(self) -> int:
        return len(self.order)

    def judged(self) -> dict[str, dict[str, Any]]:
        """candidate_id → this judge's latest record, for candidates of this experiment."""
        return {c: r for c, r in self.journal.latest().items() if c in self.candidates}

    def done_ids(self) -> set[str]:
        """Candidates this judge has scored; a failed LLM attempt leaves the candidate open."""
        return {c for c, r in self.judged().items() if is_score(r)}

    def queue(self) -> list[str]:
        done = self.done_ids()
        return [c for c in self.order if c not in done]

    def next_card(self) -> Card | None:
        queue = self.queue()
        return self.card(queue[0]) if queue else None

    def card(self, candidate_id: str) -> Card:
        row = self.candidates.get(candidate_id)
        if row is None:
            raise JudgingError(f"candidate {candidate_id} is not part of {self.experiment!r}")
        cell = row["cell_id"]
        revealed = (
            {}
            if self.blind
            else {
                "model": str(row.get("model", "")),
                "prompt_version": str(row.get("prompt_version", "")),
            }
        )
        return Card(
            candidate_id=candidate_id,
            cell_id=cell,
            position=self.order.index(candidate_id) + 1,
            total=self.total,
            scenario=self.views[str(row.get("scenario_id", ""))],
            text=str(row.get("text") or ""),
            format_ok_auto=bool(row.get("format_ok_auto")),
            overlong_auto=bool(row.get("overlong_auto")),
            char_count=int(row.get("char_count") or len(str(row.get("text") or ""))),
            previous=self.judged().get(candidate_id),
            revealed=revealed,
        )

    def progress(self) -> JudgingProgress:
        done = self.done_ids()
        cells = []
        for index, (cell, ids) in enumerate(sorted(self.by_cell.items()), start=1):
            row = self.candidates[ids[0]]
            label = (
                f"{row.get('scenario_id', '')} · cell {index}"
                if self.blind
                else cell_label(row.get("model"), row.get("prompt_version"), row.get("scenario_id"))
            )
            cells.append(CellProgress(cell, label, sum(c in done for c in ids), len(ids)))
        return JudgingProgress(len(done & set(self.order)), self.total, tuple(cells))

    # -- saving --

    def record_for(self, candidate_id: str, scores: Scores, **extra: Any) -> dict[str, Any]:
        row = self.candidates.get(candidate_id)
        if row is None:
            raise JudgingError(f"candidate {candidate_id} is not part of {self.experiment!r}")
        return judgment_record(row, self.judge_id, self.judge_kind, self.rubric, scores, **extra)

    def save(self, candidate_id: str, scores: Scores) -> SaveResult:
        """Journal (fsync) first, then the cell's MLflow run; an MLflow outage loses nothing."""
        return self.save_records([self.record_for(candidate_id, scores)])

    def save_records(self, records: Sequence[dict[str, Any]], *, sync: bool = True) -> SaveResult:
        import time

        started = time.perf_counter()
        self.journal.append_many(records)
        journalled = time.perf_counter()
        self.unsynced.update(r["cell_id"] for r in records)
        error = self.sync_pending() if sync else "not sent yet"
        finished = time.perf_counter()
        return SaveResult(
            record=records[-1] if records else {},
            synced=not error,
            sync_error=error,
            journal_ms=(journalled - started) * 1000,
            mlflow_ms=(finished - journalled) * 1000,
        )

    def sync_pending(self) -> str:
        """Send every cell this session changed that MLflow has not got; '' when all arrived."""
        for cell in sorted(self.unsynced):
            try:
                self.sync_cell(cell)
            except TrackingError as exc:
                return str(exc).splitlines()[0]
            self.unsynced.discard(cell)
        return ""

    def sync_cell(self, cell_id: str) -> dict[str, float]:
        """Upload this judge's latest judgments of the cell; refresh the run's metrics and tag."""
        run_id = self.data.run_ids[cell_id]
        ids = self.by_cell[cell_id]
        mine = [r for c, r in self.journal.latest().items() if c in set(ids)]
        artifact = [{k: v for k, v in r.items() if k != "type"} for r in mine]
        self.client.log_artifact(
            run_id,
            judge_artifact_path(self.judge_id),
            json.dumps(artifact, ensure_ascii=False, indent=1),
        )
        known = [r for r in self.remote if r["candidate_id"] in set(ids)]
        known += [r for r in local_judgments(self.experiment, self.home) if r["cell_id"] == cell_id]
        metrics, pending = cell_summary(ids, known, self.required_judges)
        self.client.log_batch(
            run_id, metrics=metrics, tags={PENDING_TAG: "true" if pending else "false"}
        )
        return metrics

    def agreement(self) -> Any:
        """Krippendorff's alpha per dimension over every judge known (see :func:`agreement`)."""
        records = list(self.remote) + local_judgments(self.experiment, self.home)
        return agreement(records)


def agreement(records: Iterable[Mapping[str, Any]]) -> Any:
    """Agreement per dimension between judges, computed by the stats module from latest scores."""
    from tipbench_lib.compare.load import judgments_frame
    from tipbench_lib.stats import judge_agreement

    latest = [r for r in latest_per_pair(records).values() if is_score(r)]
    return judge_agreement(judgments_frame(latest))


def record_summary(record: Mapping[str, Any]) -> str:
    """One line for a saved judgment, e.g. for the revise picker."""
    if not is_score(record):
        return f"failed: {record.get('error', '')}"
    parts = [f"{d[:3]} {record[d]}" for d in DIMENSIONS]
    return ", ".join(parts) + f" · composite {record['composite']:g}"
