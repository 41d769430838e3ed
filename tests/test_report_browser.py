"""The offline report: its files, its escaping, and a real headless Chromium with the network cut.

The browser tests (marked ``browser``) open report.html in Debian's chromium through Playwright,
with the context offline and every non-file request aborted, and check that each chart draws, that
nothing is logged as an error, that no dialog fires and that markup in a tip stays literal text.
The screenshot lands in tests/artifacts/report.png for a person to look at.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from tipbench_lib.compare import charts, report
from tipbench_lib.compare.analysis import Analysis, Options, analyse
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.compare.tables import write_tables
from tipbench_lib.core.errors import EXIT_OK, TipbenchError
from tipbench_lib.core.escaping import html_text
from tipbench_lib.core.schema import COMPARISONS_CSV_COLUMNS, leaderboard_csv_columns
from tipbench_lib.validation import synthetic

from .browser import CHROMIUM_ARGS, require_chromium

ARTIFACTS = Path(__file__).parent / "artifacts"
NASTY_TIP = "<script>alert(1)</script> **bold** </script><script>alert(2)</script> & <b>x</b>"
NASTY_SCENARIO = "s000</script><script>alert(3)</script>"


def build_data(
    n_models: int,
    n_prompts: int,
    n_scenarios: int,
    n_tips: int,
    *,
    n_judges: int = 2,
    n_boot: int = 200,
    provenance: dict | None = None,
) -> Analysis:
    """A synthetic experiment with a hostile scenario id and one hostile top tip.

    With two judges the second is an LLM judge, so agreement and LLM-vs-people have data. The
    hostile tip replaces the text of the tip the first analysis shows as a cell's best, and the
    analysis is run again on the changed data, so the text travels the way a model's would.
    """
    exp = synthetic.generate(
        n_models, n_prompts, n_scenarios, n_tips, n_judges=n_judges, llm_judges=n_judges - 1, seed=7
    )
    cells = exp.cells.with_columns(
        pl.when(pl.col("scenario_id") == "s000")
        .then(pl.lit(NASTY_SCENARIO))
        .otherwise(pl.col("scenario_id"))
        .alias("scenario_id")
    )
    options = Options(n_boot=n_boot, n_perm=500, seed=1)
    data = ExperimentData(cells, exp.candidates, exp.judgments, dict(provenance or {}))
    first = analyse(data, options)
    target = first.examples.filter(pl.col("which") == "top")["candidate_id"][0]
    data.candidates = data.candidates.with_columns(
        pl.when(pl.col("candidate_id") == target)
        .then(pl.lit(NASTY_TIP))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    return analyse(data, options)


PROVENANCE = {
    "experiment": "tips <b>2025</b>",
    "source": "snapshot",
    "models": {
        "model-00": {"model_digest": "sha256:abc", "quantization": "Q4_1"},
        "model-01": {"model_digest": "sha256:def", "quantization": "Q4_K_M"},
    },
    "prompts": {"v1": "1111aaaa", "v2": "2222bbbb"},
    "rubric_versions": ["tip-v1"],
    "judges": {
        "judge-0": {"kind": "human"},
        "judge-1": {"kind": "llm", "model": "gemma3-270m", "weak": True},
    },
    "collected_from": "2025-01-01T00:00:00+00:00",
}


@pytest.fixture(scope="module")
def data() -> Analysis:
    return build_data(2, 3, 6, 2, provenance=PROVENANCE)


@pytest.fixture(scope="module")
def page(data: Analysis, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report.write_report(tmp_path_factory.mktemp("report"), data)


# ---------------------------------------------------------------- files and escaping


def test_write_tables_fixed_columns_first(data: Analysis, tmp_path: Path) -> None:
    dims = data.rubric.dimension_ids
    lb_path, cmp_path = write_tables(tmp_path, data.leaderboard, data.comparisons, dimensions=dims)
    with lb_path.open() as f:
        lb_rows = list(csv.DictReader(f))
    with cmp_path.open() as f:
        cmp_rows = list(csv.DictReader(f))
    fixed_lb = list(leaderboard_csv_columns(dims))
    assert fixed_lb[7:10] == ["relevance_mean", "actionability_mean", "tone_mean"]  # tip-v1's
    fixed_cmp = list(COMPARISONS_CSV_COLUMNS)
    assert list(lb_rows[0])[: len(fixed_lb)] == fixed_lb
    assert list(cmp_rows[0])[: len(fixed_cmp)] == fixed_cmp
    assert len(lb_rows) == 6 and len(cmp_rows) == 15  # 6 cells, 6·5/2 pairs
    best = data.leaderboard.row(0, named=True)
    assert lb_rows[0]["model"] == best["model"]
    assert float(lb_rows[0]["composite_mean"]) == pytest.approx(best["composite_mean"])
    assert {r["verdict"] for r in cmp_rows} <= set(charts.VERDICTS)


def test_write_tables_names_a_missing_column(data: Analysis, tmp_path: Path) -> None:
    with pytest.raises(TipbenchError, match="p_holm"):
        write_tables(
            tmp_path,
            data.leaderboard,
            data.comparisons.drop("p_holm"),
            dimensions=data.rubric.dimension_ids,
        )


def test_page_is_self_contained(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    # outside the inlined scripts (whose code mentions URLs it never loads here)
    markup = re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S | re.I)
    assert markup.count("<script") == text.count("<script")
    assert not re.search(r"<(script|link|img|iframe|source|embed)[^>]+(src|href)=", markup, re.I)
    assert "@import" not in markup and "url(" not in markup


def test_hostile_strings_cannot_open_a_tag(page: Path, data: Analysis) -> None:
    text = page.read_text(encoding="utf-8")
    n_charts = len(report.chart_blocks(data))
    # the bundle, one JSON block per chart, the embed script: nothing else opened a script
    assert len(re.findall(r"<script", text, re.I)) == n_charts + 2
    assert "alert(" in text  # the strings are there, as text
    assert "<b>x</b>" not in text and "<b>2025</b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold**" in text
    for block in re.findall(r"<script type='application/json'[^>]*>(.*?)</script>", text, re.S):
        assert "<" not in block and ">" not in block


def test_page_shows_verdicts_provenance_and_weak_judge(page: Path, data: Analysis) -> None:
    text = page.read_text(encoding="utf-8")
    best = data.leaderboard.row(0, named=True)
    assert f"<p class='headline'>{html_text(data.headline)}</p>" in text
    assert f"Highest mean: {best['model']} · {best['prompt_version']}, composite" in text
    n_scen = data.scores["scenario_id"].n_unique()
    assert f"{n_scen} scenarios and {data.scores.height} judged tips in all" in text
    assert "judged by people (judge-0)" in text
    for sentence in data.verdict_lines:
        assert f"<li>{html_text(sentence)}</li>" in text
    assert "LLM judge (weak: a small model), gemma3-270m" in text
    for needle in ("sha256:abc", "Q4_K_M", "2222bbbb", "tip-v1", "2025-01-01"):
        assert needle in text
    for anchor in ("leaderboard", "verdicts", "comparisons", "examples", "provenance"):
        assert f"id='{anchor}'" in text and f"href='#{anchor}'" in text


# ---------------------------------------------------------------- a real browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Visit:
    """One offline page load with everything the page tried to do recorded."""

    def __init__(self, browser: object, path: Path) -> None:
        self.context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        self.blocked: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.dialogs: list[str] = []
        self.page.on(
            "console", lambda m: self.console.append(m.text) if m.type == "error" else None
        )
        self.page.on("pageerror", lambda e: self.console.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.goto(path.as_uri())
        self.page.wait_for_function(
            "document.querySelectorAll('.chart').length > 0 && [...document.querySelectorAll("
            "'.chart')].every(el => el.querySelector('svg, canvas') || el.textContent)",
            timeout=60_000,
        )

    def _route(self, route: object) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self) -> None:
        self.context.close()


@pytest.mark.browser
def test_report_renders_offline_in_chromium(browser: object, page: Path, data: Analysis) -> None:
    visit = Visit(browser, page)
    try:
        charts_drawn = visit.page.eval_on_selector_all(
            ".chart", "els => els.map(el => !!el.querySelector('svg, canvas'))"
        )
        assert len(charts_drawn) == len(report.chart_blocks(data)) == 10
        assert all(charts_drawn), charts_drawn
        assert visit.console == []
        assert visit.dialogs == []
        assert visit.blocked == []  # it never even tried the network
        tips = visit.page.locator("pre.tip-text").all_inner_texts()
        assert NASTY_TIP in tips
        assert (
            visit.page.locator("pre.tip-text b, pre.tip-text strong, pre.tip-text script").count()
            == 0
        )
        assert NASTY_SCENARIO in visit.page.locator("#examples").inner_text()
        headline = visit.page.locator(".headline").inner_text()
        assert headline.startswith(("Winner: ", "No single winner: "))
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    finally:
        visit.close()


@pytest.mark.browser
def test_large_report_renders_offline(browser: object, tmp_path: Path) -> None:
    """60 cells, 6,000 judged tips: every chart still draws (the busy ones on canvas)."""
    data = build_data(10, 6, 50, 2, n_judges=1, n_boot=50, provenance={"experiment": "large"})
    assert data.scores.height == 6000
    path = report.write_report(tmp_path, data)
    visit = Visit(browser, path)
    try:
        drawn = visit.page.eval_on_selector_all(
            ".chart", "els => els.map(el => el.querySelector('svg, canvas')?.tagName)"
        )
        assert len(drawn) == 10 and all(drawn), drawn
        assert "CANVAS" in drawn  # the 6,000-dot chart
        assert visit.console == [] and visit.dialogs == [] and visit.blocked == []
        assert "comparisons.csv has them all" in visit.page.locator("#comparisons").inner_text()
    finally:
        visit.close()


@pytest.mark.browser
def test_the_sample_report_reads_well_offline(browser: object, tmp_path: Path) -> None:
    """The shipped sample as ``tipbench compare --sample`` writes it, looked at in Chromium."""
    out = tmp_path / "sample"
    assert compare_main(["--sample", "--out", str(out)]) == EXIT_OK
    visit = Visit(browser, out / "report.html")
    try:
        drawn = visit.page.eval_on_selector_all(
            ".chart", "els => els.map(el => !!el.querySelector('svg, canvas'))"
        )
        # the rubric's 10 and, as the sample was judged in pairs too, the pairwise 2
        assert len(drawn) == 12 and all(drawn), drawn
        assert visit.console == [] and visit.dialogs == [] and visit.blocked == []
        # The provenance reads as body text, not in the small italics of a "provisional" label.
        style = visit.page.eval_on_selector(
            "dl.prov dd", "el => [getComputedStyle(el).fontStyle, getComputedStyle(el).fontSize]"
        )
        assert style[0] == "normal" and float(style[1].rstrip("px")) >= 13, style
        # A comparison's verdict is in view without scrolling the table sideways.
        first = visit.page.locator("#comparisons tbody tr").first
        box = first.locator(".verdict").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1280, box
        # A cell's name stays on one line.
        lines = first.locator("td.cell").first.evaluate(
            "el => { const r = document.createRange(); r.selectNodeContents(el);"
            " return r.getClientRects().length; }"
        )
        assert lines == 1, lines
        ARTIFACTS.mkdir(exist_ok=True)
        visit.page.screenshot(path=str(ARTIFACTS / "report-sample.png"), full_page=True)
    finally:
        visit.close()


def test_single_cell_report_says_there_is_nothing_to_compare(tmp_path: Path) -> None:
    data = build_data(1, 1, 4, 2)
    assert data.comparisons.height == 0
    text = report.write_report(tmp_path, data).read_text(encoding="utf-8")
    assert "Only one cell, model-00 · v1, judged by people (judge-0): nothing to compare" in text
    assert "No comparison involves model-00 · v1" in text
    assert "<ul class='sentences'>" not in text and "No comparisons." in text


def test_compute_without_judged_candidates_says_what_to_do() -> None:
    exp = synthetic.generate(1, 1, 4, 2, seed=2)
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments.head(0))
    with pytest.raises(TipbenchError, match="judge some"):
        analyse(data)
