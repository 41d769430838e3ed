"""The collect phase's runner: generate candidates model by model, journal them, deliver to MLflow.

Safety first: every model is described and checked against the size limit before any model is
loaded (:mod:`.plan`); the grid runs model-major so each model loads once; the backend keeps one
model resident. Nothing is lost: each candidate reaches the journal before MLflow, and a cell is
sent to MLflow only from the journal, so a crash or an MLflow outage is repaired by running the
same command again. Before generating, cells another worker finished are taken from MLflow
(:mod:`.adoption`), so a cell is never generated twice anywhere; with ``--diversity`` a candidate
that nearly repeats an earlier one of its cell is generated again (:mod:`.diversity`).

A backend outage (Ollama stopped or restarted, a stream cut mid-way, a reset connection) or a model
that will not unload is not a failed cell: the run stops generating there, because nothing more can
be generated safely (with the server gone every request would fail; with a model stuck in memory
the next load would put two in VRAM). It records the cut cell as interrupted, delivers what the
journal holds, and reports every unfinished cell as interrupted; a plain rerun resumes them. Only
the model's own errors (an error answer, out of memory, a prompt too long, a generation over its
timeout) fail a cell, which then waits for ``--retry-failed``.
"""

from __future__ import annotations

import contextlib
import enum
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from tipbench_lib.backends.base import BACKEND_STOPS, Backend, ModelInfo
from tipbench_lib.collect.adoption import Adoption, adopt_cell, adopt_finished_cells
from tipbench_lib.collect.claims import lease_s
from tipbench_lib.collect.delivery import BackgroundSender, CellSyncer, SyncReport, deliveries
from tipbench_lib.collect.journal import CollectJournal, CollectState, candidate_record
from tipbench_lib.collect.plan import CollectConfig, PlannedCell, plan_cells
from tipbench_lib.collect.reconcile import reconcile
from tipbench_lib.collect.settings import refuse_claimed_settings
from tipbench_lib.core.bigrams import max_similarity
from tipbench_lib.core.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    BackendError,
    BackendUnavailableError,
    GenerationError,
    TrackingError,
)
from tipbench_lib.core.progress import ProgressCallback, ProgressEvent
from tipbench_lib.core.records import Candidate
from tipbench_lib.core.rubric import Rubric, clean_tip


@dataclass
class ModelStats:
    load_s: float = 0.0
    tokens: int = 0
    gen_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.gen_s if self.gen_s > 0 else float("nan")


@dataclass
class CollectSummary:
    """The end-of-run account: what finished, failed, was skipped or interrupted, and how fast
    each model was. ``stopped`` says once why the backend could not go on, if it could not."""

    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    interrupted: list[str] = field(default_factory=list)
    stopped: str = ""
    models: dict[str, ModelStats] = field(default_factory=dict)
    sync: SyncReport = field(default_factory=SyncReport)
    run_names: dict[str, str] = field(default_factory=dict)
    adopted: list[str] = field(default_factory=list)
    """Cells taken from MLflow, finished by another worker (:mod:`.adoption`)."""
    ignored: dict[str, str] = field(default_factory=dict)
    """Finished runs that did not verify (run id → cell and why): their cells were made here."""
    reconciled: list[str] = field(default_factory=list)
    """What reconciling cells with several finished runs did (:mod:`.reconcile`)."""

    @property
    def exit_code(self) -> int:
        """3 when a rerun has work to resume (interrupted cells, cells not yet in MLflow), else
        1 when some cells failed, else 0: every cell is complete and in MLflow."""
        if self.interrupted or self.sync.undelivered:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed else EXIT_OK

    def lines(self) -> list[str]:
        interrupted = f", {len(self.interrupted)} interrupted" if self.interrupted else ""
        adopted = f" ({len(self.adopted)} taken from MLflow)" if self.adopted else ""
        out = [
            f"cells: {len(self.finished)} done, {len(self.failed)} failed, "
            f"{len(self.skipped)} already complete (skipped){adopted}{interrupted}"
        ]
        for name, stats in self.models.items():
            if not stats.tokens:
                continue  # never generated (load failed, or the run stopped first)
            out.append(
                f"  {name}: load {stats.load_s:.1f} s, {stats.tokens_per_s:.1f} tokens/s "
                f"end to end ({stats.tokens} tokens, prompt processing included)"
            )
        for run_id, why in self.ignored.items():
            out.append(f"  ignored MLflow run {run_id} ({why}); the cell was made here")
        out.extend(self.reconciled)
        for cid, reason in self.failed.items():
            out.append(f"  FAILED {self.run_names.get(cid, cid)}: {reason}")
        if self.failed:
            out.append("  rerun with --retry-failed to try the failed cells again")
        if self.stopped:  # a warning only when nothing was left to do (the last unload)
            out.append(f"  {'STOPPED' if self.interrupted else 'WARNING'}: {self.stopped}")
        if self.interrupted:
            out.append(
                f"  {len(self.interrupted)} cell(s) interrupted, none of them failed: fix the "
                "above, then run the same command again to resume them"
            )
        out.extend(self.sync.lines())
        return out


