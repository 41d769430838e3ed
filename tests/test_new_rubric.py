"""A new rubric, end to end, without code: one TOML file in a data directory, then every phase.

brief-v1 (``tests/rubric_files.py``: clarity and kindness on 1-7, the flag ``too_long``, weights
3, 1 and -3) is written to a temporary data directory, and the experiment runs with the real parts:
``tipbench collect --rubric brief-v1`` with the embedded models, the judging card in headless
Chromium, an export filled by an outside judge and applied, the LLM judge on an embedded model,
and ``tipbench compare``. Only collect sees the data directory: every later step reads the rubric
from the experiment, as a colleague's machine would.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import polars as pl
import pytest

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.compare.cli import main as compare_main
from tipbench_lib.compare.load import load_experiment
from tipbench_lib.core.errors import EXIT_OK
from tipbench_lib.core.paths import DATA_ENV
from tipbench_lib.judge import llm
from tipbench_lib.judge.cli import main as judge_main

from .rubric_files import (
    BRIEF,
    BRIEF_RANGE,
    CLARITY,
    KINDNESS,
    TOO_LONG_CHARS,
    brief_composite,
    write_brief_rubric,
)
from .test_judge_browser import (
    ARTIFACTS,
    browser_page,
    current_candidate,
    judge_app,
    judgments_in_mlflow,
    pick_scores,
    submit_and_wait,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]
JUDGE_MODEL = "smollm2-135m"


def shown(page: object, text: str) -> bool:
    """Whether the page shows ``text`` anywhere, inside marimo's components (shadow DOM) too."""
    return page.get_by_text(text, exact=False).count() > 0


