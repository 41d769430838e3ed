"""An experiment as three polars frames, from MLflow or from a snapshot directory of parquet files.

The compare phase works on frames, never on MLflow directly, so analysis runs offline on a
snapshot and a shared snapshot reproduces the same numbers. The frames are built from the
experiment model (:mod:`tipbench_lib.core.records`, read from MLflow by
:mod:`tipbench_lib.tracking.experiment`), and their columns are the experiment's rubric's
(:func:`tipbench_lib.core.schema.frame_schemas`). This module is the snapshot's recorder: a
snapshot holds the three frames, the rubric file the experiment was scored on (``rubric.toml``)
and the provenance; one without ``rubric.toml`` was written before rubrics were recorded and is
read as tip-v1, and says so. A snapshot may come from another tool (pandas, pyarrow, a script), so
reading one converts every type that converts without loss and refuses the others, naming the
file, the column, the type found and the type expected (:func:`conform_columns`).

The composite is never taken on trust: it is recomputed from the rubric that defines it, and any
judgment whose stored composite disagrees is named in ``ExperimentData.warnings``; judgments made
under another rubric than the experiment's are left out, and named too
(:func:`recompute_composites`).

Pairwise judgments (docs/architecture.md, section 13) are a fourth frame, ``pairs``
(:data:`tipbench_lib.core.schema.PAIRS`): from MLflow as :mod:`tipbench_lib.tracking.pairruns`
verified them, in a snapshot as ``pairs.parquet`` (a snapshot without it has no pairs). A
snapshot's pairs are checked against its own cells and candidates, as MLflow's are against the
runs (:func:`check_snapshot_pairs`). From either, pairs judged under another rubric version (or
asked another question) are left out and named, as scores of another version are
(:func:`pairs_on_rubric`), and every judge of scores or pairs is in the provenance
(:func:`judge_entries`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tipbench_lib.core.datafile import read_text
from tipbench_lib.core.errors import DataFileError, RubricConflict
from tipbench_lib.core.experiment import changed_since_judged, legacy_note
from tipbench_lib.core.frames import judgments_frame, pairs_frame
from tipbench_lib.core.frames import rows_frame as _frame
from tipbench_lib.core.judgments import latest_pair_rows
from tipbench_lib.core.provenance import JudgeEntry, ModelEntry, Provenance, shape_problem
from tipbench_lib.core.records import (
    PAIR_ANSWERS,
    PAIR_QUESTION,
    Candidate,
    Cell,
    Judgment,
    PairJudgment,
    RubricRef,
    pair_id,
    parse_time,
)
from tipbench_lib.core.rubric import (
    DEFAULT_RUBRIC,
    Rubric,
    parse_rubric,
    recorded_rubric,
    shipped_rubric,
)
from tipbench_lib.core.schema import (
    CELLS,
    PAIRS,
    auto_column,
    candidates_schema,
    frame_schemas,
)
from tipbench_lib.core.schema import (
    require_columns as require_columns,  # re-exported: callers that read it from here still work
)
from tipbench_lib.tracking.client import MlflowClient, Run
from tipbench_lib.tracking.experiment import StoredExperiment
from tipbench_lib.tracking.mapping import CELL_TAG, queue_provenance

PROVENANCE_FILE = "provenance.json"
RUBRIC_FILE = "rubric.toml"
"""The experiment's rubric in a snapshot directory: the file's exact text."""
NOTES_FILE = "notes.parquet"
PAIRS_FILE = "pairs.parquet"
"""The pairwise judgments in a snapshot (optional: snapshots written before them have none)."""
NOTES_SCHEMA = {"candidate_id": pl.String(), "judge_id": pl.String(), "note": pl.String()}
MAX_NOTE_CHARS = 2000
WARNINGS_KEY = "warnings"
"""The provenance entry holding what loading found wrong (see ``ExperimentData.warnings``)."""


@dataclass
class ExperimentData:
    """An experiment's three frames, the rubric they are scored on, and where they came from."""

    cells: pl.DataFrame
    candidates: pl.DataFrame
    judgments: pl.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)
    """cell_id → MLflow run id (empty for a snapshot)."""
    rubric: Rubric = field(default_factory=shipped_rubric)
    """The experiment's rubric: the frames' score columns and every range are its."""
    rubric_note: str = ""
    """'' when the experiment recorded its rubric; else why it is read as tip-v1."""
    notes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=NOTES_SCHEMA))
    """The judges' notes (``candidate_id, judge_id, note``; the LLM judge's reason is its
    note), for the explorer; a snapshot keeps them in ``notes.parquet`` when there are any."""
    pairs: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=PAIRS))
    """The pairwise judgments that count (:data:`~tipbench_lib.core.schema.PAIRS`, one row per
    pair and judge); empty with those columns when the experiment has none. Not among
    :meth:`frames`, the three every snapshot must hold."""

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"cells": self.cells, "candidates": self.candidates, "judgments": self.judgments}

    @property
    def warnings(self) -> list[str]:
        """What loading found wrong but could still use (e.g. composites the rubric disagrees
        with), one sentence each. Kept in the provenance so a selection and the report's
        provenance section carry them without further wiring."""
        return list(self.provenance.get(WARNINGS_KEY, []))


