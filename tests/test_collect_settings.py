"""One set of generation settings per experiment: a run with others is refused, untouched.

Against the Ollama stand-in and the real MLflow server. What a researcher must be able to trust:
the cells compare pools in one (model, prompt) row were drawn under the same settings, so a run
with another ``--temperature``, ``--max-tokens``, ``--num-ctx``, ``--seed`` or ``--diversity`` is
refused before any model loads, naming each option with both values, and leaves the journal and
MLflow as they were; a run with the same settings (a resume, more models, prompt versions or
scenarios, more tips) goes on.
"""

from __future__ import annotations

import pytest

from tipbench_lib.backends.base import GenerationOptions
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared
from tipbench_lib.collect.settings import refuse_mixed_settings, settings_of
from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED, SettingsConflict
from tipbench_lib.tracking.mapping import CELL_TAG

from .ollama_standin import FakeModel, OllamaStandIn

MODELS = [
    FakeModel("tiny-a", 1_200_000_000, texts=("Block 25 minutes for the budget draft now.",)),
    FakeModel("tiny-b", 2_000_000_000),
]
OPTIONS = GenerationOptions(max_tokens=32, timeout_s=10)


@pytest.fixture()
def standin():
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.002) as server:
        yield server


def request_for(experiment: str, models=("tiny-a",), **kw) -> CollectRequest:
    return CollectRequest(
        experiment=experiment,
        models=tuple(models),
        prompts=kw.pop("prompts", ("v1",)),
        scenarios=kw.pop("scenarios", "2"),
        n_tips=kw.pop("n_tips", 2),
        options=kw.pop("options", OPTIONS),
        **kw,
    )


def collect(standin, client, request: CollectRequest, backend=None):
    backend = backend or OllamaBackend(standin.url)
    try:
        return run_prepared(prepare(request, backend, client), backend, client)
    finally:
        backend.close()


def stored(client, experiment: str, home) -> tuple:
    """Everything a refusal must leave alone: the journal's bytes and every cell run."""
    exp = client.get_experiment_by_name(experiment)
    runs = sorted(
        (r.run_id, r.status, tuple(sorted(r.params.items())), tuple(sorted(r.tags.items())))
        for r in client.search_runs([exp.experiment_id])
    )
    journals = {p: p.read_bytes() for p in sorted(home.glob("journal/*/*.jsonl"))}
    return runs, journals, tuple(sorted(exp.tags.items()))


def cell_runs(client, experiment: str):
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]


def test_other_sampling_options_are_refused_naming_each_with_both_values_untouched(
    standin, mlflow_client, experiment_name, tipbench_home
):
    assert collect(standin, mlflow_client, request_for(experiment_name)).exit_code == EXIT_OK
    before = stored(mlflow_client, experiment_name, tipbench_home)
    loads, generations = len(standin.loads()), len(standin.generation_requests())

    hotter = GenerationOptions(temperature=0.2, max_tokens=48, timeout_s=10)
    with pytest.raises(SettingsConflict) as refused:
        collect(standin, mlflow_client, request_for(experiment_name, ("tiny-b",), options=hotter))
    message = str(refused.value)
    assert "--temperature 0.8 (in MLflow, the journal), this run --temperature 0.2" in message
    assert "--max-tokens 32 (in MLflow, the journal), this run --max-tokens 48" in message
    assert "num-ctx" not in message and "seed" not in message, "only what differs is named"
    assert "experiment's settings (--temperature 0.8, --max-tokens 32)" in message
    assert "new --experiment" in message and "Nothing was changed" in message
    assert stored(mlflow_client, experiment_name, tipbench_home) == before
    assert (len(standin.loads()), len(standin.generation_requests())) == (loads, generations)


def test_another_seed_or_context_is_refused_from_mlflow_alone_with_exit_2(
    standin, mlflow_client, experiment_name, tipbench_home, tmp_path, monkeypatch, capsys
):
    assert collect(standin, mlflow_client, request_for(experiment_name)).exit_code == EXIT_OK
    before = stored(mlflow_client, experiment_name, tipbench_home)
    loads = len(standin.loads())

    # Another worker: no journal here, MLflow alone says what the experiment holds.
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("TIPBENCH_HOME", str(elsewhere))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_client.base_url)
    monkeypatch.setenv("OLLAMA_HOST", standin.url)
    args = ["--backend", "ollama", "--experiment", experiment_name, "--models", "tiny-a"]
    args += ["--prompts", "v1", "--scenarios", "2", "--n-tips", "2", "--max-tokens", "32"]
    capsys.readouterr()
    code = collect_main([*args, "--seed", "7", "--num-ctx", "4096"])
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED, err
    assert f"tipbench: refused: experiment {experiment_name!r} already holds cells" in err
    assert "--num-ctx 2048 (in MLflow), this run --num-ctx 4096" in err, err
    assert "--seed 0 (in MLflow), this run --seed 7" in err, err
    assert stored(mlflow_client, experiment_name, tipbench_home) == before
    assert len(standin.loads()) == loads
    assert not (elsewhere / "journal").exists(), "nothing created on the refusing machine"

    # The same settings from that machine take the cells from MLflow and go on.
    assert collect_main(args) == EXIT_OK


class CutAt:
    """The Ollama backend, interrupted (Ctrl-C) at its n-th generation."""

    def __init__(self, url: str, n: int) -> None:
        self.inner = OllamaBackend(url)
        self.n, self.calls = n, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, model, request):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return self.inner.generate(model, request)

    def close(self):
        self.inner.close()


def test_the_same_settings_resume_and_grow_the_experiment(
    standin, mlflow_client, experiment_name, tipbench_home
):
    first = request_for(experiment_name)
    with pytest.raises(KeyboardInterrupt):
        collect(standin, mlflow_client, first, backend=CutAt(standin.url, 3))
    assert collect(standin, mlflow_client, first).exit_code == EXIT_OK  # resume
    # More models, prompt versions, scenarios and tips, and another timeout: the same settings.
    grown = request_for(
        experiment_name,
        ("tiny-a", "tiny-b"),
        prompts=("v1", "v3-few-shot"),
        scenarios="3",
        n_tips=3,
        options=GenerationOptions(max_tokens=32, timeout_s=30),
    )
    summary = collect(standin, mlflow_client, grown)
    assert summary.exit_code == EXIT_OK, summary.lines()
    runs = cell_runs(mlflow_client, experiment_name)
    assert len(runs) == 2 * 2 * 3 and {r.status for r in runs} == {"FINISHED"}
    assert len({r.tags[CELL_TAG] for r in runs}) == len(runs), "one run per cell"
    assert {r.params["options"] for r in runs} == {
        "temperature=0.8,top_p=0.95,max_tokens=32,num_ctx=2048"
    }
    assert {r.tags["tipbench.n_candidates"] for r in runs} == {"3"}


def test_a_cell_without_params_yet_says_nothing_and_an_old_option_is_named():
    asked = settings_of({"options": "temperature=0.8,top_p=0.95,max_tokens=96,num_ctx=2048"})
    assert asked is not None and asked["diversity"] == "off"
    refuse_mixed_settings("x", asked, [("MLflow", {})])
    with pytest.raises(SettingsConflict, match=r"top_p=0.9 \(in the journal\), this run top_p="):
        refuse_mixed_settings(
            "x",
            asked,
            [("the journal", {"options": "temperature=0.8,top_p=0.9,max_tokens=96,num_ctx=2048"})],
        )
