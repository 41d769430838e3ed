"""Judging outside the app: export pending candidates as JSON, validate and apply a filled file.

An outside judge edits a JSON file by hand or with their own tool, so the import trusts nothing:
the whole file is checked first (format, experiment, the rubric it was exported under, judge id,
known candidates, the tip text as exported, and every score by the experiment's rubric, the one
validator of :meth:`tipbench_lib.core.rubric.Rubric.problems`) and every problem is reported with
the item's position and candidate id. Only a file with no problem is applied, all of it, through
the same journal-first save as the app. A regenerated candidate has a new id, so a stale file can
never score new text, and a file exported under another rubric is refused as a whole.

The file is read as UTF-8 with or without the byte-order mark Windows editors write, up to
:data:`MAX_APPLY_BYTES`; a larger file, one nested deeper than :data:`MAX_DEPTH` (an export is 5
levels deep) or one Python's JSON reader cannot nest that far is refused by name, never with a
traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tipbench_lib.core import names
from tipbench_lib.core.errors import JudgingError
from tipbench_lib.core.judgments import pending_candidates
from tipbench_lib.core.records import Candidate, Cell
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.judge.queue import interleaved_order, judge_seed
from tipbench_lib.judge.session import JudgeSession, SaveResult, Scores
from tipbench_lib.tracking.experiment import read_experiment

FORMAT = "tipbench.judging/1"
MAX_APPLY_BYTES = 32 * 1024 * 1024
"""The largest file ``--apply`` reads. An exported item takes 1.8 KB on average (2.1 KB at most,
measured on data/sample: tip, scenario, tasks, indented), so this holds some 15,000 candidates,
far beyond a grid one team judges by hand, while a wrong file (a video, a database dump) is
refused before it is read into memory."""
MAX_DEPTH = 32
"""Nesting beyond this is not an export, which is 5 levels deep (items, item, context, tasks,
task)."""


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with a filled file, located so the judge can find and fix it."""

    position: int | None
    candidate_id: str
    message: str

    def line(self) -> str:
        where = "file" if self.position is None else f"item {self.position}"
        who = f" (candidate {self.candidate_id})" if self.candidate_id else ""
        return f"{where}{who}: {self.message}"


