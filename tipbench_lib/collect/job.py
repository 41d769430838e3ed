"""One collect job end to end: resolve the request, refuse early, lock, run, deliver, summarise.

Shared by ``notebooks/collect.py`` in all three modes, so the browser's run button and the cron
job do exactly the same thing. Everything that can refuse the job (a name too long to store, an
unknown prompt, model or scenario, a model above the limit, another rubric or other generation
settings than the experiment's cells were collected with) does so before any model is loaded and
before the MLflow experiment or the journal folder is created; an unreachable service interrupts
it there (exit 3). The settings are checked again under the journal's lock and after the first
claim (:mod:`.settings`), so two collects started at once from two homes cannot mix them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.backends.base import DEFAULT_MAX_MODEL_B, Backend, GenerationOptions, ModelInfo
from tipbench_lib.collect.claims import Claims, worker_id
from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.collect.diversity import Diversity
from tipbench_lib.collect.journal import CollectJournal
from tipbench_lib.collect.plan import CollectConfig, describe_models
from tipbench_lib.collect.runner import Collector, CollectSummary, pending_work
from tipbench_lib.collect.settings import (
    held_cells,
    planned_settings,
    refuse_mixed_settings,
    settings_tag,
)
from tipbench_lib.core.journal import exclusive_lock
from tipbench_lib.core.names import check_experiment
from tipbench_lib.core.progress import ProgressCallback
from tipbench_lib.core.prompts import get_prompt
from tipbench_lib.core.records import Candidate
from tipbench_lib.core.rubric import Rubric, resolve_rubric
from tipbench_lib.core.scenarios import (
    DEFAULT_N_SCENARIOS,
    Scenario,
    scenarios_by_ids,
    select_scenarios,
)
from tipbench_lib.core.schema import auto_column
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import record_rubric


@dataclass(frozen=True)
class CollectRequest:
    """What the user asked for, in the words of the command line."""

    experiment: str
    models: tuple[str, ...]
    prompts: tuple[str, ...] = ("v1", "v2-mentor", "v3-few-shot")
    scenarios: str = str(DEFAULT_N_SCENARIOS)
    """A count ("12") or a comma list of scenario ids."""
    n_tips: int = 3
    seed: int = 0
    options: GenerationOptions = field(default_factory=GenerationOptions)
    max_model_b: float = DEFAULT_MAX_MODEL_B
    retry_failed: bool = False
    rubric: str | None = None
    """``--rubric NAME|PATH``; None: the experiment's recorded rubric, else tip-v1."""
    diversity: bool = False
    """``--diversity``: regenerate a candidate that nearly repeats an earlier one of its cell."""


def resolve_scenarios(spec: str) -> list[Scenario]:
    """``"12"`` selects 12 spread across personas; ``"a,b"`` picks those ids."""
    spec = spec.strip()
    if spec.isdigit():
        return select_scenarios(int(spec))
    return scenarios_by_ids([s.strip() for s in spec.split(",") if s.strip()])


def request_problems(request: CollectRequest) -> list[str]:
    """Numbers that would make a run meaningless or fail late, each with the option to fix.

    Ollama reads 0 or a negative ``num_predict`` as "no limit" and a 0 ``num_ctx`` as its own
    default, so such values would silently run something other than what was asked.
    """
    opts = request.options
    checks = [
        (request.n_tips >= 1, f"--n-tips must be at least 1, got {request.n_tips}"),
        (opts.max_tokens >= 1, f"--max-tokens must be at least 1, got {opts.max_tokens}"),
        (opts.num_ctx >= 1, f"--num-ctx must be at least 1, got {opts.num_ctx}"),
        (opts.timeout_s > 0, f"--timeout must be more than 0 seconds, got {opts.timeout_s:g}"),
        (opts.temperature >= 0, f"--temperature must be 0 or more, got {opts.temperature:g}"),
        (request.max_model_b > 0, f"--max-model-b must be above 0, got {request.max_model_b:g}"),
    ]
    return [message for ok, message in checks if not ok]


def resolve_config(request: CollectRequest) -> CollectConfig:
    """Turn names into loaded prompts and scenarios; raises on anything unknown.

    Only the prompt versions and scenarios asked for are read, so a malformed file for another
    version does not block this run.
    """
    experiment = check_experiment(request.experiment)
    if not request.models:
        raise ValueError("no models given: pass --models with one or more names")
    if not request.prompts:
        raise ValueError("no prompt versions given: pass --prompts with one or more versions")
    problems = request_problems(request)
    if problems:
        raise ValueError("; ".join(problems))
    return CollectConfig(
        experiment=experiment,
        models=request.models,
        prompts=tuple(get_prompt(v) for v in request.prompts),
        scenarios=tuple(resolve_scenarios(request.scenarios)),
        n_tips=request.n_tips,
        seed=request.seed,
        options=request.options,
        max_model_b=request.max_model_b,
        retry_failed=request.retry_failed,
        diversity=Diversity() if request.diversity else None,
    )


@dataclass
class PreparedCollect:
    """A job that passed every check and may now load models."""

    config: CollectConfig
    models: list[ModelInfo]
    experiment_id: str
    rubric: Rubric
    """The experiment's rubric, recorded in MLflow: its automatic checks run on every tip."""


