"""Plain records for what the MLflow REST API returns, parsed once at the edge.

The REST JSON nests run data in lists of key/value pairs and sends NaN and infinities as
strings; the rest of tipbench should see plain dicts and floats instead.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Metric:
    """One metric value; ``timestamp`` (ms) is filled with the current time when None."""

    key: str
    value: float
    timestamp: int | None = None
    step: int = 0


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    lifecycle_stage: str
    artifact_location: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return self.lifecycle_stage == "deleted"


@dataclass(frozen=True)
class Run:
    run_id: str
    experiment_id: str
    run_name: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FileInfo:
    """An artifact; ``path`` is relative to the run's artifact root (e.g. ``tags/x.txt``)."""

    path: str
    is_dir: bool
    file_size: int | None = None


def _pairs(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {item["key"]: item.get("value", "") for item in items or []}


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def metric_from_json(value: Any) -> float:
    """A logged metric value as Python reads it.

    float() reads the "NaN"/"Infinity" strings; and MLflow's SQL store saves ±infinity as
    ±sys.float_info.max, so that value is read back as the infinity that was logged.
    """
    number = float(value)
    if abs(number) == sys.float_info.max:
        return math.copysign(math.inf, number)
    return number


def parse_experiment(data: dict[str, Any]) -> Experiment:
    return Experiment(
        experiment_id=str(data["experiment_id"]),
        name=data.get("name", ""),
        lifecycle_stage=data.get("lifecycle_stage", "active"),
        artifact_location=data.get("artifact_location", ""),
        tags=_pairs(data.get("tags")),
    )


def parse_run(data: dict[str, Any]) -> Run:
    """A run from the REST shape ``{"info": ..., "data": {"params": [...], ...}}``."""
    info = data["info"]
    body = data.get("data", {})
    return Run(
        run_id=info["run_id"],
        experiment_id=str(info["experiment_id"]),
        run_name=info.get("run_name", ""),
        status=info.get("status", ""),
        start_time=_optional_int(info.get("start_time")),
        end_time=_optional_int(info.get("end_time")),
        artifact_uri=info.get("artifact_uri", ""),
        lifecycle_stage=info.get("lifecycle_stage", "active"),
        params=_pairs(body.get("params")),
        metrics={m["key"]: metric_from_json(m["value"]) for m in body.get("metrics", [])},
        tags=_pairs(body.get("tags")),
    )
