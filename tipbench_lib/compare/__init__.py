"""The compare phase: which cell is best, by how much, and how sure, as a notebook and a report.

An experiment is loaded (``load``) from MLflow or a snapshot into three frames whose columns are
checked; ``job`` filters them; ``analysis`` runs the statistics (:mod:`tipbench_lib.stats`) and
words the results once, into one ``Analysis`` that the notebook and the report both display,
with the pairwise judgments' views (``pairwise_view``, their judges from ``pair_judges``) when
the experiment has pairs; ``charts`` draws it, ``report`` renders it as one offline HTML file
(its skeleton and CSS in ``templates/``), ``tables`` writes the CSV tables, and
``report_folder`` keeps the compare app's writes inside its output folder. ``cli`` is
``tipbench compare``.
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
    analysis=("Analysis", "Baseline", "Options", "analyse", "experiment_rubric"),
    job=("Selection", "apply_selection", "load_source", "write_outputs"),
    report=("chart_blocks", "render", "write_report"),
    tables=("write_pairwise_tables", "write_tables"),
    pairwise_view=("PairwiseView", "pairwise_view"),
    report_folder=("ReportFolderError", "output_root"),
    cli=("main",),
)
