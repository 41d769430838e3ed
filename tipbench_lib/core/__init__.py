"""What every phase shares: errors and exit statuses, where files are, and the experiment's parts.

The rubric, the scenarios and the prompt versions are read here from the data directories (the
shipped data with a user's own directory on top), names are checked before anything is created
with them, and the journal (append-only, fsynced, with the adoption of its first layout) keeps
every candidate and judgment before MLflow sees it. One module each decides how a cell is named
in text (``cells``), which judgment counts (``judgments``), how data is escaped for display
(``escaping``) and which columns the compare phase's frames hold (``schema``).
"""

from tipbench_lib.core.exports import lazy_exports

_EXPORTS = {
    "EXIT_FAILED": "errors",
    "EXIT_INTERRUPTED": "errors",
    "EXIT_OK": "errors",
    "EXIT_REFUSED": "errors",
    "BackendError": "errors",
    "DataFileError": "errors",
    "JudgingError": "errors",
    "TipbenchError": "errors",
    "TrackingError": "errors",
    "guarded": "errors",
    "refuse": "errors",
    "DataDirs": "paths",
    "data_dir_for": "paths",
    "data_dirs": "paths",
    "tipbench_home": "paths",
    "content_hash": "hashing",
    "Rubric": "rubric",
    "load_rubric": "rubric",
    "Scenario": "scenarios",
    "ScenarioFile": "scenarios",
    "ScenarioView": "scenarios",
    "scenario_views": "scenarios",
    "scenarios_by_ids": "scenarios",
    "select_scenarios": "scenarios",
    "PromptVersion": "prompts",
    "get_prompt": "prompts",
    "list_prompts": "prompts",
    "check_experiment": "names",
    "check_judge_id": "names",
    "Journal": "journal",
    "name_key": "journal",
    "html_text": "escaping",
    "md_text": "escaping",
    "cell_label": "cells",
    "is_score": "judgments",
    "latest_judgments": "judgments",
    "latest_per_pair": "judgments",
    "pending_candidates": "judgments",
    "ProgressEvent": "progress",
    "TerminalProgress": "progress",
    "split_list": "arguments",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
