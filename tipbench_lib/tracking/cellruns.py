"""A cell run read back from MLflow, verified first: the store is shared, so nothing is trusted.

Other workers, people judging, and anyone with access write to the same experiment. Whatever a
reader takes from a run (the collect phase adopting a cell another worker finished, the judge and
compare phases reading the experiment) is checked here, one way for every reader
(docs/architecture.md, section 6):

- **the run is this experiment's cell**: the cell id recomputed from the experiment's name and the
  run's params equals the run's cell tag. A run copied from another experiment hashes the other
  name; a run whose params were changed (another model or digest) does not give its tag;
- **what it holds is bounded**: ``candidates.json`` is read with a byte bound made from the cell's
  ``--max-tokens`` and tip count (:func:`artifact_byte_limit`), so a 5 MB tip is never downloaded
  whole, and every tip's text is within the cell's bound (:func:`tip_char_limit`);
- **every candidate is the one its id says**: its cell is the run's, its id recomputes from
  (cell, sample index, text), its sample indices are 0..n-1 once each, no id comes twice, and its
  ``created_at`` parses.

A run that fails is not used; the reader names it once, with the reason (:class:`Unverified`). A
cell may have several FINISHED runs (workers that raced before cells were claimed, a stray
copy): :func:`choose_run` picks the one every reader uses.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from tipbench_lib.core.cells import cell_id_from_params
from tipbench_lib.core.errors import RetryableError, TipbenchError
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.records import OK, Candidate, parse_time
from tipbench_lib.tracking.client import ArtifactTooLarge, MlflowClient
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.http import MlflowHttpError
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    CELL_TAG,
    COUNT_TAG,
    DUPLICATE_TAG,
    SCENARIO_HASH_PARAM,
    CellArtifact,
    parse_candidates,
    read_cell_artifact,
)

MAX_CHARS_PER_TOKEN = 32
"""A token is a few characters; none of a real vocabulary comes near 32."""
MIN_TIP_CHARS = 2_000
"""The least any tip may hold, whatever ``--max-tokens`` says (old runs recorded no options)."""
MAX_PROMPT_CHARS = 50_000
"""The rendered prompt at the top of ``candidates.json``: a few kB for every shipped prompt."""
MAX_TIPS = 1_000
"""The most candidates a cell run is read with, whatever its tag claims."""
CANDIDATE_OVERHEAD_BYTES = 16_000
"""A candidate's JSON besides its text and raw answer (numbers, flags, reasons)."""
JSON_BYTES_PER_CHAR = 6
"""The most bytes one character takes in JSON (``\\u001f``)."""

_MAX_TOKENS = re.compile(r"(?:^|,)max_tokens=(\d+)(?:,|$)")


class Unverified(TipbenchError):
    """A run that is not used, and why (the message names the run)."""


def run_order(run: Run) -> tuple[int, str]:
    """The one order of runs every worker agrees on: start time, then run id."""
    return (run.start_time or 0, run.run_id)


def tip_char_limit(params: Mapping[str, str]) -> int:
    """The longest tip a cell collected with these params can hold (its ``max_tokens``)."""
    found = _MAX_TOKENS.search(params.get("options", ""))
    tokens = int(found.group(1)) if found else 0
    return max(MIN_TIP_CHARS, tokens * MAX_CHARS_PER_TOKEN)


def artifact_byte_limit(params: Mapping[str, str], count: int) -> int:
    """The most bytes ``candidates.json`` of such a cell with ``count`` candidates can hold."""
    per_tip = 2 * tip_char_limit(params) * JSON_BYTES_PER_CHAR + CANDIDATE_OVERHEAD_BYTES
    count = max(1, min(count, MAX_TIPS))
    return MAX_PROMPT_CHARS * JSON_BYTES_PER_CHAR + count * per_tip


@cache
def _scenario_hashes() -> dict[str, str]:
    from tipbench_lib.core.journal_legacy import scenario_hashes

    with contextlib.suppress(TipbenchError):
        return scenario_hashes()
    return {}


def scenario_hash_of(params: Mapping[str, str]) -> str:
    """The scenario hash the cell id was made with: the run's param, or for a run made before
    that param existed, the scenario file's (an edited scenario cannot prove such a run)."""
    recorded = params.get(SCENARIO_HASH_PARAM)
    if recorded:
        return recorded
    return _scenario_hashes().get(params.get("scenario_id", ""), "")


def run_problem(experiment: str, run: Run) -> str:
    """Why ``run`` is not a cell of ``experiment`` ('' when it is): its params must give its tag.

    No request: the params and tags came with the search.
    """
    tag = run.tags.get(CELL_TAG, "")
    try:
        recomputed = cell_id_from_params(experiment, dict(run.params), scenario_hash_of(run.params))
    except KeyError as missing:
        return f"it has no {missing} param, so it cannot be shown to be a cell of {experiment!r}"
    except ValueError as exc:
        return f"its params cannot make a cell id ({exc})"
    if recomputed != tag:
        since = ""
        if not run.params.get(SCENARIO_HASH_PARAM):
            since = (
                f", or one made before runs recorded their scenario's hash, whose scenario "
                f"{run.params.get('scenario_id', '?')!r} has been edited since"
            )
        return (
            f"its cell tag {tag!r} is not the cell id its params give for experiment "
            f"{experiment!r} (model {run.params.get('model', '?')!r}, digest "
            f"{run.params.get('model_digest', '?')!r}): a run of another experiment, or one "
            f"whose params were changed{since}"
        )
    return ""


