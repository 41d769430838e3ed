"""MLflow for every phase: the REST client, the layout of an experiment, and the embedded server.

``client`` speaks MLflow's REST API over httpx within the server's limits (``batching``,
``http``, ``entities``); ``mapping`` is the one description of how an experiment lives in MLflow
(a run per cell, its params, tags, metrics and artifacts, the experiment's rubric tags);
``experiment`` records the rubric and reads an experiment into the experiment model of
:mod:`tipbench_lib.core.records`; ``summary`` keeps the compare phase's report in one summary
run; ``status`` says where an experiment stands (``tipbench status``: how many candidates are
judged); ``server`` and ``home`` run and trust tipbench's own ``mlflow server`` when no
``MLFLOW_TRACKING_URI`` is set. Names are imported on first use, so that
``python -m tipbench_lib.tracking.server`` does not find its own module already imported by this
package (runpy warns about that).
"""

from tipbench_lib.core.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    client=("LONG_TAG_PREFIX", "MlflowClient"),
    entities=("Experiment", "FileInfo", "Metric", "Run"),
    http=("MlflowHttpError",),
    mapping=("CELL_TAG", "run_name", "read_cell_artifact"),
    experiment=("StoredExperiment", "read_experiment", "record_rubric", "experiment_rubric"),
    server=("HomeInUseError", "LocalMlflowServer", "stop_embedded", "tracking_url"),
    summary=("log_summary",),
    status=("status_of",),
)
