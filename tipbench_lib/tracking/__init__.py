"""MLflow for every phase: the REST client, the layout of an experiment, and the embedded server.

``client`` speaks MLflow's REST API over httpx within the server's limits (``batching``,
``http``, ``entities``); ``mapping`` is the one description of how an experiment lives in MLflow
(a run per cell, its params, tags, metrics and artifacts); ``summary`` keeps the compare phase's
report in one summary run; ``server`` and ``home`` run and trust tipbench's own ``mlflow server``
when no ``MLFLOW_TRACKING_URI`` is set. Names are imported on first use, so that
``python -m tipbench_lib.tracking.server`` does not find its own module already imported by this
package (runpy warns about that).
"""

from tipbench_lib.core.exports import lazy_exports

_EXPORTS = {
    "LONG_TAG_PREFIX": "client",
    "MlflowClient": "client",
    "Experiment": "entities",
    "FileInfo": "entities",
    "Metric": "entities",
    "Run": "entities",
    "MlflowHttpError": "http",
    "CELL_TAG": "mapping",
    "run_name": "mapping",
    "read_cell_artifact": "mapping",
    "HomeInUseError": "server",
    "LocalMlflowServer": "server",
    "stop_embedded": "server",
    "tracking_url": "server",
    "log_summary": "summary",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
