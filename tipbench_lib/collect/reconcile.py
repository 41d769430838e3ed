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
- each judge's pairwise judgments found in another run (``pairs/``, on runs tagged
  ``tipbench.has_pairs``, as readers find them) whose tip A the kept run holds are merged the same
  way into that judge's pairs file of the kept run (the latest per pair of tips wins), and the
  kept run is tagged ``tipbench.has_pairs`` before the file is written, so readers list it;
- the other run is tagged ``tipbench.duplicate_of=<kept run>``, which every reader leaves out.

Nothing is deleted or killed. Judgments and pairs of tips the kept run does not hold (another
text, so another tip) cannot be moved: they stay in their run, and the summary says how many.
Moving first and tagging after makes a crash in between harmless: the next collect moves again
(the merge keeps one judgment per tip, or pair, and judge) and tags.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tipbench_lib.core.errors import RetryableError
from tipbench_lib.core.records import parse_time
from tipbench_lib.tracking.cellruns import (
    Unverified,
    choose_run,
    finished_cell_runs,
    judged_tips,
    paired_candidates,
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
    PAIRS_TAG,
    read_pairs_files,
)

Record = dict[str, Any]


@dataclass
class _Held:
    """A verified finished run of the cell: its tips, each judge file's records and each judge's
    pairs file's records (by artifact path)."""

    run: Run
    tips: set[str]
    files: dict[str, list[Record]] = field(default_factory=dict)
    pair_files: dict[str, list[Record]] = field(default_factory=dict)

    def judged(self, paired: set[str]) -> int:
        """Its judged tips, counted as every reader counts them (:func:`judged_tips`; ``paired``:
        the tips answered in the experiment's pairs files)."""
        scored = (
            str(r.get("candidate_id"))
            for records in self.files.values()
            for r in records
            if r.get("status", "ok") == "ok"
        )
        return judged_tips(self.tips, scored, paired)


@dataclass
class _Moved:
    """What one run gave the kept run: judgments and pairs moved, and those left in place."""

    judgments: int = 0
    pairs: int = 0
    judgments_left: int = 0
    pairs_left: int = 0


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
    paired: dict[str, set[str]] = {}  # scenario → its tips answered in pairs
    for cell_id in cells:
        finished = finished_cell_runs(runs.get(cell_id, ()))
        if len(finished) < 2:
            continue
        held = [h for h in (_read(client, experiment, run) for run in finished) if h is not None]
        if len(held) < 2:
            continue
        scenario = _scenario(held[0].run)
        if scenario not in paired:  # read only for a scenario with a cell of several runs
            paired[scenario] = _paired_in(client, experiment, runs, scenario)
        kept = _kept(held, paired[scenario])
        name = (labels or {}).get(cell_id, cell_id)
        for other in held:
            if other is kept:
                continue
            moved = _move(client, other, kept)
            client.set_tag(other.run.run_id, DUPLICATE_TAG, kept.run.run_id)
            tagged[other.run.run_id] = replace(
                other.run, tags={**other.run.tags, DUPLICATE_TAG: kept.run.run_id}
            )
            lines.append(_line(name, len(held), kept, other, moved))
    return lines, tagged


def _line(name: str, count: int, kept: _Held, other: _Held, moved: _Moved) -> str:
    """The summary's line for one run reconciled away."""
    what = f"{moved.judgments} judgment(s)"
    if moved.pairs or other.pair_files:
        what += f" and {moved.pairs} pairwise judgment(s)"
    line = (
        f"  cell {name} had {count} finished runs: kept run {kept.run.run_id}, moved {what} to it "
        f"from run {other.run.run_id}, which is now tagged {DUPLICATE_TAG} (nothing deleted)"
    )
    left = []
    if moved.judgments_left:
        left.append(f"{moved.judgments_left} judgment(s)")
    if moved.pairs_left:
        left.append(f"{moved.pairs_left} pairwise judgment(s)")
    if left:
        line += f"; {' and '.join(left)} of tips the kept run does not hold stay there"
    return line


