"""What every phase shares: errors and exit statuses, where files are, and the experiment's parts.

The experiment model lives here: ``records`` (cells, candidates and judgments with their judge
source, rubric reference and format version, and their one JSON form), ``experiment`` (an
experiment's records with its rubric) and ``provenance``. The rubric (``rubric``, the only
definition of a score), the scenarios and the prompt versions are read from the data directories
(the shipped data with a user's own directory on top), names are checked before anything is
created with them, and the journal (append-only, fsynced, with the adoption of its first layout)
keeps every candidate and judgment before MLflow sees it. One module each decides how a cell is
named in text (``cells``), which judgment counts (``judgments``), how data is escaped for display
(``escaping``) and which columns the frames hold for a rubric (``schema``).
"""

from tipbench_lib.core.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    errors=(
        "EXIT_FAILED",
        "EXIT_INTERRUPTED",
        "EXIT_OK",
        "EXIT_REFUSED",
        "BackendError",
        "DataFileError",
        "JudgingError",
        "RubricConflict",
        "TipbenchError",
        "TrackingError",
        "guarded",
        "refuse",
    ),
    paths=("DataDirs", "data_dir_for", "data_dirs", "tipbench_home"),
    hashing=("content_hash",),
    rubric=("Rubric", "load_rubric", "resolve_rubric"),
    records=(
        "FORMAT_VERSION",
        "Candidate",
        "Cell",
        "CellRecord",
        "Judgment",
        "JudgeSource",
        "RubricRef",
    ),
    experiment=("ExperimentRecords",),
    provenance=("Provenance",),
    scenarios=(
        "Scenario",
        "ScenarioFile",
        "ScenarioView",
        "scenario_views",
        "scenarios_by_ids",
        "select_scenarios",
    ),
    prompts=("PromptVersion", "get_prompt", "list_prompts"),
    names=("check_experiment", "check_judge_id"),
    journal=("Journal", "name_key"),
    escaping=("html_text", "md_text"),
    cells=("cell_label",),
    judgments=(
        "latest_judgments",
        "latest_pair_judgments",
        "latest_per_pair",
        "pending_candidates",
    ),
    progress=("ProgressEvent", "TerminalProgress"),
    arguments=("split_list",),
)
