"""An experiment as three polars frames, from MLflow or from a snapshot directory of parquet files.

The compare phase works on frames, never on MLflow directly, so analysis runs offline on a
snapshot and a shared snapshot reproduces the same numbers. Columns and types are fixed in
:mod:`tipbench_lib.core.schema`. A snapshot may come from another tool (pandas, pyarrow, a
script), so reading one converts every type that converts without loss and refuses the others,
naming the file, the column, the type found and the type expected (:func:`conform_columns`).

The composite is never taken on trust: it is recomputed from the rubric file that defines it, and
any judgment whose stored composite disagrees is named in ``ExperimentData.warnings``
(:func:`recompute_composites`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tipbench_lib.core.errors import DataFileError, TipbenchError, TrackingError
from tipbench_lib.core.rubric import FLAGS, Rubric, load_rubric
from tipbench_lib.core.schema import CANDIDATES, CELLS, FRAMES, JUDGMENTS
from tipbench_lib.tracking.client import MlflowClient, Run
from tipbench_lib.tracking.mapping import (
    CELL_EXTRA_PARAMS,
    CELL_PARAMS,
    CELL_TAG,
    is_cell_run,
    read_cell_artifact,
    read_judgments,
)

PROVENANCE_FILE = "provenance.json"
WARNINGS_KEY = "warnings"
"""The provenance entry holding what loading found wrong (see ``ExperimentData.warnings``)."""


@dataclass
class ExperimentData:
    """The three frames of an experiment and where they came from."""

    cells: pl.DataFrame
    candidates: pl.DataFrame
    judgments: pl.DataFrame
    provenance: dict[str, Any] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)
    """cell_id → MLflow run id (empty for a snapshot)."""

    def frames(self) -> dict[str, pl.DataFrame]:
        return {"cells": self.cells, "candidates": self.candidates, "judgments": self.judgments}

    @property
    def warnings(self) -> list[str]:
        """What loading found wrong but could still use (e.g. composites the rubric disagrees
        with), one sentence each. Kept in the provenance so a selection and the report's
        provenance section carry them without further wiring."""
        return list(self.provenance.get(WARNINGS_KEY, []))


def require_columns(
    frame: pl.DataFrame,
    columns: Iterable[str],
    what: str,
    source: str = "tipbench_lib.compare.load (or tipbench_lib.stats)",
) -> None:
    """Refuse a frame without ``columns``, naming them, before a query or a chart trips on them.

    The statistics, the charts and the CSV tables all check their input here, so a frame from
    another tool gets one kind of message wherever it goes wrong: what lacks which columns, and
    which tipbench function makes the frame that has them.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TipbenchError(
            f"{what} lacks the column(s) {', '.join(missing)}; pass the frame that {source} "
            f"returns for it (this one has {', '.join(frame.columns) or 'no columns'})"
        )


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def load_experiment(client: MlflowClient, experiment: str, *, workers: int = 8) -> ExperimentData:
    """Read every finished cell run of ``experiment``: params, candidates and judgments."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None or getattr(exp, "lifecycle_stage", "active") == "deleted":
        raise TrackingError(
            f"MLflow has no experiment named {experiment!r}; run `tipbench collect "
            f"--experiment {experiment} ...` first, or check MLFLOW_TRACKING_URI"
        )
    runs = [
        r
        for r in client.search_runs([exp.experiment_id])
        if is_cell_run(r) and r.status == "FINISHED"
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(pool.map(lambda r: _load_run(client, r), runs))
    cell_rows = [_cell_row(r) for r in runs]
    candidate_rows = [c for cands, _ in loaded for c in cands]
    judgment_rows = [j for _, judgments in loaded for j in judgments]
    judgments, warnings = recompute_composites(
        judgments_frame(judgment_rows), f"MLflow experiment {experiment!r} (judgments)"
    )
    data = ExperimentData(
        cells=_frame(cell_rows, CELLS),
        candidates=_frame(candidate_rows, CANDIDATES),
        judgments=judgments,
        run_ids={r.tags[CELL_TAG]: r.run_id for r in runs},
    )
    data.provenance = provenance(experiment, data, runs, judgment_rows)
    if warnings:
        data.provenance[WARNINGS_KEY] = warnings
    return data


def _load_run(client: MlflowClient, run: Run) -> tuple[list[dict], list[dict]]:
    return read_cell_artifact(client, run).candidates, read_judgments(client, run)


def _cell_row(run: Run) -> dict[str, Any]:
    row: dict[str, Any] = {"cell_id": run.tags[CELL_TAG], "run_id": run.run_id}
    for key in CELL_PARAMS + CELL_EXTRA_PARAMS:
        row[key] = run.params.get(key, "")
    row["load_s"] = run.metrics.get("load_s")
    row["started_at"] = run.start_time
    return row


def _frame(rows: list[dict[str, Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows to a frame whose fixed columns come first with their fixed types."""
    if not rows:
        return empty_frame(schema)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    for name in schema:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None).alias(name))
    fixed = [pl.col(name).cast(dtype) for name, dtype in schema.items()]
    extra = [c for c in frame.columns if c not in schema]
    return frame.select(fixed + extra)