class ImportRejected(JudgingError):
    """The file has problems; nothing was stored."""

    def __init__(self, path: object, problems: Sequence[ImportProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p.line()}" for p in self.problems)
        super().__init__(
            f"{path}: {len(self.problems)} problem(s), nothing was stored; fix them and apply "
            f"the file again:\n{lines}"
        )


@dataclass(frozen=True)
class ImportPlan:
    """A file that passed every check: who judged, and the scores per candidate."""

    judge_id: str
    scores: dict[str, Scores]
    skipped: int


# -- export ---------------------------------------------------------------------------------------


def export_item(
    candidate: Candidate, cell: Cell, context: Mapping[str, Any], rubric: Rubric, unblind: bool
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "candidate_id": candidate.candidate_id,
        "context": dict(context),
        "tip": candidate.text,
        "auto": {f: candidate.auto.get(f, False) for f in rubric.automatic_flag_ids},
        "scores": dict.fromkeys(rubric.part_ids),
        "note": "",
    }
    if unblind:
        item["model"] = cell.model
        item["prompt_version"] = cell.prompt_version
    return item


def export_document(
    session: JudgeSession,
    *,
    unblind: bool = False,
    cards: Sequence[str] | None = None,
    judge_id: str | None = None,
) -> dict[str, Any]:
    """Candidates of the session's experiment as a ``tipbench.judging/1`` document.

    Without ``cards``: every pending candidate, in an interleaved order seeded per experiment,
    so a blind file does not hand the judge one model's tips in a block. With ``cards``: those,
    in that order (a judge's next batch from their queue), and the file names ``judge_id``. The
    rubric travels with the file (its reference, and its text for the judge to read), and an
    apply checks it.
    """
    if cards is None:
        ids = pending_candidates(
            session.candidates, session.known().values(), session.required_judges
        )
        rows = interleaved_order(session.queue_rows(ids), judge_seed(session.experiment, "export"))
        cards = [row["candidate_id"] for row in rows]
    items = []
    for cid in cards:
        candidate = session.candidates[cid]
        cell = session.cells[candidate.cell_id]
        context = session.views[cell.scenario_id].as_context()
        items.append(export_item(candidate, cell, context, session.rubric, unblind))
    return {
        "format": FORMAT,
        "experiment": session.experiment,
        "rubric": {**session.rubric.ref.to_json(), "text": session.rubric.prompt_text()},
        "judge_id": judge_id,
        "blind": not unblind,
        "items": items,
    }


def write_export(
    session: JudgeSession,
    path: Path,
    *,
    unblind: bool = False,
    cards: Sequence[str] | None = None,
    judge_id: str | None = None,
) -> int:
    """Write the export file; returns how many items it holds."""
    doc = export_document(session, unblind=unblind, cards=cards, judge_id=judge_id)
    Path(path).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return len(doc["items"])


# -- import: validation ---------------------------------------------------------------------------


def _refused(path: object, message: str) -> ImportRejected:
    return ImportRejected(path, [ImportProblem(None, "", message)])


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing one over the limit before reading it whole."""
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_APPLY_BYTES:
                raise _refused(path, _too_large(size))
            data = file.read(MAX_APPLY_BYTES + 1)  # a pipe or device reports no size
    except FileNotFoundError as exc:
        raise JudgingError(f"{path}: no such file; pass the file written by --export") from exc
    except OSError as exc:
        raise JudgingError(
            f"{path}: cannot be read ({exc.strerror}); pass the file written by --export"
        ) from exc
    if len(data) > MAX_APPLY_BYTES:
        raise _refused(path, _too_large(len(data)))
    return data


def _too_large(size: int) -> str:
    return (
        f"the file holds {size:,} bytes or more, over the {MAX_APPLY_BYTES // 2**20} MB "
        f"--apply reads; is it the file written by --export? Split a larger set of judgments "
        f"into several files (export with fewer pending candidates, apply each)"
    )


def _depth(doc: Any) -> int:
    """How deeply ``doc`` nests (a scalar is 0), without recursion."""
    deepest, stack = 0, [(doc, 0)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_DEPTH and isinstance(value, dict | list):
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest


def read_document(path: Path) -> Any:
    """The parsed file; every way it can be unreadable is an :class:`ImportRejected` or
    :class:`JudgingError` naming the problem (the script exits 2, with no traceback)."""
    path = Path(path)
    data = _read_bytes(path)
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _refused(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise _refused(path, f"not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise _refused(path, _too_deep()) from exc
    if _depth(doc) > MAX_DEPTH:
        raise _refused(path, _too_deep())
    return doc


def _too_deep() -> str:
    return (
        f"the JSON nests more than {MAX_DEPTH} levels deep; an export is 5 levels deep "
        f"(items, item, context, tasks, task): apply the file written by --export"
    )


def shown_value(value: Any, limit: int = 60) -> str:
    """A value as a message shows it: its repr, cut so a huge value cannot flood the terminal."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def file_problems(
    doc: Any, experiment: str, judge_id: str | None, rubric: Rubric, expected: str = FORMAT
) -> list[ImportProblem]:
    """What is wrong with the file as a whole (its format ``expected``: scores or pair cards)."""
    if not isinstance(doc, dict):
        return [ImportProblem(None, "", "the file must hold one JSON object (as exported)")]
    problems = []
    if doc.get("format") != expected:
        problems.append(
            ImportProblem(
                None, "", f"format is {shown_value(doc.get('format'))}, expected {expected!r}"
            )
        )
    if doc.get("experiment") != experiment:
        problems.append(
            ImportProblem(
                None,
                "",
                f"the file is for experiment {shown_value(doc.get('experiment'))}, "
                f"not {experiment!r}",
            )
        )
    other = _rubric_problem(doc.get("rubric"), rubric)
    if other:
        problems.append(ImportProblem(None, "", other))
    chosen = judge_id if judge_id is not None else doc.get("judge_id")
    if not isinstance(chosen, str) or not chosen.strip():
        problems.append(
            ImportProblem(None, "", 'no judge id: fill "judge_id" in the file or pass --judge-id')
        )
    else:
        try:
            names.check_judge_id(chosen.strip())
        except names.InvalidNameError as exc:
            problems.append(ImportProblem(None, "", str(exc)))
    if not isinstance(doc.get("items"), list):
        problems.append(ImportProblem(None, "", '"items" must be a list (as exported)'))
    return problems


def _rubric_problem(declared: Any, rubric: Rubric) -> str:
    """Why the file's rubric is not the experiment's ('' when it is).

    An export names its rubric by ``version`` (and, since records of format 2, its
    ``content_hash``); a file that names none cannot say what its scores mean.
    """
    if not isinstance(declared, dict) or not isinstance(declared.get("version"), str):
        return (
            'the file does not say which rubric it was scored on ("rubric": {"version": ...}); '
            f"export a new file (this experiment is scored on {rubric.version!r})"
        )
    content_hash = declared.get("content_hash")
    return rubric.other_rubric(
        declared["version"], content_hash if isinstance(content_hash, str) else ""
    )