def _kept(held: list[_Held], paired: set[str]) -> _Held:
    """The run every reader picks for the cell (:func:`choose_run`)."""
    by_id = {h.run.run_id: h for h in held}
    chosen = choose_run([h.run for h in held], lambda r: by_id[r.run_id].judged(paired))
    return by_id[chosen.run_id]


def _scenario(run: Run) -> str:
    return run.params.get("scenario_id", "")


def _paired_in(
    client: MlflowClient, experiment: str, runs: Mapping[str, Sequence[Run]], scenario: str
) -> set[str]:
    """The tips of ``scenario`` answered in pairs, as readers find them: in the pairs files of
    every verified finished run of the scenario tagged ``tipbench.has_pairs``, whatever its cell
    (a pair is held by its cell A's run, so cell B's tips are judged in another cell's files;
    both cells of a pair are of one scenario)."""
    records = []
    for cell_runs in runs.values():
        for run in finished_cell_runs(cell_runs):
            if _scenario(run) != scenario or not run.tags.get(PAIRS_TAG):
                continue
            if run_problem(experiment, run):
                continue
            try:
                read_candidates(client, run)
            except Unverified:
                continue
            records += [r for f in read_pairs_files(client, run) for r in f.records]
    return paired_candidates(records)


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
    if run.tags.get(PAIRS_TAG):  # where readers look for pairs (tracking/mapping.PAIRS_TAG)
        for pairs in read_pairs_files(client, run):
            held.pair_files[pairs.path] = [r for r in pairs.records if isinstance(r, dict)]
    return held


def _move(client: MlflowClient, other: _Held, kept: _Held) -> _Moved:
    """Merge ``other``'s judgments and pairs of ``kept``'s tips into ``kept``'s files."""
    moved = _Moved()
    for path, records in sorted(other.files.items()):
        movable = [r for r in records if r.get("candidate_id") in kept.tips]
        moved.judgments_left += len(records) - len(movable)
        merged, added = _merge(kept.files.get(path, []), movable, _tip)
        if added:
            client.log_artifact(kept.run.run_id, path, json.dumps(merged, ensure_ascii=False))
            kept.files[path] = merged
            moved.judgments += added
    for path, records in sorted(other.pair_files.items()):
        movable = [r for r in records if r.get("candidate_a") in kept.tips]  # A's run holds it
        moved.pairs_left += len(records) - len(movable)
        merged, added = _merge(kept.pair_files.get(path, []), movable, _pair)
        if added:
            _say_has_pairs(client, kept)
            client.log_artifact(kept.run.run_id, path, json.dumps(merged, ensure_ascii=False))
            kept.pair_files[path] = merged
            moved.pairs += added
    return moved


def _say_has_pairs(client: MlflowClient, kept: _Held) -> None:
    """Tag the kept run as holding pairs before its first pairs file is written: a crash between
    the two leaves a tag over no file (readers list nothing), never a file no reader lists."""
    if not kept.run.tags.get(PAIRS_TAG):
        client.set_tag(kept.run.run_id, PAIRS_TAG, "true")
        kept.run = replace(kept.run, tags={**kept.run.tags, PAIRS_TAG: "true"})


def _tip(record: Record) -> str:
    """A score's key within one judge's file: its tip."""
    return str(record.get("candidate_id"))


def _pair(record: Record) -> str:
    """A pairwise judgment's key within one judge's file: its two tips (the pair id's input)."""
    return f"{record.get('candidate_a')}|{record.get('candidate_b')}"


def _merge(
    ours: list[Record], theirs: list[Record], key: Callable[[Record], str]
) -> tuple[list[Record], int]:
    """One judge's records of one cell: the latest per ``key``; how many of ``theirs`` were
    taken."""
    latest: dict[str, Record] = {}
    for record in ours:
        latest[key(record)] = record
    taken = 0
    for record in theirs:
        have = latest.get(key(record))
        if have is None or _time(record) > _time(have):
            latest[key(record)] = record
            taken += 1
    return list(latest.values()), taken


def _time(record: Record) -> Any:
    try:
        return parse_time(record.get("created_at"))
    except ValueError:
        return parse_time(None)
