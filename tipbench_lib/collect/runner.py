"""The collect phase: plan the grid, generate candidates model by model, journal, log to MLflow.

Safety first: every model is described and checked against the size limit before any model is
loaded; the grid runs model-major so each model loads once; the backend keeps one model resident.
Nothing is lost: each candidate reaches the journal before MLflow, and a cell is sent to MLflow only
from the journal, so a crash or an MLflow outage is repaired by running the same command again.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.backends.base import (
    DEFAULT_MAX_MODEL_B,
    Backend,
    GenerationOptions,
    GenerationRequest,
    ModelInfo,
    UnloadTimeoutError,
)
from tipbench_lib.collect.delivery import BackgroundSender, CellSyncer, SyncReport, deliveries
from tipbench_lib.collect.journal import CellRecord, CollectJournal, CollectState, candidate_record
from tipbench_lib.core.errors import (
    BackendError,
    BackendUnavailableError,
    GenerationError,
    ModelTooLargeError,
)
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.prompts import PromptVersion
from tipbench_lib.core.rubric import Rubric, clean_tip
from tipbench_lib.core.scenarios import Scenario


@dataclass(frozen=True)
class CollectConfig:
    """Everything a collect run is asked to do; the notebook and the script both build one."""

    experiment: str
    models: tuple[str, ...]
    prompts: tuple[PromptVersion, ...]
    scenarios: tuple[Scenario, ...]
    n_tips: int = 3
    seed: int = 0
    options: GenerationOptions = field(default_factory=GenerationOptions)
    max_model_b: float = DEFAULT_MAX_MODEL_B
    retry_failed: bool = False


@dataclass(frozen=True)
class Cell:
    """One (model, prompt version, scenario) with its options; the unit of an MLflow run."""

    cell_id: str
    model: ModelInfo
    prompt: PromptVersion
    scenario: Scenario
    options: GenerationOptions
    base_seed: int
    n_tips: int

    @property
    def run_name(self) -> str:
        return f"{self.model.name} | {self.prompt.version} | {self.scenario.id}"

    def seed(self, index: int) -> int:
        """Per-candidate seed from (base seed, cell, index): stable across runs and machines."""
        return int(content_hash([self.base_seed, self.cell_id, index]), 16) % (2**31 - 1)

    def request(self, index: int) -> GenerationRequest:
        """The chat form for instruct models, the raw-completion form for base models."""
        if self.model.is_base:
            return GenerationRequest(
                seed=self.seed(index),
                options=self.options,
                prompt=self.prompt.render_raw(self.scenario),
                stop=self.prompt.raw_stop,
            )
        messages = tuple(self.prompt.render_chat(self.scenario))
        return GenerationRequest(seed=self.seed(index), options=self.options, messages=messages)

    def prompt_text(self) -> str:
        """The exact prompt sent, as logged in ``prompt.txt``."""
        if self.model.is_base:
            return self.prompt.render_raw(self.scenario)
        return "\n\n".join(
            f"[{m['role']}]\n{m['content']}" for m in self.prompt.render_chat(self.scenario)
        )

    def record(self, backend_version: str, rubric_version: str) -> CellRecord:
        """What the journal keeps about the cell, enough to log it to MLflow without replanning."""
        return CellRecord(
            cell_id=self.cell_id,
            run_name=self.run_name,
            n_tips=self.n_tips,
            prompt_text=self.prompt_text(),
            params={
                **self.model.as_params(),
                "backend_version": backend_version,
                "prompt_version": self.prompt.version,
                "prompt_hash": self.prompt.content_hash,
                "scenario_id": self.scenario.id,
                "persona": self.scenario.persona.id,
                "time_slot": self.scenario.time_slot.id,
                "options": content_options(self.options),
                "seed": str(self.base_seed),
                "rubric_version": rubric_version,
            },
        )


def content_options(options: GenerationOptions) -> str:
    """The generation options that change the text, as a compact stable string."""
    d = options.as_dict()
    keep = ("temperature", "top_p", "max_tokens", "num_ctx")
    return ",".join(f"{k}={d[k]}" for k in keep)


def cell_id_for(
    experiment: str,
    model: ModelInfo,
    prompt: PromptVersion,
    scenario: Scenario,
    options: GenerationOptions,
    base_seed: int,
) -> str:
    """The content hash that names a cell: change any input and it is a different cell."""
    return content_hash(
        {
            "experiment": experiment,
            "model": model.name,
            "digest": model.digest,
            "prompt": [prompt.version, prompt.content_hash],
            "scenario": [scenario.id, scenario.content_hash],
            "options": content_options(options),
            "seed": base_seed,
        }
    )


def describe_models(backend: Backend, names: Sequence[str], max_model_b: float) -> list[ModelInfo]:
    """Describe every model and refuse the whole run if any is unknown or too large.

    This happens before anything is loaded, so a typo or an 8B model never touches the GPU.
    """
    infos = [backend.describe(name) for name in names]
    problems = [p for p in (info.size_problem(max_model_b) for info in infos) if p]
    if problems:
        raise ModelTooLargeError("; ".join(problems) + ". Nothing was loaded.")
    return infos


def plan_cells(config: CollectConfig, models: Sequence[ModelInfo]) -> list[Cell]:
    """Cells in model-major order (each model's cells together, so it loads once)."""
    cells = []
    for model in models:
        for prompt in config.prompts:
            for scenario in config.scenarios:
                cid = cell_id_for(
                    config.experiment, model, prompt, scenario, config.options, config.seed
                )
                cells.append(
                    Cell(cid, model, prompt, scenario, config.options, config.seed, config.n_tips)
                )
    return cells


@dataclass
class Progress:
    """What a progress display needs after each candidate or cell."""

    done: int
    total: int
    cell: Cell | None
    message: str
    candidate: dict[str, Any] | None = None


@dataclass
class ModelStats:
    load_s: float = 0.0
    tokens: int = 0
    gen_s: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.gen_s if self.gen_s > 0 else float("nan")


BACKEND_STOPS = (BackendUnavailableError, UnloadTimeoutError)
"""Backend errors that stop a run without failing any cell (see the module docstring)."""

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 3
"""Exit statuses of a run that started (2, "refused", belongs to the command line: cli.py)."""


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

    @property
    def exit_code(self) -> int:
        """3 when a rerun has work to resume (interrupted cells, cells not yet in MLflow), else
        1 when some cells failed, else 0: every cell is complete and in MLflow."""
        if self.interrupted or self.sync.undelivered:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed else EXIT_OK

    def lines(self) -> list[str]:
        interrupted = f", {len(self.interrupted)} interrupted" if self.interrupted else ""
        out = [
            f"cells: {len(self.finished)} done, {len(self.failed)} failed, "
            f"{len(self.skipped)} already complete (skipped){interrupted}"
        ]
        for name, stats in self.models.items():
            if not stats.tokens:
                continue  # never generated (load failed, or the run stopped first)
            out.append(
                f"  {name}: load {stats.load_s:.1f} s, {stats.tokens_per_s:.1f} tokens/s "
                f"end to end ({stats.tokens} tokens, prompt processing included)"
            )
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


ProgressCallback = Callable[[Progress], None]


def pending_work(
    config: CollectConfig, models: Sequence[ModelInfo], state: CollectState
) -> tuple[list[Cell], int, CollectSummary]:
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

    def run(self, models: Sequence[ModelInfo]) -> CollectSummary:
        todo, total, summary = pending_work(self.config, models, self.journal.state())
        state = self.journal.state()
        backend_version = self.backend.version()
        self.sender = BackgroundSender(self.syncer)
        try:
            self._run_models(todo, state, summary, total, backend_version)
        finally:
            self.sender.close()
        self.syncer.offline_error = ""  # one more try for whatever an outage held back
        summary.sync = self.syncer.deliver(self.journal.state())
        return summary

    def _run_models(
        self,
        todo: list[Cell],
        state: CollectState,
        summary: CollectSummary,
        total: int,
        backend_version: str,
    ) -> None:
        """Model-major: load each model once, run its cells, unload it before the next.

        When the backend cannot go on, the run stops: every cell not finished is interrupted.
        """
        done = 0
        groups = _by_model(todo)
        for position, (model, model_cells) in enumerate(groups):
            try:
                done = self._run_model(
                    model, model_cells, state, summary, done, total, backend_version
                )
            except BACKEND_STOPS as exc:
                summary.stopped = str(exc)
                settled = {*summary.finished, *summary.failed}
                left = [c.cell_id for _, cells in groups[position:] for c in cells]
                summary.interrupted += [cid for cid in left if cid not in settled]
                return

    def _run_model(
        self,
        model: ModelInfo,
        cells: list[Cell],
        state: CollectState,
        summary: CollectSummary,
        done: int,
        total: int,
        backend_version: str,
    ) -> int:
        """One model's cells between its load and its unload; raises BACKEND_STOPS errors.

        A load the model itself refuses (out of memory, unknown model) fails its cells and the
        run goes on with the next model.
        """
        stats = summary.models.setdefault(model.name, ModelStats())
        try:
            stats.load_s = self.backend.load(model.name, self.config.options)
        except BACKEND_STOPS:
            raise
        except BackendError as exc:
            for cell in cells:
                self._fail(cell, f"could not load {model.name}: {exc}", summary, backend_version)
            return done
        current = cells[0]
        try:
            for current in cells:
                done = self._run_cell(current, state, summary, stats, done, total, backend_version)
        except BackendUnavailableError as exc:
            self.journal.add_interruption(current.cell_id, str(exc))  # its cell record is there
            raise  # no unload: the server is gone, and a restarted one holds nothing
        except BaseException:
            with contextlib.suppress(BackendError):
                self.backend.unload(model.name)
            raise
        self.backend.unload(model.name)
        return done

    def _run_cell(
        self,
        cell: Cell,
        state: CollectState,
        summary: CollectSummary,
        stats: ModelStats,
        done: int,
        total: int,
        backend_version: str,
    ) -> int:
        self.journal.add_cell(cell.record(backend_version, self.rubric.version))
        have = state.candidates.get(cell.cell_id, {})
        for index in range(cell.n_tips):
            if index in have:
                continue
            try:
                record = self._generate(cell, index, stats)
            except GenerationError as exc:
                self._fail(cell, str(exc), summary, backend_version)
                return done
            self.journal.add_candidate(record)
            done += 1
            self.on_progress(Progress(done, total, cell, cell.run_name, record))
        self.journal.clear_failure(cell.cell_id)
        summary.finished.append(cell.cell_id)
        summary.failed.pop(cell.cell_id, None)
        self.sender.submit(deliveries(self.journal.state(), only=[cell.cell_id]))
        return done

    def _generate(self, cell: Cell, index: int, stats: ModelStats) -> dict[str, Any]:
        request = cell.request(index)
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

    def _fail(self, cell: Cell, reason: str, summary: CollectSummary, backend_version: str) -> None:
        self.journal.add_cell(cell.record(backend_version, self.rubric.version))
        self.journal.add_failure(cell.cell_id, reason)
        summary.failed[cell.cell_id] = reason
        self.sender.submit(deliveries(self.journal.state(), only=[cell.cell_id]))


def _by_model(cells: Iterable[Cell]) -> list[tuple[ModelInfo, list[Cell]]]:
    groups: dict[str, tuple[ModelInfo, list[Cell]]] = {}
    for cell in cells:
        groups.setdefault(cell.model.name, (cell.model, []))[1].append(cell)
    return list(groups.values())