# --- From MLflow -------------------------------------------------------------------------------


def load_experiment(client: MlflowClient, experiment: str) -> ExperimentData:
    """Read every finished cell run of ``experiment``: params, candidates, judgments, rubric.

    Judgments journalled on this machine that MLflow lacks (an app killed before it sent a
    score) are sent first (:func:`tipbench_lib.judge.delivery.read_delivered`); those MLflow does
    not take are named among the warnings, so a report never leaves a score out silently.
    """
    from tipbench_lib.judge.delivery import read_delivered  # the judge phase imports the stats

    stored, backlog = read_delivered(client, experiment)
    data = experiment_frames(stored)
    if backlog.warning():
        data.provenance[WARNINGS_KEY] = [*data.warnings, backlog.warning()]
    return data


def experiment_frames(stored: StoredExperiment) -> ExperimentData:
    """The frames of an experiment read from MLflow, with its provenance."""
    records = stored.records
    rubric = records.rubric
    judgments, warnings = recompute_composites(
        judgments_frame(records.judgments, rubric),
        f"MLflow experiment {records.name!r} (judgments)",
        rubric,
    )
    pairs, pair_warnings = pairs_on_rubric(
        pairs_frame(records.pairs), rubric, f"MLflow experiment {records.name!r} (pairs)"
    )
    data = ExperimentData(
        cells=cells_frame(stored.runs),
        candidates=candidates_frame(records.candidates, rubric),
        judgments=judgments,
        run_ids=dict(records.run_ids),
        rubric=rubric,
        rubric_note=records.rubric_note,
        notes=notes_frame(records.judgments),
        pairs=pairs,
    )
    prov = provenance(records.name, data, stored.runs, records.judgments, records.pairs)
    prov.extra.update(queue_provenance(stored.experiment.tags))
    prov.warnings = [*warnings, *pair_warnings]
    data.provenance = prov.to_dict()
    return data


def cells_frame(runs: Iterable[Run]) -> pl.DataFrame:
    """One row per cell run: which cell, how it was made, and the run's own facts."""
    rows = []
    for run in runs:
        cell = Cell.from_params(run.tags[CELL_TAG], run.params)
        rows.append(
            {
                **cell.row(),
                "run_id": run.run_id,
                "load_s": run.metrics.get("load_s"),
                "started_at": run.start_time,
            }
        )
    return _frame(rows, CELLS)


def candidates_frame(candidates: Iterable[Candidate], rubric: Rubric) -> pl.DataFrame:
    """Candidates to the candidates frame: one ``<flag>_auto`` column per automatic flag."""
    rows = []
    for c in candidates:
        row = {k: v for k, v in c.to_json().items() if k != "format"}
        for flag in rubric.automatic_flag_ids:
            row.setdefault(auto_column(flag), None)
        rows.append(row)
    return _frame(rows, candidates_schema(rubric))


