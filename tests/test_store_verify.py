"""MLflow is shared, so what it holds is checked before use: planted and copied runs are ignored.

Against the real MLflow server and the Ollama stand-in. A collect adopts a finished run only when
everything it takes recomputes (the cell id from this experiment's name and the run's params,
every candidate id from its cell, index and text), is within bounds (a 5 MB tip is not taken, and
not downloaded whole) and is the planned cell's (model, digest); the prompt it records is the
planned cell's own. Every reader of an
experiment (status, the judge export, compare) counts only the cells of this experiment: a run
copied from another experiment, whose cell id hashes the other experiment's name, is left out.
Each ignored run is named once, with why.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.compare.load import load_experiment
from tipbench_lib.core.errors import EXIT_OK
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.judge.cli import main as judge_main
from tipbench_lib.judge.delivery import judge_artifact_path
from tipbench_lib.judge.session import JudgeSession
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.experiment import read_experiment
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    CELL_TAG,
    COUNT_TAG,
    N_TIPS_TAG,
    candidates_document,
    judgments_document,
    read_cell_artifact,
)
from tipbench_lib.tracking.status import status_of

from .ollama_standin import FakeModel, OllamaStandIn
from .test_judge import tip

FIRST = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Block 25 minutes for the draft.", "Plan lunch.")),
    FakeModel("tiny-b", 2_000_000_000, texts=("Answer two emails now.", "Stretch at noon.")),
]
OTHER = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Close every tab but one.", "Write the agenda.")),
    FakeModel("tiny-b", 2_000_000_000, texts=("Call the client first.", "File the receipts.")),
]
GRID = ["--backend", "ollama", "--prompts", "v1", "--max-tokens", "16", "--timeout", "30"]


@pytest.fixture
def collect(monkeypatch: pytest.MonkeyPatch, mlflow_server: str, tmp_path: Path):
    """Run ``tipbench collect`` in this process as a worker with its own home."""
    for key in [k for k in __import__("os").environ if k.startswith("MLFLOW_TRACKING_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)

    def run(home: str, host: OllamaStandIn, experiment: str, *args: str) -> int:
        monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path / home))
        monkeypatch.setenv("OLLAMA_HOST", host.url)
        return collect_main([*GRID, "--experiment", experiment, *args])

    return run


def runs_by_cell(client: MlflowClient, experiment: str) -> dict:
    exp = client.get_experiment_by_name(experiment)
    return {
        r.tags[CELL_TAG]: r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)
    }


def plant(client: MlflowClient, like, candidates, *, params=None, prompt="p") -> str:
    """A FINISHED run with ``like``'s cell tag, params (or ``params``) and these candidates."""
    run = client.create_run(like.experiment_id, like.run_name, tags={CELL_TAG: like.tags[CELL_TAG]})
    client.log_artifact(run.run_id, CANDIDATES_ARTIFACT, candidates_document(prompt, candidates))
    tags = {COUNT_TAG: str(len(candidates)), N_TIPS_TAG: str(len(candidates))}
    client.log_batch(run.run_id, params=params or like.params, tags=tags)
    client.update_run(run.run_id, "FINISHED")
    return run.run_id


def retexted(candidate, text: str):
    """The candidate with another text and the id that text gets (a well-made id)."""
    cid = content_hash([candidate.cell_id, candidate.sample_index, text])
    return replace(candidate, text=text, raw=text, candidate_id=cid)


