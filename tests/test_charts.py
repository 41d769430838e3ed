"""Charts: each one builds, serialises, compiles to Vega, and shows what its frame says.

Data comes from the seeded synthetic experiments through the real statistics, so the charts are
tested on the frames they will meet in the notebook and the report. Every spec is also compiled by
vl-convert (the same Vega-Lite the report inlines), which catches specs altair accepts but Vega-Lite
cannot draw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import altair as alt
import polars as pl
import pytest
import vl_convert

from tipbench_lib import stats
from tipbench_lib.compare import charts
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.validation import synthetic


@dataclass
class Frames:
    """The stats frames the charts take, for one synthetic experiment."""

    scores: pl.DataFrame
    scenario_means: pl.DataFrame
    leaderboard: pl.DataFrame
    comparisons: pl.DataFrame
    speed: pl.DataFrame
    front: pl.DataFrame
    agreement: pl.DataFrame


def frames_for(exp: synthetic.SyntheticExperiment, n_boot: int, n_perm: int) -> Frames:
    scores = stats.score_table(exp.cells, exp.candidates, exp.judgments)
    leaderboard = stats.leaderboard(scores, n_boot=n_boot, seed=1)
    speed = stats.speed_by_model(exp.candidates, exp.cells)
    return Frames(
        scores=scores,
        scenario_means=stats.scenario_means(scores),
        leaderboard=leaderboard,
        comparisons=stats.compare_pairs(
            stats.judge_scores(exp.cells, exp.candidates, exp.judgments),
            n_boot=n_boot,
            n_perm=n_perm,
            seed=1,
        ),
        speed=speed,
        front=stats.pareto_front(leaderboard, speed),
        agreement=stats.judge_agreement(exp.judgments),
    )


@pytest.fixture(scope="module")
def small() -> Frames:
    exp = synthetic.generate(3, 2, 6, 3, n_judges=2, llm_judges=1, seed=3)
    return frames_for(exp, n_boot=200, n_perm=500)


@pytest.fixture(scope="module")
def large() -> Frames:
    """6,000 tips and 6,000 scenario means: above altair's 5,000-row limit."""
    exp = synthetic.generate(10, 6, 100, 1, seed=4)
    return frames_for(exp, n_boot=50, n_perm=50)


def top_cell(f: Frames) -> tuple[str, str]:
    row = f.leaderboard.row(0, named=True)
    return row["model"], row["prompt_version"]


CHARTS: dict[str, Callable[[Frames], alt.TopLevelMixin]] = {
    "heatmap": lambda f: charts.heatmap(f.leaderboard),
    "forest": lambda f: charts.forest_plot(f.leaderboard),
    "baseline": lambda f: charts.baseline_differences(f.comparisons, top_cell(f)),
    "scenarios": lambda f: charts.scenario_dots(f.scenario_means),
    "dimensions": lambda f: charts.dimension_breakdown(f.leaderboard),
    "latency": lambda f: charts.quality_latency(f.leaderboard, f.speed, f.front),
    "length": lambda f: charts.score_length(f.scores),
    "agreement": lambda f: charts.judge_agreement(f.agreement),
}


def datasets(spec: dict) -> list[list[dict]]:
    return list(spec.get("datasets", {}).values())


def rows_of(spec: dict) -> int:
    return sum(len(values) for values in datasets(spec))


def check_spec(chart: alt.TopLevelMixin) -> dict:
    """Serialise as the report does (strict JSON) and compile with the inlined Vega-Lite."""
    spec = chart.to_dict()
    json.dumps(spec, allow_nan=False)  # NaN/inf would break JSON.parse in the browser
    vega = vl_convert.vegalite_to_vega(spec)
    assert vega["marks"], "the compiled Vega spec draws nothing"
    return spec


@pytest.mark.parametrize("name", CHARTS)
def test_chart_builds_on_small_data(small: Frames, name: str) -> None:
    spec = check_spec(CHARTS[name](small))
    assert rows_of(spec) > 0
    assert spec["title"]["text"]


@pytest.mark.parametrize("name", CHARTS)
def test_chart_builds_above_the_row_limit(large: Frames, name: str) -> None:
    assert alt.data_transformers.active == "default"  # the transformer that enforces 5,000 rows
    spec = check_spec(CHARTS[name](large))
    if name in ("scenarios", "length"):
        assert rows_of(spec) >= 6000


def test_large_frames_do_trip_altairs_limit(large: Frames) -> None:
    """The 6,000-row frames are big enough: handed to altair directly they raise MaxRowsError."""
    assert large.scores.height >= 6000 and large.scenario_means.height >= 6000
    naive = alt.Chart(large.scores.select("char_count", "composite")).mark_point()
    with pytest.raises(alt.MaxRowsError):
        naive.encode(x="char_count:Q", y="composite:Q").to_dict()


def test_heatmap_writes_each_interval_in_its_cell(small: Frames) -> None:
    spec = check_spec(charts.heatmap(small.leaderboard))
    labels = {(r["model"], r["prompt_version"]): r["label"] for r in datasets(spec)[0]}
    assert len(labels) == small.leaderboard.height
    for row in small.leaderboard.iter_rows(named=True):
        mean, lo, hi = row["composite_mean"], row["composite_lo"], row["composite_hi"]
        assert lo <= mean <= hi
        expected = f"{mean:.1f}\n[{lo:.1f}, {hi:.1f}]"
        assert labels[(row["model"], row["prompt_version"])] == expected
    assert "viridis" in json.dumps(spec)


