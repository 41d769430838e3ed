"""How many HTTP requests, and how much time, logging one collect cell to MLflow costs.

Logs the same cells to a fresh local ``mlflow server`` side by side:

  tipbench   tipbench's client as DESIGN.md's mapping asks: create_run carrying the tags, one
             log_batch with params and metrics, candidates.json and prompt.txt, status FINISHED
  merged     the same, but the prompt text travels inside candidates.json (one artifact)
  naive      one request per param, metric and tag (runs/log-parameter, log-metric, set-tag),
             plus the same run create, two artifacts and status update

Requests are counted by an httpx event hook on the client that sends them.

    .venv/bin/python bench/mlflow_logging.py [--cells 500]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tipbench_lib.tracking.client import API, MlflowClient
from tipbench_lib.tracking.server import LocalMlflowServer

Cell = dict[str, Any]


@dataclass
class Counter:
    requests: int = 0

    def hook(self, request: httpx.Request) -> None:
        self.requests += 1


def make_cell(i: int) -> Cell:
    """A cell shaped like collect's: 14 params, 4 metrics, 2 tags, 2 artifacts."""
    model = ["smollm2-135m", "gemma3-270m"][i % 2]
    prompt = ["v1", "v2-mentor", "v3-few-shot"][i % 3]
    scenario = f"s{i % 12:02d}"
    prompt_text = f"You write one short tip for a {scenario} user.\n" * 20
    candidates = [
        {"candidate_id": f"{i}-{k}", "text": f"Tip {k}: block 25 minutes for the report.", "k": k}
        for k in range(3)
    ]
    return {
        "name": f"{model} | {prompt} | {scenario}",
        "params": {
            "model": model,
            "model_digest": f"sha256:{i:064x}"[:71],
            "quantization": "Q4_K_M",
            "parameter_count": "134515008",
            "prompt_version": prompt,
            "prompt_hash": f"{i:016x}",
            "scenario_id": scenario,
            "options": json.dumps({"temperature": 0.7, "num_predict": 96, "num_ctx": 2048}),
            "seed": str(1000 + i),
            "backend": "embedded",
            "backend_version": "0.3.16",
            "rubric_version": "tip-v1",
            "n_tips": "3",
            "persona": "student",
        },
        "metrics": {
            "latency_s_mean": 1.25,
            "tokens_per_s_mean": 41.0,
            "load_s": 0.8,
            "eval_tokens_mean": 52.0,
        },
        "tags": {"tipbench.cell_id": f"cell{i:08d}", "tipbench.judge_pending": "true"},
        "candidates": candidates,
        "prompt_text": prompt_text,
    }


def log_tipbench(client: MlflowClient, exp: str, cell: Cell) -> None:
    run = client.create_run(exp, cell["name"], tags=cell["tags"])
    client.log_batch(run.run_id, params=cell["params"], metrics=cell["metrics"])
    client.log_artifact(run.run_id, "candidates.json", json.dumps(cell["candidates"]))
    client.log_artifact(run.run_id, "prompt.txt", cell["prompt_text"])
    client.update_run(run.run_id, "FINISHED")


def log_merged(client: MlflowClient, exp: str, cell: Cell) -> None:
    run = client.create_run(exp, cell["name"], tags=cell["tags"])
    client.log_batch(run.run_id, params=cell["params"], metrics=cell["metrics"])
    body = {"prompt": cell["prompt_text"], "candidates": cell["candidates"]}
    client.log_artifact(run.run_id, "candidates.json", json.dumps(body))
    client.update_run(run.run_id, "FINISHED")


