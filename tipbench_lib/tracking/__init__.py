"""MLflow over REST (``client``) and the embedded local server (``server``).

The server names are imported lazily so that ``python -m tipbench_lib.tracking.server`` does not
find its own module already imported by this package (runpy warns about that).
"""

from __future__ import annotations

import importlib
from typing import Any

from tipbench_lib.tracking.client import LONG_TAG_PREFIX, MlflowClient
from tipbench_lib.tracking.entities import Experiment, FileInfo, Metric, Run
from tipbench_lib.tracking.http import MlflowHttpError

_SERVER_NAMES = ("HomeInUseError", "LocalMlflowServer", "stop_embedded", "tracking_url")

__all__ = [
    "LONG_TAG_PREFIX",
    "Experiment",
    "FileInfo",
    "Metric",
    "MlflowClient",
    "MlflowHttpError",
    "Run",
    *_SERVER_NAMES,
]


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        return getattr(importlib.import_module("tipbench_lib.tracking.server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