def test_categorical_colours_are_okabe_ito_and_verdicts_fixed(small: Frames) -> None:
    forest = json.dumps(check_spec(charts.forest_plot(small.leaderboard)))
    assert json.dumps(list(charts.OKABE_ITO)) in forest
    for banned in ("tableau10", "category10", "category20"):
        assert banned not in forest
    diff = check_spec(charts.baseline_differences(small.comparisons, top_cell(small)))
    colour = diff["layer"][1]["encoding"]["color"]
    assert colour["scale"]["domain"] == list(charts.VERDICTS)
    assert colour["scale"]["range"] == list(charts.VERDICT_COLOURS)


def test_baseline_differences_flip_pairs_so_baseline_is_b(small: Frames) -> None:
    """From an all-pairs frame, every bar reads cell − baseline, whichever side it was on."""
    base = top_cell(small)
    spec = check_spec(charts.baseline_differences(small.comparisons, base))
    drawn = {r["cell"]: r for r in datasets(spec)[-1]}
    assert len(drawn) == small.leaderboard.height - 1
    assert charts.cell_label(*base) not in drawn
    scores = small.scores
    by_scen = stats.scenario_means(scores)
    for label, row in drawn.items():
        assert (row["b_model"], row["b_prompt"]) == base
        assert row["diff_lo"] <= row["diff_mean"] <= row["diff_hi"]
        # the paired mean difference recomputed by hand from the scenario means
        a = by_scen.filter(
            (pl.col("model") == row["a_model"]) & (pl.col("prompt_version") == row["a_prompt"])
        )
        b = by_scen.filter((pl.col("model") == base[0]) & (pl.col("prompt_version") == base[1]))
        joined = a.join(b, on="scenario_id", suffix="_b")
        expected = (joined["composite"] - joined["composite_b"]).mean()
        assert math.isclose(row["diff_mean"], expected, abs_tol=1e-9), label


def test_baseline_differences_with_unknown_baseline_says_so(small: Frames) -> None:
    spec = check_spec(charts.baseline_differences(small.comparisons, ("nope", "v9")))
    assert "No comparison involves nope · v9" in json.dumps(spec, ensure_ascii=False)


def test_quality_latency_marks_exactly_the_front(small: Frames) -> None:
    spec = check_spec(charts.quality_latency(small.leaderboard, small.speed, small.front))
    points = datasets(spec)[0]
    assert len(points) == small.leaderboard.height
    flagged = {(r["model"], r["prompt_version"]) for r in points if r["pareto"]}
    front = small.front.filter(pl.col("pareto")) if "pareto" in small.front.columns else small.front
    assert flagged == set(front.select("model", "prompt_version").iter_rows())
    assert flagged, "a front always has at least one member"
    best = max(points, key=lambda r: r["composite_mean"])
    fastest = min(points, key=lambda r: (r["latency_s_median"], -r["composite_mean"]))
    assert best["pareto"] and fastest["pareto"]


def test_scenario_dots_one_dot_per_scenario_and_cell(small: Frames) -> None:
    spec = check_spec(charts.scenario_dots(small.scenario_means))
    dots = datasets(spec)[0]
    assert len(dots) == small.scenario_means.height
    assert {d["scenario_id"] for d in dots} == set(small.scores["scenario_id"].unique())


def test_dimension_breakdown_has_three_dimensions_per_cell(small: Frames) -> None:
    spec = check_spec(charts.dimension_breakdown(small.leaderboard))
    values = datasets(spec)[0]
    assert len(values) == 3 * small.leaderboard.height
    assert {v["dimension"] for v in values} == {"Relevance", "Actionability", "Tone"}


def test_judge_agreement_draws_alpha_per_dimension(small: Frames) -> None:
    assert small.agreement.height == 3
    spec = check_spec(charts.judge_agreement(small.agreement))
    bars = datasets(spec)[0]
    assert {b["dimension"] for b in bars} == {"relevance", "actionability", "tone"}
    for bar in bars:
        assert -1 <= bar["alpha"] <= 1 and bar["n_judges"] == 2


def test_judge_agreement_with_one_judge_explains_instead(large: Frames) -> None:
    assert large.agreement.height == 0
    spec = check_spec(charts.judge_agreement(large.agreement))
    assert "two or more judges" in json.dumps(spec)


def test_nan_and_infinity_become_null(small: Frames) -> None:
    lb = small.leaderboard.with_columns(
        pl.when(pl.col("rank") == 1)
        .then(float("nan"))
        .otherwise(pl.col("composite_lo"))
        .alias("composite_lo"),
        pl.when(pl.col("rank") == 2)
        .then(float("inf"))
        .otherwise(pl.col("composite_hi"))
        .alias("composite_hi"),
    )
    spec = check_spec(charts.forest_plot(lb))
    rows = {r["rank"]: r for r in datasets(spec)[0]}
    assert rows[1]["composite_lo"] is None and rows[2]["composite_hi"] is None
    heat = check_spec(charts.heatmap(lb))
    assert any("n/a" in r["label"] for r in datasets(heat)[0])


def test_missing_column_names_it(small: Frames) -> None:
    with pytest.raises(TipbenchError, match="composite_lo"):
        charts.forest_plot(small.leaderboard.drop("composite_lo"))


def test_empty_leaderboard_says_what_to_do(small: Frames) -> None:
    with pytest.raises(TipbenchError, match="judge some candidates"):
        charts.heatmap(small.leaderboard.head(0))


def test_user_strings_stay_data_not_markup(small: Frames) -> None:
    """A scenario id with markup is carried as a string value, never as part of the spec's code."""
    nasty = "s0</script><script>alert(1)</script>"
    means = small.scenario_means.with_columns(pl.lit(nasty).alias("scenario_id"))
    spec = check_spec(charts.scenario_dots(means))
    assert all(d["scenario_id"] == nasty for d in datasets(spec)[0])