def test_a_new_rubric_runs_every_phase_without_code(
    mlflow_server, mlflow_env, mlflow_client, experiment_name, tmp_path, monkeypatch
):
    home = Path(mlflow_env["TIPBENCH_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.delenv(DATA_ENV, raising=False)
    mine = tmp_path / "mine"
    write_brief_rubric(mine)

    # -- collect, the only step that sees the data directory ----------------------------------
    collected = collect_main(
        [
            "--experiment",
            experiment_name,
            "--backend",
            "embedded",
            "--models",
            "smollm2-135m",
            "--prompts",
            "v1",
            "--scenarios",
            "2",
            "--n-tips",
            "2",
            "--rubric",
            BRIEF,
            "--data-dir",
            str(mine),
        ]
    )
    assert collected == EXIT_OK
    data = load_experiment(mlflow_client, experiment_name)
    assert data.rubric.version == BRIEF and data.candidates.height == 4
    assert "too_long_auto" in data.candidates.columns
    assert "format_ok_auto" not in data.candidates.columns
    cell_of = dict(zip(data.candidates["candidate_id"], data.candidates["cell_id"], strict=True))
    too_long = {
        row["candidate_id"]: len(row["text"]) > TOO_LONG_CHARS
        for row in data.candidates.iter_rows(named=True)
    }
    assert data.candidates["too_long_auto"].to_list() == [
        too_long[c] for c in data.candidates["candidate_id"]
    ], "brief-v1's own automatic check ran on every tip"

    # -- the judging card in the browser: its dimensions, its levels, its flag ----------------
    assert DATA_ENV not in mlflow_env
    with judge_app(mlflow_env, experiment_name, "ana") as url, browser_page() as page:
        page.goto(url)
        first = current_candidate(page)
        radios = page.get_by_role("radiogroup")
        assert radios.count() == 2, "one group per dimension of brief-v1"
        for name in ("Clarity", "Kindness", f"Too long: more than {TOO_LONG_CHARS} characters"):
            assert shown(page, name), name
        for name in ("Relevance", "Actionability", "Well-formed"):
            assert not shown(page, name), f"{name}: nothing of tip-v1"
        for group, levels in ((0, CLARITY), (1, KINDNESS)):
            assert radios.nth(group).locator("[role=radio]").count() == 7
            for score, (anchor, _example) in enumerate(levels, start=1):
                assert shown(page, f"{score} · {anchor}"), anchor
        verdict = "yes" if too_long[first] else "no"
        assert f"Too long: {verdict}" in page.locator(".tb-card").first.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "judge-new-rubric.png"), full_page=True)
        pick_scores(page, (6, 5))
        submit_and_wait(page, first)

    [saved] = [
        r
        for r in judgments_in_mlflow(mlflow_client, data.run_ids[cell_of[first]], "ana", first)
        if r["candidate_id"] == first
    ]
    # the flag's box came pre-filled from the automatic check, and was saved as shown
    assert (saved["clarity"], saved["kindness"], saved["too_long"]) == (6, 5, too_long[first])
    assert saved["composite"] == brief_composite(6, 5, too_long[first])
    assert saved["rubric_version"] == BRIEF and saved["rubric_hash"] == data.rubric.content_hash
    assert "relevance" not in saved

    # -- an outside judge: export, fill, apply ------------------------------------------------
    export = tmp_path / "judging.json"
    assert judge_main(["--experiment", experiment_name, "--export", str(export)]) == EXIT_OK
    doc = json.loads(export.read_text(encoding="utf-8"))
    assert doc["rubric"]["version"] == BRIEF and "from 1 to 7" in doc["rubric"]["text"]
    item = doc["items"][0]
    assert item["scores"] == {"clarity": None, "kindness": None, "too_long": None}
    assert set(item["auto"]) == {"too_long"}
    for n, item in enumerate(doc["items"]):
        item["scores"] = {"clarity": 7 - n, "kindness": 1 + n, "too_long": n == 0}
    doc["judge_id"] = "outside"
    export.write_text(json.dumps(doc), encoding="utf-8")
    assert judge_main(["--experiment", experiment_name, "--apply", str(export)]) == EXIT_OK

    # -- the LLM judge on an embedded model, asked in brief-v1's terms -------------------------
    schemas: list[dict] = []
    real_request = llm.judge_request

    def spy(*args, **kwargs):
        request = real_request(*args, **kwargs)
        schemas.append(request.json_schema)
        return request

    monkeypatch.setattr(llm, "judge_request", spy)
    judged = judge_main(
        ["--experiment", experiment_name, "--llm-judge", JUDGE_MODEL, "--backend", "embedded"]
    )
    assert judged == EXIT_OK
    assert schemas and all(s == llm.with_reason(data.rubric.json_schema()) for s in schemas)
    assert schemas[0]["required"] == ["clarity", "kindness", "too_long", "reason"]
    assert schemas[0]["properties"]["kindness"]["enum"] == list(range(1, 8))

    data = load_experiment(mlflow_client, experiment_name)
    reasons = data.notes.filter(pl.col("judge_id") == f"llm:{JUDGE_MODEL}")
    assert reasons.height == 4 and all(reasons["note"])  # the reason reaches compare's explorer
    judgments = data.judgments
    assert set(judgments["judge_id"]) == {"ana", "outside", f"llm:{JUDGE_MODEL}"}
    assert judgments.height == 1 + len(doc["items"]) + 4
    for row in judgments.iter_rows(named=True):
        assert 1 <= row["clarity"] <= 7 and 1 <= row["kindness"] <= 7
        assert row["composite"] == brief_composite(row["clarity"], row["kindness"], row["too_long"])
    assert data.warnings == []

    # -- compare: the report's ranges and the tables are brief-v1's -------------------------
    out = tmp_path / "report"
    assert compare_main(["--experiment", experiment_name, "--out", str(out)]) == EXIT_OK
    with open(out / "leaderboard.csv", encoding="utf-8") as fh:
        board = list(csv.DictReader(fh))
    assert {"clarity_mean", "kindness_mean"} <= set(board[0])
    assert "relevance_mean" not in board[0]
    low, high = BRIEF_RANGE
    for row in board:
        assert low <= float(row["composite_lo"]) <= float(row["composite_hi"]) <= high
    report = (out / "report.html").read_text(encoding="utf-8")
    assert f"Composite on the {low:g}–{high:g} scale of rubric {BRIEF}; dimensions on 1–7" in report
    assert "2–17" not in report and "1–5" not in report and "Relevance" not in report
    for header in ("Clarity", "Kindness", "Too long"):
        assert f">{header}</th>" in report, header

    # -- the leaderboard's composite is brief-v1's weighted sum, worked out here by hand ----------
    outside = tmp_path / "outside"
    assert (
        compare_main(
            ["--experiment", experiment_name, "--out", str(outside), "--judges", "outside"]
        )
        == EXIT_OK
    )
    with open(outside / "leaderboard.csv", encoding="utf-8") as fh:
        [cell] = list(csv.DictReader(fh))
    scenario_of = dict(zip(data.cells["cell_id"], data.cells["scenario_id"], strict=True))
    per_scenario: dict[str, list[float]] = {}
    for item in doc["items"]:
        s = item["scores"]
        scenario = scenario_of[cell_of[item["candidate_id"]]]
        per_scenario.setdefault(scenario, []).append(
            brief_composite(s["clarity"], s["kindness"], s["too_long"])
        )
    means = [sum(v) / len(v) for v in per_scenario.values()]
    assert float(cell["composite_mean"]) == pytest.approx(sum(means) / len(means))
    assert os.path.getsize(outside / "report.html") > 0