def provenance(
    experiment: str,
    data: ExperimentData,
    runs: list[Run],
    judgments: list[Judgment],
    pairs: Iterable[PairJudgment] = (),
) -> Provenance:
    """Who and what produced the data: models and digests, prompt hashes, rubric, judges, dates."""
    cells = data.cells
    models: dict[str, ModelEntry] = {}
    prompts: dict[str, str] = {}
    if cells.height:
        model_columns = ("model", "model_digest", "quantization", "parameter_count", "backend")
        for row in cells.select(model_columns).unique().sort("model").iter_rows(named=True):
            count = row["parameter_count"]
            models[row["model"]] = ModelEntry(
                **{**row, "parameter_count": int(count) if count else None}
            )
        for row in cells.select("prompt_version", "prompt_hash").unique().iter_rows(named=True):
            prompts[row["prompt_version"]] = row["prompt_hash"]
    starts = [r.start_time for r in runs if r.start_time]
    return Provenance(
        experiment=experiment,
        source="mlflow",
        models=models,
        prompts=prompts,
        rubric=data.rubric.ref,
        rubric_note=data.rubric_note,
        judges=judge_entries(judgments, pairs),
        extra={
            "rubric_versions": sorted(set(cells["rubric_version"].to_list()))
            if cells.height
            else [],
            "n_cells": cells.height,
            "n_candidates": data.candidates.height,
            "n_pairs": data.pairs.height,
            "collected_from": _ms_iso(min(starts)) if starts else None,
            "collected_to": _ms_iso(max(starts)) if starts else None,
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )


def judge_entries(
    judgments: Iterable[Judgment], pairs: Iterable[PairJudgment] = ()
) -> dict[str, JudgeEntry]:
    """Every judge the data rests on, by id: who judged (kind, model, size, weak) and how much,
    scores and pairwise judgments counted apart, failed ones as failed (an LLM judge's call that
    gave no valid answer). A judge's description is taken from its first record, a score's
    before a pair's."""
    judges: dict[str, JudgeEntry] = {}
    for j in judgments:
        entry = judges.get(j.judge_id) or JudgeEntry.of(j.source)
        judges[j.judge_id] = replace(entry, ok=entry.ok + j.ok, failed=entry.failed + (not j.ok))
    for p in pairs:
        entry = judges.get(p.judge_id) or JudgeEntry.of(p.source)
        judges[p.judge_id] = replace(
            entry, pairs=entry.pairs + p.ok, pairs_failed=entry.pairs_failed + (not p.ok)
        )
    return judges


def notes_frame(judgments: Iterable[Judgment]) -> pl.DataFrame:
    """The notes of the judgments that count (scored, the latest per judge and tip last)."""
    latest: dict[tuple[str, str], str] = {}
    for j in judgments:
        if j.ok:
            latest[(j.candidate_id, j.judge_id)] = (j.note or "")[:MAX_NOTE_CHARS]
    rows = [{"candidate_id": c, "judge_id": k, "note": n} for (c, k), n in latest.items() if n]
    return pl.DataFrame(rows, schema=NOTES_SCHEMA)


def _ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


# --- Snapshots ---------------------------------------------------------------------------------


def write_snapshot(data: ExperimentData, directory: Path) -> Path:
    """Three parquet files, the rubric and the provenance: analysis with no MLflow at all."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames().items():
        frame.write_parquet(directory / f"{name}.parquet")
    if data.notes.height:
        data.notes.write_parquet(directory / NOTES_FILE)
    data.pairs.write_parquet(directory / PAIRS_FILE)  # always: no stale pairs of an older write
    (directory / RUBRIC_FILE).write_text(data.rubric.text, encoding="utf-8")
    prov = Provenance.from_dict(data.provenance)
    prov.rubric = data.rubric.ref
    prov.rubric_note = data.rubric_note
    (directory / PROVENANCE_FILE).write_text(
        json.dumps({**prov.to_dict(), "source": "snapshot"}, indent=2, default=str) + "\n",
        encoding="utf-8",
    )
    return directory


def read_snapshot(directory: Path) -> ExperimentData:
    """Read and check a snapshot; a missing file, column or lossy type names the culprit.

    Lossless foreign types are converted to the schema's (see :func:`conform_columns`), the
    composite is recomputed from the rubric (see :func:`recompute_composites`) and what that
    changed is listed in ``ExperimentData.warnings``.
    """
    directory = Path(directory)
    prov = read_provenance(directory / PROVENANCE_FILE)
    rubric, note = snapshot_rubric(directory, prov)
    frames = {}
    for name, schema in frame_schemas(rubric).items():
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise DataFileError(
                path, "file", "missing; a snapshot holds cells, candidates and judgments .parquet"
            )
        frames[name] = conform_columns(read_parquet(path), schema, path)
    refuse_changed_rubric(frames["judgments"], rubric)
    judgments, warnings = recompute_composites(
        frames["judgments"], str(directory / "judgments.parquet"), rubric
    )
    pairs, pair_warnings = check_snapshot_pairs(
        read_pairs(directory / PAIRS_FILE), frames["cells"], frames["candidates"], directory
    )
    pairs, other_rubric = pairs_on_rubric(pairs, rubric, str(directory / PAIRS_FILE))
    warnings = [*warnings, *pair_warnings, *other_rubric]
    prov.setdefault("source", "snapshot")
    prov["snapshot_dir"] = str(directory)
    if note:
        prov["rubric_note"] = note
    if warnings:
        prov[WARNINGS_KEY] = [*prov.get(WARNINGS_KEY, []), *warnings]
    return ExperimentData(
        frames["cells"],
        frames["candidates"],
        judgments,
        prov,
        rubric=rubric,
        rubric_note=note,
        notes=read_notes(directory / NOTES_FILE),
        pairs=pairs,
    )


def read_pairs(path: Path) -> pl.DataFrame:
    """A snapshot's pairs, optional; checked like its frames (:func:`conform_columns`)."""
    if not path.exists():
        return pl.DataFrame(schema=PAIRS)
    pairs = conform_columns(read_parquet(path), PAIRS, path)
    return pairs.select(list(PAIRS))


MAX_NAMED_PAIR_ROWS = 5


def check_snapshot_pairs(
    pairs: pl.DataFrame, cells: pl.DataFrame, candidates: pl.DataFrame, directory: Path
) -> tuple[pl.DataFrame, list[str]]:
    """The snapshot's pairs that are what they say (the latest per pair and judge), and one
    warning naming the rows left out.

    The rules are MLflow's (:mod:`tipbench_lib.tracking.pairruns`) on what a snapshot holds: an
    answer of the pair's terms, two different cells in canonical order (A the smaller cell id),
    both candidates in the candidates frame under those cells, both cells of the pair's
    scenario, and a ``pair_id`` that is the id of its two candidates.
    """
    if pairs.height == 0:
        return pairs, []
    cell_of = dict(zip(candidates["candidate_id"], candidates["cell_id"], strict=True))
    scenario_of = dict(zip(cells["cell_id"], cells["scenario_id"], strict=True))
    bad: list[str] = []
    keep: list[bool] = []
    for index, row in enumerate(pairs.iter_rows(named=True)):
        problem = _pair_row_problem(row, cell_of, scenario_of)
        keep.append(not problem)
        if problem:
            bad.append(f"row {index}: {problem}")
    kept = latest_pair_rows(pairs.filter(pl.Series(keep, dtype=pl.Boolean)))
    if not bad:
        return kept, []
    named = "; ".join(bad[:MAX_NAMED_PAIR_ROWS])
    more = len(bad) - MAX_NAMED_PAIR_ROWS
    return kept, [
        f"{directory / PAIRS_FILE}: {len(bad)} pairwise judgment(s) left out, they are not what "
        f"they say ({named}" + (f"; and {more} more" if more > 0 else "") + ")"
    ]


def pairs_on_rubric(
    pairs: pl.DataFrame, rubric: Rubric, source: str
) -> tuple[pl.DataFrame, list[str]]:
    """The pairs asked under the experiment's rubric and question, and one warning per kind left
    out (docs/architecture.md, section 13).

    A pairwise answer says which tip serves the person better *on a rubric as a whole*
    (``question``: today only :data:`~tipbench_lib.core.records.PAIR_QUESTION`), so a pair
    judged under another rubric version, or asked another question, is not an answer on this
    experiment's: it is left out as a score of another version is (:func:`recompute_composites`),
    naming how many, which versions or questions, and what to do. A row that names no rubric is
    read as the experiment's.
    """
    if pairs.height == 0:
        return pairs, []
    warnings = []
    version = pl.col("rubric_version")
    foreign = pairs.filter(version.is_not_null() & (version != rubric.version))
    if foreign.height:
        versions = ", ".join(sorted(foreign["rubric_version"].unique().to_list()))
        warnings.append(
            f"{source}: {foreign.height} pairwise judgment(s) name rubric {versions}, not the "
            f"experiment's {rubric.version}; they were left out (a choice on another rubric is "
            f"not one on this one). Judge those pairs again under {rubric.version}, or analyse "
            "them in an experiment collected with their rubric."
        )
        pairs = pairs.filter(version.is_null() | (version == rubric.version))
    question = pl.col("question")
    asked = pairs.filter(question.is_not_null() & (question != PAIR_QUESTION))
    if asked.height:
        questions = ", ".join(repr(q) for q in sorted(asked["question"].unique().to_list()))
        warnings.append(
            f"{source}: {asked.height} pairwise judgment(s) answer question {questions}, not "
            f"{PAIR_QUESTION!r} (which tip serves the person better on the rubric as a whole); "
            "they were left out. Judge those pairs again with `tipbench judge --mode pairwise`."
        )
        pairs = pairs.filter(question.is_null() | (question == PAIR_QUESTION))
    return pairs, warnings


def _pair_row_problem(
    row: dict[str, Any], cell_of: dict[str, str], scenario_of: dict[str, str]
) -> str:
    a, b, cell_a, cell_b = row["candidate_a"], row["candidate_b"], row["cell_a"], row["cell_b"]
    if row["answer"] not in PAIR_ANSWERS:
        return f"answer {str(row['answer'])[:20]!r} is not one of {', '.join(PAIR_ANSWERS)}"
    if None in (a, b, cell_a, cell_b) or not cell_a < cell_b:
        return "its cells are not two different ones with A the smaller cell id"
    if cell_of.get(a) != cell_a or cell_of.get(b) != cell_b:
        return "a candidate is not in the candidates frame under its cell"
    if not scenario_of.get(cell_a) == scenario_of.get(cell_b) == row["scenario_id"]:
        return "its cells are not both of the pair's scenario"
    if row["pair_id"] != pair_id(a, b):
        return "its pair_id is not the id of its two candidates"
    return ""


def read_notes(path: Path) -> pl.DataFrame:
    """A snapshot's notes, optional (older snapshots have none); checked like its frames, each
    note cut to ``MAX_NOTE_CHARS``."""
    if not path.exists():
        return pl.DataFrame(schema=NOTES_SCHEMA)
    notes = conform_columns(read_parquet(path), NOTES_SCHEMA, path)
    return notes.select(list(NOTES_SCHEMA)).with_columns(
        pl.col("note").str.slice(0, MAX_NOTE_CHARS)
    )


def snapshot_rubric(directory: Path, prov: dict[str, Any]) -> tuple[Rubric, str]:
    """The rubric a snapshot recorded (``rubric.toml``), or tip-v1 and a note saying so."""
    path = directory / RUBRIC_FILE
    if not path.exists():
        return shipped_rubric(DEFAULT_RUBRIC), legacy_note(f"the snapshot {directory}")
    text = read_text(path)
    ref = Provenance.from_dict(prov).rubric
    if ref is None:
        return parse_rubric(text, _declared_version(text), path), ""
    return recorded_rubric(ref, text, str(path)), ""


def refuse_changed_rubric(judgments: pl.DataFrame, rubric: Rubric) -> None:
    """Refuse a snapshot whose ``rubric.toml`` is not the text its judgments were made under.

    ``rubric_hash`` (written since tipbench recorded it in the frame; a snapshot of another tool
    may lack it) names each judgment's rubric text; the check is the experiment model's
    (:func:`tipbench_lib.core.experiment.changed_since_judged`), so a snapshot whose
    ``rubric.toml`` and provenance hash were edited together is refused as MLflow's record is.
    """
    if "rubric_hash" not in judgments.columns:
        return
    pairs = judgments.select("rubric_version", "rubric_hash").drop_nulls().iter_rows()
    refs = [RubricRef(version, version, str(h)) for version, h in pairs]
    problem = changed_since_judged(rubric, refs)
    if problem:
        raise RubricConflict(problem)


def _declared_version(text: str) -> str:
    """The ``version`` a rubric's text declares (for a snapshot whose provenance lacks it)."""
    import tomllib

    try:
        return str(tomllib.loads(text).get("version") or "")
    except tomllib.TOMLDecodeError:
        return ""  # the parse that follows names the syntax error


def read_provenance(path: Path) -> dict[str, Any]:
    """The snapshot's provenance.json, or ``{}`` when there is none.

    It only describes where the data came from, so the way out of a broken one is to fix it or
    delete it, and the message says both instead of showing a JSON traceback.
    """
    if not path.exists():
        return {}
    remedy = (
        "fix it, or delete it: provenance.json is optional and only describes where the data "
        "came from (the parquet files alone are analysed)"
    )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(path, "file", f"is not UTF-8 text ({exc.reason}); {remedy}") from exc
    except OSError as exc:
        raise DataFileError(path, "file", f"cannot be read ({exc.strerror}); {remedy}") from exc
    try:
        prov = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            path, f"line {exc.lineno} column {exc.colno}", f"invalid JSON ({exc.msg}); {remedy}"
        ) from exc
    except RecursionError as exc:
        raise DataFileError(path, "file", f"JSON nested too deeply; {remedy}") from exc
    if not isinstance(prov, dict):
        raise DataFileError(
            path,
            "file",
            f"holds a JSON {type(prov).__name__}, expected an object {{...}}; {remedy}",
        )
    warnings = prov.get(WARNINGS_KEY, [])
    if not (isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)):
        raise DataFileError(path, f"key {WARNINGS_KEY!r}", f"expected a list of strings; {remedy}")
    wrong = shape_problem(prov)
    if wrong is not None:
        raise DataFileError(path, f"key {wrong[0]!r}", f"{wrong[1]}; {remedy}")
    return prov


