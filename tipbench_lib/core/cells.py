"""The one way a cell of the grid is named in text: ``model · prompt`` (``· scenario`` for one).

Charts, tables, verdict sentences, the headline, the notebooks and progress displays all name a
(model, prompt version) cell with :func:`cell_label`, so a reader meets one spelling everywhere and
can search a report for it. Only MLflow's run name has a form of its own
(``model | prompt | scenario``, :func:`tipbench_lib.tracking.mapping.run_name`), documented there.
"""

from __future__ import annotations

CELL_SEP = " · "
"""Between the parts of a cell's label; charts build labels in polars with the same separator."""


def cell_label(model: str, prompt_version: str, scenario_id: str | None = None) -> str:
    """``smollm2-135m · v1`` (or ``smollm2-135m · v1 · nurse-evening`` for one scenario's cell)."""
    parts = [str(model), str(prompt_version)]
    if scenario_id is not None:
        parts.append(str(scenario_id))
    return CELL_SEP.join(parts)
