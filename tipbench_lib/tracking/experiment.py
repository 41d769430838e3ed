"""The MLflow recorder of an experiment: its rubric recorded once, its runs read into the model.

Names and shapes come from :mod:`tipbench_lib.tracking.mapping`; this module does the requests.
The collect phase records the experiment's rubric before its first cell (:func:`record_rubric`);
the judge and compare phases read it back with the experiment (:func:`experiment_rubric`,
:func:`read_experiment`) and never use a local default, so a judge on another machine, without
the rubric file, scores on the rubric the tips were collected for.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.core.errors import StoreConflict, TipbenchError, TrackingError
from tipbench_lib.core.experiment import ExperimentRecords, legacy_note, refuse_rubric
from tipbench_lib.core.judgments import latest_pair_judgments, latest_per_pair
from tipbench_lib.core.records import Candidate, Cell, Judgment
from tipbench_lib.core.rubric import DEFAULT_RUBRIC, Rubric, recorded_rubric, shipped_rubric
from tipbench_lib.tracking.cellruns import (
    Unverified,
    choose_run,
    finished_cell_runs,
    judged_tips,
    paired_candidates,
    read_candidates,
    run_problem,
)
from tipbench_lib.tracking.client import LONG_TAG_PREFIX, MlflowClient
from tipbench_lib.tracking.entities import Experiment, Run
from tipbench_lib.tracking.http import MlflowHttpError
from tipbench_lib.tracking.mapping import (
    CELL_TAG,
    MAX_EXPERIMENT_TAG_VALUE,
    PAIRS_TAG,
    RUBRIC_ARTIFACT,
    RUBRIC_TEXT_TAG,
    PairsFile,
    read_judgments,
    read_pairs_files,
    recorded_reference,
    rubric_reference_tags,
)
from tipbench_lib.tracking.pairruns import verify_pairs


def find_experiment(client: MlflowClient, name: str) -> Experiment:
    """The live experiment named ``name``, or an error saying how to make it."""
    found = client.get_experiment_by_name(name)
    if found is None or found.deleted:
        from tipbench_lib.tracking.local_store import (
            UnknownExperimentError,
            missing_experiment_message,
        )

        raise UnknownExperimentError(missing_experiment_message(name, client.experiment_names()))
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

    Workers starting at once on a new experiment all try to create it: it is created with its
    rubric record in one request (one transaction in MLflow's store), so one creator wins and
    the others find the record, an identical one being success and another rubric a refusal.
    An existing experiment without a record gets it tag by tag (:func:`_write_rubric`), read back
    and compared: a concurrent identical write is success, another is :class:`StoreConflict`
    (retryable, exit 3), never a refusal (docs/architecture.md, section 6).
    """
    found = client.get_experiment_by_name(name)
    if found is None:
        chosen = rubric or shipped_rubric(DEFAULT_RUBRIC)
        created = _create_with_rubric(client, name, chosen)
        if created is not None:
            return created, chosen
        found = client.get_experiment_by_name(name)  # another worker created it just now
        if found is None:
            raise StoreConflict(f"MLflow said experiment {name!r} exists, then that it does not")
    if found.deleted:
        client.restore_experiment(found.experiment_id)
    recorded = _recorded(client, found, rubric)
    if recorded is not None:
        return found.experiment_id, _same_rubric(recorded, rubric, name)
    held = None
    if client.has_runs(found.experiment_id):
        held = _same_rubric(shipped_rubric(DEFAULT_RUBRIC), rubric, name)
    chosen = held or rubric or shipped_rubric(DEFAULT_RUBRIC)
    _write_rubric(client, found, chosen)
    return found.experiment_id, chosen


def _recorded(client: MlflowClient, experiment: Experiment, asked: Rubric | None) -> Rubric | None:
    """The rubric the experiment records, None when it records none.

    The asked rubric when the record names exactly it (name, version, content hash): its text is
    then known, and a record whose text is an artifact still being uploaded by the worker that
    created the experiment is not read half-way (it is uploaded again, the same bytes). A record
    torn by two writers (its text not the one its hash names) counts as none while the experiment
    holds no run: nothing was scored on it yet.
    """
    ref = recorded_reference(experiment.tags)
    if ref is None:
        return None
    if asked is not None and asked.ref == ref:
        text = experiment.tags.get(RUBRIC_TEXT_TAG, "")
        if text.startswith(LONG_TAG_PREFIX):
            client.log_experiment_artifact(experiment, text[len(LONG_TAG_PREFIX) :], asked.text)
        return asked
    try:
        return experiment_rubric(client, experiment)[0]
    except TrackingError:
        raise
    except TipbenchError:
        if client.has_runs(experiment.experiment_id):
            raise
        return None


def _same_rubric(recorded: Rubric, asked: Rubric | None, name: str) -> Rubric:
    if asked is not None:
        refuse_rubric(name, recorded.ref, asked.ref, f"MLflow experiment {name!r}")
    return recorded


