"""The judging app in a real browser: `marimo run notebooks/judge.py` driven by headless Chromium.

Scores a card with the mouse and one with the keyboard, checks the judgment in MLflow and after a
page reload, and that a tip holding ``<script>`` and markdown shows as literal text.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tipbench_lib.tracking.server import free_port  # noqa: E402

from .browser import CHROMIUM_ARGS, require_chromium
from .test_judge import TIPS, collected_experiment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).parent / "artifacts"
HOSTILE = "<script>alert(1)</script> Try **bold** moves: finish the quiz first."


@contextlib.contextmanager
def judge_app(
    env: dict[str, str], experiment: str, judge_id: str, *extra: str, repo: Path = REPO
) -> Iterator[str]:
    """`marimo run notebooks/judge.py` on a free port for one judge (``extra``: more of the
    app's arguments; ``repo``: another checkout's notebook, for the latency bench); stopped on
    exit."""
    port = free_port()
    log = open(Path(env["TIPBENCH_HOME"]).parent / f"marimo-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "marimo"),
            "run",
            str(repo / "notebooks/judge.py"),
            "--headless",
            "--no-token",
            "--port",
            str(port),
            "--session-ttl",
            "5",
            "--",
            "--experiment",
            experiment,
            "--judge-id",
            judge_id,
            *extra,
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=repo,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a bound for a loaded machine, not a speed
        while time.monotonic() < deadline:
            assert proc.poll() is None, "marimo run exited early; see its log"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            raise TimeoutError("marimo run did not answer within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def browser_page() -> Iterator[object]:
    """A headless Chromium page (Debian's chromium through Playwright), with dialogs recorded."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.dialogs = []  # type: ignore[attr-defined]
            page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
            yield page
        finally:
            browser.close()


def current_candidate(page: object, timeout_ms: int = 60_000) -> str:
    page.wait_for_selector(".tb-card", timeout=timeout_ms)
    return page.locator(".tb-card").first.get_attribute("data-candidate")


def pick_scores(page: object, scores: tuple[int, int, int]) -> None:
    groups = page.get_by_role("radiogroup")
    for index, score in enumerate(scores):
        groups.nth(index).locator(f'[role=radio][value^="{score} ·"]').click()


def submit_and_wait(
    page: object, previous: str, *, keyboard: bool = False, timeout_ms: int = 120_000
) -> str:
    """Submit the card (button or Ctrl+Enter) and wait until a different card is on screen."""
    if keyboard:
        page.get_by_placeholder("optional note").press("Control+Enter")
    else:
        page.get_by_role("button", name="Save and next").click()
    page.wait_for_selector(f".tb-card:not([data-candidate='{previous}'])", timeout=timeout_ms)
    return current_candidate(page)


def judgments_in_mlflow(
    client: object,
    run_id: str,
    judge_id: str,
    candidate_id: str | None = None,
    *,
    until: Callable[[list[dict]], bool] | None = None,
    timeout: float = 120,
) -> list[dict]:
    """The judge's judgments MLflow holds for the run. The app delivers to MLflow from a thread
    of its own, a moment after the save: with ``candidate_id`` (or ``until``), wait until MLflow
    has a judgment of that candidate (or ``until`` holds)."""
    from tipbench_lib.core.errors import TrackingError
    from tipbench_lib.judge.delivery import judge_artifact_path

    if candidate_id is not None:
        until = lambda saved: any(r["candidate_id"] == candidate_id for r in saved)  # noqa: E731
    deadline = time.monotonic() + timeout
    while True:
        try:
            saved = json.loads(client.download_artifact(run_id, judge_artifact_path(judge_id)))
        except TrackingError:
            saved = []
        if until is None or until(saved):
            return saved
        if time.monotonic() > deadline:
            raise AssertionError(f"MLflow did not get what was expected of {judge_id}: {saved}")
        time.sleep(0.1)


def metric_in_mlflow(client: object, run_id: str, key: str, timeout: float = 120) -> float:
    """The run's metric ``key`` once MLflow has it (waiting, as for the judgments)."""
    deadline = time.monotonic() + timeout
    while (value := client.get_run(run_id).metrics.get(key)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"MLflow never got the metric {key} of run {run_id}")
        time.sleep(0.1)
    return value


def judgment_of(saved: list[dict], candidate_id: str) -> dict:
    [found] = [r for r in saved if r["candidate_id"] == candidate_id]
    return found


@pytest.mark.browser
def test_judge_in_browser(mlflow_client, mlflow_env, experiment_name, tmp_path):
    from tipbench_lib.compare.load import load_experiment

    collected_experiment(mlflow_client, experiment_name, texts=(*TIPS, HOSTILE))
    data = load_experiment(mlflow_client, experiment_name)
    texts = dict(zip(data.candidates["candidate_id"], data.candidates["text"], strict=True))
    run_of = dict(zip(data.candidates["candidate_id"], data.candidates["cell_id"], strict=True))
    Path(mlflow_env["TIPBENCH_HOME"]).mkdir(parents=True, exist_ok=True)

    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.goto(url)
        first = current_candidate(page)
        assert "0 / 12 judged" in page.locator(".tb-progress").inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "judge.png"), full_page=True)

        pick_scores(page, (4, 3, 5))
        second = submit_and_wait(page, first)
        assert second != first

        run_id = data.run_ids[run_of[first]]
        saved = judgments_in_mlflow(mlflow_client, run_id, "ana", first)
        mine = [r for r in saved if r["candidate_id"] == first]
        assert len(mine) == 1
        assert (mine[0]["relevance"], mine[0]["actionability"], mine[0]["tone"]) == (4, 3, 5)
        assert mine[0]["judge_kind"] == "human"
        # The sender uploads the judgments, then the cell's metrics: wait for the second event
        # rather than read it right after the first (a busy machine puts time between them).
        assert metric_in_mlflow(mlflow_client, run_id, "judged_count") == 1.0

        # Keyboard: pick with the mouse, save with Ctrl+Enter from the note field.
        pick_scores(page, (2, 2, 2))
        page.get_by_placeholder("optional note").fill("keyboard save")
        third = submit_and_wait(page, second, keyboard=True)
        assert third not in (first, second)

        page.reload()
        after = current_candidate(page)
        assert after == third, "after a reload the queue resumes at the first unjudged card"
        assert "2 / 12 judged" in page.locator(".tb-progress").inner_text()
        assert "(2 saved)" in page.get_by_text("Revise an earlier score").first.inner_text()

        # Judge on until the hostile tip is on screen, then check it is literal text.
        current = after
        for _ in range(12):
            if texts[current] == HOSTILE:
                break
            pick_scores(page, (3, 3, 3))
            current = submit_and_wait(page, current)
        assert texts[current] == HOSTILE
        tip = page.locator("pre.tb-tip").first
        assert tip.inner_text().strip() == HOSTILE
        assert tip.locator("script, strong, b, em").count() == 0
        assert page.dialogs == []  # type: ignore[attr-defined]
        page.screenshot(path=str(ARTIFACTS / "judge-literal.png"), full_page=True)

    second_saved = judgments_in_mlflow(mlflow_client, data.run_ids[run_of[second]], "ana", second)
    keyboard = [r for r in second_saved if r["candidate_id"] == second]
    assert keyboard and keyboard[0]["note"] == "keyboard save"
    assert os.path.exists(Path(mlflow_env["TIPBENCH_HOME"]) / "journal")


