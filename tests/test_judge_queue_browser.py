"""The judging app's adaptive queue, its status panel and stop moment, and the starter's lock, in
headless Chromium against `marimo run notebooks/judge.py` and a real MLflow server."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_judge import collected_experiment
from .test_judge_browser import browser_page, current_candidate, judge_app, pick_scores

ARTIFACTS = Path(__file__).parent / "artifacts"
GOOD = "smollm2-135m"


def _cells(client, experiment: str) -> dict[str, str]:
    from tipbench_lib.tracking.experiment import read_experiment

    records = read_experiment(client, experiment).records
    return {c.candidate_id: records.cells[c.cell_id].model for c in records.candidates}


def _submit(page, previous: str) -> str:
    page.get_by_role("button", name="Save and next").click()
    page.wait_for_selector(f".tb-card:not([data-candidate='{previous}'])", timeout=120_000)
    return current_candidate(page)


@pytest.mark.browser
def test_the_app_serves_the_adaptive_queue_and_says_when_to_stop(
    mlflow_client, mlflow_env, experiment_name
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=12, n_tips=1)
    model_of = _cells(mlflow_client, experiment_name)
    Path(mlflow_env["TIPBENCH_HOME"]).mkdir(parents=True, exist_ok=True)
    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.goto(url)
        current = current_candidate(page)
        status = page.locator(".tb-status")
        assert "0 of 1 primary comparisons decided" in status.inner_text()
        assert status.get_attribute("data-can-stop") == "false"
        assert GOOD not in status.inner_text(), "the panel names no model to a blind judge"
        seen = []
        while status.get_attribute("data-can-stop") != "true" and len(seen) < len(model_of):
            seen.append(current)
            pick_scores(page, (5, 5, 5) if model_of[current] == GOOD else (2, 2, 2))
            current = _submit(page, current)
            page.wait_for_function(
                "n => document.body.innerText.includes(n + ' / 24 judged')", arg=len(seen)
            )
        assert status.get_attribute("data-can-stop") == "true", "the queue never said stop"
        assert len(seen) < len(model_of), "the adaptive queue stopped before every card"
        assert len(seen) % 2 == 0, "a scenario's two arms come as a pair of cards"
        assert "1 of 1 primary comparisons decided" in status.inner_text()
        assert page.locator("tr[data-decision='worse'], tr[data-decision='better']").count() == 1
        assert "You can stop" in page.get_by_text("You can stop").first.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "judge-stop.png"), full_page=True)
        # The judge may go on: the next card (uniform order) is on screen under the banner.
        assert current not in seen
        pick_scores(page, (3, 3, 3))
        after = _submit(page, current)
        assert after not in (*seen, current)


@pytest.mark.browser
def test_the_judge_id_given_at_start_is_locked_and_unblinding_hidden(
    mlflow_client, mlflow_env, experiment_name
):
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    home = Path(mlflow_env["TIPBENCH_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.goto(url)
        first = current_candidate(page)
        # Once judging has started the start form is folded into one line; it opens again.
        page.get_by_text("open to start over").click()
        box = page.get_by_role("textbox", name="Your judge id")
        assert box.is_disabled()
        # (The experiment's name, in the folded line, holds the word itself.)
        assert page.get_by_text("Show model and prompt (unblind)").count() == 0
        # A page edited to lift the lock still saves under the id the app was started with.
        box.evaluate("e => e.removeAttribute('disabled')")
        box.fill("mallory")
        page.get_by_role("button", name="Start judging").click()
        pick_scores(page, (4, 4, 4))
        _submit(page, first)
    files = sorted(p.name for p in home.rglob("judgments/*.jsonl"))
    assert len(files) == 1 and files[0].startswith("ana-"), files
    assert "mallory" not in (home.rglob("judgments/*.jsonl").__next__()).read_text()
    with judge_app(mlflow_env, experiment_name, "bo", "--unblind") as url, browser_page() as page:
        page.goto(url)
        current_candidate(page)
        page.get_by_text("open to start over").click()
        assert page.get_by_text("Show model and prompt (unblind)").count() == 1
    assert JudgeSession(mlflow_client, experiment_name, "ana", home=home).progress().judged == 1


@pytest.mark.browser
def test_an_undecidable_design_is_said_above_the_first_card_not_stop(
    mlflow_client, mlflow_env, experiment_name
):
    """Issue 20: 2 cells over 5 scenarios: the one comparison needs 6, so nothing can be decided
    whatever the scores. The app said "You can stop" at 0 judged; it must say the design
    cannot decide, and what would, above the first card."""
    collected_experiment(mlflow_client, experiment_name, n_scenarios=5, n_tips=1)
    Path(mlflow_env["TIPBENCH_HOME"]).mkdir(parents=True, exist_ok=True)
    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.goto(url)
        current_candidate(page)
        page.wait_for_selector(".tb-undecidable", timeout=60_000)
        assert "0 / 10 judged" in page.locator(".tb-progress").inner_text()
        bold = page.get_by_text("Nothing can be decided here, whatever the scores.").first
        banner = bold.locator("xpath=..").inner_text()  # the callout's paragraph
        assert "cannot decide its one primary comparison" in banner
        assert "needs at least 6 scenarios" in banner
        assert page.get_by_text("You can stop").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "judge-undecidable.png"), full_page=True)
