"""``--diversity``: the K candidates of a cell must differ, not merely have different seeds.

A small model at a low temperature, or a prompt that leaves it little room, often answers the same
scenario with the same tip under different seeds; K copies of one tip waste the judges' time and
make the cell look more certain than it is. With ``--diversity`` a candidate that nearly repeats
an earlier candidate of its cell (word-bigram Jaccard of :data:`~tipbench_lib.core.bigrams.
NEAR_REPEAT_JACCARD` or more, :mod:`tipbench_lib.core.bigrams`) is generated again, at most
:data:`MAX_REGENERATIONS` times, each time with a seed derived from the candidate's own seed and
the try number (:meth:`Diversity.seed`), so a rerun asks for exactly the same generations. When
every try repeats, the least similar try is kept (the earliest on ties): the cell stays complete
and its ``distinct_ratio`` metric shows the repeat.

Every rejected try is journalled (an ``attempt`` record) before the next one is asked for, so a
crash mid-regeneration resumes at the next try with nothing generated twice and the same result
(:mod:`tipbench_lib.collect.runner`).

**The rule is part of the cell.** Its text (:meth:`Diversity.option_text`) joins the generation
options in the cell id and in the ``options`` param (:func:`tipbench_lib.collect.plan.
content_options`): candidates drawn with the rule are a different sample from those drawn without
it, so a run with ``--diversity`` never completes a cell begun without it. Cells without the flag
keep the ids they always had. An experiment holds one setting, like its other generation
settings: a run whose setting differs from the cells the experiment already holds (in the journal
or in MLflow) is refused before anything is loaded (:mod:`tipbench_lib.collect.settings`), since
the compare phase would otherwise pool both kinds of cells into one row.
"""

from __future__ import annotations

from dataclasses import dataclass

from tipbench_lib.core.bigrams import NEAR_REPEAT_JACCARD
from tipbench_lib.core.hashing import content_hash

MAX_REGENERATIONS = 3
"""Tries after the first for one candidate: a model that repeats itself four times in a row under
four seeds will not stop at the fifth, and each try costs a full generation."""
OPTION_KEY = "diversity"
OFF = "off"
"""The setting of cells collected without ``--diversity`` (their options say nothing of it)."""


@dataclass(frozen=True)
class Diversity:
    """The ``--diversity`` rule: which candidates are near repeats, and how often to try again."""

    threshold: float = NEAR_REPEAT_JACCARD
    max_regenerations: int = MAX_REGENERATIONS

    def option_text(self) -> str:
        """The rule as the ``options`` param and the cell id carry it (no commas: the options
        string is a comma list)."""
        return f"bigram-jaccard<{self.threshold:g};tries<={self.max_regenerations + 1}"

    def seed(self, candidate_seed: int, attempt: int) -> int:
        """The seed of try ``attempt`` (0: the candidate's own seed), stable on every machine."""
        if attempt == 0:
            return candidate_seed
        return int(content_hash([candidate_seed, OPTION_KEY, attempt]), 16) % (2**31 - 1)
