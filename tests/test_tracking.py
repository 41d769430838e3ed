"""The MLflow REST layer against a real ``mlflow server`` (and tiny stand-ins for odd answers)."""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tipbench_lib.core.errors import TrackingError
from tipbench_lib.tracking import LONG_TAG_PREFIX, LocalMlflowServer, Metric, MlflowClient
from tipbench_lib.tracking.batching import MAX_TAG_VALUE, split_batches
from tipbench_lib.tracking.server import HomeInUseError, free_port, stop_embedded, tracking_url

# -- a tiny HTTP server for answers a real MLflow gives only in special setups -----------------


class _Scripted(BaseHTTPRequestHandler):
    """Answers from ``server.script``: a list of (status, content type, body), last one repeats."""

    def _answer(self) -> None:
        self.server.requests.append((self.command, self.path, dict(self.headers)))  # type: ignore[attr-defined]
        script = self.server.script  # type: ignore[attr-defined]
        status, ctype, body = script.pop(0) if len(script) > 1 else script[0]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def scripted() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.script = [(200, "application/json", "{}")]  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _script(server: ThreadingHTTPServer, *answers: tuple[int, str, str]) -> None:
    server.script = list(answers)  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]


# -- runs and batches --------------------------------------------------------------------------


def test_log_batch_above_the_per_call_limits_arrives_whole(
    mlflow_client: MlflowClient, experiment_name: str
) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    run = mlflow_client.create_run(exp, "big", tags={"tipbench.cell_id": "c1"})
    metrics = {f"m{i}": float(i) / 7 for i in range(2500)}
    params = {f"p{i}": f"value {i}" for i in range(250)}
    tags = {f"t{i}": f"tag {i}" for i in range(230)}

    calls = mlflow_client.log_batch(run.run_id, metrics=metrics, params=params, tags=tags)

    got = mlflow_client.get_run(run.run_id)
    assert got.metrics == pytest.approx(metrics)
    assert got.params == params
    assert {k: v for k, v in got.tags.items() if k[1:].isdigit()} == tags
    assert got.tags["tipbench.cell_id"] == "c1"
    assert calls == 3  # 2,980 entities, at most 1,000 per call


def test_batches_respect_every_limit() -> None:
    batches = split_batches(
        {f"m{i}": 1.0 for i in range(2500)},
        {f"p{i}": "v" for i in range(250)},
        {f"t{i}": "v" for i in range(230)},
    )
    assert all(len(b.params) <= 100 and len(b.tags) <= 100 for b in batches)
    assert all(len(b.metrics) <= 1000 and b.size() <= 1000 for b in batches)
    assert sum(len(b.metrics) for b in batches) == 2500
    assert all(m["timestamp"] > 0 for b in batches for m in b.metrics)


def test_nan_and_infinities_round_trip(mlflow_client: MlflowClient, experiment_name: str) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    run = mlflow_client.create_run(exp, "odd values")
    mlflow_client.log_batch(
        run.run_id,
        metrics=[
            Metric("nan", math.nan),
            Metric("pos", math.inf),
            Metric("neg", -math.inf),
            Metric("ok", 1.5, step=3),
        ],
    )
    got = mlflow_client.get_run(run.run_id).metrics
    assert math.isnan(got["nan"])
    assert got["pos"] == math.inf and got["neg"] == -math.inf and got["ok"] == 1.5


def test_over_long_values_are_refused_never_cut(
    mlflow_client: MlflowClient, experiment_name: str
) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    run = mlflow_client.create_run(exp, "long")
    with pytest.raises(TrackingError, match="set_long_tag"):
        mlflow_client.log_batch(run.run_id, tags={"note": "x" * (MAX_TAG_VALUE + 1)})
    with pytest.raises(TrackingError, match="6000"):
        mlflow_client.log_batch(run.run_id, params={"prompt": "y" * 6001}, metrics={"a": 1.0})
    got = mlflow_client.get_run(run.run_id)
    assert "note" not in got.tags and "prompt" not in got.params and "a" not in got.metrics


