"""An experiment records its rubric when it is collected; judging and comparing read it from there.

Collect runs against the Ollama stand-in and a real MLflow server. After collecting with a rubric
from a user's data directory, the data directory is taken away (another machine, a colleague's
judging session): the judge and the compare phase must still score on the experiment's rubric, from
MLflow alone. A second collect with another rubric is refused before anything changes, and an
experiment collected before rubrics were recorded is read as tip-v1 and says so.
"""

from __future__ import annotations

import json

import pytest

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.collect.journal import CollectJournal
from tipbench_lib.compare.load import load_experiment, read_snapshot, write_snapshot
from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED
from tipbench_lib.core.paths import DATA_ENV
from tipbench_lib.core.records import FORMAT_VERSION
from tipbench_lib.core.rubric import load_rubric_file, shipped_rubric
from tipbench_lib.judge.session import JudgeSession, Scores
from tipbench_lib.tracking.client import LONG_TAG_PREFIX
from tipbench_lib.tracking.experiment import experiment_rubric, record_rubric
from tipbench_lib.tracking.mapping import (
    FORMAT_TAG,
    RUBRIC_ARTIFACT,
    RUBRIC_HASH_TAG,
    RUBRIC_TAG,
    RUBRIC_TEXT_TAG,
    RUBRIC_VERSION_TAG,
    read_cell_artifact,
)

from .ollama_standin import FakeModel, OllamaStandIn
from .rubric_files import BRIEF, BRIEF_TEXT, brief_composite, brief_scores, write_brief_rubric
from .test_judge import collected_experiment, tip

TIP = "Submit your timesheets tonight; it takes 15 minutes."
MODELS = [FakeModel("tiny-a", 1_000_000_000, texts=(TIP,))]


@pytest.fixture
def standin(monkeypatch):
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.0) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        yield server


