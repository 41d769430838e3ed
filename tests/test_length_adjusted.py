"""The length-adjusted composite: the fit against statsmodels, its interval in simulation, a chart.

Simulations use :mod:`tipbench_lib.synthetic` on researcher-like experiments: 6 cells, 6 to 24
scenarios, 1-5 scores with ties, three judges with their own biases, and a known length slope.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pytest
import statsmodels.formula.api as smf
import vl_convert
from statsmodels.tools.sm_exceptions import SingularMatrixWarning

from tipbench_lib import stats
from tipbench_lib.compare import charts
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.length_adjusted import (
    CELL_COLUMNS,
    INPUT_COLUMNS,
    SLOPE_COLUMNS,
    LengthAdjusted,
    judgment_scores,
    length_adjusted,
)
from tipbench_lib.validation import synthetic

EFFECTS = np.array([[0.0, 0.3], [-0.3, 0.5], [0.2, -0.4]])
"""Six cells of different true quality (3 models x 2 prompts), fixed across replicates."""
JUDGES = {"n_judges": 3, "judge_bias": 0.5}


def rows_of(exp: synthetic.SyntheticExperiment) -> pl.DataFrame:
    return judgment_scores(exp.cells, exp.candidates, exp.judgments)


def replicates(rows: pl.DataFrame) -> list[pl.DataFrame]:
    """Split stacked synthetic experiments (models named ``e0003/model-01``) apart."""
    tagged = rows.with_columns(pl.col("model").str.split("/").list.first().alias("_exp"))
    return [part.drop("_exp") for part in tagged.partition_by("_exp", maintain_order=True)]


# --- the fit is ordinary least squares with cluster-robust errors ------------------------------


def statsmodels_fit(rows: pl.DataFrame, result: LengthAdjusted, judge: str) -> tuple[float, float]:
    """gamma and its CR1 standard error from statsmodels on the same rows and length term.

    statsmodels' small-sample factor (n - 1) / (n - k) counts the design's columns as k, even
    when they are collinear; the parameters really estimated are its rank, which is what
    length_adjusted counts, so the statsmodels error is rescaled to that count.
    """
    frame = rows.filter(pl.col("judge_id") == judge).to_pandas()
    frame["length"] = result.scale.term(frame["char_count"].to_numpy())
    frame["cell"] = frame["model"] + "|" + frame["prompt_version"]
    groups = frame["scenario_id"].astype("category").cat.codes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SingularMatrixWarning)
        fit = smf.ols("composite ~ C(scenario_id) + C(cell) + length", frame).fit(
            cov_type="cluster", cov_kwds={"groups": groups}
        )
    n, columns, rank = len(frame), fit.model.exog.shape[1], np.linalg.matrix_rank(fit.model.exog)
    return float(fit.params["length"]), float(fit.bse["length"]) * np.sqrt(
        (n - columns) / (n - rank)
    )


def assert_matches_statsmodels(rows: pl.DataFrame) -> LengthAdjusted:
    result = length_adjusted(rows)
    for slope in result.slopes.iter_rows(named=True):
        gamma, se = statsmodels_fit(rows, result, slope["judge_id"])
        assert slope["gamma"] == pytest.approx(gamma, rel=1e-9, abs=1e-12)
        assert slope["gamma_se"] == pytest.approx(se, rel=1e-9)
    return result


def test_gamma_and_se_match_statsmodels_on_a_full_design() -> None:
    exp = synthetic.generate(3, 2, 8, 3, effects=EFFECTS, length_slope=1.0, seed=1, **JUDGES)
    result = assert_matches_statsmodels(rows_of(exp))
    assert result.slopes["n_tips"].to_list() == [144, 144, 144]
    assert result.slopes["n_scenarios"].to_list() == [8, 8, 8]


def test_gamma_and_se_match_statsmodels_when_judgments_are_missing() -> None:
    exp = synthetic.generate(3, 2, 10, 3, effects=EFFECTS, length_slope=1.0, seed=2, **JUDGES)
    rows = rows_of(exp).sample(fraction=0.7, seed=3)
    assert_matches_statsmodels(rows)


def test_gamma_and_se_match_statsmodels_when_cells_share_no_scenario() -> None:
    """Two groups of cells on disjoint scenarios: a singular system, solved by the fallback."""
    exp = synthetic.generate(3, 2, 12, 3, effects=EFFECTS, length_slope=1.0, seed=4, **JUDGES)
    rows = rows_of(exp)
    early = pl.col("scenario_id") < "s006"
    rows = rows.filter((pl.col("model") == "model-00") == early)
    frame = rows.filter(pl.col("judge_id") == "judge-0").to_pandas()
    design = smf.ols("composite ~ C(scenario_id) + C(model):C(prompt_version)", frame)
    assert np.linalg.matrix_rank(design.exog) < design.exog.shape[1], "setup: must be singular"
    assert_matches_statsmodels(rows)


def test_judgment_scores_keeps_each_judges_latest_scored_judgment() -> None:
    exp = synthetic.generate(2, 1, 2, 2, n_judges=2, seed=5)
    first = exp.judgments.row(0, named=True)
    revised = pl.DataFrame(
        [
            {
                **first,
                "composite": 2.0,
                "relevance": 1,
                "created_at": first["created_at"].replace(year=2026),
            }
        ],
        schema=exp.judgments.schema,
    )
    failed = exp.judgments.slice(1, 1).with_columns(
        pl.lit(None, pl.Int64).alias("relevance"),
        pl.col("created_at").dt.offset_by("1y"),
    )
    judgments = pl.concat([exp.judgments, revised, failed])
    rows = judgment_scores(exp.cells, exp.candidates, judgments)
    assert rows.columns == list(INPUT_COLUMNS)
    assert rows.height == exp.judgments.height - 1, "the failed revision removes that score"
    mine = rows.filter(
        (pl.col("candidate_id") == first["candidate_id"])
        & (pl.col("judge_id") == first["judge_id"])
    )
    assert mine["composite"].to_list() == [2.0]
    only = judgment_scores(exp.cells, exp.candidates, judgments, judges=["judge-1"])
    assert only["judge_id"].unique().to_list() == ["judge-1"]


# --- the cells -----------------------------------------------------------------------------


def test_cells_follow_the_definition() -> None:
    exp = synthetic.generate(3, 2, 8, 3, effects=EFFECTS, length_slope=1.5, seed=6, **JUDGES)
    rows = rows_of(exp)
    result = length_adjusted(rows)
    assert result.cells.columns == list(CELL_COLUMNS)
    assert result.slopes.columns == list(SLOPE_COLUMNS)
    tips = rows.unique("candidate_id")
    reference = result.scale.term(tips["char_count"].to_numpy()).mean()
    gammas = dict(result.slopes.select("judge_id", "gamma").iter_rows())
    judged = result.cells.filter(~pl.col("pooled"))
    assert judged.height == 3 * 6
    for cell in judged.iter_rows(named=True):
        mine = rows.filter(
            (pl.col("judge_id") == cell["judge_id"])
            & (pl.col("model") == cell["model"])
            & (pl.col("prompt_version") == cell["prompt_version"])
        )
        term = result.scale.term(mine["char_count"].to_numpy()).mean()
        raw = mine["composite"].mean()
        assert cell["composite_raw"] == pytest.approx(raw)
        assert cell["length_term"] == pytest.approx(term)
        expected = raw - gammas[cell["judge_id"]] * (term - reference)
        assert cell["composite_adjusted"] == pytest.approx(expected)
        assert cell["adjustment"] == pytest.approx(expected - raw)
    pooled = result.cells.filter(pl.col("pooled"))
    assert pooled.height == 6 and pooled["judge_id"].null_count() == 6
    assert pooled["n_judges"].to_list() == [3] * 6
    means = judged.group_by("model", "prompt_version").agg(pl.col("composite_adjusted").mean())
    joined = pooled.join(means, on=["model", "prompt_version"], suffix="_judges")
    assert np.allclose(joined["composite_adjusted"], joined["composite_adjusted_judges"])
    assert pooled["rank_adjusted"].sort().to_list() == [1, 2, 3, 4, 5, 6]


def test_on_a_full_design_adjusting_keeps_the_overall_mean() -> None:
    """Every judge scored every tip, so the tip-weighted mean length term is the reference."""
    exp = synthetic.generate(3, 2, 6, 3, effects=EFFECTS, length_slope=1.0, seed=7, **JUDGES)
    cells = length_adjusted(rows_of(exp)).cells.filter(~pl.col("pooled"))
    weights = cells["n_tips"].to_numpy()
    raw = np.average(cells["composite_raw"].to_numpy(), weights=weights)
    adjusted = np.average(cells["composite_adjusted"].to_numpy(), weights=weights)
    assert adjusted == pytest.approx(raw)


# --- what cannot be estimated is said, not invented --------------------------------------------


def test_lengths_that_do_not_vary_give_no_slope_and_no_adjusted_score() -> None:
    exp = synthetic.generate(3, 2, 6, 2, n_judges=2, seed=8)
    rows = rows_of(exp).with_columns(pl.lit(120, pl.Int64).alias("char_count"))
    result = length_adjusted(rows)
    assert result.slopes["gamma"].null_count() == 2
    assert set(result.slopes["note"]) == {"length does not vary within scenarios and cells"}
    assert not result.slopes["pooled"].any()
    assert result.cells.filter(pl.col("pooled")).height == 0
    assert result.cells["composite_adjusted"].null_count() == result.cells.height
    chart = charts.length_adjusted(result.cells).to_dict()
    assert "could be estimated" in str(chart)


def test_one_scenario_gives_no_slope() -> None:
    exp = synthetic.generate(3, 2, 1, 3, n_judges=1, length_slope=1.0, seed=9)
    [slope] = length_adjusted(rows_of(exp)).slopes.iter_rows(named=True)
    assert slope["gamma"] is None and slope["note"] == "needs two or more scenarios"


def test_few_scenarios_are_marked() -> None:
    exp = synthetic.generate(3, 2, 6, 2, n_judges=1, length_slope=1.0, seed=10)
    [slope] = length_adjusted(rows_of(exp)).slopes.iter_rows(named=True)
    assert slope["note"] == "only 6 scenarios: the interval is approximate"
    assert slope["df"] == 5


def test_bad_input_is_named() -> None:
    exp = synthetic.generate(2, 1, 3, 2, n_judges=1, seed=11)
    rows = rows_of(exp)
    with pytest.raises(TipbenchError, match="char_count"):
        length_adjusted(rows.drop("char_count"))
    with pytest.raises(TipbenchError, match=r"judge 'judge-0' has 2 rows for candidate"):
        length_adjusted(pl.concat([rows, rows.head(1)]))
    with pytest.raises(TipbenchError, match="alpha"):
        length_adjusted(rows, alpha=1.5)


# --- simulation: the interval covers the true slope ---------------------------------------------


def pseudo_true_slopes(length_slope: float) -> dict[str, float]:
    """Each judge's slope per unit of log(1 + chars), from 3,000 scenarios of the same design.

    The synthetic judges score length linearly in characters and through rounding and clipping,
    so the slope on the log scale has no closed form; with 54,000 tips per judge its estimate
    is the population value to within about 1/20 of one replicate's standard error. A slope of
    zero is exact.
    """
    if length_slope == 0:
        return dict.fromkeys(("judge-0", "judge-1", "judge-2"), 0.0)
    big = synthetic.generate(
        3, 2, 3000, 3, effects=EFFECTS, length_slope=length_slope, seed=99, **JUDGES
    )
    fit = length_adjusted(rows_of(big))
    return {r["judge_id"]: r["gamma"] / fit.scale.log_sd for r in fit.slopes.iter_rows(named=True)}


@pytest.mark.parametrize(
    ("n_scenarios", "length_slope"), [(6, 1.0), (24, 1.0), (8, 0.0), (12, 2.5)]
)
def test_gamma_interval_covers_the_true_slope_95_percent(
    n_scenarios: int, length_slope: float
) -> None:
    """Per SD of the replicate's own lengths, so the truth is the log-scale slope times its SD."""
    per_log_unit = pseudo_true_slopes(length_slope)
    exp = synthetic.generate(
        3,
        2,
        n_scenarios,
        3,
        effects=EFFECTS,
        length_slope=length_slope,
        n_experiments=200,
        seed=n_scenarios,
        **JUDGES,
    )
    hits = []
    for rows in replicates(rows_of(exp)):
        result = length_adjusted(rows)
        for slope in result.slopes.iter_rows(named=True):
            truth = per_log_unit[slope["judge_id"]] * result.scale.log_sd
            hits.append(slope["gamma_lo"] <= truth <= slope["gamma_hi"])
    coverage = float(np.mean(hits))
    assert len(hits) == 600
    assert 0.925 <= coverage <= 0.975, f"coverage {coverage:.3f} at {n_scenarios} scenarios"