def test_a_tag_over_the_limit_goes_to_an_artifact(
    mlflow_client: MlflowClient, experiment_name: str
) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    run = mlflow_client.create_run(exp, "long tag")
    value = "Überlänge ✓ " * 1000  # 12,000 characters

    mlflow_client.set_long_tag(run.run_id, "notes", value)
    mlflow_client.set_long_tag(run.run_id, "short", "fits")

    got = mlflow_client.get_run(run.run_id)
    assert got.tags["notes"] == f"{LONG_TAG_PREFIX}tags/notes.txt"
    assert got.tags["short"] == "fits"
    assert mlflow_client.download_artifact(run.run_id, "tags/notes.txt").decode() == value
    assert mlflow_client.get_long_tag(got, "notes") == value


def test_status_update_and_delete(mlflow_client: MlflowClient, experiment_name: str) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    run = mlflow_client.create_run(exp, "m | p | s", start_time_ms=1_700_000_000_000)
    assert run.status == "RUNNING" and run.start_time == 1_700_000_000_000
    mlflow_client.set_tag(run.run_id, "tipbench.judge_pending", "true")
    mlflow_client.update_run(run.run_id, "FINISHED")
    got = mlflow_client.get_run(run.run_id)
    assert got.status == "FINISHED" and got.end_time is not None
    assert got.run_name == "m | p | s" and got.tags["tipbench.judge_pending"] == "true"
    mlflow_client.delete_run(run.run_id)
    assert mlflow_client.get_run(run.run_id).lifecycle_stage == "deleted"
    assert mlflow_client.search_runs([exp]) == []


def test_search_follows_every_page(mlflow_client: MlflowClient, experiment_name: str) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    made = {mlflow_client.create_run(exp, f"r{i}", tags={"i": str(i)}).run_id for i in range(7)}
    found = mlflow_client.search_runs([exp], max_results=3, order_by=["attributes.run_name ASC"])
    assert {r.run_id for r in found} == made
    assert [r.run_name for r in found] == [f"r{i}" for i in range(7)]
    odd = mlflow_client.search_runs([exp], filter_string="tags.i = '3'", max_results=2)
    assert [r.run_name for r in odd] == ["r3"]


def test_a_deleted_experiment_is_restored(
    mlflow_client: MlflowClient, experiment_name: str
) -> None:
    exp = mlflow_client.create_experiment(experiment_name)
    mlflow_client.delete_experiment(exp)
    deleted = mlflow_client.get_experiment_by_name(experiment_name)
    assert deleted is not None and deleted.deleted

    assert mlflow_client.ensure_experiment(experiment_name) == exp
    restored = mlflow_client.get_experiment_by_name(experiment_name)
    assert restored is not None and restored.lifecycle_stage == "active"
    assert mlflow_client.get_experiment_by_name(experiment_name + "-none") is None