def read_parquet(path: Path) -> pl.DataFrame:
    """A parquet file as a polars frame, with every timezone-aware timestamp moved to UTC.

    Read through pyarrow because polars cannot even open a file with a fixed-offset zone such as
    ``+02:00`` (it panics), and that is what pandas writes for times parsed from ISO strings with
    an offset. Arrow stores instants in UTC, so naming the zone UTC changes no value.
    """
    try:
        table = pq.read_table(path)
        fields = [
            field.with_type(pa.timestamp(field.type.unit, "UTC"))
            if pa.types.is_timestamp(field.type) and field.type.tz is not None
            else field
            for field in table.schema
        ]
        frame = pl.from_arrow(table.cast(pa.schema(fields, metadata=table.schema.metadata)))
    except Exception as exc:  # pyarrow and polars raise several types for a damaged file
        raise DataFileError(
            path, "file", f"not a readable parquet file ({exc}); write it again from its source"
        ) from exc
    assert isinstance(frame, pl.DataFrame)  # a Table always becomes a DataFrame
    return frame


# --- Column types ----------------------------------------------------------------------------

MAX_EXACT_FLOAT_INT = 2**53
"""Integers up to this size are exact in a Float64; beyond it a conversion would round."""


class _Refused(Exception):
    """A column's values cannot take the expected type without loss; the text says why."""


