"""How an experiment lives in MLflow: every run, param, tag, metric and artifact name, in one place.

The collect phase writes this layout, the judge phase updates it and the compare phase reads it;
all three take the names from here, so the layout can be read (and changed) in one module.

- **One run per cell** (model x prompt version x scenario), found again by its ``tipbench.cell_id``
  tag, never by its name. The run is named ``model | prompt | scenario``
  (:func:`run_name`): MLflow's runs table shows a name in a narrow column, and that form keeps the
  three parts apart there. Everywhere else a cell is named by :func:`tipbench_lib.core.cells.
  cell_label`.
- **Params** (write-once in MLflow): :data:`CELL_PARAMS` say which cell it is, the rest
  (:data:`CELL_EXTRA_PARAMS`) how it was made: model digest, quantization, parameter count,
  backend and its version, prompt hash, generation options, seed and rubric version.
- **Tags**: :data:`CELL_TAG`; :data:`PENDING_TAG` (``true`` until every candidate has enough
  judges); :data:`COUNT_TAG` and :data:`N_TIPS_TAG` (candidates delivered and asked for);
  :data:`FAILURE_TAG` (why a FAILED cell failed).
- **Metrics**: speed and automatic checks at collect (:func:`cell_metrics`); after judging the
  mean of every score (``<score>_mean``, :func:`mean_metric`) and :data:`JUDGED_COUNT`.
- **Artifacts**: :data:`CANDIDATES_ARTIFACT` holds the exact prompt the model was sent and the
  candidates (:func:`candidates_document`); ``judgments/<judge key>.json`` each judge's latest
  judgments of the cell (:func:`judgments_artifact`). Runs delivered before the prompt moved into
  ``candidates.json`` hold a plain list there and the prompt in :data:`LEGACY_PROMPT_ARTIFACT`;
  :func:`read_cell_artifact` reads both shapes.
- **The summary run**: one per experiment, tagged ``tipbench.kind=summary`` and never a cell (it
  has no cell tag); the compare phase keeps its report and tables there.

A new cell costs four requests: ``runs/create`` (carrying the cell tag), one artifact upload,
one ``runs/log-batch`` (params, metrics and tags together) and ``runs/update`` (its status).
The prompt travels inside ``candidates.json`` because a separate ``prompt.txt`` was a fifth
request per cell (``bench/mlflow_logging.py`` measures both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.entities import Run

# -- runs and tags ------------------------------------------------------------------------------

CELL_TAG = "tipbench.cell_id"
PENDING_TAG = "tipbench.judge_pending"
COUNT_TAG = "tipbench.n_candidates"
N_TIPS_TAG = "tipbench.n_tips"
FAILURE_TAG = "tipbench.failure_reason"
MAX_FAILURE_CHARS = 7000
"""A failure reason is cut here, well inside MLflow's 8,000-character tag limit."""

KIND_TAG = "tipbench.kind"
SUMMARY_KIND = "summary"
SUMMARY_RUN_NAME = "summary | report"
SUMMARY_FILES = ("report.html", "leaderboard.csv", "comparisons.csv")


def run_name(model: str, prompt_version: str, scenario_id: str) -> str:
    """A cell run's name in MLflow (see the module docstring for why it differs from the label)."""
    return f"{model} | {prompt_version} | {scenario_id}"


def is_cell_run(run: Run) -> bool:
    """Whether ``run`` is a cell's run (the summary run and foreign runs are not)."""
    return bool(run.tags.get(CELL_TAG))


# -- params -------------------------------------------------------------------------------------

CELL_PARAMS = ("model", "prompt_version", "scenario_id", "persona", "time_slot")
"""Which cell a run is: the compare phase's ``cells`` frame is built from these."""
CELL_EXTRA_PARAMS = (
    "model_digest",
    "quantization",
    "parameter_count",
    "backend",
    "backend_version",
    "prompt_hash",
    "options",
    "seed",
    "rubric_version",
)
"""How the cell was made: provenance, read back into the ``cells`` frame beside the above."""


def cell_params(
    model_params: Mapping[str, str],
    *,
    backend_version: str,
    prompt_version: str,
    prompt_hash: str,
    scenario_id: str,
    persona: str,
    time_slot: str,
    options: str,
    seed: int,
    rubric_version: str,
) -> dict[str, str]:
    """A cell run's params; ``model_params`` is ``ModelInfo.as_params()`` (model, digest, ...)."""
    return {
        **model_params,
        "backend_version": backend_version,
        "prompt_version": prompt_version,
        "prompt_hash": prompt_hash,
        "scenario_id": scenario_id,
        "persona": persona,
        "time_slot": time_slot,
        "options": options,
        "seed": str(seed),
        "rubric_version": rubric_version,
    }