def test_ensure_experiment_survives_a_concurrent_create(
    mlflow_server: str, experiment_name: str
) -> None:
    results: list[str] = []

    def ensure() -> None:
        with MlflowClient(mlflow_server) as client:
            results.append(client.ensure_experiment(experiment_name))

    threads = [threading.Thread(target=ensure) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(set(results)) == 1


# -- artifacts ---------------------------------------------------------------------------------


def test_artifact_round_trip(mlflow_client: MlflowClient, experiment_name: str) -> None:
    exp = mlflow_client.ensure_experiment(experiment_name)
    run = mlflow_client.create_run(exp, "artifacts")
    blob = bytes(range(256)) * 4096  # 1 MiB, every byte value
    text = "Grüße, 東京! Ça va? — ✓ ünïcödé\n"

    mlflow_client.log_artifact(run.run_id, "candidates.bin", blob)
    mlflow_client.log_artifact(run.run_id, "judgments/jüdge 1.json", json.dumps({"t": text}))
    fresh = MlflowClient(mlflow_client.base_url)  # no cached artifact root: reads the run

    with fresh:
        assert fresh.download_artifact(run.run_id, "candidates.bin") == blob
        got = json.loads(fresh.download_artifact(run.run_id, "judgments/jüdge 1.json"))
        assert got == {"t": text}
        top = {f.path: f for f in fresh.list_artifacts(run.run_id)}
        assert top["candidates.bin"].file_size == len(blob) and not top["candidates.bin"].is_dir
        assert top["judgments"].is_dir
        inner = fresh.list_artifacts(run.run_id, "judgments")
        assert [f.path for f in inner] == ["judgments/jüdge 1.json"]


def test_a_run_without_proxied_artifacts_is_refused(
    mlflow_client: MlflowClient, scripted: ThreadingHTTPServer
) -> None:
    run_json = {
        "run": {
            "info": {
                "run_id": "abc",
                "experiment_id": "1",
                "artifact_uri": "/srv/mlruns/1/abc/artifacts",
                "status": "RUNNING",
            },
            "data": {},
        }
    }
    _script(scripted, (200, "application/json", json.dumps(run_json)))
    with (
        MlflowClient(_url(scripted)) as client,
        pytest.raises(TrackingError, match="--artifacts-destination") as err,
    ):
        client.log_artifact("abc", "x.txt", "x")
    assert "--no-serve-artifacts" in str(err.value)


# -- errors people must be able to act on ------------------------------------------------------


@pytest.fixture(scope="module")
def strict_host_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server that only allows the Host ``example.invalid``."""
    home = tmp_path_factory.mktemp("strict-host")
    with LocalMlflowServer(home, extra_args=["--allowed-hosts", "example.invalid"]) as server:
        assert server.url is not None
        yield server.url


def test_a_refused_host_header_names_allowed_hosts(strict_host_server: str) -> None:
    with MlflowClient(strict_host_server, retries=0) as client, pytest.raises(TrackingError) as err:
        client.get_experiment_by_name("anything")
    message = str(err.value)
    host = strict_host_server.removeprefix("http://")
    assert "--allowed-hosts" in message and host in message
    assert "JSONDecodeError" not in message and "Expecting value" not in message


def test_embedded_server_is_shared_then_stopped_with_its_last_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One embedded server per home: a second process shares it and keeps it after its starter
    ends; it stops with its last user, and a client of the stopped server is told how to get one.
    (Two processes without this test's: tests/test_shared_server.py.)"""
    code = (
        "import sys\n"
        "from tipbench_lib.tracking.server import tracking_url\n"
        "print(tracking_url(), flush=True)\n"
        "sys.stdin.readline()\n"
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["TIPBENCH_HOME"] = str(home)
    owner = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert owner.stdout is not None
        url = owner.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert (home / "mlflow.db").exists()

        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        monkeypatch.setenv("TIPBENCH_HOME", str(home))
        assert tracking_url() == url  # shared, not a second server on the same sqlite file
        with pytest.raises(HomeInUseError, match="TIPBENCH_HOME") as in_use:
            LocalMlflowServer(home).start()
        assert in_use.value.url == url
        with MlflowClient(url) as client:
            assert client.ensure_experiment("shared")
    finally:
        owner.communicate(b"\n", timeout=60)
    assert owner.returncode == 0
    with MlflowClient(url) as client:
        assert client.get_experiment_by_name("shared") is not None  # kept for this process
    stop_embedded()  # the last user lets go: the keeper stops the server within a second
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=1)
        except httpx.TransportError:
            break
        time.sleep(0.2)

    with (
        MlflowClient(url, retries=1, backoff=0.01) as client,
        pytest.raises(TrackingError) as err,
    ):
        client.get_experiment_by_name("x")
    message = str(err.value)
    assert url in message and "MLFLOW_TRACKING_URI" in message and "mlflow server" in message
    assert not (home / "mlflow-server.url").exists()


def test_401_names_the_variables_and_never_the_secret(
    scripted: ThreadingHTTPServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _url(scripted))  # credentials go there only
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-pw")
    _script(scripted, (401, "text/html", "<html>You are not authenticated</html>"))
    caplog.set_level(logging.DEBUG)
    with MlflowClient(_url(scripted)) as client, pytest.raises(TrackingError) as err:
        client.get_run("r1")
    message = str(err.value)
    assert "MLFLOW_TRACKING_USERNAME" in message and "MLFLOW_TRACKING_TOKEN" in message
    assert "401" in message
    sent = scripted.requests[0][2]  # type: ignore[attr-defined]
    assert sent["Authorization"].startswith("Basic ")  # the credentials were used...
    for text in (message, repr(client), caplog.text):  # ...and never shown
        assert "s3cret-pw" not in text and "alice" not in text
    assert len(scripted.requests) == 1  # type: ignore[attr-defined]  # 4xx: no retry


def test_token_and_url_credentials_stay_out_of_reprs(
    scripted: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _url(scripted))  # credentials go there only
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "tok-123")
    _script(scripted, (500, "text/plain", "boom"))
    with MlflowClient(_url(scripted), retries=0) as client, pytest.raises(TrackingError) as err:
        client.get_run("r1")
    assert scripted.requests[0][2]["Authorization"] == "Bearer tok-123"  # type: ignore[attr-defined]
    assert "tok-123" not in str(err.value) + repr(client) and "auth=token" in repr(client)
    url = _url(scripted).replace("http://", "http://bob:pw-456@")
    with MlflowClient(url, retries=0) as client, pytest.raises(TrackingError) as err:
        client.get_run("r1")
    for text in (str(err.value), repr(client), client.base_url):
        assert "tok-123" not in text and "pw-456" not in text and "bob" not in text