def judgments_frame(records: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """Judgment records to the judgments frame; failed LLM judgments are never scores."""
    rows = []
    for rec in records:
        if rec.get("status", "ok") != "ok":
            continue
        row = {k: rec.get(k) for k in JUDGMENTS}
        row["created_at"] = _parse_time(rec.get("created_at"))
        row["note"] = rec.get("note", "") or ""
        row["judge_model"] = rec.get("model", "") or ""
        rows.append(row)
    return _frame(rows, JUDGMENTS)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def provenance(
    experiment: str, data: ExperimentData, runs: list[Run], judgment_records: list[dict]
) -> dict[str, Any]:
    """Who and what produced the data: models and digests, prompt hashes, rubric, judges, dates."""
    cells = data.cells
    models = {}
    if cells.height:
        for row in (
            cells.select("model", "model_digest", "quantization", "parameter_count", "backend")
            .unique()
            .sort("model")
            .iter_rows(named=True)
        ):
            models[row["model"]] = row
    prompts = {}
    if cells.height:
        for row in cells.select("prompt_version", "prompt_hash").unique().iter_rows(named=True):
            prompts[row["prompt_version"]] = row["prompt_hash"]
    judges: dict[str, dict[str, Any]] = {}
    for rec in judgment_records:
        entry = judges.setdefault(
            rec.get("judge_id", "?"),
            {
                "kind": rec.get("judge_kind", "?"),
                "model": rec.get("model", ""),
                "weak": is_weak_judge(rec),
                "ok": 0,
                "failed": 0,
            },
        )
        entry["ok" if rec.get("status", "ok") == "ok" else "failed"] += 1
    starts = [r.start_time for r in runs if r.start_time]
    return {
        "experiment": experiment,
        "source": "mlflow",
        "models": models,
        "prompts": prompts,
        "rubric_versions": sorted(set(cells["rubric_version"].to_list())) if cells.height else [],
        "judges": judges,
        "n_cells": cells.height,
        "n_candidates": data.candidates.height,
        "collected_from": _ms_iso(min(starts)) if starts else None,
        "collected_to": _ms_iso(max(starts)) if starts else None,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


WEAK_JUDGE_PARAMETERS = 1_000_000_000
"""An LLM judge below a billion parameters (the embedded ones) is a smoke test, not a verdict."""


def is_weak_judge(record: dict[str, Any]) -> bool:
    """True for an LLM judge small enough that its scores must be labelled as weak."""
    count = record.get("parameter_count")
    return (
        record.get("judge_kind") == "llm"
        and count is not None
        and (int(count) < WEAK_JUDGE_PARAMETERS)
    )


def _ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def write_snapshot(data: ExperimentData, directory: Path) -> Path:
    """Three parquet files and the provenance, so analysis can run with no MLflow at all."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in data.frames().items():
        frame.write_parquet(directory / f"{name}.parquet")
    (directory / PROVENANCE_FILE).write_text(
        json.dumps({**data.provenance, "source": "snapshot"}, indent=2, default=str) + "\n",
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
    frames = {}
    for name, schema in FRAMES.items():
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise DataFileError(
                path, "file", f"missing; a snapshot holds {', '.join(FRAMES)} .parquet"
            )
        frames[name] = conform_columns(read_parquet(path), schema, path)
    judgments, warnings = recompute_composites(
        frames["judgments"], str(directory / "judgments.parquet")
    )
    prov = read_provenance(directory / PROVENANCE_FILE)
    prov.setdefault("source", "snapshot")
    prov["snapshot_dir"] = str(directory)
    if warnings:
        prov[WARNINGS_KEY] = [*prov.get(WARNINGS_KEY, []), *warnings]
    return ExperimentData(frames["cells"], frames["candidates"], judgments, prov)


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
                "type (tipbench_lib/schema.py lists every column) or one that converts without "
                "loss (see tipbench_lib.compare.load.conform_columns)",
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
            stamps.append(_parse_time(value))
        except ValueError:
            raise _Refused(
                f" (row {index}: {value!r} is not an ISO 8601 time such as "
                "2025-01-01T09:30:00+00:00)"
            ) from None
    return pl.Series(column.name, stamps, dtype=pl.Datetime("us", "UTC"))


# --- The composite ---------------------------------------------------------------------------

MAX_NAMED_MISMATCHES = 10
COMPOSITE_TOLERANCE = 1e-9


def recompute_composites(judgments: pl.DataFrame, source: str) -> tuple[pl.DataFrame, list[str]]:
    """The judgments with ``composite`` recomputed from their rubric, and what that changed.

    The rubric file is the composite's definition, so the recomputed value is the one used; a
    stored value that disagrees (a tool with its own formula, a rubric edited after judging) is
    not fixed silently but named, row by row, in the returned warnings. A missing composite is
    filled. Rows without every score and flag (a failed judgment) keep what they hold, and a
    rubric version this checkout does not have is used as stored, with a warning. A score outside
    the rubric's scale is refused: no composite can be computed from it.
    """
    if judgments.height == 0:
        return judgments, []
    warnings = []
    composite = pl.col("composite")
    versions = judgments["rubric_version"].drop_nulls().unique().sort().to_list()
    unchecked = judgments.filter(pl.col("rubric_version").is_null()).height
    for version in versions:
        rubric = _rubric_or_none(version)
        parts = (*rubric.dimension_ids, *FLAGS) if rubric else ()
        if rubric is None or any(p not in judgments.columns for p in parts):
            unchecked += judgments.filter(pl.col("rubric_version") == version).height
            continue
        rows = pl.col("rubric_version") == version
        _check_scale(judgments.filter(rows), rubric, source)
        scored = rows & pl.all_horizontal(pl.col(p).is_not_null() for p in parts)
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
    if unchecked:
        warnings.append(
            f"{source}: {unchecked} judgment(s) name a rubric version this checkout does not "
            f"have (or none); their stored composite is used unchecked. Add the rubric file under "
            "data/rubric/ to have it recomputed."
        )
    return judgments, warnings


def _rubric_or_none(version: str) -> Rubric | None:
    try:
        return load_rubric(version)
    except TipbenchError:
        return None


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