def test_adoption_takes_only_runs_it_can_verify_and_names_each_it_ignores(
    collect, mlflow_client, experiment_name, capsys
):
    grid = ["--models", "tiny-a,tiny-b", "--scenarios", "4", "--n-tips", "2"]
    with OllamaStandIn(FIRST, load_s=0.01, gen_s=0.005) as first:
        assert collect("worker-1", first, experiment_name, *grid) == EXIT_OK
    real = runs_by_cell(mlflow_client, experiment_name)
    prompts = {c: read_cell_artifact(mlflow_client, r, prompt=True).prompt for c, r in real.items()}
    tips = {cid: read_cell_artifact(mlflow_client, r).candidates for cid, r in real.items()}
    for run in real.values():
        mlflow_client.delete_run(run.run_id)

    cells = sorted(real)
    kinds = ["model", "digest", "prompt", "big", "within", "across", "date", "good"]
    c = {name: cells[i] for i, name in enumerate(kinds)}
    planted = {
        "model": plant(
            mlflow_client, real[c["model"]], tips[c["model"]],
            params={**real[c["model"]].params, "model": "gpt-4o-PLANTED"},
            prompt=prompts[c["model"]],
        ),
        "digest": plant(
            mlflow_client, real[c["digest"]], tips[c["digest"]],
            params={**real[c["digest"]].params, "model_digest": "sha256:planted"},
            prompt=prompts[c["digest"]],
        ),
        "prompt": plant(
            mlflow_client, real[c["prompt"]], tips[c["prompt"]], prompt="Say something rude."
        ),
        "big": plant(
            mlflow_client, real[c["big"]],
            [retexted(tips[c["big"]][0], "x" * 5_000_000), tips[c["big"]][1]],
            prompt=prompts[c["big"]],
        ),
        "within": plant(
            mlflow_client, real[c["within"]],
            [tips[c["within"]][0], replace(tips[c["within"]][1],
                                           candidate_id=tips[c["within"]][0].candidate_id)],
            prompt=prompts[c["within"]],
        ),
        "across": plant(
            mlflow_client, real[c["across"]],
            [replace(tips[c["across"]][0], candidate_id=tips[c["good"]][0].candidate_id),
             tips[c["across"]][1]],
            prompt=prompts[c["across"]],
        ),
        "date": plant(
            mlflow_client, real[c["date"]],
            [replace(tips[c["date"]][0], created_at="not-a-date"), tips[c["date"]][1]],
            prompt=prompts[c["date"]],
        ),
        "good": plant(mlflow_client, real[c["good"]], tips[c["good"]], prompt=prompts[c["good"]]),
    }  # fmt: skip
    # A judge of the planted run with a repeated id scored one candidate three times.
    zed = JudgeSession(mlflow_client, experiment_name, "zed")
    scores = tip(4, 4, 4, True, False)
    judged = zed.save(tips[c["good"]][1].candidate_id, scores)
    rows = [replace(judged.record, candidate_id=tips[c["within"]][0].candidate_id)] * 3
    mlflow_client.log_artifact(
        planted["within"], judge_artifact_path("zed"), judgments_document(rows)
    )

    capsys.readouterr()
    with OllamaStandIn(OTHER, load_s=0.01, gen_s=0.005) as other:
        code = collect("worker-2", other, experiment_name, *grid)
        out = capsys.readouterr().out
        made = {r["model"] for r in other.generation_requests()}
        assert len(other.generation_requests()) == 6 * 2, "only the verified cells were taken"
    assert code == EXIT_OK, out
    assert "(2 taken from MLflow)" in out, out
    for kind, run_id in planted.items():
        named = [line for line in out.splitlines() if run_id in line]
        if kind in ("good", "prompt"):
            assert not named, out
        else:
            assert len(named) == 1 and "ignored" in named[0], (kind, out)
    lines = {k: next((x for x in out.splitlines() if rid in x), "") for k, rid in planted.items()}
    assert "gpt-4o-PLANTED" in lines["model"] and "sha256:planted" in lines["digest"]
    assert "bytes" in lines["big"]
    assert "repeat" in lines["within"] and "not-a-date" in lines["date"]
    assert made == {"tiny-a", "tiny-b"}

    # More tips: every tip goes to a verified run of a planned model.
    with OllamaStandIn(OTHER, load_s=0.01, gen_s=0.005) as other:
        assert collect("worker-2", other, experiment_name, *grid[:4], "--n-tips", "3") == EXIT_OK
    stored = read_experiment(mlflow_client, experiment_name)
    assert {cell.model for cell in stored.records.cells.values()} == {"tiny-a", "tiny-b"}
    assert len(stored.records.cells) == 8 and len(stored.records.candidates) == 8 * 3
    kept = set(stored.records.run_ids.values())
    assert kept.isdisjoint(set(planted.values()) - {planted["good"], planted["prompt"]})
    grown = mlflow_client.get_run(stored.records.run_ids[c["prompt"]])
    assert read_cell_artifact(mlflow_client, grown, prompt=True).prompt == prompts[c["prompt"]]
    data = load_experiment(mlflow_client, experiment_name)
    assert set(data.cells["model"]) == {"tiny-a", "tiny-b"}
    assert data.judgments.height == 1, "only zed's judgment of a verified tip"


def test_a_run_copied_from_another_experiment_does_not_count_anywhere(
    collect, mlflow_client, experiment_name, tmp_path, capsys
):
    other_name = f"{experiment_name}-other"
    with OllamaStandIn(FIRST, load_s=0.01, gen_s=0.005) as host:
        grid = ["--models", "tiny-a", "--n-tips", "2"]
        assert collect("home", host, experiment_name, *grid, "--scenarios", "2") == EXIT_OK
        assert collect("home", host, other_name, *grid, "--scenarios", "1") == EXIT_OK
    [foreign] = runs_by_cell(mlflow_client, other_name).values()
    ana = JudgeSession(mlflow_client, other_name, "ana")
    foreign_tips = read_cell_artifact(mlflow_client, foreign, prompt=True)
    judged = ana.save(foreign_tips.candidates[0].candidate_id, tip(5, 5, 5, True, False))
    assert judged.synced

    # The run copied into this experiment, tags, params, candidates and judgment alike.
    exp = mlflow_client.get_experiment_by_name(experiment_name)
    copy = mlflow_client.create_run(exp.experiment_id, foreign.run_name, tags=dict(foreign.tags))
    mlflow_client.log_artifact(
        copy.run_id,
        CANDIDATES_ARTIFACT,
        candidates_document(foreign_tips.prompt, foreign_tips.candidates),
    )
    mlflow_client.log_artifact(
        copy.run_id, judge_artifact_path("ana"), judgments_document([judged.record])
    )
    mlflow_client.log_batch(copy.run_id, params=foreign.params)
    mlflow_client.update_run(copy.run_id, "FINISHED")

    with pytest.warns(UserWarning, match=copy.run_id):
        stored = read_experiment(mlflow_client, experiment_name)
    status = status_of(stored.records)
    assert status["cells"] == 2 and status["candidates"] == 4 and status["judged_candidates"] == 0
    foreign_ids = {c.candidate_id for c in foreign_tips.candidates}

    export = tmp_path / "export.json"
    with pytest.warns(UserWarning, match=copy.run_id):
        assert judge_main(["--experiment", experiment_name, "--export", str(export)]) == EXIT_OK
    exported = {item["candidate_id"] for item in json.loads(export.read_text())["items"]}
    assert len(exported) == 4 and not exported & foreign_ids

    with pytest.warns(UserWarning, match=copy.run_id):
        data = load_experiment(mlflow_client, experiment_name)
    assert data.cells.height == 2 and not set(data.candidates["candidate_id"]) & foreign_ids
