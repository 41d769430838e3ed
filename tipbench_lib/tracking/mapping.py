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
  judges); :data:`PAIRS_TAG` (the run holds pairwise judgments); :data:`COUNT_TAG` and
  :data:`N_TIPS_TAG` (candidates delivered and asked for);
  :data:`FAILURE_TAG` (why a FAILED cell failed).
- **Metrics**: speed, automatic checks, :data:`DISTINCT_RATIO` and :data:`REGENERATIONS` at
  collect (:func:`cell_metrics`); after judging the
  mean of every score (``<score>_mean``, :func:`mean_metric`) and :data:`JUDGED_COUNT`.
- **Artifacts**: :data:`CANDIDATES_ARTIFACT` holds the exact prompt the model was sent and the
  candidates (:func:`candidates_document`); ``judgments/<judge key>.json`` each judge's latest
  judgments of the cell (:func:`judgments_artifact`); ``pairs/<judge key>.json`` on the run of a
  pair's cell A, each judge's latest pairwise judgments whose A is that cell
  (:func:`pairs_artifact`, docs/architecture.md section 13). Runs delivered before the prompt
  moved into ``candidates.json`` hold a plain list there and the prompt in
  :data:`LEGACY_PROMPT_ARTIFACT`; :func:`read_cell_artifact` reads both shapes.