# --- simulation: a cell that wins through length alone is no longer ahead -----------------------


def test_a_cell_that_wins_only_through_length_is_not_ahead_after_adjustment() -> None:
    """Equal true quality everywhere; one cell keeps the three longest of six tips per scenario
    (a prompt that makes its model write more), the others three tips at random."""
    n_rep = 200
    exp = synthetic.generate(
        3,
        2,
        12,
        6,
        effects=np.zeros((3, 2)),
        length_slope=2.0,
        n_experiments=n_rep,
        seed=12,
        **JUDGES,
    )
    cells = exp.cells.select("cell_id", "model", "prompt_version")
    is_long = pl.col("model").str.ends_with("/model-00") & (pl.col("prompt_version") == "v1")
    longest = pl.col("text").str.len_chars().rank("ordinal", descending=True).over("cell_id")
    kept = (
        exp.candidates.join(cells, on="cell_id")
        .filter(pl.when(is_long).then(longest <= 3).otherwise(pl.col("sample_index") < 3))
        .select(exp.candidates.columns)
    )
    first_raw = first_adjusted = 0
    lead_raw, lead_adjusted = [], []
    for rows in replicates(judgment_scores(exp.cells, kept, exp.judgments)):
        pooled = length_adjusted(rows).cells.filter(pl.col("pooled"))
        mine, others = pooled.filter(is_long), pooled.filter(~is_long)
        first_raw += mine["rank_raw"][0] == 1
        first_adjusted += mine["rank_adjusted"][0] == 1
        lead_raw.append(mine["composite_raw"][0] - others["composite_raw"].mean())
        lead_adjusted.append(mine["composite_adjusted"][0] - others["composite_adjusted"].mean())
    assert first_raw / n_rep >= 0.8, "setup: length alone must make the cell win"
    # Chance alone puts one of six equal cells first 17% of the time.
    assert first_adjusted / n_rep <= 0.3
    # At least 90% of the length advantage is removed (the rest: the log scale's curvature).
    assert abs(np.mean(lead_adjusted)) <= 0.1 * np.mean(lead_raw)


