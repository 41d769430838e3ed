"""What sending this machine's journalled judgments first costs a command that reads an experiment.

Every command that reads an experiment (status, judge --export/--status/--apply, compare) reads
it through ``judge.delivery.read_delivered`` (docs/architecture.md, section 9): the read, then
one judge session per judge journalled on this machine to find what MLflow lacks. Side by side
in one run, on one experiment collected against the Ollama stand-in and a real local MLflow
server, with every judge's scores journalled here and delivered:

  read       ``tracking.experiment.read_experiment`` alone (what the commands did before)
  delivered  ``read_delivered`` with nothing to send (the usual case)

The two are timed alternately, ``--replicates`` times each, and the ratio of their medians is
printed; then, once, ``read_delivered`` with one judgment an app never sent (a second read).

    .venv/bin/python bench/read_delivered.py [--scenarios 12] [--judges 4] [--replicates 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ollama_standin import FakeModel, OllamaStandIn  # noqa: E402
from tipbench_lib.backends.base import GenerationOptions  # noqa: E402
from tipbench_lib.backends.ollama import OllamaBackend  # noqa: E402
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared  # noqa: E402
from tipbench_lib.judge.delivery import read_delivered  # noqa: E402
from tipbench_lib.judge.session import JudgeSession, Scores  # noqa: E402
from tipbench_lib.tracking.client import MlflowClient  # noqa: E402
from tipbench_lib.tracking.experiment import read_experiment  # noqa: E402
from tipbench_lib.tracking.server import LocalMlflowServer  # noqa: E402

MODELS = [
    FakeModel(f"model-{m}", 1_000_000_000, texts=(f"Tip {m}: block 25 minutes now.",))
    for m in "abc"
]
SCORES = {"relevance": 4, "actionability": 3, "tone": 5, "format_ok": True, "overlong": False}


def collect(client: MlflowClient, name: str, scenarios: int) -> None:
    with OllamaStandIn(MODELS, load_s=0.0, gen_s=0.0) as standin:
        request = CollectRequest(
            experiment=name,
            models=tuple(m.name for m in MODELS),
            prompts=("v1", "v2-mentor"),
            scenarios=str(scenarios),
            n_tips=3,
            options=GenerationOptions(max_tokens=16),
        )
        backend = OllamaBackend(standin.url)
        try:
            summary = run_prepared(prepare(request, backend, client), backend, client)
        finally:
            backend.close()
        assert not summary.failed, summary.lines()


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", type=int, default=12)
    p.add_argument("--judges", type=int, default=4)
    p.add_argument("--replicates", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TIPBENCH_HOME"] = str(Path(tmp) / "home")
        server = LocalMlflowServer(Path(tmp) / "mlflow")
        url = server.start()
        try:
            with MlflowClient(url) as client:
                name = f"bench-read-{time.time_ns()}"
                collect(client, name, args.scenarios)
                stored = read_experiment(client, name)
                for j in range(args.judges):
                    session = JudgeSession(client, name, f"judge-{j}", stored=stored, queue=False)
                    records = [session.record_for(c, Scores(SCORES)) for c in session.order]
                    session.save_records(records)
                n = len(stored.records.candidates)
                print(
                    f"experiment: {len(stored.records.cells)} cells, {n} tips, {args.judges} "
                    f"judges journalled here, {n * args.judges} judgments, all in MLflow"
                )
                times: dict[str, list[float]] = {"read": [], "delivered": []}
                for _ in range(args.replicates):
                    times["read"].append(timed(lambda: read_experiment(client, name)))
                    times["delivered"].append(timed(lambda: read_delivered(client, name)))
                medians = {k: statistics.median(v) for k, v in times.items()}
                for key, median in medians.items():
                    print(f"{key:<10} median {median:7.3f} s over {args.replicates} replicates")
                print(f"delivered / read: {medians['delivered'] / medians['read']:.2f}")

                unsent = JudgeSession(client, name, "judge-0", stored=stored, queue=False)
                unsent.save(unsent.order[0], Scores({**SCORES, "tone": 2}), sync=False)
                once = timed(lambda: read_delivered(client, name))
                print(
                    f"one unsent judgment: {once:.3f} s, "
                    f"{once / medians['read']:.2f} x read (sent, then read again)"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
