"""An experiment as three polars frames, from MLflow or from a snapshot directory of parquet files.

The compare phase works on frames, never on MLflow directly, so analysis runs offline on a
snapshot and a shared snapshot reproduces the same numbers. Columns and types are fixed in
:mod:`tipbench_lib.schema`; reading a snapshot checks them and names the file and column at fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from tipbench_lib.errors import DataFileError, TrackingError
from tipbench_lib.schema import CANDIDATES, CELLS, FRAMES, JUDGMENTS
from tipbench_lib.sync import CELL_TAG
from tipbench_lib.tracking.client import MlflowClient, Run

CELL_PARAMS = ("model", "prompt_version", "scenario_id", "persona", "time_slot")
CELL_EXTRA_PARAMS = (
    "model_digest",
    "quantization",
    "parameter_count",
    "backend",
    "backend_version",
    "prompt_hash",
    "options",
    "seed",
    "rubric_version",
)
PROVENANCE_FILE = "provenance.json"


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


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def load_experiment(client: MlflowClient, experiment: str, *, workers: int = 8) -> ExperimentData:
    """Read every finished cell run of ``experiment``: params, candidates and judgments."""
    exp = client.get_experiment_by_name(experiment)
    if exp is None or getattr(exp, "lifecycle_stage", "active") == "deleted":
        raise TrackingError(
            f"MLflow has no experiment named {experiment!r}; run notebooks/collect.py "
            f"--experiment {experiment} first, or check MLFLOW_TRACKING_URI"
        )
    runs = [
        r
        for r in client.search_runs([exp.experiment_id])
        if r.tags.get(CELL_TAG) and r.status == "FINISHED"
    ]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        loaded = list(pool.map(lambda r: _load_run(client, r), runs))
    cell_rows = [_cell_row(r) for r in runs]
    candidate_rows = [c for cands, _ in loaded for c in cands]
    judgment_rows = [j for _, judgments in loaded for j in judgments]
    data = ExperimentData(
        cells=_frame(cell_rows, CELLS),
        candidates=_frame(candidate_rows, CANDIDATES),
        judgments=judgments_frame(judgment_rows),
        run_ids={r.tags[CELL_TAG]: r.run_id for r in runs},
    )
    data.provenance = provenance(experiment, data, runs, judgment_rows)
    return data


def _load_run(client: MlflowClient, run: Run) -> tuple[list[dict], list[dict]]:
    cell_id = run.tags[CELL_TAG]
    candidates = json.loads(client.download_artifact(run.run_id, "candidates.json"))
    for c in candidates:
        c.setdefault("cell_id", cell_id)
    judgments: list[dict] = []
    for info in client.list_artifacts(run.run_id, "judgments"):
        if info.path.endswith(".json") and not info.is_dir:
            judgments.extend(json.loads(client.download_artifact(run.run_id, info.path)))
    return candidates, judgments


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
    """Read and check a snapshot; a missing file, column or wrong type names the culprit."""
    directory = Path(directory)
    frames = {}
    for name, schema in FRAMES.items():
        path = directory / f"{name}.parquet"
        if not path.exists():
            raise DataFileError(
                path, "file", f"missing; a snapshot holds {', '.join(FRAMES)} .parquet"
            )
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:  # polars raises several types for a damaged file
            raise DataFileError(path, "file", f"not a readable parquet file ({exc})") from exc
        check_columns(frame, schema, path)
        frames[name] = frame
    prov_path = directory / PROVENANCE_FILE
    prov = json.loads(prov_path.read_text(encoding="utf-8")) if prov_path.exists() else {}
    prov.setdefault("source", "snapshot")
    prov["snapshot_dir"] = str(directory)
    return ExperimentData(frames["cells"], frames["candidates"], frames["judgments"], prov)


def check_columns(frame: pl.DataFrame, schema: dict[str, pl.DataType], path: Path) -> None:
    for name, dtype in schema.items():
        if name not in frame.columns:
            raise DataFileError(path, f"column {name!r}", f"missing (expected type {dtype})")
        actual = frame.schema[name]
        if actual != dtype and not (actual == pl.Null):
            raise DataFileError(path, f"column {name!r}", f"has type {actual}, expected {dtype}")


def candidates_with_cells(data: ExperimentData) -> pl.DataFrame:
    """Each candidate with its cell's model, prompt and scenario (what a judging card needs)."""
    return data.candidates.join(data.cells, on="cell_id", how="inner")