def conform_columns(
    frame: pl.DataFrame, schema: dict[str, pl.DataType], path: Path | str
) -> pl.DataFrame:
    """``frame`` with every schema column converted to its schema type, or a refusal.

    What converts (no value changes):

    - any integer type (signed or unsigned, any width) to a wider or other integer type, when
      every value fits; floats to integers only when every value is a whole number (pandas turns
      an integer column with a missing value into floats);
    - any integer type, Float32 or Float64 to Float64 (integers up to 2**53, exact in Float64);
    - categoricals and enums to strings (polars reads large and view strings as strings);
    - integers holding only 0 and 1 to booleans;
    - timestamps in any time zone, and ISO 8601 strings, to UTC timestamps. A timestamp or string
      without a zone is read as UTC, the rule the judgment records follow: ``created_at`` only
      orders one judge's revisions of one tip, and a single reading of every naive time in the
      file keeps that order, so refusing would cost the user a rewrite for nothing.

    Everything else (a fractional float where whole scores are expected, numbers where text is
    expected, a date without a time) is refused with the file, column, type found and expected.
    Extra columns pass through unchanged.
    """
    converted = []
    for name, expected in schema.items():
        if name not in frame.columns:
            raise DataFileError(path, f"column {name!r}", f"missing (expected type {expected})")
        column = frame[name]
        try:
            converted.append(_conform(column, expected))
        except _Refused as exc:
            raise DataFileError(
                path,
                f"column {name!r}",
                f"has type {column.dtype}, expected {expected}{exc}; write it with the expected "
                "type (tipbench_lib.core.schema.frame_schemas lists every column) or one that "
                "converts without loss (see tipbench_lib.compare.load.conform_columns)",
            ) from None
    return frame.with_columns(converted)