def _item_problems(
    position: int,
    item: Any,
    candidates: Mapping[str, Candidate],
    seen: set[str],
    rubric: Rubric,
) -> tuple[list[ImportProblem], Scores | None]:
    """Problems of one item, and its scores when it is complete and valid (None when skipped)."""
    if not isinstance(item, dict):
        return [ImportProblem(position, "", "an item must be a JSON object")], None
    cid = item.get("candidate_id")
    cid_text = cid if isinstance(cid, str) else ""

    def problem(message: str) -> tuple[list[ImportProblem], None]:
        return [ImportProblem(position, cid_text, message)], None

    if not isinstance(cid, str) or cid not in candidates:
        return problem(
            f"unknown candidate id {shown_value(cid)}: not a finished candidate of this experiment"
        )
    if cid in seen:
        return problem("this candidate appears more than once in the file")
    seen.add(cid)
    if item.get("tip") != candidates[cid].text:
        return problem(
            "the tip text differs from the candidate's text: it was changed since export"
        )
    scores = item.get("scores")
    if not isinstance(scores, dict):
        return problem(f'"scores" must be an object with {", ".join(rubric.part_ids)}')
    filled = {k: v for k, v in scores.items() if v is not None}
    if not filled:
        return [], None
    missing = [k for k in rubric.part_ids if scores.get(k) is None]
    if missing and set(scores) <= set(rubric.part_ids):
        return problem(
            f"partly filled: {', '.join(missing)} still null "
            f"(fill all {len(rubric.part_ids)} or none)"
        )
    note = item.get("note", "")
    filled_in = Scores(filled, note="" if note is None else note)
    messages = filled_in.problems(rubric, shown=shown_value, prefix="scores.")
    if messages:
        return [ImportProblem(position, cid, m) for m in messages], None
    return [], filled_in


def validate_document(
    doc: Any,
    experiment: str,
    candidates: Mapping[str, Candidate],
    rubric: Rubric,
    judge_id: str | None = None,
    path: object = "import file",
) -> ImportPlan:
    """Check the whole file; raises :class:`ImportRejected` listing every problem found."""
    problems = file_problems(doc, experiment, judge_id, rubric)
    if problems:
        raise ImportRejected(path, problems)
    plan: dict[str, Scores] = {}
    skipped = 0
    seen: set[str] = set()
    for position, item in enumerate(doc["items"], start=1):
        found, scores = _item_problems(position, item, candidates, seen, rubric)
        problems.extend(found)
        if scores is not None:
            plan[item["candidate_id"]] = scores
        elif not found:
            skipped += 1
    if problems:
        raise ImportRejected(path, problems)
    chosen = judge_id if judge_id is not None else doc["judge_id"]
    return ImportPlan(chosen.strip(), plan, skipped)


def apply_plan(session: JudgeSession, plan: ImportPlan) -> SaveResult | None:
    """Store every judgment of a validated plan: journal first, then each touched cell's run."""
    records = [session.record_for(cid, scores) for cid, scores in plan.scores.items()]
    if not records:
        return None
    return session.save_records(records)


def apply_file(
    client: Any, experiment: str, path: Path, judge_id: str | None = None, **session_kw: Any
) -> tuple[ImportPlan, SaveResult | None]:
    """Validate ``path`` against the experiment, then apply all of it or (on any problem) none."""
    doc = read_document(path)  # a bad file is refused before MLflow is asked for anything
    return apply_document(client, experiment, doc, path, judge_id, **session_kw)


def apply_document(
    client: Any,
    experiment: str,
    doc: Any,
    path: Path,
    judge_id: str | None = None,
    **session_kw: Any,
) -> tuple[ImportPlan, SaveResult | None]:
    """:func:`apply_file` for a file already read (:func:`read_document`); ``stored`` in
    ``session_kw`` is the experiment as already read from MLflow."""
    stored = session_kw.pop("stored", None) or read_experiment(client, experiment)
    records = stored.records
    candidates = {c.candidate_id: c for c in records.candidates}
    plan = validate_document(doc, experiment, candidates, records.rubric, judge_id, path)
    session = JudgeSession(
        client, experiment, plan.judge_id, judge_kind="import", stored=stored, **session_kw
    )
    return plan, apply_plan(session, plan)
