"""A service that breaks off or answers nonsense: the exit status a scheduler can act on, and one
message naming what happened, never a traceback.

A transport failure (Ollama or MLflow cut off) at any point is exit 3, which Airflow retries; a
server that answers 200 with a body lacking what MLflow always sends is a named TrackingError,
in the main thread and in the background sender alike.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED
from tipbench_lib.tracking.status import main as status_main

from .ollama_standin import FakeModel, OllamaStandIn

MODELS = [FakeModel("tiny-a", 1_000_000_000), FakeModel("tiny-b", 2_000_000_000)]
GRID = ["--backend", "ollama", "--models", "tiny-a,tiny-b", "--prompts", "v1"]
GRID += ["--scenarios", "2", "--n-tips", "2", "--max-tokens", "16", "--timeout", "30"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tipbench_home: Path) -> pytest.MonkeyPatch:
    for key in [k for k in __import__("os").environ if k.startswith("MLFLOW_TRACKING_")]:
        monkeypatch.delenv(key)
    return monkeypatch


class Answering:
    """An HTTP server on loopback: ``{}`` with 200 for the paths ``nonsense`` picks, and the real
    MLflow's answer (forwarded) for the others, or ``{}`` for everything with no upstream."""

    def __init__(self, upstream: str | None, nonsense=lambda method, path: True) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if owner.upstream is None or nonsense(self.command, self.path):
                    owner.nonsense_sent += 1
                    status, data, kind = 200, b"{}", "application/json"
                else:
                    reply = httpx.request(
                        self.command, owner.upstream + self.path, content=body,
                        headers={"Content-Type": self.headers.get("Content-Type", "")},
                    )  # fmt: skip
                    status, data = reply.status_code, reply.content
                    kind = reply.headers.get("content-type", "")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

        self.upstream = upstream
        self.nonsense_sent = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def nonsense_server() -> Iterator[Answering]:
    server = Answering(None)
    yield server
    server.close()


def test_ollama_cut_while_the_models_are_described_is_exit_3_with_nothing_created(
    env, mlflow_server, mlflow_client, experiment_name, tipbench_home, capsys
):
    def cut_show(path: str, body) -> str | None:
        return "cut" if path == "/api/show" else None

    env.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    with OllamaStandIn(MODELS) as standin:
        standin.on_request = cut_show
        env.setenv("OLLAMA_HOST", standin.url)
        code = collect_main([*GRID, "--experiment", experiment_name])
        assert standin.loads() == []
    err = capsys.readouterr().err
    assert code == EXIT_INTERRUPTED, err
    assert "refused" not in err and "Traceback" not in err
    assert "connection to Ollama" in err and "run the same command again" in err, err
    assert mlflow_client.get_experiment_by_name(experiment_name) is None
    assert not (tipbench_home / "journal").exists()


def test_an_mlflow_answering_an_empty_object_is_named_not_a_traceback(
    env, nonsense_server, experiment_name, capsys
):
    env.setenv("MLFLOW_TRACKING_URI", nonsense_server.url)
    assert status_main(["--experiment", experiment_name]) == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "Traceback" not in err and "KeyError" not in err, err
    assert nonsense_server.url in err and "experiments/get-by-name" in err, err
    assert "without" in err and "experiment" in err, err

    with OllamaStandIn(MODELS) as standin:
        env.setenv("OLLAMA_HOST", standin.url)
        code = collect_main([*GRID, "--experiment", experiment_name])
    err = capsys.readouterr().err
    assert code == EXIT_REFUSED and "Traceback" not in err and "KeyError" not in err, err


def test_runs_create_answered_with_an_empty_object_mid_run_is_named_and_resumable(
    env, mlflow_server, mlflow_client, experiment_name, tipbench_home, capsys
):
    proxy = Answering(mlflow_server, lambda method, path: path.endswith("/runs/create"))
    try:
        env.setenv("MLFLOW_TRACKING_URI", proxy.url)
        with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.005) as standin:
            env.setenv("OLLAMA_HOST", standin.url)
            code = collect_main([*GRID, "--experiment", experiment_name])
            captured = capsys.readouterr()
            assert proxy.nonsense_sent, "runs/create was never asked for"
            text = captured.out + captured.err
            assert code == EXIT_INTERRUPTED, text
            assert "Traceback" not in text and "KeyError" not in text, text
            assert "runs/create" in text and "run the same command again" in text, text

            env.setenv("MLFLOW_TRACKING_URI", mlflow_server)  # the real server answers again
            generated = len(standin.generation_requests())
            assert collect_main([*GRID, "--experiment", experiment_name]) == EXIT_OK
            assert len(standin.generation_requests()) == generated, "delivered from the journal"
    finally:
        proxy.close()
    status = capsys.readouterr()
    assert "Traceback" not in status.err
    assert status_main(["--experiment", experiment_name]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["cells"] == 4
