"""The verdicts in the cases researchers meet most: few scenarios, many cells, several judges.

Each test here reproduces a finding of issue 8 on a snapshot built by hand (or drawn with a fixed
seed) and goes through the same entry point as the notebook and the script,
:func:`tipbench_lib.compare.analysis.analyse`; the page tests render the report of the shipped
sample.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from scipy import stats as sps

from tipbench_lib import stats
from tipbench_lib.compare import job as compare_run
from tipbench_lib.compare import report
from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.paired import wilcoxon_p
from tipbench_lib.validation import synthetic

from .handmade import frames


def run(exp, provenance=None, **options) -> Analysis:
    """The analysis of a synthetic experiment (or anything with the three frames)."""
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, dict(provenance or {}))
    return analyse(data, Options(**options))


def compute(scores, *, kinds=None, provenance=None, **options) -> Analysis:
    options = {"n_boot": 400, "n_perm": 2000, "seed": 1} | options
    cells, candidates, judgments = frames(scores, kinds)
    return run(ExperimentData(cells, candidates, judgments), provenance, **options)


def one_judge(per_cell: dict[tuple[str, str], list]) -> dict:
    return {cell: {"ann": values} for cell, values in per_cell.items()}


# ---------------------------------------------------------------- finding 1: power and family


def six_by_six() -> dict:
    """6 cells x 6 scenarios; v1 on m0 is about 4 points better than every other cell."""
    base = [8, 10, 9, 11, 8, 10]
    noise = [[0, 1, -1, 0, 1, 0], [1, 0, 0, -1, 0, 1], [0, -1, 1, 1, 0, 0]]
    cells = {("m0", "v1"): [b + 4 for b in base]}
    for i in range(1, 6):
        cells[(f"m{i}", "v1")] = [b + noise[i % 3][s] for s, b in enumerate(base)]
    return one_judge(cells)


def test_six_cells_six_scenarios_are_all_underpowered_even_with_a_clear_winner() -> None:
    pairs = compute(six_by_six()).comparisons
    assert pairs.height == 15
    # Exact signed-rank at 6 scenarios cannot go below 1/32 > 0.05 / 15: no pair can pass Holm.
    assert pairs["verdict"].unique().to_list() == ["underpowered"]
    clear = pairs.filter(pl.col("a_model") == "m0")
    assert (clear["diff_lo"] > 0).all()  # the difference is plain; the family cannot confirm it


def test_hundred_cells_twelve_scenarios_are_all_underpowered() -> None:
    exp = synthetic.generate(20, 5, 12, 1, seed=4)
    data = run(exp, n_boot=50, n_perm=100)
    assert data.comparisons.height == 4950
    assert data.comparisons["verdict"].unique().to_list() == ["underpowered"]


def test_zero_differences_do_not_count_toward_the_attainable_p() -> None:
    scores = one_judge({("a", "v1"): [12, 13, 11, 12, 14, 10], ("b", "v1"): [10] * 6})
    row = compute(scores).comparisons.row(0, named=True)
    assert row["min_p_attainable"] == pytest.approx(2 / 2**5)  # five nonzero differences
    assert row["verdict"] == "underpowered"


def test_the_attainable_p_follows_the_branch_the_test_takes() -> None:
    # 14 tied differences: the test uses the normal approximation, so must its floor.
    scores = one_judge({("a", "v1"): [11] * 14, ("b", "v1"): [10] * 14})
    row = compute(scores).comparisons.row(0, named=True)
    assert row["min_p_attainable"] == pytest.approx(sps.wilcoxon(np.ones(14)).pvalue, rel=1e-9)


def test_reported_detectable_difference_has_80_percent_power_in_its_family() -> None:
    exp = synthetic.generate(6, 1, 12, 2, seed=11)
    pairs = run(exp, n_perm=100).comparisons
    row = pairs.row(0, named=True)
    threshold = 0.05 / pairs.height  # Holm's first step across the 15 pairs
    rng = np.random.default_rng(0)
    diffs = rng.normal(row["mdd"], row["sd_diff"], (4000, 12))
    power = (wilcoxon_p(diffs) < threshold).mean()
    assert power == pytest.approx(0.80, abs=0.03)


# ---------------------------------------------------------------- finding 2: judges


def test_a_judge_confounded_with_a_cell_never_makes_a_verdict() -> None:
    truth = [9, 11, 10, 12, 8, 10, 11, 9, 13, 10, 9, 12, 11, 10, 8, 12]
    scores = {
        ("a", "v1"): {"strict": [t - 1 for t in truth]},
        ("b", "v1"): {"lenient": [t + 1 for t in truth]},
    }
    row = compute(scores).comparisons.row(0, named=True)
    assert row["verdict"] == "confounded"
    assert row["n_confounded_scenarios"] == 16
    assert "judge" in stats.sentence(row)


def test_cells_are_compared_on_the_judges_who_scored_both() -> None:
    truth = [9, 11, 10, 12, 8, 10, 11, 9, 13, 10, 9, 12]
    scores = {
        ("a", "v1"): {"strict": [t - 2 for t in truth], "lenient": [t + 2 for t in truth]},
        ("b", "v1"): {"lenient": [t + 2 for t in truth]},
    }
    row = compute(scores).comparisons.row(0, named=True)
    assert row["diff_mean"] == pytest.approx(0.0)
    assert row["verdict"] not in ("better", "worse")
    assert row["judges"] == "lenient"


# ---------------------------------------------------------------- finding 3: intervals


@pytest.mark.parametrize("seed", [3, 23])
@pytest.mark.parametrize("method", ["studentized", None])
def test_intervals_stay_inside_the_rubric_range(seed: int, method: str | None) -> None:
    """Seeds where bootstrap-t resamples of nearly tied scenarios had a spread of ~1e-17."""
    exp = synthetic.generate(6, 1, 6, 3, n_judges=2, seed=seed)
    scores = stats.score_table(exp.cells, exp.candidates, exp.judgments)
    chosen = {} if method is None else {"method": method}
    board = stats.leaderboard(scores, n_boot=2000, seed=seed, **chosen)
    assert (board["composite_lo"] >= 2).all() and (board["composite_hi"] <= 17).all()
    for d in ("relevance", "actionability", "tone"):
        assert (board[f"{d}_lo"] >= 1).all() and (board[f"{d}_hi"] <= 5).all()
    data = run(exp, n_boot=2000, n_perm=100, seed=seed, **chosen)
    pairs = data.comparisons
    assert (pairs["diff_lo"] >= -15).all() and (pairs["diff_hi"] <= 15).all()
    if method is None:  # bootstrap-t at 6 scenarios can still be absurdly wide, though in range
        assert (pairs["diff_hi"] - pairs["diff_lo"] <= 15).all()
    assert (pairs["diff_lo"] <= pairs["diff_mean"]).all()
    assert (pairs["diff_mean"] <= pairs["diff_hi"]).all()


def test_a_degenerate_interval_is_explained_in_words() -> None:
    a = [11, 12, 10, 13, 11, 12]
    scores = one_judge({("a", "v1"): a, ("b", "v1"): [v - 1 for v in a]})
    row = compute(scores).comparisons.row(0, named=True)
    text = stats.sentence(row)
    assert "1.0–1.0" not in text and "1.0 to 1.0" not in text
    assert "all 6 scenarios differ by exactly 1.0" in text
    assert "few scenarios" in row["interval_note"]


# ---------------------------------------------------------------- finding 4: the sample's wording


@pytest.fixture(scope="module")
def sample() -> compare_run.ExperimentData:
    return compare_run.load_source(None, None)


def page(sample, **options) -> str:
    return report.render(analyse(sample, Options(n_boot=300, **options)))


def visible(html: str) -> str:
    """The page's text as a reader sees it: no scripts, no chart specs, no tags."""
    body = re.sub(r"<script.*?</script>", "", html, flags=re.S).split("<body>", 1)[1]
    return re.sub(r"<[^>]+>", "", body)


