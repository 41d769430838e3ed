"""Taking into the journal the cells MLflow already holds, so no worker makes a cell twice.

The journal is per machine; MLflow is the store every machine shares. A collect retried on
another Airflow worker, or run after ``.tipbench/`` was deleted, finds an empty journal while
MLflow holds the cells an earlier attempt finished. Generating them again would repeat the work
and, since a candidate's id hashes its text and a GPU does not promise the same text for the same
seed, orphan every judgment already made against the old candidates. So before generating, the
runner adopts them: for exactly the planned cells the journal does not hold complete, the run
found by the cell id tag (in the one ``runs/search`` the delivery makes anyway) is taken when it
is FINISHED with all its candidates; its ``candidates.json`` is downloaded and journalled, first
an ``adopted`` record, then the cell, then its candidates (:meth:`~tipbench_lib.collect.journal.
CollectJournal.adopt`). The cell is then complete and skipped; a cell MLflow holds with fewer tips
than now asked for is completed from the next index, like a partial cell of the journal.

Nothing is taken on trust: MLflow is shared, so a run is adopted only when it verifies as this
experiment's cell and its candidates as that cell's (:mod:`tipbench_lib.tracking.cellruns`: the
cell id from the experiment's name and the run's params, every candidate id from its cell, index
and text, sizes bounded before they are downloaded, times that parse) and its model and digest are
the planned cell's. A run that fails is ignored, named in the summary with why, and the cell is
generated here as if MLflow lacked it. The journal records the planned cell's own prompt.

A run that is RUNNING (a claim: another worker is at it, :mod:`.claims`) or FAILED is not adopted;
the runner claims the cell before it generates anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.collect.journal import CollectJournal, CollectState
from tipbench_lib.collect.plan import PlannedCell
from tipbench_lib.core.records import CellRecord
from tipbench_lib.tracking.cellruns import Unverified, finished_cell_runs, run_problem
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.mapping import CELL_TAG, CLAIMANT_TAG, COUNT_TAG, N_TIPS_TAG


@dataclass
class Adoption:
    """What was taken from MLflow, and the finished runs that were ignored (run id → why)."""

    adopted: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    """run id → ``<cell label>: <why>``, each named once in the summary."""


def adopt_finished_cells(
    cells: Sequence[PlannedCell], journal: CollectJournal, syncer: CellSyncer
) -> Adoption:
    """Journal every planned cell MLflow holds finished and the journal lacks (module doc).

    Raises TrackingError when MLflow stops answering: the caller stops before generating, since
    a cell generated now might be one MLflow already holds.
    """
    result = Adoption()
    for cell in cells:
        if adopt_cell(cell, journal, syncer, result):
            result.adopted.append(cell.cell_id)
    return result


def adopt_cell(
    cell: PlannedCell, journal: CollectJournal, syncer: CellSyncer, result: Adoption
) -> bool:
    """Take the cell from its finished run when MLflow holds more of it than the journal, or other
    tips (the run's are the ones judges see); True when it did. Ignored runs go to ``result``.

    A cell the journal holds complete is looked at only when its run was made by another worker
    and never taken in here: this worker made it while MLflow was away, and the other worker's
    run reached MLflow first (:mod:`.claims`).
    """
    state = journal.state()
    held = state.candidate_list(cell.cell_id)
    if len(held) >= cell.n_tips and not _other_workers(syncer.settled(cell.cell_id), state, syncer):
        return False
    for run in finished_cell_runs(syncer.runs_of(cell.cell_id)):
        problem = _planned_problem(cell, run) or run_problem(syncer.experiment, run)
        if problem:
            result.ignored.setdefault(run.run_id, f"{cell.label}: {problem}")
    run = syncer.settled(cell.cell_id)
    count = _finished_count(run)
    if run is None or not count:
        return False
    try:
        candidates = syncer.verified_candidates(run, expected=count)
    except Unverified as exc:
        result.ignored.setdefault(run.run_id, f"{cell.label}: {exc}")
        return False
    mine = [c.candidate_id for c in held[:count]]
    if count <= len(held) and mine == [c.candidate_id for c in candidates[: len(mine)]]:
        return False  # the journal holds what the run holds, and more
    record = CellRecord(
        cell_id=cell.cell_id,
        run_name=run.run_name or cell.run_name,
        n_tips=count,
        prompt_text=cell.prompt_text(),
        params=dict(run.params),
    )
    journal.adopt(record, candidates, run.run_id)
    return True


def _other_workers(run: Run | None, state: CollectState, syncer: CellSyncer) -> bool:
    """Whether ``run`` is a finished run another worker made that this journal never took in (a
    run without a claimant was made before claims existed: the journal's own, as then)."""
    if run is None or run.status != "FINISHED":
        return False
    claimant = run.tags.get(CLAIMANT_TAG)
    return (
        bool(claimant)
        and claimant != syncer.claims.worker
        and (state.adopted.get(run.tags[CELL_TAG]) != run.run_id)
    )


def _planned_problem(cell: PlannedCell, run: Run) -> str:
    """Why the run is not the planned cell's model ('' when it is)."""
    model, digest = run.params.get("model", ""), run.params.get("model_digest", "")
    if model != cell.model.name:
        return f"its model is {model!r}, not the planned {cell.model.name!r}"
    if digest != cell.model.digest:
        return f"its model digest is {digest!r}, not {cell.model.name}'s {cell.model.digest!r}"
    return ""


def _finished_count(run: Run | None) -> int:
    """How many candidates a FINISHED run holds, all that it asked for; 0 for any other run."""
    if run is None:
        return 0
    count, asked = run.tags.get(COUNT_TAG, ""), run.tags.get(N_TIPS_TAG, "")
    if run.status != "FINISHED" or not count.isdigit() or count != asked:
        return 0
    return int(count)
