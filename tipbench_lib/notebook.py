"""What the notebooks need to behave the same in marimo, as scripts, and under Jupyter.

The notebooks are exported to ipynb for Jupyter users (and checked with nbval); there marimo's
runtime context does not exist, so reading the command line or stopping a cell must degrade to
"no arguments" and "skip", never to a crash. And tables of data go through :func:`text_table`.
"""

from __future__ import annotations

from typing import Any

import marimo as mo
import polars as pl


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


def text_table(data: Any, **kwargs: Any) -> Any:
    """``mo.ui.table`` whose text cells show as text, whatever the data holds.

    marimo's table turns every ``http(s)://`` inside a string cell into a link, and one ending
    in an image extension into an image the browser fetches (measured with marimo 0.25: a model
    named ``http://evil.example/x.png`` made the page request it), so a crafted snapshot could
    place links and tracking pixels in the leaderboard. Text columns are therefore handed over as
    escaped HTML, which the table shows as it is; sorting, search and download still use the raw
    values.
    """
    from tipbench_lib.core.escaping import html_text

    def as_text(value: Any) -> Any:
        return mo.Html("–" if value is None else f"<span>{html_text(value)}</span>")

    mapping: dict[str, Any] = {column: as_text for column in _text_columns(data)}
    mapping.update(kwargs.pop("format_mapping", None) or {})
    kwargs.setdefault("show_data_types", False)  # no f64/i64 badges: a reader's table
    return mo.ui.table(data, format_mapping=mapping, **kwargs)


def _text_columns(data: Any) -> list[str]:
    """The columns holding strings: from a polars frame's schema, or from a list of dicts."""
    schema = getattr(data, "schema", None)
    if schema is not None:
        return [name for name, dtype in schema.items() if dtype.is_(pl.String)]
    if isinstance(data, list):
        return sorted(
            {
                k
                for row in data
                if isinstance(row, dict)
                for k, v in row.items()
                if isinstance(v, str)
            }
        )
    return []