def test_sample_headline_names_no_winner_the_runner_up_cannot_be_separated_from(sample) -> None:
    html = page(sample)
    headline = re.search(r"<p class='headline'>(.*?)</p>", html, re.S).group(1)
    assert not headline.startswith("Best:")
    assert "llm:claude-assistant" in headline and "provisional" in headline


def test_sample_verdict_sentences_name_their_judges_family_and_provisional(sample) -> None:
    html = page(sample)
    listed = re.search(r"<ul class='sentences'>(.*?)</ul>", html, re.S).group(1)
    sentences = re.findall(r"<li>(.*?)</li>", listed, re.S)
    assert len(sentences) == 3  # grouped by verdict (issue 22), then what they share, once
    assert sentences[0].startswith("gemma3-270m · v1 beats: ")
    shared = sentences[-1]
    assert "llm:claude-assistant" in shared
    assert "provisional" in shared
    assert "Holm across the 14 testable of the 15 primary comparisons" in shared
    assert "chosen after seeing the data" in visible(html)


def test_sample_holm_family_size_counts_only_the_family(sample) -> None:
    text = visible(page(sample, baseline=("gemma3-270m", "v1")))
    assert "across the 5 primary comparisons" in text
    assert "across 15 comparisons" not in text


def test_interval_level_comes_from_alpha(sample) -> None:
    text = visible(page(sample, alpha=0.1))
    assert "90%" in text
    assert "95%" not in text


