"""The compare phase's statistics: paired, clustered on scenarios, judge-aware, seeded, vectorised.

A scenario is the unit: the tips of a cell are averaged per scenario before any comparison, and
intervals and tests treat scenarios as the independent draws. Comparisons pair two cells on the
judges who scored both, so a judge's bias cannot pass for a difference between cells. Every
function takes and returns polars frames with fixed column names that the charts and the report
read.

Modules: ``scores`` (score tables, scenario means), ``leaderboard``, ``compare`` (pairs,
families, verdicts), ``power`` (detectable difference, scenarios needed), ``judges`` (views,
weak judges), ``agreement`` (Krippendorff's alpha), ``descriptive`` (length, speed, Pareto),
``judge_mix`` (who each cell's mean rests on, and whether the cells share their judges),
``judge_adjusted`` (cell means with each judge's leniency fitted out, a sensitivity view),
``length_adjusted`` (each judge's verbosity slope and the composite at the mean tip length),
``sentences`` and ``headline`` (the words), ``signflip`` and ``anytime`` (confidence sequences
valid under optional stopping: sign-flip betting, the default, and the bounded PrPl-EB one),
``adaptive`` (the judging queue, its decisions, out-of-reach comparisons and status), ``ppi``
(LLM judge plus people), ``calibration`` (LLM judge against people, length slopes),
``pairwise``, ``pair_judges``, ``bradley_terry`` and ``pair_queue`` (pairwise judging: win
shares, verdicts, judges, strengths, the pair queue). The
numerical core is ``pairs`` (differences on shared judges), ``paired`` (signed-rank tests,
floors, Holm), ``intervals`` and ``resampling`` (the bootstraps, on request), ``futility`` (the
chance a comparison is still decided), with the rubric's range from ``scale``. The simulations
that check all of it live apart, in :mod:`tipbench_lib.validation`.
"""

from tipbench_lib.stats import (
    adaptive,
    anytime,
    calibration,
    headline,
    judge_adjusted,
    judge_mix,
    judges,
    ppi,
    signflip,
)
from tipbench_lib.stats.adaptive import (
    QueueState,
    can_stop,
    comparison_status,
    next_cards,
    queue_design,
    status,
)
from tipbench_lib.stats.agreement import judge_agreement, llm_vs_human
from tipbench_lib.stats.anytime import DECISIONS, SEQUENCES
from tipbench_lib.stats.calibration import length_slopes, llm_calibration
from tipbench_lib.stats.compare import FAMILIES, VERDICTS, compare_pairs, power_table
from tipbench_lib.stats.descriptive import length_effect, pareto_front, speed_by_model
from tipbench_lib.stats.leaderboard import leaderboard
from tipbench_lib.stats.length_adjusted import LengthAdjusted, judgment_scores, length_adjusted
from tipbench_lib.stats.paired import holm, min_p_attainable, signed_rank_floor
from tipbench_lib.stats.power import (
    minimum_detectable_difference,
    scenarios_needed,
    smallest_testable_n,
)
from tipbench_lib.stats.ppi import check_ppi_sample, ppi_compare, ppi_design
from tipbench_lib.stats.scale import ScoreScale, scale_for, scale_of
from tipbench_lib.stats.scores import judge_scores, scenario_means, score_table
from tipbench_lib.stats.sentences import sentence

__all__ = [
    "DECISIONS",
    "FAMILIES",
    "VERDICTS",
    "LengthAdjusted",
    "QueueState",
    "SEQUENCES",
    "ScoreScale",
    "adaptive",
    "anytime",
    "calibration",
    "can_stop",
    "check_ppi_sample",
    "comparison_status",
    "compare_pairs",
    "headline",
    "judge_adjusted",
    "judge_mix",
    "judges",
    "holm",
    "judge_agreement",
    "judge_scores",
    "judgment_scores",
    "leaderboard",
    "length_adjusted",
    "length_effect",
    "length_slopes",
    "llm_calibration",
    "llm_vs_human",
    "min_p_attainable",
    "minimum_detectable_difference",
    "next_cards",
    "pareto_front",
    "power_table",
    "ppi",
    "ppi_compare",
    "ppi_design",
    "queue_design",
    "scale_for",
    "scale_of",
    "scenario_means",
    "scenarios_needed",
    "score_table",
    "sentence",
    "signed_rank_floor",
    "signflip",
    "smallest_testable_n",
    "speed_by_model",
    "status",
]
