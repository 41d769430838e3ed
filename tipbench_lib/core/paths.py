"""Where tipbench keeps its files: the shipped data and the per-user working directory."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_ROOT.parent
DATA_DIR = REPO_ROOT / "data"


def tipbench_home() -> Path:
    """The working directory for the journal, the embedded MLflow store and artifacts.

    ``TIPBENCH_HOME`` moves it; the default is ``.tipbench`` in the current directory so a
    checkout keeps its own state next to it.
    """
    return Path(os.environ.get("TIPBENCH_HOME", ".tipbench")).resolve()