def _rubric_tags(rubric: Rubric, *, in_artifact: bool) -> dict[str, str]:
    """Every tag of the record, the text's first and the name last (its presence means the
    record is complete)."""
    text = f"{LONG_TAG_PREFIX}{RUBRIC_ARTIFACT}" if in_artifact else rubric.text
    return {RUBRIC_TEXT_TAG: text, **rubric_reference_tags(rubric.ref)}


def _create_with_rubric(client: MlflowClient, name: str, rubric: Rubric) -> str | None:
    """Create the experiment with its whole rubric record; None when it exists already.

    The text goes in a tag when the server takes one that long, else into the experiment-level
    artifact the tag then points at (uploaded right after; a reader who comes first is told to
    try again by the error of the missing file).
    """
    in_artifact = len(rubric.text) > MAX_EXPERIMENT_TAG_VALUE
    while True:
        try:
            experiment_id = client.create_experiment(
                name, _rubric_tags(rubric, in_artifact=in_artifact)
            )
            break
        except MlflowHttpError as err:
            if err.error_code == "RESOURCE_ALREADY_EXISTS":
                return None
            if err.error_code != "INVALID_PARAMETER_VALUE" or in_artifact:
                raise
            in_artifact = True  # an older server: 5,000 characters a tag
    if in_artifact:
        experiment = client.get_experiment(experiment_id)
        client.log_experiment_artifact(experiment, RUBRIC_ARTIFACT, rubric.text)
    return experiment_id


def _write_rubric(client: MlflowClient, experiment: Experiment, rubric: Rubric) -> None:
    """The record, tag by tag, on an experiment that exists without one (module doc).

    The text as a tag when the server takes it, else as an experiment artifact; then the tags
    naming it, the name last. MLflow writes a tag by reading, then inserting: two writers at
    once make one of them fail with a UNIQUE constraint. So a failed write is read back: the
    same value is success; then the whole record is read back and compared.
    """
    eid = experiment.experiment_id
    in_artifact = len(rubric.text) > MAX_EXPERIMENT_TAG_VALUE
    if not in_artifact:
        try:
            _set_tag_once(client, experiment, RUBRIC_TEXT_TAG, rubric.text)
        except MlflowHttpError as err:
            if err.error_code != "INVALID_PARAMETER_VALUE":
                raise
            in_artifact = True
    tags = _rubric_tags(rubric, in_artifact=in_artifact)
    if in_artifact:
        client.log_experiment_artifact(experiment, RUBRIC_ARTIFACT, rubric.text)
    else:
        del tags[RUBRIC_TEXT_TAG]
    for key, value in tags.items():
        _set_tag_once(client, experiment, key, value)
    after = client.get_experiment(eid)
    wanted = _rubric_tags(rubric, in_artifact=in_artifact)
    if any(after.tags.get(key) != value for key, value in wanted.items()):
        raise _conflict(experiment.name)


def _set_tag_once(client: MlflowClient, experiment: Experiment, key: str, value: str) -> None:
    """Set an experiment tag; another writer's identical write at the same moment is success."""
    try:
        client.set_experiment_tag(experiment.experiment_id, key, value)
    except MlflowHttpError as err:
        if err.error_code == "INVALID_PARAMETER_VALUE" or err.status >= 500:
            raise
        if client.get_experiment(experiment.experiment_id).tags.get(key) != value:
            raise _conflict(experiment.name) from err


def _conflict(name: str) -> StoreConflict:
    return StoreConflict(
        f"another process recorded a rubric for MLflow experiment {name!r} at the same moment "
        "as this one, with other content; the record is read again on the next run, so run "
        "the same command again"
    )


# -- the runs ----------------------------------------------------------------------------------


class StoreWarning(UserWarning):
    """A run or file of the experiment was left out: it cannot be shown to be this experiment's."""


@dataclass
class StoredExperiment:
    """An experiment read from MLflow: its records, and the finished cell runs they came from.

    ``runs`` holds one run per cell, the one that stands for it (:func:`~tipbench_lib.tracking.
    cellruns.choose_run`); ``ignored`` names every run or file left out, and why, and every cell
    with several finished runs (one line each, also warned as :class:`StoreWarning`).
    """

    records: ExperimentRecords
    runs: list[Run]
    experiment: Experiment
    ignored: list[str] = field(default_factory=list)


@dataclass
class _Loaded:
    run: Run
    candidates: list[Candidate]
    judgments: list[Judgment]
    pairs: list[PairsFile] = field(default_factory=list)


