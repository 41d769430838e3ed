"""``--diversity``: near repeats within a cell are generated again, boundedly, resumably, apart.

The stand-in picks a model's text by the request's seed (``seed % len(texts)``), so a model with
one text repeats itself under every seed and one with a few texts sometimes does: what the rule
must catch. What a GPU owner pays is read from the stand-in's requests (how many generations, with
which seeds); what a researcher sees is read from MLflow (the cell's metrics and candidates).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tipbench_lib.backends.base import GenerationOptions
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.collect.delivery import CellSyncer
from tipbench_lib.collect.diversity import MAX_REGENERATIONS, Diversity
from tipbench_lib.collect.job import CollectRequest, prepare, resolve_config, run_prepared
from tipbench_lib.collect.journal import CollectJournal
from tipbench_lib.collect.plan import PlannedCell, content_options, plan_cells
from tipbench_lib.collect.runner import Collector
from tipbench_lib.core.bigrams import NEAR_REPEAT_JACCARD, max_similarity
from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED, SettingsConflict
from tipbench_lib.tracking.mapping import CELL_TAG, METRIC_DIGITS, read_cell_artifact

from .ollama_standin import FakeModel, OllamaStandIn

ONE_TIP = "Block 25 minutes for the budget draft before you open email."
PARROT = FakeModel("parrot", 1_000_000_000, texts=(ONE_TIP,))
FEW = FakeModel(
    "few",
    1_500_000_000,
    texts=(
        "Put your phone in a drawer for the next half hour of focused work.",
        "Put your phone in a drawer for the next half hour of focused work!",  # a near repeat
        "Write the three tasks for tomorrow on a sticky note before you leave.",
        "Take a ten minute walk outside after lunch to reset your attention.",
        "Answer the two oldest emails first, then close the inbox until noon.",
        "Drink a glass of water and stretch your shoulders before the next call.",
    ),
)
OPTIONS = GenerationOptions(max_tokens=32, timeout_s=10)


@pytest.fixture()
def standin():
    with OllamaStandIn([PARROT, FEW], load_s=0.01, gen_s=0.002) as server:
        yield server


def request_for(experiment: str, models: tuple[str, ...], **kw) -> CollectRequest:
    return CollectRequest(
        experiment=experiment,
        models=models,
        prompts=kw.pop("prompts", ("v1",)),
        scenarios=kw.pop("scenarios", "2"),
        n_tips=kw.pop("n_tips", 3),
        options=OPTIONS,
        **kw,
    )


def collect(standin, client, request: CollectRequest):
    backend = OllamaBackend(standin.url)
    try:
        return run_prepared(prepare(request, backend, client), backend, client)
    finally:
        backend.close()


def runs_of(client, experiment):
    exp = client.get_experiment_by_name(experiment)
    return [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]


def planned(request: CollectRequest, standin) -> list[PlannedCell]:
    backend = OllamaBackend(standin.url)
    try:
        config = resolve_config(request)
        return plan_cells(config, [backend.describe(m) for m in config.models])
    finally:
        backend.close()


def requested_seeds(standin, model: str) -> list[int]:
    return [
        int(body["options"]["seed"])
        for body in standin.generation_requests()
        if str(body["model"]).startswith(model)
    ]


def test_a_model_that_always_repeats_gets_bounded_tries_with_derived_seeds(
    standin, mlflow_client, experiment_name, tipbench_home
):
    request = request_for(experiment_name, ("parrot",), diversity=True)
    summary = collect(standin, mlflow_client, request)
    assert summary.exit_code == EXIT_OK, summary.lines()

    rule = Diversity()
    expected = []
    for cell in planned(request, standin):
        expected.append(cell.seed(0))  # the first tip repeats nothing
        for index in (1, 2):  # every try repeats: the first and MAX_REGENERATIONS more
            expected += [rule.seed(cell.seed(index), t) for t in range(MAX_REGENERATIONS + 1)]
    assert sorted(requested_seeds(standin, "parrot")) == sorted(expected)
    assert len(set(expected)) == len(expected), "every try has a seed of its own"

    runs = runs_of(mlflow_client, experiment_name)
    assert len(runs) == 2 and {r.status for r in runs} == {"FINISHED"}
    for run in runs:
        assert run.metrics["distinct_ratio"] == round(1 / 3, METRIC_DIGITS)
        assert run.metrics["regenerations"] == 2 * MAX_REGENERATIONS
        assert "diversity=bigram-jaccard<0.8;tries<=4" in run.params["options"]
        candidates = read_cell_artifact(mlflow_client, run).candidates
        assert [c.regenerations for c in candidates] == [0, MAX_REGENERATIONS, MAX_REGENERATIONS]


def test_without_the_flag_nothing_is_generated_again_and_the_repeat_shows(
    standin, mlflow_client, experiment_name, tipbench_home
):
    summary = collect(standin, mlflow_client, request_for(experiment_name, ("parrot",)))
    assert summary.exit_code == EXIT_OK, summary.lines()
    assert len(standin.generation_requests()) == 2 * 3
    for run in runs_of(mlflow_client, experiment_name):
        assert run.metrics["distinct_ratio"] == round(1 / 3, METRIC_DIGITS)
        assert run.metrics["regenerations"] == 0
        assert "diversity" not in run.params["options"]


def kept_tips(client, experiment: str) -> dict[tuple[str, int], tuple[str, int, int]]:
    tips = {}
    for run in runs_of(client, experiment):
        for c in read_cell_artifact(client, run).candidates:
            tips[(c.cell_id, c.sample_index)] = (c.text, c.seed, c.regenerations)
    return tips


def test_each_kept_tip_repeats_no_earlier_one_unless_every_try_did(
    standin, mlflow_client, tipbench_home
):
    # Fixed names: seeds come from the cell ids, so the outcome is the same in every session.
    plain = request_for("diversity-few-plain", ("few",), scenarios="6")
    diverse = request_for("diversity-few", ("few",), scenarios="6", diversity=True)
    assert collect(standin, mlflow_client, plain).exit_code == EXIT_OK
    before = len(standin.generation_requests())
    assert collect(standin, mlflow_client, diverse).exit_code == EXIT_OK
    seeds = [int(b["options"]["seed"]) for b in standin.generation_requests()[before:]]

    rule = Diversity()
    tips = kept_tips(mlflow_client, "diversity-few")
    expected_seeds = []
    for cell in planned(diverse, standin):
        earlier: list[str] = []
        for index in range(3):
            text, seed, regenerations = tips[(cell.cell_id, index)]
            tries = [rule.seed(cell.seed(index), t) for t in range(regenerations + 1)]
            expected_seeds += tries
            if regenerations < MAX_REGENERATIONS:
                assert max_similarity(text, earlier) < NEAR_REPEAT_JACCARD
                assert seed == tries[-1], "the kept tip is the try that repeated nothing"
            else:
                assert seed in tries
            earlier.append(text)
    assert sorted(seeds) == sorted(expected_seeds), "one request per try, no more"

    repeats = {
        name: sum(r.metrics["distinct_ratio"] < 1 for r in runs_of(mlflow_client, name))
        for name in ("diversity-few-plain", "diversity-few")
    }
    assert sum(r.metrics["regenerations"] for r in runs_of(mlflow_client, "diversity-few")) > 0
    assert repeats["diversity-few"] < repeats["diversity-few-plain"], repeats


class CutAt:
    """The Ollama backend, killed (as by ``kill -9``) at its n-th generation: before asking for
    it, or after the answer came back but before the runner could journal it."""

    def __init__(self, url: str, n: int, after: bool) -> None:
        self.inner = OllamaBackend(url)
        self.n, self.after, self.calls = n, after, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, model, request):
        self.calls += 1
        if self.calls == self.n and not self.after:
            raise KeyboardInterrupt
        result = self.inner.generate(model, request)
        if self.calls == self.n:
            raise KeyboardInterrupt
        return result


def journal_records(home: Path) -> list[dict]:
    lines = []
    for path in home.glob("journal/*/collect.jsonl"):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line]
    return lines


def test_a_kill_mid_regeneration_resumes_with_no_duplicate_and_the_same_result(
    standin, mlflow_client, experiment_name, tmp_path, monkeypatch
):
    request = request_for(experiment_name, ("parrot", "few"), scenarios="2", diversity=True)
    config = resolve_config(request)

    # The reference: one uninterrupted run of the same cells (same experiment name, so the same
    # cell ids and seeds), journalled in another home and delivered to another MLflow experiment.
    reference_home = tmp_path / "reference"
    monkeypatch.setenv("TIPBENCH_HOME", str(reference_home))
    reference_id = mlflow_client.ensure_experiment(f"{experiment_name}-reference")
    prepared = prepare(request, OllamaBackend(standin.url), mlflow_client)
    backend = OllamaBackend(standin.url)
    Collector(
        config,
        backend,
        CellSyncer(mlflow_client, reference_id),
        CollectJournal(experiment_name),
        prepared.rubric,
    ).run(prepared.models)
    backend.close()
    reference_requests = len(standin.generation_requests())
    reference = CollectJournal(experiment_name).state()

    home = tmp_path / "killed"
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    # parrot's tries 2..4 of a cell are all regenerations; few's come later in the grid.
    for n, after in ((3, False), (2, True), (5, True), (4, False), (9, True)):
        backend = CutAt(standin.url, n, after)
        with pytest.raises(KeyboardInterrupt):
            run_prepared(prepare(request, backend, mlflow_client), backend, mlflow_client)
        backend.inner.close()
    assert any(r["type"] == "attempt" for r in journal_records(home)), "no kill mid-retry"
    summary = collect(standin, mlflow_client, request)
    assert summary.exit_code == EXIT_OK, summary.lines()

    state = CollectJournal(experiment_name).state()
    for cell_id, by_index in reference.candidates.items():
        for index, tip in by_index.items():
            got = state.candidates[cell_id][index]
            assert (got.candidate_id, got.seed, got.regenerations) == (
                tip.candidate_id,
                tip.seed,
                tip.regenerations,
            )
    records = journal_records(home)
    tries = [
        (r["cell_id"], r["sample_index"], r["attempt"]) for r in records if r["type"] == "attempt"
    ]
    tips = [(r["cell_id"], r["sample_index"]) for r in records if r["type"] == "candidate"]
    assert len(tries) == len(set(tries)) and len(tips) == len(set(tips)), "a duplicate record"
    killed_requests = len(standin.generation_requests()) - reference_requests
    cut_after = 3  # answers that came back just before a kill are asked for once more
    assert killed_requests == reference_requests + cut_after, "a try was generated twice"
    runs = runs_of(mlflow_client, experiment_name)
    assert len(runs) == len(reference.cells) and {r.status for r in runs} == {"FINISHED"}


def test_cell_ids_and_options_carry_the_rule_only_when_it_is_on(standin):
    plain = planned(request_for("ids", ("few",)), standin)
    diverse = planned(request_for("ids", ("few",), diversity=True), standin)
    assert not {c.cell_id for c in plain} & {c.cell_id for c in diverse}
    assert content_options(OPTIONS) == "temperature=0.8,top_p=0.95,max_tokens=32,num_ctx=2048"
    record = diverse[0].record("test", "tip-v1")
    assert record.params["options"] == content_options(OPTIONS) + (
        ",diversity=bigram-jaccard<0.8;tries<=4"
    )


def test_a_run_with_another_setting_than_the_experiment_holds_is_refused_untouched(
    standin, mlflow_client, experiment_name, tipbench_home, tmp_path, monkeypatch, capsys
):
    assert collect(standin, mlflow_client, request_for(experiment_name, ("few",))).exit_code == 0
    journal = next(tipbench_home.glob("journal/*/collect.jsonl"))
    before = (journal.read_bytes(), len(runs_of(mlflow_client, experiment_name)))
    loads = len(standin.loads())

    with pytest.raises(SettingsConflict, match="without --diversity .in MLflow, the journal"):
        collect(standin, mlflow_client, request_for(experiment_name, ("few",), diversity=True))
    # On another machine, with no journal, MLflow alone says what the experiment holds.
    monkeypatch.setenv("TIPBENCH_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_client.base_url)
    monkeypatch.setenv("OLLAMA_HOST", standin.url)
    code = collect_main(
        ["--backend", "ollama", "--experiment", experiment_name, "--models", "few"]
        + ["--prompts", "v1", "--scenarios", "2", "--n-tips", "3", "--diversity"]
    )
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED
    assert "without --diversity (in MLflow)" in err and "new --experiment" in err, err
    assert (journal.read_bytes(), len(runs_of(mlflow_client, experiment_name))) == before
    assert len(standin.loads()) == loads
    assert not (tmp_path / "elsewhere" / "journal").exists()