def candidates_problem(cell_id: str, candidates: Sequence[Candidate], char_limit: int) -> str:
    """Why these are not the candidates of ``cell_id`` ('' when they are): see the module doc."""
    seen: set[str] = set()
    for c in candidates:
        where = f"candidate {c.sample_index} ({c.candidate_id})"
        if c.cell_id != cell_id:
            return f"{where} names cell {c.cell_id!r}, not the run's"
        if c.candidate_id in seen:
            return f"{where}: candidate id {c.candidate_id} repeats within the run"
        seen.add(c.candidate_id)
        if len(c.text) > char_limit or len(c.raw) > char_limit:
            return f"{where} holds {max(len(c.text), len(c.raw)):,} characters, over {char_limit:,}"
        if c.candidate_id != content_hash([cell_id, c.sample_index, c.text]):
            return f"{where}: its id is not the hash of its cell, index and text"
        if c.created_at:
            try:
                parse_time(c.created_at)
            except ValueError:
                return f"{where}: created_at {c.created_at!r} is not a time"
    indices = sorted(c.sample_index for c in candidates)
    if indices != list(range(len(candidates))):
        return f"its sample indices are {indices}, not 0 to {len(candidates) - 1} once each"
    return ""


def read_candidates(
    client: MlflowClient, run: Run, *, expected: int | None = None, prompt: bool = False
) -> CellArtifact:
    """The run's ``candidates.json``, bounded and verified; :class:`Unverified` says why not.

    ``expected`` is how many candidates the reader will take (a planned cell's tips); else the
    run's count tag, bounded by :data:`MAX_TIPS`. MLflow going away propagates (RetryableError).
    """
    cell = run.tags.get(CELL_TAG, "")
    count = expected if expected is not None else _count(run)
    where = f"{CANDIDATES_ARTIFACT} of run {run.run_id}"
    try:
        data = client.download_artifact(
            run.run_id, CANDIDATES_ARTIFACT, artifact_byte_limit(run.params, count)
        )
    except ArtifactTooLarge as exc:
        raise Unverified(str(exc)) from None
    except MlflowHttpError as exc:
        if isinstance(exc, RetryableError):
            raise
        raise Unverified(f"{where} cannot be read: {str(exc).splitlines()[0]}") from None
    # any other TrackingError: MLflow stopped answering as MLflow does; the caller stops
    try:
        artifact = parse_candidates(data, where, cell)
        if prompt and artifact.prompt is None:
            artifact = read_cell_artifact(client, run, prompt=True)
    except RetryableError:
        raise
    except (TipbenchError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Unverified(f"{where} cannot be read: {str(exc).splitlines()[0]}") from None
    problem = candidates_problem(cell, artifact.candidates, tip_char_limit(run.params))
    if problem:
        raise Unverified(problem)
    if artifact.prompt is not None and len(artifact.prompt) > MAX_PROMPT_CHARS:
        raise Unverified(f"its prompt holds {len(artifact.prompt):,} characters")
    return artifact


def _count(run: Run) -> int:
    tag = run.tags.get(COUNT_TAG, "")
    return int(tag) if tag.isdigit() else MAX_TIPS


def finished_cell_runs(runs: Iterable[Run]) -> list[Run]:
    """The FINISHED cell runs every reader considers (a duplicate reconciled away is not one)."""
    return [r for r in runs if r.tags.get(CELL_TAG) and r.status == "FINISHED" and not _dup(r)]


def _dup(run: Run) -> bool:
    return bool(run.tags.get(DUPLICATE_TAG))


def choose_run(runs: Sequence[Run], judged: Callable[[Run], int]) -> Run:
    """The run that stands for a cell among its verified FINISHED runs: the one holding the most
    judged tips (no judgment may drop out of sight), then the earliest (:func:`run_order`)."""
    return min(runs, key=lambda r: (-judged(r), *run_order(r)))


def judged_tips(tips: Collection[str], scored: Iterable[str], paired: Collection[str]) -> int:
    """How many of a run's ``tips`` hold an answer that counts, for :func:`choose_run`: a score
    (``scored``: the candidate ids of the run's ok score judgments) or a pairwise answer
    (``paired``: :func:`paired_candidates` of every pairs file readers read in the experiment).

    Pairs count as scores do (docs/architecture.md, section 5): a run whose tips were judged only
    in pairs would otherwise lose the cell to an earlier unjudged run, and its pairs with it. A
    pair's answer is held by its cell A's run, so a tip of cell B is found in another cell's
    files; a candidate id hashes its cell, so an id can only be a tip of its own cell.
    """
    return len(set(tips) & ({*scored} | set(paired)))


def paired_candidates(records: Iterable[Any]) -> set[str]:
    """Both tips of every answered pairwise record among ``records`` (``pairs/`` files as stored:
    not verified yet, as the score files counted for the choice are not)."""
    answered: set[str] = set()
    for record in records:
        if isinstance(record, Mapping) and record.get("status", OK) == OK and record.get("answer"):
            answered.update(str(record.get(side)) for side in ("candidate_a", "candidate_b"))
    return answered