# --- the chart ------------------------------------------------------------------------------


def test_chart_draws_raw_and_adjusted_per_judge_and_pooled() -> None:
    exp = synthetic.generate(3, 2, 6, 3, effects=EFFECTS, length_slope=1.0, seed=13, **JUDGES)
    cells = length_adjusted(rows_of(exp)).cells
    spec = charts.length_adjusted(cells).to_dict()
    vega = vl_convert.vegalite_to_vega(spec)
    assert vega["marks"]
    [values] = spec["datasets"].values()
    assert len(values) == cells.height == 6 * 4
    judges = {v["judge"] for v in values}
    assert judges == {charts.POOLED_JUDGES, "judge-0", "judge-1", "judge-2"}
    colour = spec["layer"][0]["encoding"]["color"]["scale"]
    assert colour["domain"][0] == charts.POOLED_JUDGES and colour["range"][0] == "#000000"
    assert set(colour["range"]) <= set(charts.OKABE_ITO)


def test_chart_names_a_missing_column() -> None:
    exp = synthetic.generate(2, 1, 3, 2, n_judges=1, seed=14)
    cells = length_adjusted(rows_of(exp)).cells
    with pytest.raises(TipbenchError, match="composite_adjusted"):
        charts.length_adjusted(cells.drop("composite_adjusted"))


def test_stats_package_exports_the_view() -> None:
    assert stats.length_adjusted is length_adjusted
    assert stats.judgment_scores is judgment_scores
    assert stats.LengthAdjusted is LengthAdjusted