@pytest.mark.browser
def test_a_card_missing_a_score_is_refused_with_its_picks_kept_and_a_score_is_revised(
    mlflow_client, mlflow_env, experiment_name
):
    """The form asks nothing of the kernel before it sends (no `validate=` round trip): the save
    cell refuses a card missing a score, and the same card comes back with the judge's picks. A
    saved score is then revised through the list below the card."""
    collected_experiment(mlflow_client, experiment_name)
    Path(mlflow_env["TIPBENCH_HOME"]).mkdir(parents=True, exist_ok=True)
    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.goto(url)
        first = current_candidate(page)
        groups = page.get_by_role("radiogroup")
        groups.nth(0).locator('[role=radio][value^="4 ·"]').click()
        groups.nth(2).locator('[role=radio][value^="5 ·"]').click()
        page.get_by_placeholder("optional note").fill("draft kept")
        page.get_by_role("button", name="Save and next").click()
        page.get_by_text("Not saved: pick a score for Actionability.").wait_for(timeout=120_000)
        assert current_candidate(page) == first
        kept = page.get_by_role("radiogroup")
        assert kept.nth(0).locator('[role=radio][value^="4 ·"]').is_checked()
        assert kept.nth(2).locator('[role=radio][value^="5 ·"]').is_checked()
        assert page.get_by_placeholder("optional note").input_value() == "draft kept"

        kept.nth(1).locator('[role=radio][value^="3 ·"]').click()
        second = submit_and_wait(page, first)
        assert second != first
        page.get_by_text("to your journal; MLflow").first.wait_for()
        data = load_run_ids(mlflow_client, experiment_name)
        saved = judgment_of(judgments_in_mlflow(mlflow_client, data[first], "ana", first), first)
        assert (saved["relevance"], saved["actionability"], saved["tone"]) == (4, 3, 5)
        assert saved["note"] == "draft kept"

        # Revise the first tip: pick it in the list, change a score, save; the queue goes on.
        page.get_by_text("Revise an earlier score (1 saved)").wait_for()
        page.get_by_label("Revise an earlier score (1 saved)").click()
        page.get_by_role("option").filter(has_text="#").first.click()
        page.wait_for_selector(f".tb-card[data-candidate='{first}']", timeout=120_000)
        page.get_by_text("Revising tip #").first.wait_for()
        revised = page.get_by_role("radiogroup")
        assert revised.nth(0).locator('[role=radio][value^="4 ·"]').is_checked()
        revised.nth(0).locator('[role=radio][value^="1 ·"]').click()
        after = submit_and_wait(page, first)
        assert after == second, "after a revision the queue resumes where it was"
        again = judgment_of(
            judgments_in_mlflow(
                mlflow_client,
                data[first],
                "ana",
                until=lambda saved: judgment_of(saved, first)["relevance"] == 1,
            ),
            first,
        )
        assert again["relevance"] == 1, "the revision reached MLflow"