- **The experiment's own tags** (:func:`rubric_tags`): the rubric it is scored on
  (:data:`RUBRIC_TAG`, :data:`RUBRIC_VERSION_TAG`, :data:`RUBRIC_HASH_TAG`) and the rubric file's
  text (:data:`RUBRIC_TEXT_TAG`), so another machine judges and compares with the same rubric;
  and :data:`FORMAT_TAG`, the format of the records (:data:`tipbench_lib.core.records.
  FORMAT_VERSION`). The text is a tag when the server takes a value that long (20,000
  characters since MLflow 3.x's migration 17e22815139b, 5,000 before), else the experiment-level
  artifact :data:`RUBRIC_ARTIFACT` that the tag then points at. An experiment without these tags
  was collected before rubrics were recorded: it is read as tip-v1
  (:mod:`tipbench_lib.tracking.experiment`).
- **The summary run**: one per experiment, tagged ``tipbench.kind=summary`` and never a cell (it
  has no cell tag); the compare phase keeps its report and tables there.

Recording the rubric costs a few requests once per experiment, none per cell: a new cell still
costs four requests: ``runs/create`` (carrying the cell tag), one artifact upload,
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

from tipbench_lib.core.bigrams import distinct_ratio
from tipbench_lib.core.errors import RetryableError, TrackingError
from tipbench_lib.core.records import (
    CELL_KEYS,
    FORMAT_VERSION,
    PROVENANCE_PARAMS,
    Candidate,
    Judgment,
    PairJudgment,
    RubricRef,
)
from tipbench_lib.tracking.client import ArtifactTooLarge, MlflowClient
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.http import MlflowHttpError

# -- runs and tags ------------------------------------------------------------------------------

CELL_TAG = "tipbench.cell_id"
PENDING_TAG = "tipbench.judge_pending"
COUNT_TAG = "tipbench.n_candidates"
N_TIPS_TAG = "tipbench.n_tips"
FAILURE_TAG = "tipbench.failure_reason"
MAX_FAILURE_CHARS = 7000
"""A failure reason is cut here, well inside MLflow's 8,000-character tag limit."""

CLAIMANT_TAG = "tipbench.claimant"
"""On a claim (a RUNNING run with the cell tag): the worker that holds the cell
(:mod:`tipbench_lib.collect.claims`)."""
CLAIM_UNTIL_TAG = "tipbench.claim_until"
"""On a claim: until when (ms since the epoch, the claimant's clock) it holds the cell; later, a
claim of another worker counts as abandoned."""
SETTINGS_TAG = "tipbench.settings"
"""The generation settings the cell is collected with (``<options>;seed=<seed>``), set when the
cell is claimed, before any param: a racing collect with other settings sees them at once."""
DUPLICATE_TAG = "tipbench.duplicate_of"
"""On a second FINISHED run of a cell: the run kept for the cell, which its judgments were moved
to (:mod:`tipbench_lib.collect.reconcile`); every reader leaves a run with this tag out."""

KIND_TAG = "tipbench.kind"
QUEUE_FAMILY_TAG = "tipbench.queue_family"
"""Experiment tag: the primary family people judge under, and when it was named (JSON)."""
PPI_SAMPLING_TAG = "tipbench.ppi_sampling"
"""Experiment tag: the ``ppi-uniform`` design (seed, scenario population) compare's PPI checks."""
SAMPLING_KEY = "ppi_sampling"
"""The provenance entry holding the ``ppi-uniform`` design (from :data:`PPI_SAMPLING_TAG`)."""
FAMILY_KEY = "queue_family"
"""The provenance entry holding the family people judged under (from :data:`QUEUE_FAMILY_TAG`)."""


def queue_provenance(tags: Mapping[str, str]) -> dict[str, Any]:
    """The judging queue's records an experiment's tags hold, as provenance entries (a snapshot
    keeps them in provenance.json, so compare checks PPI without MLflow too)."""
    out: dict[str, Any] = {}
    for key, tag in ((SAMPLING_KEY, PPI_SAMPLING_TAG), (FAMILY_KEY, QUEUE_FAMILY_TAG)):
        try:
            value = json.loads(tags.get(tag) or "null")
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out[key] = value
    return out


SUMMARY_KIND = "summary"
SUMMARY_RUN_NAME = "summary | report"
SUMMARY_FILES = ("report.html", "leaderboard.csv", "comparisons.csv")


def run_name(model: str, prompt_version: str, scenario_id: str) -> str:
    """A cell run's name in MLflow (see the module docstring for why it differs from the label)."""
    return f"{model} | {prompt_version} | {scenario_id}"


def is_cell_run(run: Run) -> bool:
    """Whether ``run`` is a cell's run (the summary run and foreign runs are not)."""
    return bool(run.tags.get(CELL_TAG))


def settings_text(options: str, seed: int | str) -> str:
    """The value of :data:`SETTINGS_TAG`: a cell's ``options`` param and its seed."""
    return f"{options};seed={seed}"


# -- params -------------------------------------------------------------------------------------

CELL_PARAMS = CELL_KEYS
"""Which cell a run is: the compare phase's ``cells`` frame is built from these."""
SCENARIO_HASH_PARAM = "scenario_hash"
"""The scenario's content hash, an input of the cell id (runs made before it lack it)."""
CELL_EXTRA_PARAMS = PROVENANCE_PARAMS
"""How the cell was made: provenance (:class:`tipbench_lib.core.records.CellProvenance`), read
back into the ``cells`` frame beside the above."""


def cell_params(
    model_params: Mapping[str, str],
    *,
    backend_version: str,
    prompt_version: str,
    prompt_hash: str,
    scenario_id: str,
    scenario_hash: str,
    persona: str,
    time_slot: str,
    options: str,
    seed: int,
    rubric_version: str,
) -> dict[str, str]:
    """A cell run's params; ``model_params`` is ``ModelInfo.as_params()`` (model, digest, ...).

    Every input of the cell id is among them (:data:`SCENARIO_HASH_PARAM` too), so a reader can
    recompute the id from the params and the experiment's name (:mod:`.cellruns`).
    """
    return {
        **model_params,
        "backend_version": backend_version,
        "prompt_version": prompt_version,
        "prompt_hash": prompt_hash,
        "scenario_id": scenario_id,
        SCENARIO_HASH_PARAM: scenario_hash,
        "persona": persona,
        "time_slot": time_slot,
        "options": options,
        "seed": str(seed),
        "rubric_version": rubric_version,
    }


# -- metrics ------------------------------------------------------------------------------------

JUDGED_COUNT = "judged_count"
"""Candidates of the cell with at least one score."""
DISTINCT_RATIO = "distinct_ratio"
"""Share of the cell's candidates that nearly repeat no earlier one (``--diversity`` raises it)."""
REGENERATIONS = "regenerations"
"""Generations ``--diversity`` rejected in the cell as near repeats of an earlier candidate."""


METRIC_DIGITS = 4
"""Decimals a cell run's metrics keep: MLflow's runs table shows a metric as logged, and
4.333333333333333 reads worse than 4.3333 and says no more (issue 22; the artifacts keep every
score)."""


def shown_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` rounded to :data:`METRIC_DIGITS` for the runs table."""
    return {name: round(value, METRIC_DIGITS) for name, value in metrics.items()}


def mean_metric(score: str) -> str:
    """The metric holding the mean of one score over a cell's latest judgments."""
    return f"{score}_mean"


def cell_metrics(candidates: Sequence[Candidate]) -> dict[str, float]:
    """Per-cell speed and automatic-check summaries (judging adds the quality metrics later).

    ``<flag>_rate`` is the share of candidates the flag's automatic check set, for each flag of
    the experiment's rubric that has one. :data:`DISTINCT_RATIO` is the share of candidates that
    nearly repeat no earlier one of the cell (:func:`tipbench_lib.core.bigrams.distinct_ratio`),
    :data:`REGENERATIONS` the tries ``--diversity`` rejected as near repeats (0 without it).
    """
    if not candidates:
        return {}
    flags = sorted({flag for c in candidates for flag in c.auto})
    ordered = sorted(candidates, key=lambda c: c.sample_index)
    return shown_metrics(
        {
            "latency_s": fmean(c.latency_s for c in candidates),
            "tokens_per_s": fmean(c.tokens_per_s for c in candidates),
            "load_s": max(c.load_s for c in candidates),
            "eval_tokens": fmean(c.eval_tokens for c in candidates),
            **{
                rate_metric(f): fmean(float(c.auto.get(f, False)) for c in candidates)
                for f in flags
            },
            "n_candidates": float(len(candidates)),
            DISTINCT_RATIO: distinct_ratio([c.text for c in ordered]),
            REGENERATIONS: float(sum(c.regenerations for c in candidates)),
        }
    )


def rate_metric(flag: str) -> str:
    """The metric holding the share of a cell's candidates an automatic check flagged."""
    return f"{flag}_rate"


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


def candidates_document(prompt: str, candidates: Sequence[Candidate]) -> str:
    """``candidates.json``: the prompt first, so MLflow's artifact viewer shows it on top."""
    document = {
        "format": CANDIDATES_FORMAT,
        "prompt": prompt,
        "candidates": [c.to_json() for c in candidates],
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


@dataclass(frozen=True)
class CellArtifact:
    """What a cell run's ``candidates.json`` holds; ``prompt`` is None when it was not read."""

    candidates: list[Candidate]
    prompt: str | None


def parse_candidates(
    data: bytes | str, where: str = CANDIDATES_ARTIFACT, cell_id: str | None = None
) -> CellArtifact:
    """Either shape of ``candidates.json``: the object with the prompt, or an old bare list."""
    document = json.loads(data)
    if isinstance(document, dict) and isinstance(document.get("candidates"), list):
        items, prompt = document["candidates"], document.get("prompt")
    elif isinstance(document, list):
        items, prompt = document, None
    else:
        raise TrackingError(
            f"{where} is neither a list of candidates nor a {CANDIDATES_FORMAT} object; it was "
            "not written by tipbench's collect phase"
        )
    return CellArtifact([Candidate.from_json(c, cell_id) for c in items], prompt)


def read_cell_artifact(client: MlflowClient, run: Run, *, prompt: bool = False) -> CellArtifact:
    """A cell run's candidates, and its prompt when ``prompt``.

    The prompt of an older run is in its own artifact, read only when asked for: loading an
    experiment needs the candidates, not the prompts.
    """
    where = f"run {run.run_id} {CANDIDATES_ARTIFACT}"
    data = client.download_artifact(run.run_id, CANDIDATES_ARTIFACT)
    artifact = parse_candidates(data, where, run.tags.get(CELL_TAG))
    if prompt and artifact.prompt is None:
        text = client.download_artifact(run.run_id, LEGACY_PROMPT_ARTIFACT).decode("utf-8")
        return CellArtifact(artifact.candidates, text)
    return artifact


def judgments_document(judgments: Sequence[Judgment]) -> str:
    """``judgments/<judge key>.json``: one judge's latest judgments of a cell."""
    records = [{k: v for k, v in j.to_json().items() if k != "type"} for j in judgments]
    return json.dumps(records, ensure_ascii=False, indent=1)


MAX_JUDGMENTS_BYTES = 4_000_000
"""The most of one judge's file of one cell that is read: a judgment of a tip is well under 2 kB
with its note, so this holds a thousand revisions; a larger file is a stranger's."""


def read_judgments(
    client: MlflowClient, run: Run, parts: Sequence[str], problems: list[str] | None = None
) -> list[Judgment]:
    """Every judge's judgments of one cell run, as their artifacts hold them.

    ``parts`` are the score ids of the experiment's rubric (a record of any format is read). A
    file over :data:`MAX_JUDGMENTS_BYTES` or that does not hold judgment records is left out and
    named in ``problems`` (when given): it did not come from a judge.
    """
    judgments: list[Judgment] = []
    for info in client.list_artifacts(run.run_id, JUDGMENTS_FOLDER):
        if not info.path.endswith(".json") or info.is_dir:
            continue
        try:
            data = client.download_artifact(run.run_id, info.path, MAX_JUDGMENTS_BYTES)
            records = json.loads(data)
            if not isinstance(records, list):
                raise TypeError("not a list of judgments")
            judgments += [Judgment.from_json(r, parts) for r in records]
        except ArtifactTooLarge as exc:
            if problems is not None:
                problems.append(str(exc))
        except (MlflowHttpError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, RetryableError):
                raise  # MLflow went away: the caller stops, nothing is left out silently
            if problems is not None:
                problems.append(f"{info.path} of run {run.run_id} cannot be read: {exc}")
    return judgments


PAIRS_FOLDER = "pairs"
PAIRS_TAG = "tipbench.has_pairs"
"""``true`` on a run holding a ``pairs/`` file, set with the upload: readers list ``pairs/`` only
on such runs, so an experiment judged by scores alone costs no request more to read (listing it
on every run made reading 1.33 times slower on 12 cells)."""
MAX_PAIRS_BYTES = 4_000_000
"""The most of one judge's pairs file of one cell that is read: a pairwise judgment is under
2 kB with its note, so this holds two thousand; a larger file is a stranger's."""


def pairs_artifact(judge_key: str) -> str:
    """Where the run of cell A keeps one judge's latest pairwise judgments whose A is that cell."""
    return f"{PAIRS_FOLDER}/{judge_key}.json"


def pairs_document(pairs: Sequence[PairJudgment]) -> str:
    """``pairs/<judge key>.json``: one judge's latest pairwise judgments with A in one cell."""
    records = [{k: v for k, v in p.to_json().items() if k != "type"} for p in pairs]
    return json.dumps(records, ensure_ascii=False, indent=1)


@dataclass(frozen=True)
class PairsFile:
    """One ``pairs/<judge key>.json`` of a run as downloaded: its records, not yet verified."""

    run_id: str
    path: str
    records: list[Any]

    @property
    def judge_key(self) -> str:
        return self.path.removeprefix(f"{PAIRS_FOLDER}/").removesuffix(".json")


def read_pairs_files(
    client: MlflowClient, run: Run, problems: list[str] | None = None
) -> list[PairsFile]:
    """Every judge's pairs file of one run, bounded (:data:`MAX_PAIRS_BYTES`) and parsed as a JSON
    list; what they hold is checked by :mod:`tipbench_lib.tracking.pairruns`. A file over the
    bound or not a list is left out and named in ``problems`` (when given)."""
    files: list[PairsFile] = []
    for info in client.list_artifacts(run.run_id, PAIRS_FOLDER):
        if not info.path.endswith(".json") or info.is_dir:
            continue
        try:
            data = client.download_artifact(run.run_id, info.path, MAX_PAIRS_BYTES)
            records = json.loads(data)
            if not isinstance(records, list):
                raise TypeError("not a list of pairwise judgments")
            files.append(PairsFile(run.run_id, info.path, records))
        except ArtifactTooLarge as exc:
            if problems is not None:
                problems.append(str(exc))
        except (MlflowHttpError, ValueError, TypeError, RecursionError) as exc:
            if isinstance(exc, RetryableError):
                raise
            if problems is not None:
                problems.append(f"{info.path} of run {run.run_id} cannot be read: {exc}")
    return files


# -- the experiment's rubric ---------------------------------------------------------------------

RUBRIC_TAG = "tipbench.rubric"
"""The rubric's name; written last, so its presence means the record is complete."""
RUBRIC_VERSION_TAG = "tipbench.rubric_version"
RUBRIC_HASH_TAG = "tipbench.rubric_hash"
RUBRIC_TEXT_TAG = "tipbench.rubric_toml"
"""The rubric file's text, or :data:`tipbench_lib.tracking.client.LONG_TAG_PREFIX` and the path
of the experiment-level artifact that holds it."""
FORMAT_TAG = "tipbench.format"
RUBRIC_ARTIFACT = "tipbench/rubric.toml"
"""Under the experiment's artifact location (not a run's): the rubric text too long for a tag."""
MAX_EXPERIMENT_TAG_VALUE = 20_000
"""MLflow's limit on an experiment tag's value since MLflow 3.x (5,000 before: such a server
refuses the tag, and the text goes to :data:`RUBRIC_ARTIFACT` instead)."""


def rubric_reference_tags(ref: RubricRef) -> dict[str, str]:
    """The tags naming the experiment's rubric, in the order they are written (name last)."""
    return {
        FORMAT_TAG: str(FORMAT_VERSION),
        RUBRIC_VERSION_TAG: ref.version,
        RUBRIC_HASH_TAG: ref.content_hash,
        RUBRIC_TAG: ref.name,
    }


def recorded_reference(tags: Mapping[str, str]) -> RubricRef | None:
    """The rubric an experiment's tags name, or None when it recorded none (before format 2)."""
    if not tags.get(RUBRIC_TAG):
        return None
    return RubricRef(
        tags[RUBRIC_TAG], tags.get(RUBRIC_VERSION_TAG, ""), tags.get(RUBRIC_HASH_TAG, "")
    )
