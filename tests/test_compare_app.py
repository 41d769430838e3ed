"""The compare app as a user opens it: ``marimo run notebooks/compare.py`` in headless Chromium.

The app must say what the report says (both display one analysis), draw its charts, and leave a
screenshot in tests/artifacts/compare-app.png for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tipbench_lib.compare.analysis import analyse
from tipbench_lib.compare.job import load_source

from .test_app_exposure import chromium, marimo_app

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.mark.browser
def test_the_compare_app_shows_what_the_report_says(tmp_path: Path) -> None:
    expected = analyse(load_source(None, None))  # the app's defaults: the sample, every option
    with marimo_app("notebooks/compare.py", tmp_path) as (url, token), chromium() as browser:
        # Tall enough for the whole app: marimo scrolls inside its own element, so a full-page
        # screenshot shows only the viewport, and charts out of view may wait to be drawn.
        page = browser.new_page(viewport={"width": 1400, "height": 9000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/?access_token={token}")
        page.get_by_text("Highest mean").first.wait_for(timeout=120_000)
        page.get_by_text("verbosity slope").first.wait_for(timeout=120_000)
        charts = page.locator("canvas.marks")  # Playwright's locators see into shadow roots
        for _ in range(240):
            if charts.count() >= 12:
                break
            page.wait_for_timeout(500)
        # the rubric's 10 and the pairwise 2 (the sample was judged in pairs too)
        assert charts.count() == 12, "every chart of the analysis is drawn"
        text = " ".join(page.locator("body").inner_text().split())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compare-app.png"), full_page=True)
    said = (
        expected.headline,
        *expected.evidence,
        expected.view_note,
        expected.family_note,
        *expected.verdict_lines,
        *expected.slopes,
        expected.length_note,
        expected.front_note,
        expected.calibration.note,
    )
    for line in said:
        assert line in text, line
    assert errors == []


@pytest.mark.browser
def test_the_compare_app_shows_the_pairwise_section_of_an_experiment_with_pairs(
    tmp_path: Path,
) -> None:
    """A snapshot with pairs: the app draws the two pairwise charts beside the ten and says the
    pairwise lines the analysis makes; tests/artifacts/compare-app-pairwise.png shows it."""
    from tipbench_lib.compare.load import read_snapshot, write_snapshot

    from .test_compare_pairwise import data_of, experiment, pair_judgments, pairs_frame

    exp = experiment()
    pairs = pairs_frame(
        pair_judgments(exp, "judge-0", tips=2, seed=1)
        + pair_judgments(exp, "judge-1", kind="llm", tips=2, seed=2)
    )
    snapshot = write_snapshot(data_of(exp, pairs), tmp_path / "snapshot")
    expected = analyse(read_snapshot(snapshot)).pairwise
    with (
        marimo_app("notebooks/compare.py", tmp_path, "--data", str(snapshot)) as (url, token),
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 1400, "height": 12000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/?access_token={token}")
        page.get_by_text("Pair judges: agreement and position bias").first.wait_for(timeout=120_000)
        charts = page.locator("canvas.marks")
        for _ in range(240):
            if charts.count() >= 12:
                break
            page.wait_for_timeout(500)
        assert charts.count() == 12, "the ten charts and the two pairwise ones"
        text = " ".join(page.locator("body").inner_text().split())
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "compare-app-pairwise.png"), full_page=True)
    for line in (
        expected.headline,
        expected.agreement_line,
        *expected.verdict_lines,
        *expected.bias_lines,
    ):
        assert line in text, line
    assert errors == []