def _conform(column: pl.Series, expected: pl.DataType) -> pl.Series:
    """One column converted to ``expected`` without loss, or :class:`_Refused`."""
    actual = column.dtype
    if actual == expected:
        return column
    if actual == pl.Null:
        return column.cast(expected)
    if expected == pl.String and isinstance(actual, pl.Categorical | pl.Enum):
        return column.cast(pl.String)
    if expected.is_integer() and actual.is_integer():
        return _cast_fitting(column, expected)
    if expected.is_integer() and actual.is_float():
        return _whole_floats(column, expected)
    if expected == pl.Float64 and (actual.is_integer() or actual == pl.Float32):
        if actual.is_integer() and (column.abs().max() or 0) > MAX_EXACT_FLOAT_INT:
            raise _Refused(" (an integer above 2**53 would be rounded)")
        return column.cast(pl.Float64)
    if expected == pl.Boolean and actual.is_integer():
        if not column.drop_nulls().is_in([0, 1]).all():
            bad = column.filter(~column.is_in([0, 1]))[0]
            raise _Refused(f" (value {bad} is neither 0 nor 1)")
        return column.cast(pl.Boolean)
    if isinstance(expected, pl.Datetime) and isinstance(actual, pl.Datetime):
        return _utc(column).cast(expected)
    if isinstance(expected, pl.Datetime) and actual == pl.String:
        return _iso_times(column).cast(expected)
    raise _Refused("")


