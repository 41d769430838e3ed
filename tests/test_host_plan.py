"""The plan that spreads a grid over several Ollama hosts (issue 23, findings 2 and 3).

The spread is a pure function of the models' sizes, the grid and the cost model, tested on the
grid shape the issue measured (one 1.85 GB model and three totalling 1.83 GB, 2 prompts x 3
scenarios x 2 tips) and on random grids. The refusals are tested through the command line the
DAG's plan task runs (``tipbench collect --plan-hosts``), against two Ollama stand-ins and the
real MLflow server: every refusal a collect would make comes before any collect runs.
"""

from __future__ import annotations

import json
import random

import pytest

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.collect.hostplan import CostModel, ModelWork, spread
from tipbench_lib.tracking.mapping import RUBRIC_TAG

from .ollama_standin import FakeModel, OllamaStandIn

ISSUE_SIZES = {  # bytes on disk: 1.85 GB alone went to host A, 1.83 GB in three to host B
    "big:3b": 1_850_000_000,
    "mid:1.5b": 990_000_000,
    "small:0.5b": 490_000_000,
    "tiny:360m": 350_000_000,
}
HOSTS = ("http://A", "http://B")


def works(
    sizes: dict[str, int],
    scenarios: int = 3,
    prompts: int = 2,
    n_tips: int = 2,
    hosts: tuple[str, ...] = HOSTS,
    cost: CostModel | None = None,
) -> list[ModelWork]:
    cost = cost or CostModel()
    ids = tuple(f"s{i}" for i in range(scenarios))
    return [
        ModelWork(
            name=name,
            hosts=hosts,
            scenario_ids=ids,
            generations_per_scenario=prompts * n_tips,
            generation_s=cost.generation_s(size, max_tokens=96),
        )
        for name, size in sizes.items()
    ]


def check_covers_every_cell_once(plan, models: list[ModelWork]) -> None:
    """Each (model, scenario) on exactly one host, and a model at most once per host (so it
    loads at most once there), and only on a host that has it."""
    for work in models:
        seen: list[str] = []
        for host, shares in plan.shares.items():
            mine = [s for s in shares if s.model == work.name]
            assert len(mine) <= 1, (host, mine)
            for share in mine:
                assert host in work.hosts
                seen += list(share.scenario_ids or work.scenario_ids)
        assert sorted(seen) == sorted(work.scenario_ids), (work.name, seen)


def test_two_equal_hosts_finish_the_issue_grid_at_least_1_8_times_faster():
    models = works(ISSUE_SIZES)
    plan = spread(models, HOSTS, CostModel())
    check_covers_every_cell_once(plan, models)
    ratio = plan.one_host_s / plan.makespan_s
    assert ratio >= 1.8, (ratio, plan.predicted_s, plan.shares)


def test_the_fixed_cost_of_each_model_is_counted():
    """Four equal models: two per host, whatever the (tiny) generation work."""
    models = works(dict.fromkeys(("a", "b", "c", "d"), 10_000_000) | {"a": 11_000_000})
    plan = spread(models, HOSTS, CostModel())
    assert sorted(len(shares) for shares in plan.shares.values()) == [2, 2], plan.shares


@pytest.mark.parametrize("seed", range(40))
def test_random_grids_cover_every_cell_once_and_balance_the_hosts(seed):
    rng = random.Random(seed)
    n_hosts = rng.choice([2, 3])
    hosts = tuple(f"http://h{i}" for i in range(n_hosts))
    sizes = {f"m{i}:1b": rng.randint(100, 2500) * 1_000_000 for i in range(rng.randint(2, 7))}
    models = works(sizes, scenarios=rng.choice([6, 12, 24]), hosts=hosts)
    plan = spread(models, hosts, CostModel())
    check_covers_every_cell_once(plan, models)
    # the busiest host has at most its even share plus one model's fixed cost and the largest
    # slice of one scenario more (the spread never splits finer than a scenario)
    cost = CostModel()
    slice_s = max(w.generations_per_scenario * w.generation_s for w in models)
    bound = (plan.one_host_s + (n_hosts - 1) * cost.fixed_s) / n_hosts + cost.fixed_s + slice_s
    longest = max(cost.fixed_s + w.total_s for w in models)
    assert plan.makespan_s <= max(bound, longest), (plan.predicted_s, plan.one_host_s)