def test_permutation_p_is_labelled_unadjusted(sample) -> None:
    text = visible(page(sample))
    assert "p permutation" not in text
    assert "unadjusted" in text


# ---------------------------------------------------------------- families, views, headline


def ladder(n_cells: int, n_scenarios: int, step: int = 2) -> dict:
    """Cells step points apart on every scenario (with a little per-scenario wobble)."""
    wobble = [0, 1, 0, -1, 1, 0, 0, 1, -1, 0, 1, 0, 0, -1, 1, 0]
    return one_judge(
        {
            (f"m{i}", "v1"): [7 + step * i + wobble[(s + i) % 16] for s in range(n_scenarios)]
            for i in range(n_cells)
        }
    )


def test_a_baseline_makes_the_other_pairs_an_exploratory_family_with_its_own_holm() -> None:
    pairs = compute(ladder(4, 12), baseline=("m0", "v1")).comparisons
    primary = pairs.filter(pl.col("family") == "primary")
    explore = pairs.filter(pl.col("family") == "exploratory")
    assert primary.height == 3 and explore.height == 3
    assert (primary["b_model"] == "m0").all()  # every cell against the baseline, as cell - base
    assert primary["family_size"].to_list() == [3] * 3
    assert explore["family_size"].to_list() == [3] * 3
    raw = explore.sort("p_wilcoxon")["p_wilcoxon"].to_numpy()
    adjusted = explore.sort("p_wilcoxon")["p_holm"].to_numpy()
    assert adjusted[0] == pytest.approx(min(1, 3 * raw[0]))  # Holm over 3, not over 6
    text = stats.sentence(explore.row(0, named=True))
    assert "Holm across the 3 exploratory comparisons" in text


def test_a_winner_is_named_only_when_it_beats_every_other_cell() -> None:
    data = compute(ladder(3, 16, step=4))
    assert data.summary.headline.startswith("Winner: m2 · v1, better than each of the other 2")
    assert "judged by people (ann)" in data.summary.headline
    close = compute(ladder(3, 16, step=0))
    assert close.summary.winner is None
    assert close.summary.headline.startswith("No single winner:")


def test_underpowered_follows_the_threshold_holm_stopped_at() -> None:
    """Two clear pairs are rejected; the third pair's floor (five nonzero differences: 1/16) is
    above alpha / (m - r) = 0.05, so it is underpowered, not merely indistinguishable."""
    clear = [14, 15, 13, 14, 15, 14, 13, 15]
    scores = one_judge(
        {
            ("top", "v1"): clear,
            ("mid", "v1"): [v - 5 for v in clear],
            ("low", "v1"): [
                v - 5 - d for v, d in zip(clear, [0, 0, 0, 1, 1, 1, 1, 1], strict=True)
            ],
        }
    )
    pairs = compute(scores).comparisons
    verdict = {(r["a_model"], r["b_model"]): r["verdict"] for r in pairs.iter_rows(named=True)}
    assert verdict[("top", "mid")] == "better" and verdict[("top", "low")] == "better"
    assert verdict[("mid", "low")] == "underpowered"


def judged_by(kinds: dict[str, str], **extra) -> Analysis:
    truth = [9, 11, 10, 12, 8, 10, 11, 9, 13, 10, 9, 12]
    scores = {
        ("a", "v1"): {j: [t + 1 for t in truth] for j in kinds},
        ("b", "v1"): {j: [t + (i % 3) - 1 for i, t in enumerate(truth)] for j in kinds},
    }
    return compute(scores, kinds=kinds, **extra)


def test_people_are_the_default_view_and_an_llm_judge_is_its_own() -> None:
    data = judged_by({"ann": "human", "bob": "import", "llm:big": "llm"})
    assert data.view.name == "people" and data.view.judges == ("ann", "bob")
    assert set(data.comparisons["judges"]) == {"ann, bob"}
    alone = judged_by({"ann": "human", "llm:big": "llm"}, view="llm:big")
    assert alone.view.judges == ("llm:big",)
    assert set(alone.comparisons["judges"]) == {"llm:big"}
    with pytest.raises(TipbenchError, match="no judge view 'llm:nope'.*people, llm:big, all"):
        judged_by({"ann": "human", "llm:big": "llm"}, view="llm:nope")


