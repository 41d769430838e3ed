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


def cell_id(
    experiment: str,
    *,
    model: str,
    digest: str,
    prompt_version: str,
    prompt_hash: str,
    scenario_id: str,
    scenario_hash: str,
    options: str,
    seed: int,
) -> str:
    """The content hash that names a cell: change any input and it is a different cell.

    The one formula, used where cells are planned (:func:`tipbench_lib.collect.plan.cell_id_for`)
    and where a run read back from MLflow is checked against its tag
    (:func:`cell_id_from_params`): a run whose params do not give its tag under this experiment's
    name (a run copied from another experiment, or planted) is not this experiment's cell.
    """
    from tipbench_lib.core.hashing import content_hash

    return content_hash(
        {
            "experiment": experiment,
            "model": model,
            "digest": digest,
            "prompt": [prompt_version, prompt_hash],
            "scenario": [scenario_id, scenario_hash],
            "options": options,
            "seed": seed,
        }
    )


def cell_id_from_params(experiment: str, params: dict[str, str], scenario_hash: str) -> str:
    """The cell id a run's params give under ``experiment`` (``scenario_hash`` from the params'
    ``scenario_hash``, or for a run made before that param, from the scenario file). Raises
    KeyError or ValueError when a param the id needs is missing or not a number."""
    return cell_id(
        experiment,
        model=params["model"],
        digest=params["model_digest"],
        prompt_version=params["prompt_version"],
        prompt_hash=params["prompt_hash"],
        scenario_id=params["scenario_id"],
        scenario_hash=scenario_hash,
        options=params["options"],
        seed=int(params["seed"]),
    )
