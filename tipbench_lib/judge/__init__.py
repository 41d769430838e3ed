"""The judge phase: people, an LLM and outside tools score every candidate on the rubric.

A judge works in a session (``session``): a blind, shuffled queue of cards, each save written to
the judge's own journal before the cell's MLflow run is updated. ``cards`` draws a card as escaped
HTML; ``exchange`` exports pending candidates for outside judges and applies a filled file, all of
it or nothing; ``llm`` runs an LLM as one more judge through the same backends as collecting.
``cli`` is ``tipbench judge``.
"""

from tipbench_lib.core.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    session=("Card", "JudgeSession", "JudgingProgress", "Scores"),
    cards=("progress_html", "scenario_html", "tip_html"),
    exchange=("ImportRejected", "apply_file", "read_document", "write_export"),
    llm=("llm_judge_id", "run_llm_judge"),
    cli=("main",),
)
