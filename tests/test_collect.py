"""The grid runner against the Ollama stand-in and a real MLflow server.

What a GPU owner cares about is asserted on the stand-in's records: never two models resident,
each model loaded once, an oversized model never loaded. What a researcher cares about is asserted
in MLflow: one FINISHED run per cell with its candidates, failures recorded with their reasons.
"""

from __future__ import annotations

import pytest

from tipbench_lib.backends.base import GenerationOptions
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared
from tipbench_lib.core.errors import DataFileError, ModelTooLargeError, UnknownModelError
from tipbench_lib.tracking.mapping import CANDIDATES_ARTIFACT, CELL_TAG, read_cell_artifact

from .ollama_standin import FakeModel, Fault, OllamaStandIn

MODELS = [
    FakeModel("tiny-a", 1_200_000_000, texts=("Block 25 minutes for the budget draft now.",)),
    FakeModel("tiny-b", 3_800_000_000, texts=("Answer the two urgent emails before lunch.",)),
    FakeModel("tiny-c", 2_000_000_000),
    FakeModel("big-8b", 8_030_000_000),
]


@pytest.fixture()
def standin():
    with OllamaStandIn(MODELS, load_s=0.02, gen_s=0.005) as server:
        yield server


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def collect(standin, client, experiment, models, **kw):
    backend = OllamaBackend(standin.url)
    request = CollectRequest(
        experiment=experiment,
        models=tuple(models),
        prompts=kw.pop("prompts", ("v1", "v3-few-shot")),
        scenarios=kw.pop("scenarios", "3"),
        n_tips=kw.pop("n_tips", 2),
        options=GenerationOptions(max_tokens=32, timeout_s=10),
        **kw,
    )
    try:
        prepared = prepare(request, backend, client)
        return run_prepared(prepared, backend, client)
    finally:
        backend.close()


def cell_runs(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]


def test_grid_logs_one_finished_run_per_cell_with_its_candidates(
    standin, mlflow_client, experiment_name, home
):
    summary = collect(standin, mlflow_client, experiment_name, ["tiny-a", "tiny-b"])
    assert summary.exit_code == 0, summary.lines()
    runs = cell_runs(mlflow_client, experiment_name)
    assert len(runs) == 2 * 2 * 3
    assert {r.status for r in runs} == {"FINISHED"}
    assert len({r.tags[CELL_TAG] for r in runs}) == len(runs)
    run = runs[0]
    for key in ("model", "prompt_version", "scenario_id", "model_digest", "prompt_hash"):
        assert run.params[key], key
    assert (
        run.run_name
        == f"{run.params['model']} | {run.params['prompt_version']} | " + run.params["scenario_id"]
    )
    artifact = read_cell_artifact(mlflow_client, run, prompt=True)
    candidates = artifact.candidates
    assert [c.sample_index for c in candidates] == [0, 1]
    for c in candidates:
        assert c.text and c.candidate_id and c.latency_s > 0 and c.tokens_per_s > 0
        assert set(c.auto) == {"format_ok", "overlong"}, "every automatic check of tip-v1"
    assert "[system]" in artifact.prompt and "[user]" in artifact.prompt, "the exact prompt sent"
    names = {f.path for f in mlflow_client.list_artifacts(run.run_id)}
    assert names == {CANDIDATES_ARTIFACT}, "the prompt travels inside candidates.json"


def test_one_model_resident_and_one_load_per_model(standin, mlflow_client, experiment_name, home):
    collect(standin, mlflow_client, experiment_name, ["tiny-a", "tiny-b", "tiny-c"])
    assert standin.max_resident == 1
    for name in ("tiny-a", "tiny-b", "tiny-c"):
        assert standin.load_count(name) == 1, standin.events
    for body in standin.generation_requests():
        assert body["options"]["num_predict"] == 32
        assert body["think"] is False
        assert isinstance(body["keep_alive"], int | float)


def test_a_model_above_the_limit_refuses_the_run_before_anything_loads(
    standin, mlflow_client, experiment_name, home
):
    with pytest.raises(ModelTooLargeError, match="big-8b.*8.03B.*Nothing was loaded"):
        collect(standin, mlflow_client, experiment_name, ["tiny-a", "big-8b"])
    assert standin.loads() == []


def test_an_unknown_model_is_named(standin, mlflow_client, experiment_name, home):
    with pytest.raises(UnknownModelError, match="nope"):
        collect(standin, mlflow_client, experiment_name, ["nope"])
    assert standin.loads() == []


def test_a_failing_cell_is_recorded_and_the_grid_goes_on_then_retry_fixes_it(
    standin, mlflow_client, experiment_name, home
):
    standin.set_fault("tiny-b", Fault("stream_error", times=1))
    summary = collect(standin, mlflow_client, experiment_name, ["tiny-a", "tiny-b"])
    assert summary.exit_code == 1
    assert len(summary.failed) == 1
    runs = cell_runs(mlflow_client, experiment_name)
    failed = [r for r in runs if r.status == "FAILED"]
    assert len(failed) == 1 and "unexpected EOF" in failed[0].tags["tipbench.failure_reason"]
    assert sum(r.status == "FINISHED" for r in runs) == len(runs) - 1

    again = collect(standin, mlflow_client, experiment_name, ["tiny-a", "tiny-b"])
    assert again.exit_code == 1 and not again.finished  # not retried without the flag

    fixed = collect(
        standin, mlflow_client, experiment_name, ["tiny-a", "tiny-b"], retry_failed=True
    )
    assert fixed.exit_code == 0, fixed.lines()
    runs = cell_runs(mlflow_client, experiment_name)
    assert {r.status for r in runs} == {"FINISHED"} and len(runs) == 12


def test_rerunning_a_complete_grid_loads_nothing_and_logs_nothing_new(
    standin, mlflow_client, experiment_name, home
):
    collect(standin, mlflow_client, experiment_name, ["tiny-a"])
    loads = len(standin.loads())
    summary = collect(standin, mlflow_client, experiment_name, ["tiny-a"])
    assert len(summary.skipped) == 6 and not summary.finished
    assert len(standin.loads()) == loads
    assert len(cell_runs(mlflow_client, experiment_name)) == 6


def test_a_malformed_prompt_file_the_run_does_not_use_does_not_block_it(
    standin, mlflow_client, experiment_name, home, tmp_path, monkeypatch
):
    folder = tmp_path / "prompts"  # the user's data directory adds draft.toml to the shipped ones
    folder.mkdir()
    (folder / "draft.toml").write_text('version = "draft"\nsystem = {oops\n', encoding="utf-8")
    monkeypatch.setenv("TIPBENCH_DATA", str(tmp_path))
    summary = collect(standin, mlflow_client, experiment_name, ["tiny-a"])
    assert summary.exit_code == 0, summary.lines()
    loads = len(standin.loads())
    with pytest.raises(DataFileError, match="draft.toml .from your data directory"):
        collect(standin, mlflow_client, experiment_name, ["tiny-a"], prompts=("v1", "draft"))
    assert len(standin.loads()) == loads
