"""Fitting params, metrics and tags into ``runs/log-batch`` calls the server accepts.

The server rejects a call with more than 1,000 metrics, 100 params, 100 tags or 1,000
entities in all, and cuts long values silently, so both limits are enforced here, before
anything is sent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.tracking.entities import Metric

MAX_METRICS = 1000
MAX_PARAMS = 100
MAX_TAGS = 100
MAX_ENTITIES = 1000
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000


@dataclass
class Batch:
    """The JSON lists of one ``runs/log-batch`` call."""

    metrics: list[dict[str, Any]] = field(default_factory=list)
    params: list[dict[str, str]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)

    def size(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


def metric_value(value: float) -> float | str:
    """NaN and infinities have no JSON literal; the REST API takes them as these strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def metric_json(metric: Metric, now_ms: int) -> dict[str, Any]:
    return {
        "key": metric.key,
        "value": metric_value(metric.value),
        "timestamp": metric.timestamp if metric.timestamp is not None else now_ms,
        "step": metric.step,
    }


def as_metrics(metrics: Mapping[str, float] | Sequence[Metric]) -> list[Metric]:
    if isinstance(metrics, Mapping):
        return [Metric(key, value) for key, value in metrics.items()]
    return list(metrics)


def _check_length(kind: str, key: str, value: str, limit: int, remedy: str) -> None:
    """Refuse a value the server would cut silently; ``remedy`` says where such a value belongs."""
    if len(value) > limit:
        raise TrackingError(
            f"{kind} {key!r} is {len(value)} characters; MLflow cuts {kind} values above "
            f"{limit} silently. {remedy}"
        )


def check_tag_value(key: str, value: str) -> None:
    _check_length(
        "tag",
        key,
        value,
        MAX_TAG_VALUE,
        f"Use MlflowClient.set_long_tag(), which stores the value as the artifact "
        f"tags/{key}.txt and a short tag pointing to it.",
    )


def check_param_value(key: str, value: str) -> None:
    _check_length(
        "param",
        key,
        value,
        MAX_PARAM_VALUE,
        "Log a short value (e.g. a hash) as the param and the full text as an artifact "
        "(MlflowClient.log_artifact).",
    )


def split_batches(
    metrics: Mapping[str, float] | Sequence[Metric],
    params: Mapping[str, str],
    tags: Mapping[str, str],
) -> list[Batch]:
    """As few calls as the limits allow; values are checked and timestamps filled first."""
    for key, value in params.items():
        check_param_value(key, str(value))
    for key, value in tags.items():
        check_tag_value(key, str(value))
    now_ms = int(time.time() * 1000)
    pending_metrics = [metric_json(m, now_ms) for m in as_metrics(metrics)]
    pending_params = [{"key": k, "value": str(v)} for k, v in params.items()]
    pending_tags = [{"key": k, "value": str(v)} for k, v in tags.items()]
    batches: list[Batch] = []
    while pending_metrics or pending_params or pending_tags:
        batch = Batch(params=pending_params[:MAX_PARAMS], tags=pending_tags[:MAX_TAGS])
        del pending_params[:MAX_PARAMS], pending_tags[:MAX_TAGS]
        room = min(MAX_METRICS, MAX_ENTITIES - batch.size())
        batch.metrics = pending_metrics[:room]
        del pending_metrics[:room]
        batches.append(batch)
    return batches
