"""How many HTTP requests, and how much time, logging one collect cell to MLflow costs.

Logs the same cells to a fresh local ``mlflow server`` side by side:

  tipbench   the collect phase's own delivery (``collect.delivery.CellSyncer`` with the layout of
             ``tracking/mapping.py``): the claim (create_run carrying the cell tags, one search
             of the cell's runs: docs/architecture.md, section 5), candidates.json holding the
             prompt, one log_batch with params, metrics and tags, status FINISHED
  separate   the layout before the prompt moved into candidates.json: the same, plus prompt.txt
  naive      one request per param, metric and tag (runs/log-parameter, log-metric, set-tag),
             plus the same run create, two artifacts and status update

Requests are counted by an httpx event hook on the client that sends them.

``req/cell`` leaves out the one ``runs/search`` a collect run makes up front for all of its
cells (``searches`` shows every search, the claims' included).

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

from tipbench_lib.collect.delivery import CellSyncer, Delivery
from tipbench_lib.core.records import Candidate, CellRecord
from tipbench_lib.tracking.client import API, MlflowClient
from tipbench_lib.tracking.mapping import cell_metrics
from tipbench_lib.tracking.server import LocalMlflowServer

Cell = dict[str, Any]


@dataclass
class Counter:
    requests: int = 0
    searches: int = 0
    """``runs/search`` calls: one up front for every cell at once, then one per cell's claim."""

    def hook(self, request: httpx.Request) -> None:
        self.requests += 1
        self.searches += request.url.path.endswith("/runs/search")


def make_cell(i: int) -> Cell:
    """A cell shaped like collect's: 14 params, 7 metrics, 5 tags, the prompt and 3 candidates."""
    model = ["smollm2-135m", "gemma3-270m"][i % 2]
    prompt = ["v1", "v2-mentor", "v3-few-shot"][i % 3]
    scenario = f"s{i % 12:02d}"
    candidates = [
        Candidate(
            candidate_id=f"{i}-{k}",
            cell_id=f"cell{i:08d}",
            sample_index=k,
            text=f"Tip {k}: block 25 minutes for the report.",
            latency_s=1.25,
            tokens_per_s=41.0,
            load_s=0.8,
            eval_tokens=52,
            auto={"format_ok": True, "overlong": False},
        )
        for k in range(3)
    ]
    record = CellRecord(
        cell_id=f"cell{i:08d}",
        run_name=f"{model} | {prompt} | {scenario}",
        n_tips=3,
        prompt_text=f"You write one short tip for a {scenario} user.\n" * 20,
        params={
            "model": model,
            "model_digest": f"sha256:{i:064x}"[:71],
            "quantization": "Q4_K_M",
            "parameter_count": "134515008",
            "prompt_version": prompt,
            "prompt_hash": f"{i:016x}",
            "scenario_id": scenario,
            "options": "temperature=0.8,top_p=0.95,max_tokens=96,num_ctx=2048",
            "seed": str(1000 + i),
            "backend": "embedded",
            "backend_version": "llama-cpp-python 0.3.36",
            "rubric_version": "tip-v1",
            "persona": "student",
            "time_slot": "morning",
        },
    )
    return {"record": record, "candidates": candidates}


def log_tipbench(syncer: CellSyncer, cell: Cell) -> None:
    """The collect phase's delivery, exactly as a run sends a finished cell."""
    report = syncer.send([Delivery(cell["record"], tuple(cell["candidates"]), "FINISHED", "")])
    assert report.delivered and not report.undelivered, report.error


def log_separate(client: MlflowClient, exp: str, cell: Cell) -> None:
    """The layout before the merge: the prompt as an artifact of its own (five requests)."""
    record: CellRecord = cell["record"]
    tags = {"tipbench.cell_id": record.cell_id, "tipbench.judge_pending": "true"}
    run = client.create_run(exp, record.run_name, tags=tags)
    listed = [c.to_json() for c in cell["candidates"]]
    client.log_artifact(run.run_id, "candidates.json", json.dumps(listed, indent=1))
    client.log_artifact(run.run_id, "prompt.txt", record.prompt_text)
    tags = {"tipbench.n_candidates": "3", "tipbench.n_tips": "3"}
    metrics = cell_metrics(cell["candidates"])
    client.log_batch(run.run_id, params=record.params, metrics=metrics, tags=tags)
    client.update_run(run.run_id, "FINISHED")


