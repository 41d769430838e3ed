"""A user's own data directory on top of the shipped data, and judging that reads only what it uses.

The shipped rubric, prompts and scenarios live in the package (``tipbench_lib/data``); a directory
named by ``--data-dir`` or ``TIPBENCH_DATA`` lies on top: a file with the same relative path
replaces the shipped one, others add to it, and messages say which directory a file came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED, DataFileError, TipbenchError
from tipbench_lib.core.paths import DATA_ENV, SHIPPED_DATA, data_dir_for, data_dirs
from tipbench_lib.core.prompts import get_prompt, list_prompts
from tipbench_lib.core.rubric import load_rubric
from tipbench_lib.core.scenarios import select_scenarios
from tipbench_lib.judge.cli import main as judge_main
from tipbench_lib.judge.session import JudgeSession

from .test_judge import collected_experiment

UNUSED_PERSONA = "teacher"
"""The last persona of the shipped file: ``collected_experiment`` uses the first one only."""


def scenario_file_breaking(persona: str, folder: Path) -> Path:
    """The shipped scenario file with one persona's first task made invalid, in ``folder``."""
    text = (SHIPPED_DATA / "scenarios.toml").read_text(encoding="utf-8")
    start = text.index(f'id = "{persona}"')
    head, tail = text[:start], text[start:]
    tail = tail.replace('priority = "high"', 'priority = "urgent"', 1)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenarios.toml"
    path.write_text(head + tail, encoding="utf-8")
    return path


def test_a_user_file_replaces_the_shipped_one_and_new_files_add(tmp_path, monkeypatch):
    user = tmp_path / "mine"
    (user / "prompts").mkdir(parents=True)
    shipped_v1 = (SHIPPED_DATA / "prompts" / "v1.toml").read_text(encoding="utf-8")
    (user / "prompts" / "v1.toml").write_text(
        shipped_v1.replace("description = ", 'description = "Mine." # ', 1), encoding="utf-8"
    )
    (user / "prompts" / "v9-mine.toml").write_text(
        shipped_v1.replace('version = "v1"', 'version = "v9-mine"'), encoding="utf-8"
    )
    monkeypatch.setenv(DATA_ENV, str(user))
    mine = get_prompt("v1")
    assert mine.path == user / "prompts" / "v1.toml" and mine.description == "Mine."
    assert get_prompt("v2-mentor").path == SHIPPED_DATA / "prompts" / "v2-mentor.toml"
    assert set(list_prompts().prompts) == {"v1", "v2-mentor", "v3-few-shot", "v9-mine"}
    with pytest.raises(TipbenchError) as unknown:
        get_prompt("v7")
    assert f"your data directory ({user / 'prompts'})" in str(unknown.value)
    assert "tipbench's shipped data" in str(unknown.value)
    assert load_rubric().path == SHIPPED_DATA / "rubric" / "tip-v1.toml"


def test_errors_say_which_directory_a_file_came_from(tmp_path, monkeypatch):
    user = tmp_path / "mine"
    scenario_file_breaking("nurse", user)
    monkeypatch.setenv(DATA_ENV, str(user))
    with pytest.raises(DataFileError) as broken:
        select_scenarios(1)
    message = str(broken.value)
    assert f"{user / 'scenarios.toml'} (from your data directory {user})" in message
    assert "urgent" in message
    monkeypatch.delenv(DATA_ENV)
    assert len(select_scenarios(1)) == 1, "the shipped file is untouched"


def test_data_dir_for_checks_the_directory_and_restores_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    with pytest.raises(TipbenchError, match="is not a directory"):
        data_dirs(tmp_path / "missing")
    with data_dir_for(tmp_path) as dirs:
        assert os.environ[DATA_ENV] == str(tmp_path.resolve()) and dirs.user == tmp_path.resolve()
    assert DATA_ENV not in os.environ
    with data_dir_for(None) as dirs:
        assert dirs.user is None and dirs.roots == (SHIPPED_DATA,)


def test_a_missing_data_dir_is_refused_before_anything_runs(tmp_path, capsys):
    from tipbench_lib.collect.cli import main as collect_main

    code = collect_main(["--models", "x", "--data-dir", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED and "is not a directory" in err and "Traceback" not in err
    assert DATA_ENV not in os.environ


def test_judging_reads_only_the_scenarios_its_candidates_use(
    mlflow_client, experiment_name, tipbench_home, tmp_path, monkeypatch, capsys
):
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=2)
    unused = scenario_file_breaking(UNUSED_PERSONA, tmp_path / "data")
    monkeypatch.setenv(DATA_ENV, str(unused.parent))

    export = tmp_path / "to-judge.json"
    args = ["--experiment", experiment_name]
    assert judge_main([*args, "--export", str(export)], client=mlflow_client) == EXIT_OK
    doc = json.loads(export.read_text(encoding="utf-8"))
    assert len(doc["items"]) == 6
    assert all(item["context"]["tasks"] for item in doc["items"]), "the scenarios were found"
    for item in doc["items"]:
        item["scores"] = {
            "relevance": 4,
            "actionability": 3,
            "tone": 4,
            "format_ok": True,
            "overlong": False,
        }
    export.write_text(json.dumps(doc), encoding="utf-8")
    applied = judge_main([*args, "--apply", str(export), "--judge-id", "ana"], client=mlflow_client)
    assert applied == EXIT_OK, capsys.readouterr().err
    session = JudgeSession(mlflow_client, experiment_name, "bo")
    card = session.next_card()
    assert card is not None and card.scenario.tasks

    used = scenario_file_breaking("nurse", tmp_path / "data")
    refused = judge_main([*args, "--export", str(export)], client=mlflow_client)
    err = capsys.readouterr().err
    assert refused == EXIT_REFUSED, err
    assert f"{used} (from your data directory" in err and "urgent" in err