def pending_work(
    config: CollectConfig, models: Sequence[ModelInfo], state: CollectState
) -> tuple[list[PlannedCell], int, CollectSummary]:
    """Cells with work left, how many tips remain, and a summary of the cells already settled.

    A complete cell is skipped; a failed one is left alone unless ``retry_failed``; a partial one
    (an interrupted one too) is completed from the index where it stopped.
    """
    summary = CollectSummary()
    todo = []
    for cell in plan_cells(config, models):
        summary.run_names[cell.cell_id] = cell.run_name
        have = len(state.candidates.get(cell.cell_id, {}))
        failure = state.failures.get(cell.cell_id)
        if failure and not config.retry_failed:
            summary.failed[cell.cell_id] = failure
        elif have >= cell.n_tips:
            summary.skipped.append(cell.cell_id)
        else:
            todo.append(cell)
    total = sum(c.n_tips - len(state.candidates.get(c.cell_id, {})) for c in todo)
    return todo, total, summary


class _Claimed(enum.Enum):
    """What claiming a cell before generating it came to."""

    GO = "generate it"
    WAIT = "another worker holds it"
    TAKEN = "another worker finished it: taken from MLflow"
    OFFLINE = "MLflow does not answer"


POLL_FIRST_S = 0.25
POLL_MAX_S = 5.0
"""How often cells another worker holds are looked at again, at first and at most."""


