"""The collect phase's plan: which cells a request makes, and what names each one.

A cell is one (model, prompt version, scenario) with its generation options (``--diversity``'s
rule among them, :mod:`.diversity`); its id hashes all of them and the experiment's name, so a
changed prompt or scenario is a new cell and a rerun of the same request finds the same cells.
Models are described and checked against the size limit here, before any is loaded, and cells
come model-major so the runner loads each model once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tipbench_lib.backends.base import (
    DEFAULT_MAX_MODEL_B,
    Backend,
    GenerationOptions,
    GenerationRequest,
    ModelInfo,
)
from tipbench_lib.collect.diversity import OPTION_KEY, Diversity
from tipbench_lib.core.cells import cell_id, cell_label
from tipbench_lib.core.errors import ModelTooLargeError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.prompts import PromptVersion
from tipbench_lib.core.records import CellRecord
from tipbench_lib.core.scenarios import Scenario
from tipbench_lib.tracking import mapping


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
    diversity: Diversity | None = None
    """``--diversity``: regenerate near repeats within a cell (None: off)."""


@dataclass(frozen=True)
class PlannedCell:
    """One (model, prompt version, scenario) with its options; the unit of an MLflow run."""

    cell_id: str
    model: ModelInfo
    prompt: PromptVersion
    scenario: Scenario
    options: GenerationOptions
    base_seed: int
    n_tips: int
    diversity: Diversity | None = None

    @property
    def run_name(self) -> str:
        """The cell's MLflow run name (:func:`tipbench_lib.tracking.mapping.run_name`)."""
        return mapping.run_name(self.model.name, self.prompt.version, self.scenario.id)

    @property
    def label(self) -> str:
        """How progress displays name the cell (:func:`tipbench_lib.core.cells.cell_label`)."""
        return cell_label(self.model.name, self.prompt.version, self.scenario.id)

    def seed(self, index: int) -> int:
        """Per-candidate seed from (base seed, cell, index): stable across runs and machines."""
        return int(content_hash([self.base_seed, self.cell_id, index]), 16) % (2**31 - 1)

    def request(self, index: int, seed: int | None = None) -> GenerationRequest:
        """The chat form for instruct models, the raw-completion form for base models.

        ``seed`` overrides the candidate's own seed (a ``--diversity`` regeneration).
        """
        seed = self.seed(index) if seed is None else seed
        if self.model.is_base:
            return GenerationRequest(
                seed=seed,
                options=self.options,
                prompt=self.prompt.render_raw(self.scenario),
                stop=self.prompt.raw_stop,
            )
        messages = tuple(self.prompt.render_chat(self.scenario))
        return GenerationRequest(seed=seed, options=self.options, messages=messages)

    def prompt_text(self) -> str:
        """The exact prompt sent, as delivered at the top of the cell's ``candidates.json``."""
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
            params=mapping.cell_params(
                self.model.as_params(),
                backend_version=backend_version,
                prompt_version=self.prompt.version,
                prompt_hash=self.prompt.content_hash,
                scenario_id=self.scenario.id,
                scenario_hash=self.scenario.content_hash,
                persona=self.scenario.persona.id,
                time_slot=self.scenario.time_slot.id,
                options=content_options(self.options, self.diversity),
                seed=self.base_seed,
                rubric_version=rubric_version,
            ),
        )


def content_options(options: GenerationOptions, diversity: Diversity | None = None) -> str:
    """The generation options that change the text, as a compact stable string.

    ``--diversity``'s rule is appended only when it is on, so cells collected without it keep
    the ids (and the ``options`` param) they always had.
    """
    d = options.as_dict()
    keep = ("temperature", "top_p", "max_tokens", "num_ctx")
    text = ",".join(f"{k}={d[k]}" for k in keep)
    if diversity is not None:
        text += f",{OPTION_KEY}={diversity.option_text()}"
    return text


def cell_id_for(
    experiment: str,
    model: ModelInfo,
    prompt: PromptVersion,
    scenario: Scenario,
    options: GenerationOptions,
    base_seed: int,
    diversity: Diversity | None = None,
) -> str:
    """The content hash that names a cell: change any input and it is a different cell."""
    return cell_id(
        experiment,
        model=model.name,
        digest=model.digest,
        prompt_version=prompt.version,
        prompt_hash=prompt.content_hash,
        scenario_id=scenario.id,
        scenario_hash=scenario.content_hash,
        options=content_options(options, diversity),
        seed=base_seed,
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


def plan_cells(config: CollectConfig, models: Sequence[ModelInfo]) -> list[PlannedCell]:
    """Cells in model-major order (each model's cells together, so it loads once)."""
    cells = []
    for model in models:
        for prompt in config.prompts:
            for scenario in config.scenarios:
                cid = cell_id_for(
                    config.experiment,
                    model,
                    prompt,
                    scenario,
                    config.options,
                    config.seed,
                    config.diversity,
                )
                cells.append(
                    PlannedCell(
                        cid,
                        model,
                        prompt,
                        scenario,
                        config.options,
                        config.seed,
                        config.n_tips,
                        config.diversity,
                    )
                )
    return cells
