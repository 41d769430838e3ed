"""The compare phase's statistics: paired, clustered on scenarios, bootstrap, seeded, vectorised.

A scenario is the unit: the tips of a cell are averaged per scenario before any comparison, and
resampling draws scenarios (then tips within them for the leaderboard). Every function takes and
returns polars frames with fixed column names that the charts and the report read.

Modules: ``scores`` (score table, scenario means), ``leaderboard``, ``compare`` (pairs, verdicts),
``power``, ``agreement`` (judges), ``descriptive`` (length, speed, Pareto), ``length_adjusted``
(each judge's verbosity slope and the composite at the mean tip length), ``sentences``; the
numerical core is ``resampling`` (bootstrap) and ``paired`` (tests, Holm).
"""

from tipbench_lib.stats.agreement import judge_agreement, llm_vs_human
from tipbench_lib.stats.compare import VERDICTS, compare_pairs
from tipbench_lib.stats.descriptive import length_effect, pareto_front, speed_by_model
from tipbench_lib.stats.leaderboard import leaderboard
from tipbench_lib.stats.length_adjusted import LengthAdjusted, judgment_scores, length_adjusted
from tipbench_lib.stats.paired import holm, min_p_attainable
from tipbench_lib.stats.power import (
    minimum_detectable_difference,
    power_table,
    scenarios_needed,
    smallest_testable_n,
)
from tipbench_lib.stats.scores import scenario_means, score_table
from tipbench_lib.stats.sentences import sentence

__all__ = [
    "VERDICTS",
    "LengthAdjusted",
    "compare_pairs",
    "holm",
    "judge_agreement",
    "judgment_scores",
    "leaderboard",
    "length_adjusted",
    "length_effect",
    "llm_vs_human",
    "min_p_attainable",
    "minimum_detectable_difference",
    "pareto_front",
    "power_table",
    "scenario_means",
    "scenarios_needed",
    "score_table",
    "sentence",
    "smallest_testable_n",
    "speed_by_model",
]
