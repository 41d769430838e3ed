"""The statistics by simulation: 1,000 synthetic experiments with a known truth.

Each replicate is an independent experiment (its own scenarios, tips and judges' noise) drawn by
``tipbench_lib.synthetic``, whose truth is the exact expected score over the scenario population.
The design is the benchmark's default: 12 scenarios, 3 tips per cell, 2 judges. The leaderboard
runs once over all replicates stacked (they share nothing, so each cell's interval only sees its
own experiment); comparisons run per experiment so Holm's family is one experiment's pairs.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tipbench_lib import stats, synthetic

N_EXPERIMENTS = 1000
N_BOOT = 500
DESIGN = {"n_scenarios": 12, "n_tips": 3, "n_judges": 2, "n_experiments": N_EXPERIMENTS}

pytestmark = pytest.mark.slow


def _scores(experiment: synthetic.SyntheticExperiment) -> pl.DataFrame:
    scores = stats.score_table(experiment.cells, experiment.candidates, experiment.judgments)
    return scores.with_columns(pl.col("model").str.split("/").list.first().alias("experiment"))


def _compare_each(scores: pl.DataFrame) -> pl.DataFrame:
    """compare_pairs within every experiment, seeded per experiment."""
    parts = scores.partition_by("experiment", maintain_order=True)
    return pl.concat(
        stats.compare_pairs(part, n_boot=N_BOOT, n_perm=5000, seed=i).with_columns(
            pl.lit(i).alias("replicate")
        )
        for i, part in enumerate(parts)
    )


def test_leaderboard_intervals_cover_the_truth_93_to_97_percent() -> None:
    experiment = synthetic.generate(n_models=2, n_prompts=1, seed=101, **DESIGN)
    board = stats.leaderboard(_scores(experiment), n_boot=N_BOOT, seed=7)
    joined = board.join(experiment.truth, on=["model", "prompt_version"])
    assert joined.height == 2 * N_EXPERIMENTS
    for metric in ("composite", "relevance", "actionability", "tone"):
        covered = (joined[f"{metric}_lo"] <= joined[metric]) & (
            joined[metric] <= joined[f"{metric}_hi"]
        )
        assert 0.93 <= covered.mean() <= 0.97, (metric, covered.mean())


def test_pair_intervals_cover_the_true_difference_93_to_97_percent() -> None:
    effects = np.array([[0.0], [0.25], [0.5]])
    experiment = synthetic.generate(n_models=3, n_prompts=1, effects=effects, seed=202, **DESIGN)
    pairs = _compare_each(_scores(experiment))
    truth = experiment.truth.select("model", "prompt_version", "composite")
    joined = pairs.join(
        truth.rename({"model": "a_model", "prompt_version": "a_prompt", "composite": "ta"}),
        on=["a_model", "a_prompt"],
    ).join(
        truth.rename({"model": "b_model", "prompt_version": "b_prompt", "composite": "tb"}),
        on=["b_model", "b_prompt"],
    )
    assert joined.height == 3 * N_EXPERIMENTS
    true_diff = joined["ta"] - joined["tb"]
    covered = (joined["diff_lo"] <= true_diff) & (true_diff <= joined["diff_hi"])
    assert 0.93 <= covered.mean() <= 0.97, covered.mean()


def test_equal_cells_are_called_better_or_worse_at_most_5_percent_of_experiments() -> None:
    experiment = synthetic.generate(
        n_models=3, n_prompts=1, effects=np.zeros((3, 1)), seed=303, **DESIGN
    )
    pairs = _compare_each(_scores(experiment))
    assert set(pairs["verdict"].unique()) <= {"better", "worse", "indistinguishable"}
    any_call = (
        pairs.group_by("replicate")
        .agg(pl.col("verdict").is_in(["better", "worse"]).any().alias("called"))
        .get_column("called")
    )
    assert any_call.len() == N_EXPERIMENTS
    assert any_call.mean() <= 0.05, any_call.mean()
    # The same data do reject sometimes: the test is not vacuous.
    assert (pairs["p_wilcoxon"] < 0.05).mean() > 0.02