def test_non_json_404_is_a_readable_error(scripted: ThreadingHTTPServer) -> None:
    _script(scripted, (404, "text/html", "<!doctype html><title>404 Not Found</title>" + "x" * 500))
    with MlflowClient(_url(scripted)) as client, pytest.raises(TrackingError) as err:
        client.get_run("r1")
    message = str(err.value)
    assert "404" in message and "non-JSON" in message and "MLFLOW_TRACKING_URI" in message
    assert "x" * 300 not in message  # only the first 200 characters
    assert len(scripted.requests) == 1  # type: ignore[attr-defined]


def test_real_server_json_errors_keep_code_and_message(
    mlflow_client: MlflowClient,
) -> None:
    with pytest.raises(TrackingError, match="RESOURCE_DOES_NOT_EXIST"):
        mlflow_client.get_run("0" * 32)
    with pytest.raises(TrackingError, match="non-JSON"):
        mlflow_client._call("GET", "no-such-endpoint")


def test_5xx_is_retried_until_it_answers(
    scripted: ThreadingHTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    exp = {"experiment": {"experiment_id": "7", "name": "e", "lifecycle_stage": "active"}}
    _script(
        scripted,
        (503, "text/plain", "busy"),
        (500, "application/json", '{"error_code": "INTERNAL_ERROR", "message": "x"}'),
        (200, "application/json", json.dumps(exp)),
    )
    caplog.set_level(logging.WARNING, logger="tipbench_lib.tracking")
    with MlflowClient(_url(scripted), backoff=0.01) as client:
        found = client.get_experiment_by_name("e")
    assert found is not None and found.experiment_id == "7"
    assert len(scripted.requests) == 3  # type: ignore[attr-defined]
    assert caplog.text.count("retry") == 2


def test_5xx_gives_up_after_the_retries(scripted: ThreadingHTTPServer) -> None:
    _script(scripted, (502, "text/plain", "bad gateway"))
    with (
        MlflowClient(_url(scripted), retries=2, backoff=0.01) as client,
        pytest.raises(TrackingError, match="502"),
    ):
        client.get_run("r")
    assert len(scripted.requests) == 3  # type: ignore[attr-defined]


def test_connection_errors_are_retried() -> None:
    port = free_port()
    hits: list[str] = []
    hooks = {"request": [lambda request: hits.append(str(request.url))]}
    url = f"http://127.0.0.1:{port}"
    with (
        MlflowClient(url, retries=2, backoff=0.01, event_hooks=hooks) as client,
        pytest.raises(TrackingError, match="no MLflow server answers"),
    ):
        client.get_run("r")
    assert len(hits) == 3


def test_server_start_failure_shows_its_log(tmp_path: Path) -> None:
    server = LocalMlflowServer(tmp_path, extra_args=["--no-such-flag"], start_timeout=60)
    with pytest.raises(TrackingError, match="no-such-flag"):
        server.start()
    assert server.url is None


def test_httpx_is_the_transport(mlflow_client: MlflowClient) -> None:
    assert isinstance(mlflow_client._http, httpx.Client)
    assert "MlflowClient(" in repr(mlflow_client)