def test_without_people_the_busiest_then_larger_llm_judge_is_the_default() -> None:
    provenance = {
        "judges": {
            "llm:small": {"kind": "llm", "model": "tiny", "weak": True},
            "llm:large": {"kind": "llm", "model": "big", "parameter_count": "3000000000"},
        }
    }
    data = judged_by({"llm:small": "llm", "llm:large": "llm"}, provenance=provenance)
    assert data.view.name == "llm:large"
    panel = {r["judge_id"]: r for r in data.panel.iter_rows(named=True)}
    assert panel["llm:small"]["small_model"] and panel["llm:small"]["provisional"]
    assert panel["llm:large"]["parameter_count"] == 3_000_000_000


def test_a_judge_that_disagrees_makes_its_verdicts_provisional_and_they_say_so() -> None:
    truth = [9, 11, 10, 12, 8, 10, 11, 9, 13, 10, 9, 12]
    contrary = [21 - t for t in truth]  # the reverse ordering: alpha far below 0.667
    scores = {
        ("a", "v1"): {
            "ann": [t + 2 for t in truth],
            "bob": [t + 2 for t in truth],
            "llm:x": contrary,
        },
        ("b", "v1"): {"ann": truth, "bob": truth, "llm:x": [c + 1 for c in contrary]},
    }
    kinds = {"ann": "human", "bob": "human", "llm:x": "llm"}
    people = compute(scores, kinds=kinds)
    assert not people.view.provisional and not people.comparisons["provisional"].any()
    llm = compute(scores, kinds=kinds, view="llm:x")
    row = llm.comparisons.row(0, named=True)
    assert row["provisional"] and "provisional" in stats.sentence(row)
    panel = {r["judge_id"]: r for r in llm.panel.iter_rows(named=True)}
    assert panel["llm:x"]["alpha"] < 0.667 and panel["llm:x"]["reference"].startswith("people")
    assert panel["ann"]["alpha"] > 0.9 and not panel["ann"]["provisional"]


def test_the_sample_readme_states_what_the_analysis_computes(sample) -> None:
    readme = (compare_run.sample_dir() / "README.md").read_text(encoding="utf-8")
    data = analyse(sample, Options(n_boot=100))
    assert data.view.name == "llm:claude-assistant" and data.comparisons["provisional"].all()
    counts = dict(data.comparisons.group_by("verdict").len().iter_rows())
    assert f"({counts['better']} `better`)" in readme
    assert f"({counts['indistinguishable']} pairs) are\n`indistinguishable`" in readme
    best_vs_runner_up = stats.headline.pair_row(
        data.comparisons, ("gemma3-270m", "v1"), ("gemma3-270m", "v3-few-shot")
    )
    needed = best_vs_runner_up["scenarios_needed"]
    assert f"about {needed} scenarios would separate them" in readme
    panel = {r["judge_id"]: r for r in data.panel.iter_rows(named=True)}
    assert f"{panel['llm:claude-assistant']['alpha']:.2f} on the composite" in readme
    alphas = dict(stats.judge_agreement(sample.judgments).select("dimension", "alpha").iter_rows())
    for dimension, value in alphas.items():
        assert f"{dimension} −{abs(value):.2f}" in readme
    [slope] = data.length_adjusted.slopes.iter_rows(named=True)
    assert slope["gamma"] < 0 and f"(−{abs(slope['gamma']):.2f} points per standard" in readme
    assert "ranking of the cells is unchanged" in data.length_note
    assert "the ranking is unchanged" in readme
    chars = data.length_adjusted.cells.filter(pl.col("pooled"))
    by_model = chars.group_by("model").agg(
        pl.col("mean_chars").min().alias("lo"), pl.col("mean_chars").max().alias("hi")
    )
    spans = {r["model"]: (round(r["lo"]), round(r["hi"])) for r in by_model.iter_rows(named=True)}
    assert spans["smollm2-135m"][0] >= 300 and spans["smollm2-135m"][1] <= 380, spans
    assert spans["gemma3-270m"][0] >= 85 and spans["gemma3-270m"][1] <= 111, spans


def test_beating_everyone_only_in_exploratory_comparisons_is_no_winner() -> None:
    data = compute(ladder(3, 16, step=4), baseline=("m0", "v1"))
    headline = data.summary.headline
    assert data.summary.winner is None
    assert headline.startswith("No winner in the primary family: m2 · v1 beats every other")
    assert "against the baseline m0 · v1" in headline