def read_experiment(client: MlflowClient, name: str, *, workers: int = 8) -> StoredExperiment:
    """Every verified finished cell of ``name``: its cell, candidates and judgments, the rubric.

    The one place runs are read into the model, so status, the judge phase and compare count the
    same cells: a run that is not this experiment's cell, or whose candidates do not verify
    (:mod:`tipbench_lib.tracking.cellruns`), is left out and named (a :class:`StoreWarning`). A
    cell with several finished runs is the run :func:`choose_run` picks, with the judgments of its
    tips from all of them (the latest per judge), so none drops out of sight before a collect
    reconciles the runs.
    """
    experiment = find_experiment(client, name)
    rubric, note = experiment_rubric(client, experiment)
    ignored: list[str] = []
    notes: list[str] = []
    runs = []
    for run in finished_cell_runs(client.search_runs([experiment.experiment_id])):
        problem = run_problem(name, run)
        if problem:
            ignored.append(f"run {run.run_id}: {problem}")
        else:
            runs.append(run)
    parts = rubric.part_ids

    def load(run: Run) -> _Loaded | str:
        try:
            candidates = read_candidates(client, run).candidates
        except Unverified as exc:
            return f"run {run.run_id}: {exc}"
        problems: list[str] = []
        judgments = read_judgments(client, run, parts, problems)
        pairs = read_pairs_files(client, run, problems) if run.tags.get(PAIRS_TAG) else []
        ignored.extend(problems)
        return _Loaded(run, candidates, judgments, pairs)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(pool.map(load, runs))
    by_cell: dict[str, list[_Loaded]] = {}
    for item in loaded:
        if isinstance(item, str):
            ignored.append(item)
        else:
            by_cell.setdefault(item.run.tags[CELL_TAG], []).append(item)
    cells: dict[str, Cell] = {}
    run_ids: dict[str, str] = {}
    candidates: list[Candidate] = []
    judgments: list[Judgment] = []
    chosen_runs = []
    paired = _paired_by_scenario(by_cell)
    for cell_id, held in sorted(by_cell.items()):
        chosen = _stand_in(held, paired.get(_scenario(held[0].run), set()), notes)
        cells[cell_id] = Cell.from_params(cell_id, chosen.run.params)
        run_ids[cell_id] = chosen.run.run_id
        candidates += chosen.candidates
        judgments += _judgments_of(chosen, held, ignored)
        chosen_runs.append(chosen.run)
    files = [(cell_id, f) for cell_id, held in by_cell.items() for item in held for f in item.pairs]
    verified = verify_pairs(files, cells, candidates)
    ignored.extend(verified.problems)
    # Built whole, so the records' own checks (the rubric against its judgments) see everything.
    records = ExperimentRecords(
        name=name,
        rubric=rubric,
        cells=cells,
        candidates=candidates,
        judgments=judgments,
        run_ids=run_ids,
        rubric_note=note,
        pairs=list(latest_pair_judgments(verified.pairs).values()),
    )
    said = [f"{line}; left out" for line in ignored] + notes
    for line in said:
        warnings.warn(f"MLflow experiment {name!r}: {line}", StoreWarning, stacklevel=2)
    return StoredExperiment(records, chosen_runs, experiment, said)


def _scenario(run: Run) -> str:
    return run.params.get("scenario_id", "")


def _paired_by_scenario(by_cell: Mapping[str, list[_Loaded]]) -> dict[str, set[str]]:
    """scenario → the tips answered in the pairs files of its runs (:func:`paired_candidates`):
    a pair's cells are of one scenario, and reconcile reads a scenario's files alike."""
    records: dict[str, list[Any]] = {}
    for held in by_cell.values():
        for item in held:
            found = records.setdefault(_scenario(item.run), [])
            found += [record for f in item.pairs for record in f.records]
    return {scenario: paired_candidates(found) for scenario, found in records.items()}


def _stand_in(held: list[_Loaded], paired: set[str], notes: list[str]) -> _Loaded:
    """The run that stands for a cell among its verified finished runs (:func:`choose_run`);
    ``paired``: the tips answered in the pairs files of the cell's scenario."""
    if len(held) == 1:
        return held[0]
    by_id = {item.run.run_id: item for item in held}

    def judged(run: Run) -> int:
        item = by_id[run.run_id]
        scored = (j.candidate_id for j in item.judgments if j.ok)
        return judged_tips({c.candidate_id for c in item.candidates}, scored, paired)

    chosen = by_id[choose_run([item.run for item in held], judged).run_id]
    others = ", ".join(item.run.run_id for item in held if item is not chosen)
    notes.append(
        f"cell {chosen.run.tags[CELL_TAG]} has {len(held)} finished runs: run {chosen.run.run_id} "
        f"stands for it, with the judgments and pairwise judgments of its tips from run(s) "
        f"{others} (`tipbench collect` of the experiment moves them and marks the others)"
    )
    return chosen


def _judgments_of(chosen: _Loaded, held: list[_Loaded], notes: list[str]) -> list[Judgment]:
    """The judgments of the chosen run's tips, from every run of the cell (latest per judge)."""
    ids = {c.candidate_id for c in chosen.candidates}
    if len(held) == 1:
        kept = [j for j in chosen.judgments if j.candidate_id in ids]
    else:
        every = [j for item in held for j in item.judgments if j.candidate_id in ids]
        kept = list(latest_per_pair(every).values())
    stray = sum(j.candidate_id not in ids for j in chosen.judgments)
    if stray:
        notes.append(f"run {chosen.run.run_id}: {stray} judgment(s) of tips the run does not hold")
    return kept