# -- metrics ------------------------------------------------------------------------------------

JUDGED_COUNT = "judged_count"
"""Candidates of the cell with at least one score."""


def mean_metric(score: str) -> str:
    """The metric holding the mean of one score over a cell's latest judgments."""
    return f"{score}_mean"


def cell_metrics(candidates: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Per-cell speed and automatic-check summaries (judging adds the quality metrics later)."""
    if not candidates:
        return {}
    return {
        "latency_s": fmean(c["latency_s"] for c in candidates),
        "tokens_per_s": fmean(c["tokens_per_s"] for c in candidates),
        "load_s": max(c.get("load_s", 0.0) for c in candidates),
        "eval_tokens": fmean(c["eval_tokens"] for c in candidates),
        "format_ok_rate": fmean(float(c["format_ok_auto"]) for c in candidates),
        "overlong_rate": fmean(float(c["overlong_auto"]) for c in candidates),
        "n_candidates": float(len(candidates)),
    }


# -- artifacts ----------------------------------------------------------------------------------

CANDIDATES_ARTIFACT = "candidates.json"
CANDIDATES_FORMAT = "tipbench.candidates/2"
"""``candidates.json`` as an object with the prompt; version 1 was a bare list of candidates."""
LEGACY_PROMPT_ARTIFACT = "prompt.txt"
"""Where runs delivered with version 1 of ``candidates.json`` keep their prompt."""
JUDGMENTS_FOLDER = "judgments"


def judgments_artifact(judge_key: str) -> str:
    """Where a cell run keeps one judge's latest judgments (``judge_key``: the journal's key)."""
    return f"{JUDGMENTS_FOLDER}/{judge_key}.json"


def candidates_document(prompt: str, candidates: Sequence[Mapping[str, Any]]) -> str:
    """``candidates.json``: the prompt first, so MLflow's artifact viewer shows it on top."""
    document = {"format": CANDIDATES_FORMAT, "prompt": prompt, "candidates": list(candidates)}
    return json.dumps(document, ensure_ascii=False, indent=1)


@dataclass(frozen=True)
class CellArtifact:
    """What a cell run's ``candidates.json`` holds; ``prompt`` is None when it was not read."""

    candidates: list[dict[str, Any]]
    prompt: str | None


def parse_candidates(data: bytes | str, where: str = CANDIDATES_ARTIFACT) -> CellArtifact:
    """Either shape of ``candidates.json``: the object with the prompt, or an old bare list."""
    document = json.loads(data)
    if isinstance(document, list):
        return CellArtifact(document, None)
    if isinstance(document, dict) and isinstance(document.get("candidates"), list):
        return CellArtifact(document["candidates"], document.get("prompt"))
    raise TrackingError(
        f"{where} is neither a list of candidates nor a {CANDIDATES_FORMAT} object; it was not "
        "written by tipbench's collect phase"
    )


def read_cell_artifact(client: MlflowClient, run: Run, *, prompt: bool = False) -> CellArtifact:
    """A cell run's candidates (each with its ``cell_id``), and its prompt when ``prompt``.

    The prompt of an older run is in its own artifact, read only when asked for: loading an
    experiment needs the candidates, not the prompts.
    """
    where = f"run {run.run_id} {CANDIDATES_ARTIFACT}"
    artifact = parse_candidates(client.download_artifact(run.run_id, CANDIDATES_ARTIFACT), where)
    cell_id = run.tags.get(CELL_TAG)
    for candidate in artifact.candidates:
        candidate.setdefault("cell_id", cell_id)
    if prompt and artifact.prompt is None:
        text = client.download_artifact(run.run_id, LEGACY_PROMPT_ARTIFACT).decode("utf-8")
        return CellArtifact(artifact.candidates, text)
    return artifact


def read_judgments(client: MlflowClient, run: Run) -> list[dict[str, Any]]:
    """Every judge's judgments of one cell run, as their artifacts hold them."""
    records: list[dict[str, Any]] = []
    for info in client.list_artifacts(run.run_id, JUDGMENTS_FOLDER):
        if info.path.endswith(".json") and not info.is_dir:
            records.extend(json.loads(client.download_artifact(run.run_id, info.path)))
    return records
