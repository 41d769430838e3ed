"""The MLflow recorder of an experiment: its rubric recorded once, its runs read into the model.

Names and shapes come from :mod:`tipbench_lib.tracking.mapping`; this module does the requests.
The collect phase records the experiment's rubric before its first cell (:func:`record_rubric`);
the judge and compare phases read it back with the experiment (:func:`experiment_rubric`,
:func:`read_experiment`) and never use a local default, so a judge on another machine, without
the rubric file, scores on the rubric the tips were collected for.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.escaping import shell_command
from tipbench_lib.core.experiment import ExperimentRecords, legacy_note, refuse_rubric
from tipbench_lib.core.records import Candidate, Cell, Judgment
from tipbench_lib.core.rubric import DEFAULT_RUBRIC, Rubric, recorded_rubric, shipped_rubric
from tipbench_lib.tracking.client import LONG_TAG_PREFIX, MlflowClient
from tipbench_lib.tracking.entities import Experiment, Run
from tipbench_lib.tracking.http import MlflowHttpError
from tipbench_lib.tracking.mapping import (
    CELL_TAG,
    MAX_EXPERIMENT_TAG_VALUE,
    RUBRIC_ARTIFACT,
    RUBRIC_TEXT_TAG,
    is_cell_run,
    read_cell_artifact,
    read_judgments,
    recorded_reference,
    rubric_reference_tags,
)


def find_experiment(client: MlflowClient, name: str) -> Experiment:
    """The live experiment named ``name``, or an error saying how to make it."""
    found = client.get_experiment_by_name(name)
    if found is None or found.deleted:
        collect = shell_command("tipbench", "collect", "--experiment", name, "...")
        raise TrackingError(
            f"MLflow has no experiment named {name!r}; run `{collect}` first, or check "
            "MLFLOW_TRACKING_URI"
        )
    return found


# -- the rubric --------------------------------------------------------------------------------


def experiment_rubric(client: MlflowClient, experiment: Experiment) -> tuple[Rubric, str]:
    """The rubric the experiment recorded, and '' ; or tip-v1 and a note saying it was assumed."""
    ref = recorded_reference(experiment.tags)
    where = f"MLflow experiment {experiment.name!r}"
    if ref is None:
        return shipped_rubric(DEFAULT_RUBRIC), legacy_note(where)
    text = experiment.tags.get(RUBRIC_TEXT_TAG, "")
    source = f"{where} (tag {RUBRIC_TEXT_TAG})"
    if text.startswith(LONG_TAG_PREFIX):
        path = text[len(LONG_TAG_PREFIX) :]
        text = client.download_experiment_artifact(experiment, path).decode("utf-8")
        source = f"{where} (artifact {path})"
    return recorded_rubric(ref, text, source), ""


def record_rubric(client: MlflowClient, name: str, rubric: Rubric | None) -> tuple[str, Rubric]:
    """The experiment's id and rubric, after recording ``rubric`` if it recorded none yet.

    ``rubric`` None means "whatever the experiment records, else tip-v1". Asking for another
    rubric than the recorded one is refused before anything is created or changed, as is a new
    rubric for an experiment that already holds cells from before rubrics were recorded (those
    were scored on tip-v1, which is then recorded for them).
    """
    found = client.get_experiment_by_name(name)
    held = None
    if found is not None and not found.deleted:
        if recorded_reference(found.tags) is not None:
            recorded = experiment_rubric(client, found)[0]
            return found.experiment_id, _same_rubric(recorded, rubric, name)
        if client.has_runs(found.experiment_id):
            held = _same_rubric(shipped_rubric(DEFAULT_RUBRIC), rubric, name)
    chosen = held or rubric or shipped_rubric(DEFAULT_RUBRIC)
    experiment_id = client.ensure_experiment(name)
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None  # ensure_experiment made it
    _write_rubric(client, experiment, chosen)
    return experiment_id, chosen


def _same_rubric(recorded: Rubric, asked: Rubric | None, name: str) -> Rubric:
    if asked is not None:
        refuse_rubric(name, recorded.ref, asked.ref, f"MLflow experiment {name!r}")
    return recorded


def _write_rubric(client: MlflowClient, experiment: Experiment, rubric: Rubric) -> None:
    """The rubric's text as a tag when the server takes it, else as an experiment artifact; then
    the tags naming it, the name last (its presence means the record is complete)."""
    eid = experiment.experiment_id
    text = rubric.text
    stored = False
    if len(text) <= MAX_EXPERIMENT_TAG_VALUE:
        try:
            client.set_experiment_tag(eid, RUBRIC_TEXT_TAG, text)
            stored = True
        except MlflowHttpError as err:
            if err.error_code != "INVALID_PARAMETER_VALUE":
                raise
    if not stored:
        client.log_experiment_artifact(experiment, RUBRIC_ARTIFACT, text)
        client.set_experiment_tag(eid, RUBRIC_TEXT_TAG, f"{LONG_TAG_PREFIX}{RUBRIC_ARTIFACT}")
    for key, value in rubric_reference_tags(rubric.ref).items():
        client.set_experiment_tag(eid, key, value)


# -- the runs ----------------------------------------------------------------------------------


@dataclass
class StoredExperiment:
    """An experiment read from MLflow: its records, and the finished cell runs they came from."""

    records: ExperimentRecords
    runs: list[Run]
    experiment: Experiment


def read_experiment(client: MlflowClient, name: str, *, workers: int = 8) -> StoredExperiment:
    """Every finished cell run of ``name``: its cell, candidates and judgments, and the rubric."""
    experiment = find_experiment(client, name)
    rubric, note = experiment_rubric(client, experiment)
    runs = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if is_cell_run(r) and r.status == "FINISHED"
    ]
    parts = rubric.part_ids

    def load(run: Run) -> tuple[list[Candidate], list[Judgment]]:
        return read_cell_artifact(client, run).candidates, read_judgments(client, run, parts)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(pool.map(load, runs))
    records = ExperimentRecords(
        name=name,
        rubric=rubric,
        cells={r.tags[CELL_TAG]: Cell.from_params(r.tags[CELL_TAG], r.params) for r in runs},
        candidates=[c for cands, _ in loaded for c in cands],
        judgments=[j for _, judgments in loaded for j in judgments],
        run_ids={r.tags[CELL_TAG]: r.run_id for r in runs},
        rubric_note=note,
    )
    return StoredExperiment(records, runs, experiment)
