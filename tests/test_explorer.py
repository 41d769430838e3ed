"""The explorer (issue 22, finding 1): every tip of every cell side by side, with every judge.

The data is built by ``compare.explorer`` (tested here without a browser); the report renders it
and its filters run in Chromium at 1280 px (the screenshot lands in tests/artifacts/explorer.png
for a person to look at).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tipbench_lib.compare import report
from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.explorer import TipFilter, filter_tips, side_by_side
from tipbench_lib.compare.load import ExperimentData, read_snapshot, write_snapshot
from tipbench_lib.validation import synthetic

from .test_report_browser import ARTIFACTS, NASTY_TIP, Visit, browser  # noqa: F401

REASON = "Relevant to <the> morning; a bit vague."


@pytest.fixture(scope="module")
def data() -> ExperimentData:
    """Three cells, 4 scenarios, 2 tips, a person and an LLM judge whose one note is a reason;
    one tip is a near repeat of its cell's first tip and one holds markup."""
    exp = synthetic.generate(1, 3, 4, 2, n_judges=2, llm_judges=1, seed=3)
    first = exp.candidates.sort("candidate_id")
    a, b = first["candidate_id"][0], first["candidate_id"][1]
    text_a = first["text"][0]
    candidates = exp.candidates.with_columns(
        pl.when(pl.col("candidate_id") == b)
        .then(pl.lit(text_a))
        .when(pl.col("candidate_id") == first["candidate_id"][2])
        .then(pl.lit(NASTY_TIP))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    llm = exp.judgments.filter(pl.col("judge_kind") == "llm")["judge_id"][0]
    notes = pl.DataFrame({"candidate_id": [a], "judge_id": [llm], "note": [REASON]})
    return ExperimentData(exp.cells, candidates, exp.judgments, {}, notes=notes)


@pytest.fixture(scope="module")
def analysis(data: ExperimentData) -> Analysis:
    return analyse(data, Options(seed=1))


def test_every_tip_of_every_cell_with_every_judge(analysis: Analysis, data: ExperimentData) -> None:
    assert analysis.tips.height == data.candidates.height == 3 * 4 * 2
    assert analysis.tip_scores.height == data.judgments.height
    scenario, columns = side_by_side(analysis.tips)[0]
    assert [cell for cell, _ in columns] == ["model-00:v1", "model-00:v2", "model-00:v3"]
    assert all(group["scenario_id"].unique().to_list() == [scenario] for _, group in columns)
    noted = analysis.tip_scores.filter(pl.col("note").is_not_null())
    assert noted["note"].to_list() == [REASON]


def test_filters(analysis: Analysis) -> None:
    tips, scores = analysis.tips, analysis.tip_scores
    one = filter_tips(tips, scores, TipFilter(scenario="s001", cells=("model-00:v2",)))
    assert one.height == 2 and set(one["cell"]) == {"model-00:v2"}
    repeats = filter_tips(tips, scores, TipFilter(near_repeats=True))
    assert repeats.height >= 1 and repeats["near_repeat"].all()
    apart = filter_tips(tips, scores, TipFilter(min_disagreement=2))
    assert (apart["disagreement"] >= 2).all()
    assert apart.height == tips.filter(pl.col("disagreement") >= 2).height
    low = filter_tips(tips, scores, TipFilter(dimension="tone", low_score=2))
    low_ids = set(scores.filter(pl.col("tone") <= 2)["candidate_id"])
    assert set(low["candidate_id"]) == low_ids


def test_notes_survive_a_snapshot(data: ExperimentData, tmp_path: Path) -> None:
    again = read_snapshot(write_snapshot(data, tmp_path / "snap"))
    assert again.notes.to_dicts() == data.notes.to_dicts()


@pytest.mark.browser
def test_explorer_in_the_report_at_1280(
    browser: object,  # noqa: F811
    analysis: Analysis,
    tmp_path: Path,
) -> None:
    path = report.write_report(tmp_path, analysis)
    visit = Visit(browser, path)
    try:
        page = visit.page
        assert visit.console == [] and visit.dialogs == [] and visit.blocked == []
        explorer = page.locator("#explorer")
        assert explorer.locator(".xp-tip:visible").count() == analysis.tips.height
        assert REASON in explorer.inner_text()
        assert NASTY_TIP in explorer.locator("pre.tip-text").all_inner_texts()
        page.select_option("#xp-scenario", "s001")
        assert explorer.locator(".xp-tip:visible").count() == 3 * 2
        # the cells of one scenario sit side by side: same top, increasing left
        boxes = [c.bounding_box() for c in explorer.locator(".xp-cell:visible").all()]
        assert len(boxes) == 3
        assert len({round(b["y"]) for b in boxes}) == 1
        assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
        assert max(b["x"] + b["width"] for b in boxes) <= 1280
        page.uncheck(".xp-cellbox[value='model-00:v1']")
        assert explorer.locator(".xp-tip:visible").count() == 2 * 2
        page.select_option("#xp-scenario", "")
        page.check("#xp-repeat")
        shown = explorer.locator(".xp-tip:visible")
        assert (
            shown.count()
            == analysis.tips.filter(
                pl.col("near_repeat") & (pl.col("cell") != "model-00:v1")
            ).height
        )
        page.uncheck("#xp-repeat")
        page.check(".xp-cellbox[value='model-00:v1']")
        page.select_option("#xp-scenario", "s000")
        explorer.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(exist_ok=True)
        explorer.screenshot(path=str(ARTIFACTS / "explorer.png"))
        # the page's tables fit 1280 px: nothing hides behind sideways scrolling
        wide = page.eval_on_selector_all(
            ".table-wrap",
            "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
            ".map(e => e.closest('section').id)",
        )
        assert wide == [], wide
    finally:
        visit.close()


def test_a_near_constant_judge_is_flagged_per_dimension() -> None:
    """Finding 3: relevance 1 for every tip of most cells is said, per judge and dimension."""
    exp = synthetic.generate(1, 3, 6, 2, n_judges=2, llm_judges=1, seed=5)
    llm = exp.judgments.filter(pl.col("judge_kind") == "llm")["judge_id"][0]
    judgments = exp.judgments.with_columns(
        pl.when(pl.col("judge_id") == llm).then(1).otherwise(pl.col("relevance")).alias("relevance")
    )
    result = analyse(ExperimentData(exp.cells, exp.candidates, judgments, {}), Options(seed=1))
    spread = result.judge_spread
    flagged = spread.filter(pl.col("near_constant")).select("judge_id", "dimension").rows()
    assert (llm, "relevance") in flagged
    row = spread.filter((pl.col("judge_id") == llm) & (pl.col("dimension") == "relevance"))
    assert row["score_1"][0] == row["n"][0] == exp.candidates.height
    assert row["constant_cells"][0] == row["n_cells"][0] == 3
    page = report.render(result)
    assert (
        "near-constant" in page
        and f"{llm} gave relevance 1 to {row['n'][0]} of the {row['n'][0]} tips" in page
    )
