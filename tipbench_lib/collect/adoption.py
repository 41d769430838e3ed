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

A run that is RUNNING (its delivery was cut), FAILED, or whose artifact does not hold what its
tags say is not adopted: the cell is generated, and its run reused, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.collect.journal import CollectJournal
from tipbench_lib.collect.plan import PlannedCell
from tipbench_lib.core.errors import TrackingError
from tipbench_lib.core.records import Candidate, CellRecord
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.http import MlflowHttpError
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    COUNT_TAG,
    N_TIPS_TAG,
    parse_candidates,
)


@dataclass
class Adoption:
    """What was taken from MLflow, and the runs that looked finished but could not be read."""

    adopted: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)


def adopt_finished_cells(
    cells: Sequence[PlannedCell], journal: CollectJournal, syncer: CellSyncer
) -> Adoption:
    """Journal every planned cell MLflow holds finished and the journal lacks (module doc).

    Raises TrackingError when MLflow stops answering: the caller stops before generating, since
    a cell generated now might be one MLflow already holds.
    """
    state = journal.state()
    runs = syncer.runs_by_cell()
    result = Adoption()
    for cell in cells:
        held = len(state.candidates.get(cell.cell_id, {}))
        run = runs.get(cell.cell_id)
        if held >= cell.n_tips or run is None or _finished_count(run) <= held:
            continue
        try:
            record, candidates = _read_cell(syncer.client, run, cell)
        except _Unreadable as exc:
            result.unreadable[cell.cell_id] = f"run {run.run_id}: {exc}"
            continue
        journal.adopt(record, candidates, run.run_id)
        result.adopted.append(cell.cell_id)
    return result


def _finished_count(run: Run) -> int:
    """How many candidates a FINISHED run holds, all that it asked for; 0 for any other run."""
    count, asked = run.tags.get(COUNT_TAG, ""), run.tags.get(N_TIPS_TAG, "")
    if run.status != "FINISHED" or not count.isdigit() or count != asked:
        return 0
    return int(count)


class _Unreadable(Exception):
    """A finished run whose ``candidates.json`` is missing, malformed or not what its tags say."""


def _read_cell(
    client: MlflowClient, run: Run, cell: PlannedCell
) -> tuple[CellRecord, list[Candidate]]:
    """The cell as its run records it; only a server that stops answering raises TrackingError."""
    where = f"{CANDIDATES_ARTIFACT} of run {run.run_id}"
    try:
        data = client.download_artifact(run.run_id, CANDIDATES_ARTIFACT)
    except MlflowHttpError as exc:
        if exc.status >= 500:
            raise
        raise _Unreadable(str(exc).splitlines()[0]) from exc
    try:
        artifact = parse_candidates(data, where, cell.cell_id)
    except (TrackingError, ValueError, KeyError, TypeError) as exc:
        raise _Unreadable(f"{where} cannot be read: {exc}") from exc
    candidates = sorted(artifact.candidates, key=lambda c: c.sample_index)
    count = _finished_count(run)
    if [c.sample_index for c in candidates] != list(range(count)):
        raise _Unreadable(f"its {len(candidates)} candidate(s) are not the {count} its tags say")
    if any(c.cell_id != cell.cell_id for c in candidates):
        raise _Unreadable("its candidates name another cell")
    record = CellRecord(
        cell_id=cell.cell_id,
        run_name=run.run_name or cell.run_name,
        n_tips=count,
        prompt_text=artifact.prompt if artifact.prompt is not None else cell.prompt_text(),
        params=dict(run.params),
    )
    return record, candidates