def log_naive(http: httpx.Client, exp: str, cell: Cell) -> None:
    """What a hand-rolled client does: one REST call per value."""

    def post(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(f"{API}/{endpoint}", json=body)
        response.raise_for_status()
        return response.json()

    record: CellRecord = cell["record"]
    now = int(time.time() * 1000)
    info = post(
        "runs/create", {"experiment_id": exp, "run_name": record.run_name, "start_time": now}
    )
    run_id = info["run"]["info"]["run_id"]
    root = info["run"]["info"]["artifact_uri"].removeprefix("mlflow-artifacts:").strip("/")
    tags = {
        "tipbench.cell_id": record.cell_id,
        "tipbench.judge_pending": "true",
        "tipbench.n_candidates": "3",
        "tipbench.n_tips": "3",
    }
    for key, value in tags.items():
        post("runs/set-tag", {"run_id": run_id, "key": key, "value": value})
    for key, value in record.params.items():
        post("runs/log-parameter", {"run_id": run_id, "key": key, "value": value})
    for key, value in cell_metrics(cell["candidates"]).items():
        metric = {"run_id": run_id, "key": key, "value": value, "timestamp": now, "step": 0}
        post("runs/log-metric", metric)
    for name, data in (
        ("candidates.json", json.dumps([c.to_json() for c in cell["candidates"]])),
        ("prompt.txt", record.prompt_text),
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
    searches: int
    seconds: float

    @property
    def per_cell(self) -> float:
        """Requests per cell, besides the one search a run makes up front for all of its cells."""
        return (self.requests - min(self.searches, 1)) / self.cells

    @property
    def cells_per_s(self) -> float:
        return self.cells / self.seconds


def run_way(
    name: str, cells: list[Cell], log_one: Callable[[str, Cell], None], exp: str, counter: Counter
) -> Result:
    start_count, start_searches = counter.requests, counter.searches
    start = time.perf_counter()
    for cell in cells:
        log_one(exp, cell)
    return Result(
        name,
        len(cells),
        counter.requests - start_count,
        counter.searches - start_searches,
        time.perf_counter() - start,
    )


def check_logged(client: MlflowClient, exp: str, cells: list[Cell]) -> None:
    """Every way must have stored the same, complete cells; a fast wrong logger proves nothing."""
    runs = client.search_runs([exp], max_results=1000)
    assert len(runs) == len(cells), (len(runs), len(cells))
    sample = client.get_run(runs[0].run_id)
    assert sample.status == "FINISHED"
    metrics = cell_metrics(cells[0]["candidates"])
    assert len(sample.params) == 14 and len(sample.metrics) == len(metrics), sample
    assert {"tipbench.cell_id", "tipbench.judge_pending", "tipbench.n_candidates"} <= set(
        sample.tags
    )
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
        syncers: dict[str, CellSyncer] = {}

        def tipbench(exp: str, cell: Cell) -> None:
            if exp not in syncers:  # one search a run for the cells MLflow has (counted too)
                syncers[exp] = CellSyncer(client, exp)
                syncers[exp].runs_by_cell()
            log_tipbench(syncers[exp], cell)

        ways: list[tuple[str, Callable[[str, Cell], None]]] = [
            ("tipbench", tipbench),
            ("separate", lambda e, c: log_separate(client, e, c)),
            ("naive", lambda e, c: log_naive(http, e, c)),
        ]
        results = []
        for name, log_one in ways:
            exp = client.ensure_experiment(f"bench-{name}-{time.time_ns()}")
            results.append(run_way(name, cells, log_one, exp, counter))
            check_logged(client, exp, cells)
    return results


def report(results: list[Result]) -> None:
    print(f"{'way':<10}{'cells':>7}{'requests':>10}{'searches':>10}{'req/cell':>10}{'cells/s':>10}")
    for r in results:
        print(
            f"{r.name:<10}{r.cells:>7}{r.requests:>10}{r.searches:>10}{r.per_cell:>10.2f}"
            f"{r.cells_per_s:>10.1f}"
        )
    by_name = {r.name: r for r in results}
    naive, separate, ours = by_name["naive"], by_name["separate"], by_name["tipbench"]
    for r in (ours, separate):
        print(
            f"{r.name} vs naive: {naive.per_cell / r.per_cell:.1f}x fewer requests, "
            f"{r.cells_per_s / naive.cells_per_s:.1f}x the cells per second"
        )
    print(
        f"tipbench vs separate prompt.txt: {ours.cells_per_s / separate.cells_per_s:.2f}x the "
        f"cells per second"
    )
    print(
        f"target <= 5 requests/cell (4 to log it, 1 search to claim it): tipbench "
        f"{ours.per_cell:.1f} ({'met' if ours.per_cell <= 5 else 'not met'}), separate "
        f"prompt.txt {separate.per_cell:.1f} (+1 when it claims too)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
