"""Nothing lost, nothing duplicated: ``kill -9`` at any moment, and MLflow going away mid-run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tipbench_lib.backends.base import GenerationOptions
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared
from tipbench_lib.core.errors import EXIT_INTERRUPTED
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.mapping import CELL_TAG, read_cell_artifact
from tipbench_lib.tracking.server import LocalMlflowServer

from .ollama_standin import FakeModel, OllamaStandIn

ROOT = Path(__file__).resolve().parents[1]
MODELS = [FakeModel("tiny-a", 1_000_000_000), FakeModel("tiny-b", 2_000_000_000)]
N_CELLS, N_TIPS = 2 * 2 * 3, 2


def journal_lines(home: Path) -> int:
    files = list(home.glob("journal/*/collect.jsonl"))
    return sum(f.read_bytes().count(b"\n") for f in files)


def assert_complete_in_mlflow(client: MlflowClient, experiment: str) -> None:
    exp = client.get_experiment_by_name(experiment)
    runs = [r for r in client.search_runs([exp.experiment_id]) if r.tags.get(CELL_TAG)]
    by_cell: dict[str, list] = {}
    for run in runs:
        by_cell.setdefault(run.tags[CELL_TAG], []).append(run)
    assert len(by_cell) == N_CELLS
    assert all(len(v) == 1 for v in by_cell.values()), "a cell has more than one run"
    assert {r.status for r in runs} == {"FINISHED"}, "a run stayed RUNNING or FAILED"
    seen: set[str] = set()
    for run in runs:
        candidates = read_cell_artifact(client, run).candidates
        assert sorted(c.sample_index for c in candidates) == list(range(N_TIPS))
        ids = {c.candidate_id for c in candidates}
        assert len(ids) == N_TIPS and not ids & seen
        seen |= ids


def test_kill_9_at_several_moments_then_resume(mlflow_env, mlflow_client, experiment_name):
    home = Path(mlflow_env["TIPBENCH_HOME"])
    with OllamaStandIn(MODELS, load_s=0.05, gen_s=0.15) as standin:
        env = {**mlflow_env, "OLLAMA_HOST": standin.url}
        cmd = [
            sys.executable,
            str(ROOT / "notebooks" / "collect.py"),
            "--backend",
            "ollama",
            "--experiment",
            experiment_name,
            "--models",
            "tiny-a,tiny-b",
            "--prompts",
            "v1,v2-mentor",
            "--scenarios",
            "3",
            "--n-tips",
            str(N_TIPS),
            "--max-tokens",
            "16",
        ]
        # Kill when the journal has grown by a few lines each time: mid-cell, between cells,
        # and during MLflow delivery all happen at these points with this timing.
        for kill_at in (3, 9, 17):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 120
            while journal_lines(home) < kill_at and proc.poll() is None:
                assert time.monotonic() < deadline, "collect made no progress"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stdout + final.stderr
        assert standin.max_resident == 1
    assert_complete_in_mlflow(mlflow_client, experiment_name)


def test_mlflow_down_mid_run_finishes_into_the_journal_and_the_next_run_delivers(
    tmp_path, tipbench_home, experiment_name
):
    server_home = tmp_path / "mlflow"
    server = LocalMlflowServer(server_home)
    url = server.start()
    options = GenerationOptions(max_tokens=16, timeout_s=10)
    request = CollectRequest(
        experiment=experiment_name,
        models=("tiny-a", "tiny-b"),
        prompts=("v1", "v2-mentor"),
        scenarios="3",
        n_tips=N_TIPS,
        options=options,
    )
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.005) as standin:
        backend = OllamaBackend(standin.url)
        with MlflowClient(url, retries=1, timeout=5) as client:
            prepared = prepare(request, backend, client)
            stopped = []

            def stop_mlflow_after_first_cell(event):
                if event.done == N_TIPS and not stopped:
                    server.stop()
                    stopped.append(True)

            summary = run_prepared(prepared, backend, client, stop_mlflow_after_first_cell)
        assert stopped
        assert not summary.failed and len(summary.finished) == N_CELLS
        assert len(summary.sync.undelivered) >= N_CELLS - 1
        assert summary.exit_code == EXIT_INTERRUPTED  # not a failure: a rerun delivers
        assert "run the same command again" in "\n".join(summary.lines())

        restarted = LocalMlflowServer(server_home)
        try:
            with MlflowClient(restarted.start()) as client:
                loads_before = len(standin.loads())
                again = run_prepared(prepare(request, backend, client), backend, client)
                assert again.exit_code == 0, again.lines()
                assert len(standin.loads()) == loads_before  # delivered from the journal
                assert_complete_in_mlflow(client, experiment_name)
        finally:
            restarted.stop()
            backend.close()