def load_run_ids(client: object, experiment: str) -> dict[str, str]:
    """candidate id -> its cell's run id."""
    from tipbench_lib.compare.load import load_experiment

    data = load_experiment(client, experiment)
    cells = dict(zip(data.candidates["candidate_id"], data.candidates["cell_id"], strict=True))
    return {cid: data.run_ids[cell] for cid, cell in cells.items()}


def card_top(page: object) -> float:
    """Where the tip's card starts, in pixels from the top of the viewport."""
    return page.locator(".tb-card").first.evaluate("e => e.getBoundingClientRect().top")


@pytest.mark.browser
def test_after_ctrl_enter_the_next_tip_starts_on_screen(mlflow_client, mlflow_env, experiment_name):
    """Issue 22: the note box is below the tip, so a judge who saves from it with Ctrl+Enter has
    scrolled down; the next card replaced the last in place and its tip began above the screen."""
    collected_experiment(mlflow_client, experiment_name)
    Path(mlflow_env["TIPBENCH_HOME"]).mkdir(parents=True, exist_ok=True)
    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.set_viewport_size({"width": 1280, "height": 600})
        page.goto(url)
        current = current_candidate(page)
        for _ in range(2):
            pick_scores(page, (4, 3, 5))
            page.get_by_placeholder("optional note").fill("from the keyboard")
            assert card_top(page) < 0, "the note box is below the fold: the tip scrolled away"
            current = submit_and_wait(page, current, keyboard=True)
            page.wait_for_function(
                "() => { const r = document.querySelector('.tb-card').getBoundingClientRect();"
                " return r.top >= 0 && r.top < window.innerHeight / 2; }",
                timeout=10_000,
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "judge-after-ctrl-enter.png"))