def log_naive(http: httpx.Client, exp: str, cell: Cell) -> None:
    """What a hand-rolled client does: one REST call per value."""

    def post(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(f"{API}/{endpoint}", json=body)
        response.raise_for_status()
        return response.json()

    now = int(time.time() * 1000)
    info = post("runs/create", {"experiment_id": exp, "run_name": cell["name"], "start_time": now})
    run_id = info["run"]["info"]["run_id"]
    root = info["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")
    for key, value in cell["tags"].items():
        post("runs/set-tag", {"run_id": run_id, "key": key, "value": value})
    for key, value in cell["params"].items():
        post("runs/log-parameter", {"run_id": run_id, "key": key, "value": value})
    for key, value in cell["metrics"].items():
        metric = {"run_id": run_id, "key": key, "value": value, "timestamp": now, "step": 0}
        post("runs/log-metric", metric)
    for name, data in (
        ("candidates.json", json.dumps(cell["candidates"])),
        ("prompt.txt", cell["prompt_text"]),
    ):
        url = f"/api/2.0/mlflow-artifacts/artifacts/{root}/{name}"
        http.put(url, content=data.encode()).raise_for_status()
    end = int(time.time() * 1000)
    post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": end})


@dataclass
class Result:
    name: str
    cells: int
    requests: int
    seconds: float

    @property
    def per_cell(self) -> float:
        return self.requests / self.cells

    @property
    def cells_per_s(self) -> float:
        return self.cells / self.seconds


def run_way(
    name: str, cells: list[Cell], log_one: Callable[[str, Cell], None], exp: str, counter: Counter
) -> Result:
    start_count = counter.requests
    start = time.perf_counter()
    for cell in cells:
        log_one(exp, cell)
    return Result(name, len(cells), counter.requests - start_count, time.perf_counter() - start)


def check_logged(client: MlflowClient, exp: str, cells: list[Cell]) -> None:
    """Every way must have stored the same, complete cells; a fast wrong logger proves nothing."""
    runs = client.search_runs([exp], max_results=1000)
    assert len(runs) == len(cells), (len(runs), len(cells))
    sample = client.get_run(runs[0].run_id)
    assert sample.status == "FINISHED"
    assert len(sample.params) == 14 and len(sample.metrics) == 4
    assert {"tipbench.cell_id", "tipbench.judge_pending"} <= set(sample.tags)
    assert client.list_artifacts(sample.run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=500, help="cells per way (default 500)")
    args = parser.parse_args(argv)
    cells = [make_cell(i) for i in range(args.cells)]
    with tempfile.TemporaryDirectory(prefix="tipbench-bench-") as tmp:
        server = LocalMlflowServer(Path(tmp))
        started = time.perf_counter()
        url = server.start()
        print(f"mlflow server ready in {time.perf_counter() - started:.1f} s at {url}")
        try:
            results = bench(url, cells)
        finally:
            server.stop()
    report(results)
    return 0


def bench(url: str, cells: list[Cell]) -> list[Result]:
    counter = Counter()
    hooks = {"request": [counter.hook]}
    with (
        MlflowClient(url, event_hooks=hooks) as client,
        httpx.Client(base_url=url, timeout=30, event_hooks=hooks) as http,
    ):
        ways: list[tuple[str, Callable[[str, Cell], None]]] = [
            ("tipbench", lambda e, c: log_tipbench(client, e, c)),
            ("merged", lambda e, c: log_merged(client, e, c)),
            ("naive", lambda e, c: log_naive(http, e, c)),
        ]
        results = []
        for name, log_one in ways:
            exp = client.ensure_experiment(f"bench-{name}-{time.time_ns()}")
            results.append(run_way(name, cells, log_one, exp, counter))
            check_logged(client, exp, cells)
    return results


def report(results: list[Result]) -> None:
    print(f"{'way':<10}{'cells':>7}{'requests':>10}{'req/cell':>10}{'cells/s':>10}")
    for r in results:
        print(f"{r.name:<10}{r.cells:>7}{r.requests:>10}{r.per_cell:>10.1f}{r.cells_per_s:>10.1f}")
    by_name = {r.name: r for r in results}
    naive = by_name["naive"]
    for name in ("tipbench", "merged"):
        r = by_name[name]
        print(
            f"{name} vs naive: {naive.per_cell / r.per_cell:.1f}x fewer requests, "
            f"{r.cells_per_s / naive.cells_per_s:.1f}x the cells per second"
        )
    target = by_name["tipbench"].per_cell
    print(
        f"target <= 4 requests/cell: DESIGN mapping {target:.0f} "
        f"({'met' if target <= 4 else 'not met'}), "
        f"merged artifact {by_name['merged'].per_cell:.0f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
