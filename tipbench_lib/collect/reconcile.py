"""A cell with several finished runs keeps one; the judgments of the others are moved to it.

Since cells are claimed before they are generated (:mod:`.claims`) a cell gets one run. Runs made
before that (two workers that raced), a lease that ran out under a worker still at work, or a
stray copy can still leave a cell with several FINISHED runs. Every reader picks the same one
(:func:`~tipbench_lib.tracking.cellruns.choose_run`: the run holding the most judged tips, then
the earliest); a collect of the experiment then makes that choice permanent for its planned
cells (docs/architecture.md, section 5):

- each judge's judgments of the kept run's tips found in another run are merged into that
  judge's file of the kept run (the latest per tip wins, as everywhere: :mod:`tipbench_lib.core.
  judgments`);
- the other run is tagged ``tipbench.duplicate_of=<kept run>``, which every reader leaves out.

Nothing is deleted or killed. Judgments of tips the kept run does not hold (another text, so
another tip) cannot be moved: they stay in their run, and the summary says how many. Moving
first and tagging after makes a crash in between harmless: the next collect moves again (the
merge keeps one judgment per tip and judge) and tags.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tipbench_lib.core.errors import RetryableError
from tipbench_lib.core.records import parse_time
from tipbench_lib.tracking.cellruns import (
    Unverified,
    choose_run,
    finished_cell_runs,
    read_candidates,
    run_problem,
)
from tipbench_lib.tracking.client import ArtifactTooLarge, MlflowClient
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.http import MlflowHttpError
from tipbench_lib.tracking.mapping import (
    DUPLICATE_TAG,
    JUDGMENTS_FOLDER,
    MAX_JUDGMENTS_BYTES,
)

Record = dict[str, Any]


@dataclass
class _Held:
    """A verified finished run of the cell: its tips and each judge file's records."""

    run: Run
    tips: set[str]
    files: dict[str, list[Record]] = field(default_factory=dict)

    def judged(self) -> int:
        return len(
            {
                r["candidate_id"]
                for records in self.files.values()
                for r in records
                if r.get("candidate_id") in self.tips and r.get("status", "ok") == "ok"
            }
        )


def reconcile(
    client: MlflowClient,
    experiment: str,
    runs: Mapping[str, Sequence[Run]],
    cells: Iterable[str],
    labels: Mapping[str, str] | None = None,
) -> tuple[list[str], dict[str, Run]]:
    """Keep one finished run per cell among ``cells`` (module doc).

    Returns the summary's lines and the runs now tagged as duplicates (by run id, with the tag),
    for the caller's view of the experiment. MLflow going away propagates (TrackingError).
    """
    lines: list[str] = []
    tagged: dict[str, Run] = {}
    for cell_id in cells:
        finished = finished_cell_runs(runs.get(cell_id, ()))
        if len(finished) < 2:
            continue
        held = [h for h in (_read(client, experiment, run) for run in finished) if h is not None]
        if len(held) < 2:
            continue
        kept = _kept(held)
        name = (labels or {}).get(cell_id, cell_id)
        for other in held:
            if other is kept:
                continue
            moved, left = _move(client, other, kept)
            client.set_tag(other.run.run_id, DUPLICATE_TAG, kept.run.run_id)
            tagged[other.run.run_id] = replace(
                other.run, tags={**other.run.tags, DUPLICATE_TAG: kept.run.run_id}
            )
            line = (
                f"  cell {name} had {len(held)} finished runs: kept run {kept.run.run_id}, moved "
                f"{moved} judgment(s) to it from run {other.run.run_id}, which is now tagged "
                f"{DUPLICATE_TAG} (nothing deleted)"
            )
            if left:
                line += f"; {left} judgment(s) of tips the kept run does not hold stay there"
            lines.append(line)
    return lines, tagged


def _kept(held: list[_Held]) -> _Held:
    """The run every reader picks for the cell (:func:`choose_run`)."""
    by_id = {h.run.run_id: h for h in held}
    return by_id[choose_run([h.run for h in held], lambda r: by_id[r.run_id].judged()).run_id]


def _read(client: MlflowClient, experiment: str, run: Run) -> _Held | None:
    """The run's tips and judge files, or None when it is not a verified cell run."""
    if run_problem(experiment, run):
        return None
    try:
        tips = {c.candidate_id for c in read_candidates(client, run).candidates}
    except Unverified:
        return None
    held = _Held(run, tips)
    for info in client.list_artifacts(run.run_id, JUDGMENTS_FOLDER):
        if info.is_dir or not info.path.endswith(".json"):
            continue
        try:
            records = json.loads(
                client.download_artifact(run.run_id, info.path, MAX_JUDGMENTS_BYTES)
            )
        except MlflowHttpError as exc:
            if isinstance(exc, RetryableError):
                raise
            continue  # listed, then gone: nothing to move
        except (ArtifactTooLarge, ValueError):
            continue
        if isinstance(records, list):
            held.files[info.path] = [r for r in records if isinstance(r, dict)]
    return held


def _move(client: MlflowClient, other: _Held, kept: _Held) -> tuple[int, int]:
    """Merge ``other``'s judgments of ``kept``'s tips into ``kept``'s files; (moved, left)."""
    moved = left = 0
    for path, records in sorted(other.files.items()):
        movable = [r for r in records if r.get("candidate_id") in kept.tips]
        left += len(records) - len(movable)
        merged, added = _merge(kept.files.get(path, []), movable)
        if added:
            client.log_artifact(kept.run.run_id, path, json.dumps(merged, ensure_ascii=False))
            kept.files[path] = merged
            moved += added
    return moved, left


def _merge(ours: list[Record], theirs: list[Record]) -> tuple[list[Record], int]:
    """One judge's records of one cell: the latest per tip; how many of ``theirs`` were taken."""
    latest: dict[str, Record] = {}
    for record in ours:
        latest[str(record.get("candidate_id"))] = record
    taken = 0
    for record in theirs:
        key = str(record.get("candidate_id"))
        have = latest.get(key)
        if have is None or _time(record) > _time(have):
            latest[key] = record
            taken += 1
    return list(latest.values()), taken


def _time(record: Record) -> Any:
    try:
        return parse_time(record.get("created_at"))
    except ValueError:
        return parse_time(None)