class Collector:
    """Runs a planned grid on one backend and logs it; safe to rerun with the same arguments."""

    def __init__(
        self,
        config: CollectConfig,
        backend: Backend,
        syncer: CellSyncer,
        journal: CollectJournal,
        rubric: Rubric,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.config = config
        self.backend = backend
        self.syncer = syncer
        self.journal = journal
        self.rubric = rubric
        self.on_progress = on_progress or (lambda _p: None)
        self.waiting: dict[str, PlannedCell] = {}
        """Cells another worker holds, looked at again once this worker's own are done."""
        self._done = 0
        self._total = 0
        self._offline = ""
        self._settings_checked = False

    def run(self, models: Sequence[ModelInfo]) -> CollectSummary:
        """Reconcile and adopt what MLflow holds, then claim and generate the rest model by
        model, wait for the cells other workers hold, deliver."""
        state = self.journal.state()
        backend_version = self.backend.version()
        planned = plan_cells(self.config, models)
        self.sender = BackgroundSender(self.syncer)  # the experiment's one runs/search
        try:
            try:
                reconciled = self._reconcile(planned)
                adoption = adopt_finished_cells(planned, self.journal, self.syncer)
            except TrackingError as exc:
                return self._stopped_before_generating(models, str(exc))
            todo, self._total, summary = pending_work(self.config, models, state)
            summary.adopted, summary.ignored = adoption.adopted, adoption.ignored
            summary.reconciled = reconciled
            self._run_models(todo, state, summary, backend_version)
            self._wait_for_others(state, summary, backend_version)
        finally:
            self.sender.close()
            self._release_unsettled()
        self.syncer.offline_error = ""  # one more try for whatever an outage held back
        summary.sync = self.syncer.deliver(self.journal.state())
        return summary

    def _reconcile(self, planned: list[PlannedCell]) -> list[str]:
        labels = {c.cell_id: c.label for c in planned}
        lines, tagged = reconcile(
            self.syncer.client, self.config.experiment, self.syncer.runs_by_cell(), labels, labels
        )
        for run in tagged.values():
            self.syncer.updated(run)
        return lines

    def _release_unsettled(self) -> None:
        """Withdraw the claims of cells this run did not settle (interrupted, or never begun), so
        another worker can take them at once; claims of settled cells stay until delivered."""
        state = self.journal.state()
        settled = {c for c in state.cells if state.is_complete(c) or c in state.failures}
        claims = self.syncer.claims
        claims.release([c for c in claims.held() if c not in settled])

    def _stopped_before_generating(self, models: Sequence[ModelInfo], error: str) -> CollectSummary:
        """MLflow went away while cells were being adopted: generate nothing, since any cell
        might be one MLflow holds; a rerun adopts and goes on."""
        todo, _total, summary = pending_work(self.config, models, self.journal.state())
        summary.interrupted = [c.cell_id for c in todo]
        summary.stopped = f"MLflow stopped answering while finished cells were read: {error}"
        return summary

    def _run_models(
        self,
        todo: list[PlannedCell],
        state: CollectState,
        summary: CollectSummary,
        backend_version: str,
    ) -> None:
        """Model-major: load each model once, run its cells, unload it before the next.

        When the backend cannot go on, the run stops: every cell not finished is interrupted.
        """
        groups = _by_model(todo)
        for position, (model, model_cells) in enumerate(groups):
            try:
                self._run_model(model, model_cells, state, summary, backend_version)
            except BACKEND_STOPS as exc:
                summary.stopped = str(exc)
                settled = {*summary.finished, *summary.failed, *summary.skipped}
                left = [c.cell_id for _, cells in groups[position:] for c in cells]
                left += [c for c in self.waiting if c not in left]
                summary.interrupted += [cid for cid in left if cid not in settled]
                self.waiting.clear()
                return

    def _run_model(
        self,
        model: ModelInfo,
        cells: list[PlannedCell],
        state: CollectState,
        summary: CollectSummary,
        backend_version: str,
    ) -> None:
        """One model's cells between its load and its unload; raises BACKEND_STOPS errors.

        Each cell is claimed first (:meth:`_claim`); the model is loaded at the first cell this
        worker may make, so a model whose cells all belong to other workers is never loaded. A
        load the model itself refuses (out of memory, unknown model) fails the cells this worker
        claims, and the run goes on with the next model.
        """
        stats = summary.models.setdefault(model.name, ModelStats())
        loaded = False
        try:
            for position, cell in enumerate(cells):
                if not self._go(cell, summary):
                    continue
                if not loaded:
                    if not self._load(model, stats, cells[position:], summary, backend_version):
                        return
                    loaded = True
                try:
                    self._run_cell(cell, state, summary, stats, backend_version)
                except BackendUnavailableError as exc:
                    self.journal.add_interruption(cell.cell_id, str(exc))  # its record is there
                    raise
        except BackendUnavailableError:
            raise  # no unload: the server is gone, and a restarted one holds nothing
        except BaseException:
            if loaded:
                with contextlib.suppress(BackendError):
                    self.backend.unload(model.name)
            raise
        if loaded:
            self.backend.unload(model.name)

    def _load(
        self,
        model: ModelInfo,
        stats: ModelStats,
        cells: list[PlannedCell],
        summary: CollectSummary,
        backend_version: str,
    ) -> bool:
        """Load the model for ``cells[0]`` (claimed); when the model itself refuses, fail that
        cell and every further one this worker claims, and say False. Raises BACKEND_STOPS."""
        try:
            stats.load_s = self.backend.load(model.name, self.config.options)
        except BACKEND_STOPS:
            raise
        except BackendError as exc:
            reason = f"could not load {model.name}: {exc}"
            self._fail(cells[0], reason, summary, backend_version)
            for cell in cells[1:]:
                if self._go(cell, summary):
                    self._fail(cell, reason, summary, backend_version)
            return False
        return True

    def _go(self, cell: PlannedCell, summary: CollectSummary) -> bool:
        """Whether this worker makes the cell now (claimed it, or MLflow does not answer)."""
        outcome = self._claim(cell, summary)
        if outcome is _Claimed.WAIT:
            self.waiting[cell.cell_id] = cell
        return outcome in (_Claimed.GO, _Claimed.OFFLINE)

    def _claim(self, cell: PlannedCell, summary: CollectSummary, fresh: bool = False) -> _Claimed:
        """Claim the cell in MLflow before generating it (:mod:`.claims`).

        ``fresh`` looks at the cell's runs again first (a cell another worker held); without it
        the experiment's search at the start tells. A cell another worker finished meanwhile is
        taken from MLflow. After the run's first won claim, the experiment's settings are checked
        once more against MLflow (:func:`refuse_claimed_settings`). When MLflow does not answer
        the cell is generated anyway, into the journal (the record; MLflow is a copy) and claimed
        when it is delivered.
        """
        cid = cell.cell_id
        if self._offline:
            return _Claimed.OFFLINE
        if cid in self.syncer.targets:
            return _Claimed.GO
        left = cell.n_tips - len(self.journal.state().candidates.get(cid, {}))
        tries = 1 + (cell.diversity.max_regenerations if cell.diversity else 0)
        lease = lease_s(left, self.config.options.timeout_s, tries)
        claims = self.syncer.claims
        try:
            if fresh:
                self.syncer.seen(cid, claims.runs_of(cid))
                if self._taken(cell, summary):
                    return _Claimed.TAKEN
            claim = claims.claim(cid, cell.run_name, lease, known=self.syncer.runs_of(cid))
            if not claim.won:
                return _Claimed.WAIT
            self.syncer.seen(cid, claim.runs)
            if self._taken(cell, summary):
                claims.withdraw(cid)
                return _Claimed.TAKEN
            self.syncer.target_for(claim)
            self._check_settings_once()
        except TrackingError as exc:  # as the delivery treats it: MLflow unusable for now
            self._offline = str(exc).splitlines()[0]
            return _Claimed.OFFLINE
        return _Claimed.GO

    def _taken(self, cell: PlannedCell, summary: CollectSummary) -> bool:
        """Take the cell from MLflow if another worker finished it; True when now complete."""
        found = Adoption()
        adopted = adopt_cell(cell, self.journal, self.syncer, found)
        for run_id, why in found.ignored.items():
            summary.ignored.setdefault(run_id, why)
        if adopted and self.journal.state().is_complete(cell.cell_id):
            summary.adopted.append(cell.cell_id)
            summary.skipped.append(cell.cell_id)
            summary.failed.pop(cell.cell_id, None)
            return True
        return False

    def _check_settings_once(self) -> None:
        """After the first won claim, before anything is loaded: no claim or cell of other
        settings may have reached MLflow since the check under the lock (module :mod:`.settings`).
        """
        if self._settings_checked:
            return
        refuse_claimed_settings(self.syncer.client, self.syncer.experiment_id, self.config)
        self._settings_checked = True

    def _wait_for_others(
        self, state: CollectState, summary: CollectSummary, backend_version: str
    ) -> None:
        """Look again at the cells other workers held until each is taken from MLflow or, its
        claim withdrawn or abandoned, claimed and made here. Bounded by the other workers'
        leases; MLflow going away interrupts the cells still waiting."""
        delay = POLL_FIRST_S
        while self.waiting:
            won = []
            for cell in list(self.waiting.values()):
                del self.waiting[cell.cell_id]
                outcome = self._claim(cell, summary, fresh=True)
                if outcome is _Claimed.OFFLINE:
                    summary.interrupted += [cell.cell_id, *self.waiting]
                    summary.stopped = f"MLflow stopped answering: {self._offline}"
                    self.waiting.clear()
                    return
                if outcome is _Claimed.WAIT:
                    self.waiting[cell.cell_id] = cell
                elif outcome is _Claimed.GO:
                    won.append(cell)
            if won:
                self._run_models(won, state, summary, backend_version)
            if self.waiting:
                time.sleep(delay)
                delay = min(delay * 1.5, POLL_MAX_S)

    def _run_cell(
        self,
        cell: PlannedCell,
        state: CollectState,
        summary: CollectSummary,
        stats: ModelStats,
        backend_version: str,
    ) -> None:
        self.journal.add_cell(cell.record(backend_version, self.rubric.version))
        have = state.candidates.get(cell.cell_id, {})
        for index in range(cell.n_tips):
            if index in have:
                continue
            try:
                if cell.diversity is None:
                    record = self._generate(cell, index, stats)
                else:
                    record = self._distinct(cell, index, stats, state)
            except GenerationError as exc:
                self._fail(cell, str(exc), summary, backend_version)
                return
            self.journal.add_candidate(record)
            self._done += 1
            self.on_progress(ProgressEvent(self._done, self._total, cell.label, cell, record))
        self.journal.clear_failure(cell.cell_id)
        summary.finished.append(cell.cell_id)
        summary.failed.pop(cell.cell_id, None)
        self.sender.submit(deliveries(self.journal.state(), only=[cell.cell_id]))

    def _distinct(
        self, cell: PlannedCell, index: int, stats: ModelStats, state: CollectState
    ) -> Candidate:
        """The candidate ``--diversity`` keeps: the first try that repeats no earlier candidate.

        Tries come from the journal when a killed run already made them, so a resumed run asks
        only for the tries still missing and keeps the same candidate.
        """
        rule = cell.diversity
        assert rule is not None
        earlier = [c.text for c in state.candidate_list(cell.cell_id) if c.sample_index < index]
        journalled = state.attempts.get((cell.cell_id, index), {})
        rejected: list[tuple[float, int, Candidate]] = []
        for attempt in range(rule.max_regenerations + 1):
            tried = journalled.get(attempt)
            if tried is None:
                seed = rule.seed(cell.seed(index), attempt)
                tried = self._generate(cell, index, stats, seed)
            closest = max_similarity(tried.text, earlier)
            if closest < rule.threshold:
                return replace(tried, regenerations=attempt)
            if attempt not in journalled:
                self.journal.add_attempt(tried, attempt, closest)
            rejected.append((closest, attempt, tried))
        _closest, _attempt, kept = min(rejected, key=lambda r: (r[0], r[1]))
        return replace(kept, regenerations=rule.max_regenerations)

    def _generate(
        self, cell: PlannedCell, index: int, stats: ModelStats, seed: int | None = None
    ) -> Candidate:
        request = cell.request(index, seed)
        generation = self.backend.generate(cell.model.name, request)
        if generation.truncated:
            raise GenerationError(
                "truncated",
                f"the prompt ({generation.prompt_tokens} tokens) does not fit num_ctx="
                f"{cell.options.num_ctx} of {cell.model.name}; raise --num-ctx or shorten it",
            )
        stats.tokens += generation.eval_tokens
        stats.gen_s += generation.latency_s
        text = clean_tip(generation.text)
        checks = self.rubric.auto_checks(text)
        return candidate_record(
            cell.cell_id, index, request.seed, text, generation, checks, stats.load_s
        )

    def _fail(
        self, cell: PlannedCell, reason: str, summary: CollectSummary, backend_version: str
    ) -> None:
        self.journal.add_cell(cell.record(backend_version, self.rubric.version))
        self.journal.add_failure(cell.cell_id, reason)
        summary.failed[cell.cell_id] = reason
        self.sender.submit(deliveries(self.journal.state(), only=[cell.cell_id]))


def _by_model(cells: Iterable[PlannedCell]) -> list[tuple[ModelInfo, list[PlannedCell]]]:
    groups: dict[str, tuple[ModelInfo, list[PlannedCell]]] = {}
    for cell in cells:
        groups.setdefault(cell.model.name, (cell.model, []))[1].append(cell)
    return list(groups.values())
