"""Export for outside judges, then apply the filled file: all or nothing, against real MLflow."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED  # noqa: E402
from tipbench_lib.judge.cli import main  # noqa: E402
from tipbench_lib.judge.exchange import FORMAT  # noqa: E402

from .test_judge import collected_experiment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _export(client, experiment: str, path: Path, *extra: str) -> dict:
    assert main(["--experiment", experiment, "--export", str(path), *extra], client=client) == 0
    return json.loads(path.read_text(encoding="utf-8"))


def _fill(doc: dict, judge_id: str | None = "outside") -> dict:
    filled = copy.deepcopy(doc)
    filled["judge_id"] = judge_id
    for index, item in enumerate(filled["items"]):
        item["scores"] = {
            "relevance": 1 + index % 5,
            "actionability": 3,
            "tone": 4,
            "format_ok": item["auto"]["format_ok"],
            "overlong": False,
        }
    return filled


def _stored(client, experiment: str, home: Path) -> list:
    """Every judgment anywhere: journals on disk and judgments/ artifacts in MLflow."""
    from tipbench_lib.compare.load import load_experiment

    journals = list((home / "journal").rglob("judgments/*.jsonl"))
    return journals + load_experiment(client, experiment).judgments.to_dicts()


def test_export_is_blind_complete_and_pending_only(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    collected_experiment(mlflow_client, experiment_name)
    doc = _export(mlflow_client, experiment_name, tmp_path / "out.json")
    assert doc["format"] == FORMAT and doc["experiment"] == experiment_name
    assert doc["judge_id"] is None and doc["rubric"]["version"] == "tip-v1"
    assert len(doc["items"]) == 12
    item = doc["items"][0]
    assert set(item) == {"candidate_id", "context", "tip", "auto", "scores", "note"}
    assert set(item["context"]) == {"persona", "time_slot", "tasks"} and item["context"]["tasks"]
    assert item["scores"] == dict.fromkeys(
        ("relevance", "actionability", "tone", "format_ok", "overlong")
    )
    assert "smollm2" not in json.dumps(doc)
    unblind = _export(mlflow_client, experiment_name, tmp_path / "open.json", "--unblind")
    assert {i["model"] for i in unblind["items"]} == {"smollm2-135m", "gemma3-270m"}

    half = _fill(doc)
    for item in half["items"][6:]:
        item["scores"] = dict.fromkeys(item["scores"])
    (tmp_path / "half.json").write_text(json.dumps(half))
    assert (
        main(
            ["--experiment", experiment_name, "--apply", str(tmp_path / "half.json")],
            client=mlflow_client,
        )
        == EXIT_OK
    )
    again = _export(mlflow_client, experiment_name, tmp_path / "rest.json")
    assert {i["candidate_id"] for i in again["items"]} == {
        i["candidate_id"] for i in doc["items"][6:]
    }, "the next export holds only what is still pending; empty items were skipped"


def test_export_fill_apply_through_the_script(mlflow_env, mlflow_client, experiment_name, tmp_path):
    from tipbench_lib.compare.load import load_experiment

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=2)
    out = tmp_path / "judging.json"
    script = [sys.executable, str(REPO / "notebooks/judge.py"), "--experiment", experiment_name]
    done = subprocess.run(
        [*script, "--export", str(out)],
        env=mlflow_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    filled = _fill(json.loads(out.read_text()), judge_id=None)
    out.write_text(json.dumps(filled))
    done = subprocess.run(
        [*script, "--apply", str(out), "--judge-id", "ext-1"],
        env=mlflow_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    judgments = load_experiment(mlflow_client, experiment_name).judgments
    assert judgments.height == 6
    assert set(judgments["judge_id"]) == {"ext-1"} and set(judgments["judge_kind"]) == {"import"}
    by_id = {r["candidate_id"]: r for r in judgments.to_dicts()}
    for item in filled["items"]:
        assert by_id[item["candidate_id"]]["relevance"] == item["scores"]["relevance"]
    run = mlflow_client.search_runs(
        [mlflow_client.get_experiment_by_name(experiment_name).experiment_id]
    )[0]
    assert run.tags["tipbench.judge_pending"] == "false" and run.metrics["judged_count"] == 3.0

    bad = copy.deepcopy(filled)
    bad["items"][0]["scores"]["tone"] = 9
    out.write_text(json.dumps(bad))
    done = subprocess.run(
        [*script, "--apply", str(out), "--judge-id", "ext-2"],
        env=mlflow_env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == EXIT_REFUSED
    assert f"item 1 (candidate {bad['items'][0]['candidate_id']})" in done.stderr
    assert "tone must be an integer from 1 to 5 (rubric tip-v1), got 9" in done.stderr


def _break(kind: str, doc: dict) -> tuple[dict, list[str]]:
    """A filled document with one kind of problem, and the texts its message must contain."""
    bad = copy.deepcopy(doc)
    item = bad["items"][1]
    cid = item["candidate_id"]
    where = f"item 2 (candidate {cid})"
    if kind == "unknown candidate":
        item["candidate_id"] = "0000000000000000"
        return bad, ["item 2 (candidate 0000000000000000)", "unknown candidate id"]
    if kind == "tip changed":
        item["tip"] += " (edited)"
        return bad, [where, "changed since export"]
    if kind == "out of range":
        item["scores"]["relevance"] = 0
        return bad, [where, "relevance must be an integer from 1 to 5 (rubric tip-v1), got 0"]
    if kind == "not an integer":
        item["scores"]["actionability"] = 3.5
        return bad, [where, "actionability must be an integer from 1 to 5 (rubric tip-v1), got 3.5"]
    if kind == "string score":
        item["scores"]["tone"] = "4"
        return bad, [where, "tone must be an integer from 1 to 5 (rubric tip-v1), got '4'"]
    if kind == "boolean as score":
        item["scores"]["tone"] = True
        return bad, [where, "tone must be an integer from 1 to 5 (rubric tip-v1), got True"]
    if kind == "not a boolean":
        item["scores"]["format_ok"] = "yes"
        return bad, [where, "format_ok must be true or false, got 'yes'"]
    if kind == "partly filled":
        item["scores"]["overlong"] = None
        return bad, [where, "partly filled: overlong still null"]
    if kind == "duplicate":
        bad["items"].append(copy.deepcopy(bad["items"][0]))
        return bad, [
            f"item {len(bad['items'])} (candidate {bad['items'][0]['candidate_id']})",
            "more than once",
        ]
    if kind == "no judge id":
        bad["judge_id"] = None
        return bad, ["no judge id", "--judge-id"]
    if kind == "wrong format":
        bad["format"] = "something/2"
        return bad, ["format is 'something/2'"]
    if kind == "other experiment":
        bad["experiment"] = "another"
        return bad, ["for experiment 'another'"]
    if kind == "other rubric":
        bad["rubric"] = {**bad["rubric"], "version": "tip-v2", "content_hash": "0" * 16}
        return bad, ["scored on rubric 'tip-v1'", "the judgment says rubric 'tip-v2'"]
    if kind == "edited rubric":
        bad["rubric"]["content_hash"] = "0" * 16
        return bad, ["with content hash 0000000000000000", "judge it again"]
    if kind == "no rubric":
        del bad["rubric"]
        return bad, ["does not say which rubric", "export a new file"]
    raise AssertionError(kind)


KINDS = (
    "unknown candidate",
    "tip changed",
    "out of range",
    "not an integer",
    "string score",
    "boolean as score",
    "not a boolean",
    "partly filled",
    "duplicate",
    "no judge id",
    "wrong format",
    "other experiment",
    "other rubric",
    "edited rubric",
    "no rubric",
)


def test_every_rejection_stores_nothing(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    good = _fill(_export(mlflow_client, experiment_name, tmp_path / "out.json"))
    capsys.readouterr()
    for kind in KINDS:
        bad, expected = _break(kind, good)
        path = tmp_path / f"{kind.replace(' ', '_')}.json"
        path.write_text(json.dumps(bad))
        status = main(["--experiment", experiment_name, "--apply", str(path)], client=mlflow_client)
        err = capsys.readouterr().err
        assert status == EXIT_REFUSED, kind
        assert "nothing was stored" in err, kind
        for text in expected:
            assert text in err, (kind, err)
        assert _stored(mlflow_client, experiment_name, tipbench_home) == [], kind

    (tmp_path / "broken.json").write_text('{"format": ')
    assert (
        main(
            ["--experiment", experiment_name, "--apply", str(tmp_path / "broken.json")],
            client=mlflow_client,
        )
        == EXIT_REFUSED
    )
    assert "not valid JSON" in capsys.readouterr().err


def test_all_problems_are_reported_at_once(mlflow_client, experiment_name, tipbench_home, tmp_path):
    from tipbench_lib.judge.exchange import ImportRejected, apply_file

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    bad = _fill(_export(mlflow_client, experiment_name, tmp_path / "out.json"))
    bad["items"][0]["scores"]["tone"] = 0
    bad["items"][2]["tip"] = "edited"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ImportRejected) as caught:
        apply_file(mlflow_client, experiment_name, path)
    assert [(p.position, p.candidate_id) for p in caught.value.problems] == [
        (1, bad["items"][0]["candidate_id"]),
        (3, bad["items"][2]["candidate_id"]),
    ]
    assert _stored(mlflow_client, experiment_name, tipbench_home) == []
