"""The experiment's summary run: the latest report and its tables, next to the cell runs.

MLflow shows runs, not folders, so the compare phase's outputs (``report.html``,
``leaderboard.csv``, ``comparisons.csv``) become artifacts of ONE run per experiment, found again by
its ``tipbench.kind`` tag and overwritten on every compare: the MLflow UI then always opens the
current leaderboard. The run has no ``tipbench.cell_id`` tag, so the collect, judge and compare
phases, which read cells by that tag, never take it for a cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.tracking.client import MlflowClient, now_ms
from tipbench_lib.tracking.entities import Run
from tipbench_lib.tracking.mapping import KIND_TAG, SUMMARY_FILES, SUMMARY_KIND, SUMMARY_RUN_NAME

__all__ = [
    "KIND_TAG",
    "SUMMARY_FILES",
    "SUMMARY_KIND",
    "SUMMARY_RUN_NAME",
    "find_summary_run",
    "log_summary",
]
"""The tag and file names are re-exported from :mod:`.mapping`, where every MLflow name lives."""


EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
RUNS_KIND = "custom_model_development"
"""MLflow 3.x opens an experiment of no recorded kind on its GenAI "Traces" page, empty for
tipbench; this kind opens it on the runs table, where the summary run is the leaderboard."""


def find_summary_run(client: MlflowClient, experiment_id: str) -> Run | None:
    """The experiment's summary run; the oldest if two compares once raced to create one."""
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{KIND_TAG}` = '{SUMMARY_KIND}'"
    )
    return min(runs, key=lambda r: (r.start_time or 0, r.run_id)) if runs else None


def log_summary(
    client: MlflowClient,
    experiment: str,
    out_dir: Path,
    *,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
    files: Sequence[str] = SUMMARY_FILES,
) -> Run:
    """Upload the compare outputs ``files`` from ``out_dir`` to the summary run (made once),
    with the headline's ``metrics`` and ``tags`` (``compare.summary_fields``): a metric logged
    again shows its latest value, so the run always reads as the latest leaderboard. ``files``
    are the report and the tables the analysis wrote (``compare.job.written_tables``)."""
    missing = [name for name in files if not (out_dir / name).is_file()]
    if missing:
        raise TrackingError(
            f"{out_dir} lacks {', '.join(missing)}; write the report there first (--out)"
        )
    found = client.get_experiment_by_name(experiment)
    if found is None or found.deleted:
        raise TrackingError(f"MLflow has no experiment named {experiment!r} to log a summary to")
    if EXPERIMENT_KIND_TAG not in found.tags:  # a kind the user chose is theirs
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, RUNS_KIND)
    run = find_summary_run(client, found.experiment_id) or client.create_run(
        found.experiment_id, SUMMARY_RUN_NAME, tags={KIND_TAG: SUMMARY_KIND}
    )
    for name in files:
        client.log_artifact(run.run_id, name, (out_dir / name).read_bytes())
    if metrics or tags:
        client.log_batch(run.run_id, metrics=dict(metrics or {}), tags=dict(tags or {}))
    client.update_run(run.run_id, "FINISHED", end_time_ms=now_ms())
    return run