def _cast_fitting(column: pl.Series, expected: pl.DataType) -> pl.Series:
    try:
        return column.cast(expected, strict=True)
    except pl.exceptions.InvalidOperationError:
        raise _Refused(f" (values from {column.min()} to {column.max()} do not all fit)") from None


def _whole_floats(column: pl.Series, expected: pl.DataType) -> pl.Series:
    values = column.drop_nulls()
    fractional = values.filter(~values.is_finite() | (values != values.floor()))
    if fractional.len():
        raise _Refused(f" (value {fractional[0]} is not a whole number)")
    return _cast_fitting(column, expected)


def _utc(column: pl.Series) -> pl.Series:
    zone = column.dtype.time_zone  # type: ignore[attr-defined]
    if zone is None:
        return column.dt.replace_time_zone("UTC")
    return column.dt.convert_time_zone("UTC")


def _iso_times(column: pl.Series) -> pl.Series:
    stamps = []
    for index, value in enumerate(column.to_list()):
        try:
            stamps.append(parse_time(value) if value else None)
        except ValueError:
            raise _Refused(
                f" (row {index}: {value!r} is not an ISO 8601 time such as "
                "2025-01-01T09:30:00+00:00)"
            ) from None
    return pl.Series(column.name, stamps, dtype=pl.Datetime("us", "UTC"))


# --- The composite ---------------------------------------------------------------------------

MAX_NAMED_MISMATCHES = 10
COMPOSITE_TOLERANCE = 1e-9


