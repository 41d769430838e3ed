"""The judge phase: people, an LLM and outside tools score every candidate on the rubric.

A judge works in a session (``session``): a blind, shuffled queue of cards, each save written to
the judge's own journal before the cell's MLflow run is updated. ``cards`` draws a card as escaped
HTML; ``exchange`` exports pending candidates for outside judges and applies a filled file, all of
it or nothing; ``llm`` runs an LLM as one more judge through the same backends as collecting.
``cli`` is ``tipbench judge``.
"""

from tipbench_lib.core.exports import lazy_exports

_EXPORTS = {
    "Card": "session",
    "JudgeSession": "session",
    "JudgingProgress": "session",
    "Scores": "session",
    "progress_html": "cards",
    "scenario_html": "cards",
    "tip_html": "cards",
    "ImportRejected": "exchange",
    "apply_file": "exchange",
    "read_document": "exchange",
    "write_export": "exchange",
    "llm_judge_id": "llm",
    "run_llm_judge": "llm",
    "main": "cli",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
