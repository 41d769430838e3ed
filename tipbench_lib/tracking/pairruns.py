"""Pairwise judgments read back from MLflow, verified first (docs/architecture.md, sections 6, 13).

A judge's pairs live on the run of each pair's cell A as ``pairs/<judge key>.json``
(:mod:`tipbench_lib.tracking.mapping`). The store is shared, so a file on a run may be anyone's:
a record is used only when everything it claims checks against what the experiment's verified
runs hold (:mod:`tipbench_lib.tracking.cellruns` verified those first):

- it reads as a pairwise judgment: two different cells in canonical order, an answer and sides
  that exist, a status that exists, a time that parses (:class:`~tipbench_lib.core.records.
  PairJudgment` refuses the rest);
- its ``pair_id``, when it states one, is the one its two candidates give (it is recomputed and
  used in any case, so no record can take another pair's key);
- it is the file's judge's: the judge id gives the file's key, so nobody's file can revise
  another judge's answer;
- both candidates are verified candidates of their cells, and both cells are of the pair's
  scenario;
- it is on the right run: the holder is a verified run of the pair's cell A.

The file itself was read with a byte bound (:data:`~tipbench_lib.tracking.mapping.
MAX_PAIRS_BYTES`), and no text field of a record may exceed :data:`MAX_FIELD_CHARS`. A record
that fails is left out; each file with such records is named once, with the first few records
and why (:func:`verify_pairs`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.journal import judge_key
from tipbench_lib.core.records import FAILED, OK, Candidate, Cell, PairJudgment, parse_time
from tipbench_lib.tracking.mapping import PairsFile

MAX_NAMED_RECORDS = 8
"""How many bad records of one file the warning names before it only counts them."""
MAX_FIELD_CHARS = 20_000
"""The longest text a record's field may hold (a note or an LLM judge's reason is a few hundred
characters): one longer is a stranger's, however small the file."""
MAX_PROBLEM_CHARS = 300
"""A named record's reason is cut here: a stranger's record may quote a megabyte."""


@dataclass
class VerifiedPairs:
    """The pairwise judgments that verified, and one line per file holding any that did not."""

    pairs: list[PairJudgment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def verify_pairs(
    files: Iterable[tuple[str, PairsFile]],
    cells: Mapping[str, Cell],
    candidates: Iterable[Candidate],
) -> VerifiedPairs:
    """Check every record of ``files`` ((holder run's cell id, file) each, from verified runs
    only) against the experiment's verified ``cells`` and ``candidates`` (module doc)."""
    cell_of = {c.candidate_id: c.cell_id for c in candidates}
    out = VerifiedPairs()
    for holder, file in files:
        bad: list[str] = []
        for index, record in enumerate(file.records):
            pair, problem = _checked(record, holder, file.judge_key, cells, cell_of)
            if pair is not None:
                out.pairs.append(pair)
            else:
                bad.append(f"record {index}: {problem[:MAX_PROBLEM_CHARS]}")
        if bad:
            out.problems.append(_file_problem(file, bad))
    return out


def _checked(
    record: Any,
    holder: str,
    key: str,
    cells: Mapping[str, Cell],
    cell_of: Mapping[str, str],
) -> tuple[PairJudgment | None, str]:
    """The record as a verified pairwise judgment, or None and why not."""
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not a pairwise judgment"
    longest = max((len(v) for v in record.values() if isinstance(v, str)), default=0)
    if longest > MAX_FIELD_CHARS:
        return None, f"a field holds {longest:,} characters, over {MAX_FIELD_CHARS:,}"
    try:
        pair = PairJudgment.from_json(record)
        parse_time(pair.created_at)
        owner = judge_key(pair.judge_id)
    except (TipbenchError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return None, _first_line(exc)
    problem = _problem(pair, record, holder, key == owner, cells, cell_of)
    return (None, problem) if problem else (pair, "")


def _problem(
    pair: PairJudgment,
    record: Mapping[str, Any],
    holder: str,
    judges_file: bool,
    cells: Mapping[str, Cell],
    cell_of: Mapping[str, str],
) -> str:
    """Why a well-formed record is not to be used ('' when it is)."""
    stated = record.get("pair_id")
    if stated is not None and stated != pair.pair_id:
        return f"its pair_id {stated!r} is not the id of its two candidates ({pair.pair_id})"
    if pair.status not in (OK, FAILED):
        return f"status {pair.status!r} is neither {OK} nor {FAILED}"
    if not judges_file:
        return f"a record of judge {pair.judge_id!r}, in another judge's file"
    for candidate, cell in ((pair.candidate_a, pair.cell_a), (pair.candidate_b, pair.cell_b)):
        if cell_of.get(candidate) != cell:
            return f"candidate {candidate} is not a verified candidate of cell {cell}"
    scenarios = {cells[pair.cell_a].scenario_id, cells[pair.cell_b].scenario_id}
    if scenarios != {pair.scenario_id}:
        return (
            f"its cells are of scenario(s) {', '.join(sorted(scenarios))}, not of the pair's "
            f"scenario {pair.scenario_id!r}"
        )
    if pair.cell_a != holder:
        return f"its cell A {pair.cell_a} is not the cell of the run holding it ({holder})"
    return ""


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or f"{type(exc).__name__} while reading it"


def _file_problem(file: PairsFile, bad: list[str]) -> str:
    named = "; ".join(bad[:MAX_NAMED_RECORDS])
    more = len(bad) - MAX_NAMED_RECORDS
    return (
        f"{file.path} of run {file.run_id}: {len(bad)} pairwise record(s) do not verify "
        f"({named}" + (f"; and {more} more" if more > 0 else "") + ")"
    )