def chosen_rubric(spec: str | None, journal: CollectJournal) -> Rubric | None:
    """The rubric ``--rubric`` names, or the one this experiment's journal recorded (None: none).

    A journal that recorded another rubric than the one asked for refuses the run here, before
    anything is created.
    """
    held = journal.state()
    rubric = resolve_rubric(spec) if spec else held.recorded_rubric()
    if rubric is not None:
        held.refuse_other_rubric(journal.experiment, rubric)
    return rubric


def check_request(
    request: CollectRequest, backend: Backend
) -> tuple[CollectConfig, list[ModelInfo]]:
    """The refusals that need no MLflow (names, numbers, each model on the backend), so a
    command makes them before the embedded server starts (docs/architecture.md §6)."""
    config = resolve_config(request)
    return config, describe_models(backend, config.models, config.max_model_b)


def prepare(
    request: CollectRequest,
    backend: Backend,
    client: MlflowClient,
    checked: tuple[CollectConfig, list[ModelInfo]] | None = None,
) -> PreparedCollect:
    """Every refusal happens here, before a single model is loaded.

    ``checked`` is :func:`check_request`'s answer when the caller made it before reaching
    MLflow. The rubric is recorded with the MLflow experiment (created here if new) once every
    check has passed, so judging and comparing read it from the experiment.
    """
    config, models = checked or check_request(request, backend)
    journal = CollectJournal(config.experiment)
    rubric = chosen_rubric(request.rubric, journal)
    held = held_cells(journal, client, config.experiment)
    refuse_mixed_settings(config.experiment, planned_settings(config), held)
    experiment_id, rubric = record_rubric(client, config.experiment, rubric)
    return PreparedCollect(config, models, experiment_id, rubric)


def run_prepared(
    prepared: PreparedCollect,
    backend: Backend,
    client: MlflowClient,
    on_progress: ProgressCallback | None = None,
) -> CollectSummary:
    """Generate, journal and deliver; holds the experiment's lock so two runs never overlap.

    Under the lock the settings are checked again, against this journal and MLflow as they are
    now (another worker's cells may have arrived since :func:`prepare`, e.g. while this worker's
    Ollama described its models): the one ``runs/search`` the delivery starts with serves both.
    """
    config = prepared.config
    journal = CollectJournal(config.experiment)
    with exclusive_lock(journal.lock_path, f"collecting into {config.experiment!r}"):
        claims = Claims(
            client, prepared.experiment_id, worker_id(journal.dir), settings_tag(config)
        )
        syncer = CellSyncer(client, prepared.experiment_id, claims, experiment=config.experiment)
        runs = [run for held in syncer.runs_by_cell().values() for run in held]
        held = held_cells(journal, client, config.experiment, runs)
        refuse_mixed_settings(config.experiment, planned_settings(config), held)
        journal.use_rubric(prepared.rubric)
        collector = Collector(
            prepared.config, backend, syncer, journal, prepared.rubric, on_progress
        )
        return collector.run(prepared.models)


def pending(prepared: PreparedCollect) -> tuple[list, int, CollectSummary]:
    """What a run of ``prepared`` would still do, for sizing a progress bar before it starts."""
    state = CollectJournal(prepared.config.experiment).state()
    return pending_work(prepared.config, prepared.models, state)


@dataclass
class InteractiveJob:
    """A prepared job with its size known, for a notebook that shows a progress bar first."""

    prepared: PreparedCollect
    backend: Backend
    client: MlflowClient
    total: int

    def run(self, on_progress: ProgressCallback | None = None) -> CollectSummary:
        return run_prepared(self.prepared, self.backend, self.client, on_progress)


@contextlib.contextmanager
def interactive_job(request: CollectRequest, backend: Backend) -> Iterator[InteractiveJob]:
    """Prepare ``request`` against the configured MLflow (embedded unless one is set)."""
    from tipbench_lib.tracking.server import tracking_url

    with MlflowClient(tracking_url()) as client:
        prepared = prepare(request, backend, client)
        _todo, total, _settled = pending(prepared)
        yield InteractiveJob(prepared, backend, client, total)


class Eta:
    """A progress line with an estimate of the time left, for the notebook's live view."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def line(self, done: int, total: int) -> str:
        elapsed = time.monotonic() - self.started
        left = elapsed / done * (total - done) if done else float("nan")
        eta = f"about {_duration(left)} left" if done else "estimating time left"
        share = 100 * done / total if total else 100.0
        return f"**{done} / {total} tips** ({share:.0f}%) · {_duration(elapsed)} so far · {eta}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def candidate_row(candidate: Candidate | None) -> dict[str, Any]:
    """The columns of a candidate worth showing as it arrives: its text, automatic checks, speed."""
    if candidate is None:
        return {"text": None, "tokens_per_s": 0.0}
    return {
        "text": candidate.text,
        **{auto_column(flag): value for flag, value in candidate.auto.items()},
        "tokens_per_s": round(candidate.tokens_per_s, 1),
    }


def model_choices(backend: Backend, max_model_b: float) -> list[dict[str, object]]:
    """Rows for the notebook's model picker: every model with its size and why it is disabled."""
    rows = []
    for info in backend.list_models():
        problem = info.size_problem(max_model_b)
        rows.append(
            {
                "model": info.name,
                "parameters": info.parameter_label
                or ("?" if info.parameter_b is None else f"{info.parameter_b:.2f}B"),
                "quantization": info.quantization,
                "allowed": problem is None,
                "reason": problem or "",
            }
        )
    return rows
