"""The compare phase: which cell is best, by how much, and how sure, as a notebook and a report.

An experiment is loaded (``load``) from MLflow or a snapshot into three frames whose columns are
checked; ``job`` filters them and runs the statistics (:mod:`tipbench_lib.stats`) once for the
notebook and the report alike; ``charts`` and ``report`` draw them (an offline HTML file and two
CSV tables), and ``report_folder`` keeps the compare app's writes inside its output folder.
``cli`` is ``tipbench compare``.
"""

from tipbench_lib.core.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    load=(
        "ExperimentData",
        "load_experiment",
        "read_snapshot",
        "require_columns",
        "write_snapshot",
    ),
    job=("Selection", "analyse", "apply_selection", "load_source", "write_outputs"),
    report=("ReportData", "write_report", "write_tables"),
    report_folder=("ReportFolderError", "output_root"),
    cli=("main",),
)