def recompute_composites(
    judgments: pl.DataFrame, source: str, rubric: Rubric
) -> tuple[pl.DataFrame, list[str]]:
    """The judgments with ``composite`` recomputed from the experiment's rubric, and what changed.

    The rubric defines the composite, so the recomputed value is the one used; a stored value
    that disagrees (a tool with its own formula, a rubric edited after judging) is not fixed
    silently but named, row by row, in the returned warnings. A missing composite is filled. Rows
    without every score and flag (a failed judgment) keep what they hold. A score outside the
    rubric's scale is refused: no composite can be computed from it. Judgments naming another
    rubric version than the experiment's are no scores on its rubric: they are left out, and the
    warnings say how many, under which rubric, and what to do. A row that names no rubric is read
    as the experiment's.
    """
    if judgments.height == 0:
        return judgments, []
    warnings = []
    version = pl.col("rubric_version")
    foreign = judgments.filter(version.is_not_null() & (version != rubric.version))
    if foreign.height:
        warnings.append(_foreign_warning(foreign, rubric, source))
        judgments = judgments.filter(version.is_null() | (version == rubric.version))
    parts = rubric.part_ids
    _check_scale(judgments, rubric, source)
    composite = pl.col("composite")
    scored = pl.all_horizontal(pl.col(p).is_not_null() for p in parts)
    formula = pl.sum_horizontal(rubric.weights[p] * pl.col(p).cast(pl.Float64) for p in parts)
    with_formula = judgments.with_columns(formula.alias("_recomputed"), scored.alias("_scored"))
    mismatches = with_formula.filter(
        pl.col("_scored")
        & composite.is_not_null()
        & ((composite - pl.col("_recomputed")).abs() > COMPOSITE_TOLERANCE)
    )
    if mismatches.height:
        warnings.append(_mismatch_warning(mismatches, rubric, source, judgments.height))
    judgments = with_formula.with_columns(
        pl.when(pl.col("_scored"))
        .then(pl.col("_recomputed"))
        .otherwise(composite)
        .alias("composite")
    ).drop("_recomputed", "_scored")
    return judgments, warnings


def _foreign_warning(foreign: pl.DataFrame, rubric: Rubric, source: str) -> str:
    versions = ", ".join(sorted(foreign["rubric_version"].unique().to_list()))
    return (
        f"{source}: {foreign.height} judgment(s) name rubric {versions}, not the experiment's "
        f"{rubric.version}; they were left out (scores on another rubric are not comparable). "
        f"Judge those tips again under {rubric.version}, or analyse them in an experiment "
        "collected with their rubric."
    )


def _check_scale(rows: pl.DataFrame, rubric: Rubric, source: str) -> None:
    """Refuse a score the rubric's scale does not have: no composite can be computed from it."""
    for dim in rubric.dimension_ids:
        bad = rows.filter(~pl.col(dim).is_between(rubric.scale_min, rubric.scale_max))
        if bad.height:
            row = bad.row(0, named=True)
            raise DataFileError(
                source,
                f"column {dim!r}",
                f"candidate {row['candidate_id']!r} judged by {row['judge_id']!r} has "
                f"{row[dim]}, outside {rubric.scale_min}-{rubric.scale_max} of rubric "
                f"{rubric.version} ({bad.height} such row(s)); correct or remove those judgments",
            )


def _mismatch_warning(mismatches: pl.DataFrame, rubric: Rubric, source: str, total: int) -> str:
    named = [
        f"candidate {r['candidate_id']} judge {r['judge_id']}: stored {_num(r['composite'])} vs "
        f"recomputed {_num(r['_recomputed'])}"
        for r in mismatches.head(MAX_NAMED_MISMATCHES).iter_rows(named=True)
    ]
    more = mismatches.height - len(named)
    return (
        f"{source}: {mismatches.height} of {total} judgment(s) store a composite that rubric "
        f"{rubric.version} does not give; the recomputed value is used, because the rubric "
        f"file defines the composite: {'; '.join(named)}"
        + (f"; and {more} more" if more else "")
        + ". If the stored values are the intended ones, the rubric file changed after judging: "
        "restore it, or save the new weights as a new rubric version."
    )


def _num(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else str(value)


def candidates_with_cells(data: ExperimentData) -> pl.DataFrame:
    """Each candidate with its cell's model, prompt and scenario (what a judging card needs)."""
    return data.candidates.join(data.cells, on="cell_id", how="inner")
