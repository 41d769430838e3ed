"""The compare phase: which cell is best, by how much, and how sure, as a notebook and a report.

An experiment is loaded (``load``) from MLflow or a snapshot into three frames whose columns are
checked; ``job`` filters them and runs the statistics (:mod:`tipbench_lib.stats`) once for the
notebook and the report alike; ``charts`` and ``report`` draw them (an offline HTML file and two
CSV tables), and ``report_folder`` keeps the compare app's writes inside its output folder.
``cli`` is ``tipbench compare``.
"""

from tipbench_lib.core.exports import lazy_exports

_EXPORTS = {
    "ExperimentData": "load",
    "load_experiment": "load",
    "read_snapshot": "load",
    "require_columns": "load",
    "write_snapshot": "load",
    "Selection": "job",
    "analyse": "job",
    "apply_selection": "job",
    "load_source": "job",
    "write_outputs": "job",
    "ReportData": "report",
    "write_report": "report",
    "write_tables": "report",
    "ReportFolderError": "report_folder",
    "output_root": "report_folder",
    "main": "cli",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
