"""What the notebooks need to behave the same in marimo, as scripts, and under Jupyter.

The notebooks are exported to ipynb for Jupyter users (and checked with nbval); there marimo's
runtime context does not exist, so reading the command line or stopping a cell must degrade to
"no arguments" and "skip", never to a crash.
"""

from __future__ import annotations

from typing import Any

import marimo as mo


def mode() -> str:
    """``edit``, ``run``, ``script``, or ``jupyter`` when marimo's runtime is absent."""
    try:
        return mo.app_meta().mode or "jupyter"
    except Exception:  # marimo raises its own context errors outside its runtime
        return "jupyter"


def is_script() -> bool:
    return mode() == "script"


def cli_args() -> dict[str, Any]:
    """Arguments after ``--`` in ``marimo edit/run nb.py -- --x 1``; empty outside marimo."""
    try:
        return dict(mo.cli_args())
    except Exception:
        return {}


def query_params() -> dict[str, Any]:
    """The page's query parameters in ``marimo run``; empty outside marimo."""
    try:
        return dict(mo.query_params().to_dict())
    except Exception:
        return {}