@pytest.fixture
def machine(mlflow_server, tipbench_home, monkeypatch):
    """This machine's settings: the session's MLflow server and a private TIPBENCH_HOME."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.delenv(DATA_ENV, raising=False)
    return tipbench_home


def collect(experiment: str, *extra: str) -> int:
    return collect_main(
        [
            "--experiment",
            experiment,
            "--models",
            "tiny-a",
            "--prompts",
            "v1",
            "--scenarios",
            "2",
            "--n-tips",
            "2",
            "--backend",
            "ollama",
            "--max-tokens",
            "32",
            *extra,
        ]
    )


def test_collect_records_the_rubric_and_judge_and_compare_read_it_without_the_file(
    standin, machine, mlflow_client, experiment_name, tmp_path
):
    mine = tmp_path / "mine"
    write_brief_rubric(mine)
    assert collect(experiment_name, "--rubric", BRIEF, "--data-dir", str(mine)) == EXIT_OK

    exp = mlflow_client.get_experiment_by_name(experiment_name)
    rubric = load_rubric_file(mine / "rubric" / f"{BRIEF}.toml")
    assert exp.tags[RUBRIC_TAG] == BRIEF and exp.tags[RUBRIC_VERSION_TAG] == BRIEF
    assert exp.tags[RUBRIC_HASH_TAG] == rubric.content_hash
    assert exp.tags[RUBRIC_TEXT_TAG] == BRIEF_TEXT, "the file's text, for another machine"
    assert exp.tags[FORMAT_TAG] == str(FORMAT_VERSION)
    state = CollectJournal(experiment_name).state()
    assert state.rubric == rubric.ref and state.rubric_text == BRIEF_TEXT

    runs = mlflow_client.search_runs([exp.experiment_id])
    assert {r.params["rubric_version"] for r in runs} == {BRIEF}
    assert all(r.metrics["too_long_rate"] == 0.0 for r in runs)
    assert not any("format_ok_rate" in r.metrics for r in runs), "tip-v1's checks did not run"
    candidates = read_cell_artifact(mlflow_client, runs[0]).candidates
    assert [c.auto for c in candidates] == [{"too_long": False}] * 2

    # Another machine: no data directory, so no brief-v1.toml anywhere but in the experiment.
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    assert session.rubric.ref == rubric.ref and session.rubric.path is None
    card = session.next_card()
    assert card.auto == {"too_long": False}
    saved = session.save(card.candidate_id, Scores(brief_scores(6, 5, False)))
    assert saved.synced and saved.record.composite == brief_composite(6, 5, False)
    assert saved.record.rubric == rubric.ref
    with pytest.raises(Exception, match="clarity must be an integer from 1 to 7"):
        session.save(session.next_card().candidate_id, Scores(brief_scores(8, 5, False)))

    data = load_experiment(mlflow_client, experiment_name)
    assert data.rubric.ref == rubric.ref and data.rubric_note == ""
    assert {"clarity", "kindness", "too_long"} <= set(data.judgments.columns)
    assert "relevance" not in data.judgments.columns
    assert data.judgments["composite"].to_list() == [brief_composite(6, 5, False)]
    assert data.provenance["rubric"] == rubric.ref.to_json()

    snapshot = write_snapshot(data, tmp_path / "snap")
    again = read_snapshot(snapshot)
    assert again.rubric.ref == rubric.ref and again.warnings == []
    assert again.judgments.equals(data.judgments)


def test_a_rubric_given_by_its_path_is_recorded_the_same_way(
    standin, machine, mlflow_client, experiment_name, tmp_path
):
    path = write_brief_rubric(tmp_path / "elsewhere")
    assert collect(experiment_name, "--rubric", str(path)) == EXIT_OK
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    assert experiment_rubric(mlflow_client, exp)[0].ref == load_rubric_file(path).ref


def test_collecting_with_another_rubric_is_refused_and_changes_nothing(
    standin, machine, mlflow_client, experiment_name, tmp_path, capsys
):
    mine = tmp_path / "mine"
    path = write_brief_rubric(mine)
    assert collect(experiment_name, "--rubric", str(path)) == EXIT_OK
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    runs = len(mlflow_client.search_runs([exp.experiment_id]))
    loads = len(standin.loads("tiny-a"))
    capsys.readouterr()

    assert collect(experiment_name, "--rubric", "tip-v1") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "is scored on rubric 'brief-v1'" in err and "'tip-v1'" in err, err
    assert "--experiment NEW" in err and "Traceback" not in err

    path.write_text(BRIEF_TEXT.replace("clarity = 3", "clarity = 4"), encoding="utf-8")
    assert collect(experiment_name, "--rubric", str(path)) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "content hash" in err and "new experiment" in err, err

    assert mlflow_client.get_experiment_by_name(experiment_name).tags == exp.tags
    assert len(mlflow_client.search_runs([exp.experiment_id])) == runs
    assert len(standin.loads("tiny-a")) == loads, "refused before any model was loaded"

    # Left out, --rubric is the experiment's own: a rerun resumes without the file at hand.
    path.unlink()
    assert collect(experiment_name) == EXIT_OK


def test_an_experiment_collected_before_rubrics_were_recorded_is_read_as_tip_v1_and_says_so(
    standin, machine, mlflow_client, experiment_name, tmp_path, capsys
):
    options = "temperature=0.8,top_p=0.95,max_tokens=32,num_ctx=2048"  # collect()'s settings
    collected_experiment(
        mlflow_client, experiment_name, models=("tiny-a",), n_scenarios=1, options=options
    )
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    assert RUBRIC_TAG not in exp.tags
    data = load_experiment(mlflow_client, experiment_name)
    assert data.rubric.ref == shipped_rubric().ref
    assert "recorded no rubric" in data.rubric_note and "tip-v1" in data.rubric_note
    assert data.provenance["rubric_note"] == data.rubric_note
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    assert session.save(session.order[0], tip(4, 4, 4, True, False)).record.composite == 14.0

    write_brief_rubric(tmp_path / "mine")
    extra = ("--rubric", BRIEF, "--data-dir", str(tmp_path / "mine"))
    assert collect(experiment_name, *extra) == EXIT_REFUSED
    assert "is scored on rubric 'tip-v1'" in capsys.readouterr().err
    assert collect(experiment_name) == EXIT_OK
    tags = mlflow_client.get_experiment_by_name(experiment_name).tags
    assert tags[RUBRIC_TAG] == "tip-v1", "its cells' rubric is recorded from then on"


def test_a_rubric_too_long_for_a_tag_is_kept_as_an_experiment_artifact(
    machine, mlflow_client, experiment_name, tmp_path
):
    long_text = BRIEF_TEXT.replace(
        'summary = "', 'summary = "' + "A long preamble a lab keeps with its rubric. " * 500, 1
    )
    path = tmp_path / f"{BRIEF}.toml"
    path.write_text(long_text, encoding="utf-8")
    rubric = load_rubric_file(path)
    assert len(rubric.text) > 20_000
    record_rubric(mlflow_client, experiment_name, rubric)
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    assert exp.tags[RUBRIC_TEXT_TAG] == f"{LONG_TAG_PREFIX}{RUBRIC_ARTIFACT}"
    read, note = experiment_rubric(mlflow_client, exp)
    assert read.ref == rubric.ref and read.text == long_text and note == ""


def test_records_carry_their_format_version(machine, mlflow_client, experiment_name):
    collected_experiment(
        mlflow_client, experiment_name, models=("tiny-a",), n_scenarios=1, rubric=shipped_rubric()
    )
    session = JudgeSession(mlflow_client, experiment_name, "ana")
    session.save(session.order[0], tip(3, 3, 3, True, False))
    records = [json.loads(x) for x in session.journal.path.read_text().splitlines()]
    [line] = [r for r in records if r.get("type") == "judgment"]
    assert line["format"] == FORMAT_VERSION
    assert line["rubric_hash"] == shipped_rubric().content_hash


# -- the recorded rubric cannot change under the judgments (issue 17, finding 5) -----------------


def edit_recorded_rubric(client, name: str, old: str, new: str) -> str:
    """Edit the experiment's rubric text as a stranger with write access would: the weight
    changed and the hash tag recomputed to match, so the text-against-hash check passes."""
    from tipbench_lib.core.hashing import content_hash

    exp = client.get_experiment_by_name(name)
    text = exp.tags[RUBRIC_TEXT_TAG]
    assert old in text
    edited = text.replace(old, new, 1)
    client.set_experiment_tag(exp.experiment_id, RUBRIC_TEXT_TAG, edited)
    client.set_experiment_tag(exp.experiment_id, RUBRIC_HASH_TAG, content_hash(edited))
    return content_hash(edited)


def judged_on_tip_v1(client, name: str) -> None:
    collected_experiment(client, name, models=("tiny-a",), n_scenarios=2, rubric=shipped_rubric())
    session = JudgeSession(client, name, "ana")
    for candidate_id in session.order[:3]:
        session.save(candidate_id, tip(4, 4, 4, True, False))


@pytest.mark.parametrize("weight", ["-1000", "0"])
def test_a_rubric_edited_after_judging_is_refused_naming_both_hashes(
    machine, mlflow_client, experiment_name, tmp_path, capsys, weight
):
    from tipbench_lib.compare.cli import main as compare_main
    from tipbench_lib.judge.cli import main as judge_main
    from tipbench_lib.tracking.status import main as status_main

    judged_on_tip_v1(mlflow_client, experiment_name)
    judged_hash = shipped_rubric().content_hash
    edited_hash = edit_recorded_rubric(
        mlflow_client, experiment_name, "relevance = 1\n", f"relevance = {weight}\n"
    )
    capsys.readouterr()
    runs = [
        (
            "compare",
            lambda: compare_main(["--experiment", experiment_name, "--out", str(tmp_path)]),
        ),
        ("status", lambda: status_main(["--experiment", experiment_name])),
        (
            "export",
            lambda: judge_main(
                ["--experiment", experiment_name, "--export", str(tmp_path / "x.json")]
            ),
        ),
    ]
    for what, run in runs:
        assert run() == EXIT_REFUSED, what
        err = capsys.readouterr().err
        assert judged_hash in err and edited_hash in err, (what, err)
        assert "3 judgment(s)" in err and "tipbench.rubric_toml" in err, (what, err)
        assert "Traceback" not in err
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("weight", ["nan", "inf", "-inf", "1e308"])
def test_a_recorded_rubric_with_a_weight_no_composite_can_use_is_refused_on_read(
    machine, mlflow_client, experiment_name, tmp_path, capsys, weight
):
    from tipbench_lib.compare.cli import main as compare_main

    judged_on_tip_v1(mlflow_client, experiment_name)
    edit_recorded_rubric(mlflow_client, experiment_name, "tone = 1\n", f"tone = {weight}\n")
    capsys.readouterr()
    assert compare_main(["--experiment", experiment_name, "--out", str(tmp_path)]) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "tipbench.rubric_toml" in err and "composite.weights.tone" in err, err
    assert "infs or NaNs" not in err and "Traceback" not in err


def test_a_snapshot_whose_rubric_was_edited_after_judging_is_refused(
    machine, mlflow_client, experiment_name, tmp_path, capsys
):
    from tipbench_lib.compare.cli import main as compare_main
    from tipbench_lib.core.hashing import content_hash

    judged_on_tip_v1(mlflow_client, experiment_name)
    snap = write_snapshot(load_experiment(mlflow_client, experiment_name), tmp_path / "snap")
    rubric_file, provenance_file = snap / "rubric.toml", snap / "provenance.json"
    edited = rubric_file.read_text(encoding="utf-8").replace("relevance = 1\n", "relevance = 0\n")
    rubric_file.write_text(edited, encoding="utf-8")
    provenance = json.loads(provenance_file.read_text(encoding="utf-8"))
    provenance["rubric"]["content_hash"] = content_hash(edited)
    provenance_file.write_text(json.dumps(provenance), encoding="utf-8")
    capsys.readouterr()

    assert compare_main(["--data", str(snap), "--out", str(tmp_path / "out")]) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert shipped_rubric().content_hash in err and content_hash(edited) in err, err
    assert str(rubric_file) in err and "3 judgment(s)" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