def test_a_model_only_some_hosts_have_goes_whole_to_one_of_them():
    models = works(ISSUE_SIZES)
    only_b = ModelWork(**{**models[0].__dict__, "hosts": ("http://B",)})
    models = [only_b, *models[1:]]
    plan = spread(models, HOSTS, CostModel())
    check_covers_every_cell_once(plan, models)
    assert [s.model for s in plan.shares["http://B"]].count("big:3b") == 1
    assert "big:3b" not in [s.model for s in plan.shares["http://A"]]


# -- the plan task's command: every refusal before anything runs ------------------------------


def standin_models(*extra: FakeModel) -> list[FakeModel]:
    return [FakeModel(name, int(size / 0.6)) for name, size in ISSUE_SIZES.items()] + list(extra)


def plan_command(experiment: str, models: list[str], hosts: list[str], *more: str) -> list[str]:
    return [
        "--experiment",
        experiment,
        "--models",
        ",".join(models),
        "--prompts",
        "v1,v3-few-shot",
        "--scenarios",
        "3",
        "--n-tips",
        "2",
        "--backend",
        "ollama",
        "--plan-hosts",
        ",".join(hosts),
        *more,
    ]


@pytest.fixture
def two_hosts(mlflow_server, tipbench_home, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    big = FakeModel("huge:8b", 8_000_000_000)
    with OllamaStandIn(standin_models(big)) as a, OllamaStandIn(standin_models()) as b:
        yield a, b


def test_the_plan_command_prints_the_spread_and_creates_the_experiment_once(
    two_hosts, mlflow_client, experiment_name, capsys
):
    a, b = two_hosts
    code = collect_main(plan_command(experiment_name, list(ISSUE_SIZES), [a.url, b.url]))
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out.strip().splitlines()[-1])
    assert [h["host"] for h in plan["hosts"]] == [a.url, b.url]
    assert plan["one_host_s"] / max(h["predicted_s"] for h in plan["hosts"]) >= 1.8
    planned = [(s["model"], s["scenarios"]) for h in plan["hosts"] for s in h["shares"]]
    assert {model for model, _ in planned} == set(ISSUE_SIZES)
    assert not a.generation_requests() and not b.generation_requests()
    assert not a.loads() and not b.loads()
    found = mlflow_client.get_experiment_by_name(experiment_name)
    assert found is not None and found.tags.get(RUBRIC_TAG) == "tip-v1", found
    assert not mlflow_client.search_runs([found.experiment_id])


@pytest.mark.parametrize(
    ("models", "more", "says"),
    [
        (["big:3b", "huge:8b"], (), "huge:8b has 8,000,000,000 parameters"),
        (["big:3b", "nowhere:1b"], (), "no host has nowhere:1b"),
    ],
)
def test_the_plan_command_refuses_what_a_collect_would_refuse(
    two_hosts, mlflow_client, experiment_name, capsys, models, more, says
):
    a, b = two_hosts
    code = collect_main(plan_command(experiment_name, models, [a.url, b.url], *more))
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err, err
    assert mlflow_client.get_experiment_by_name(experiment_name) is None
    assert not a.loads() and not b.loads()


def test_the_plan_command_refuses_other_settings_than_the_experiment_holds(
    two_hosts, mlflow_client, experiment_name, capsys, monkeypatch
):
    a, b = two_hosts
    monkeypatch.setenv("OLLAMA_HOST", a.url)
    first = plan_command(experiment_name, ["tiny:360m"], [a.url])
    first = [*first[: first.index("--plan-hosts")], "--max-tokens", "16"]
    assert collect_main(first) == 0, capsys.readouterr().err
    capsys.readouterr()
    code = collect_main(plan_command(experiment_name, ["tiny:360m"], [a.url, b.url]))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "max_tokens" in err or "--max-tokens" in err, err
