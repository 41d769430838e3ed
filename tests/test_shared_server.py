"""The embedded MLflow server shared between processes: whom it trusts, and who keeps it alive.

A file in the tipbench home tells every process where the server listens, so a planted file must
neither receive the environment's credentials nor be believed at all when it could have been
planted (a home others can write, a symlink, an address off the loopback). And a process that
shares the server must keep it when the process that started it ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
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
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.home import (
    UntrustedHomeError,
    loopback_url,
    private_home,
    read_server_url,
)
from tipbench_lib.tracking.server import stop_embedded, tracking_url

SECRETS = {
    "MLFLOW_TRACKING_TOKEN": "tok-planted-123",
    "MLFLOW_TRACKING_USERNAME": "alice",
    "MLFLOW_TRACKING_PASSWORD": "pw-planted-456",
}


class _Recorder(BaseHTTPRequestHandler):
    """Plays an MLflow server well enough to be used, and records every request's headers."""

    def _answer(self) -> None:
        self.server.requests.append((self.command, self.path, dict(self.headers)))  # type: ignore[attr-defined]
        body = b'{"experiment": {"experiment_id": "1", "name": "x", "lifecycle_stage": "active"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def recorder(host: str = "127.0.0.1") -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer((host, 0), _Recorder)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def planted(home: Path, url: str) -> Iterator[None]:
    """What an intruder leaves in a home: a held server lock and a URL file naming their server."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / "mlflow-server.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    (home / "mlflow-server.url").write_text(url, encoding="utf-8")
    try:
        yield
    finally:
        os.close(fd)


@pytest.fixture
def embedded_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No configured server, credentials in the environment, a private home; claim dropped after."""
    for name in ("MLFLOW_TRACKING_URI", *SECRETS):
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    yield home
    stop_embedded()


def _leaked(requests: list) -> list[str]:
    """Header lines of the recorded requests that carry a credential."""
    found = []
    for _method, _path, headers in requests:
        for key, value in headers.items():
            text = f"{key}: {value}"
            if key.lower() == "authorization" or any(s in text for s in SECRETS.values()):
                found.append(text)
    return found


def test_a_planted_url_file_gets_no_credentials(embedded_env: Path) -> None:
    """The URL file passes every check here (a loopback address in a private home), yet the
    environment's credentials belong to MLFLOW_TRACKING_URI only, so none are sent."""
    with recorder() as listener:
        url = f"http://127.0.0.1:{listener.server_address[1]}"
        with planted(embedded_env, url):
            with MlflowClient.from_env(retries=0) as client:
                assert client.base_url == url
                client.get_experiment_by_name("x")
            with MlflowClient(tracking_url(), retries=0) as client:
                client.get_experiment_by_name("x")
        requests = listener.requests  # type: ignore[attr-defined]
    assert len(requests) >= 3  # /health, then two real calls: the planted server was used...
    assert _leaked(requests) == []  # ...but no credential left


def test_credentials_go_to_the_configured_url_only(
    embedded_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with recorder() as configured, recorder() as other:
        configured_url = f"http://127.0.0.1:{configured.server_address[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", configured_url + "/")
        for url in (tracking_url(), configured_url):
            with MlflowClient(url, retries=0) as client:
                client.get_experiment_by_name("x")
        with MlflowClient(f"http://127.0.0.1:{other.server_address[1]}", retries=0) as client:
            client.get_experiment_by_name("x")
        assert len(_leaked(configured.requests)) == 2  # type: ignore[attr-defined]
        assert other.requests and _leaked(other.requests) == []  # type: ignore[attr-defined]


def test_a_home_others_can_write_is_refused(embedded_env: Path) -> None:
    with recorder() as listener:
        url = f"http://127.0.0.1:{listener.server_address[1]}"
        with planted(embedded_env, url):
            os.chmod(embedded_env, 0o777)
            with pytest.raises(UntrustedHomeError, match="can be written by other users") as err:
                tracking_url()
            assert "TIPBENCH_HOME" in str(err.value)
        assert listener.requests == []  # type: ignore[attr-defined]  # not even a health check


def _outside_address() -> str | None:
    """This machine's address on its network (no packet is sent), None without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address


def test_a_url_file_off_the_loopback_is_refused(embedded_env: Path) -> None:
    address = _outside_address() or "10.255.255.1"
    with recorder("0.0.0.0") as listener:
        url = f"http://{address}:{listener.server_address[1]}"
        with planted(embedded_env, url), pytest.raises(UntrustedHomeError, match="loopback"):
            tracking_url()
        assert listener.requests == []  # type: ignore[attr-defined]


def test_what_the_home_may_hold(tmp_path: Path) -> None:
    home = tmp_path / "h"
    assert private_home(home) == home and (home.stat().st_mode & 0o777) == 0o700
    os.chmod(home, 0o755)  # a home from an older tipbench: others may read, not write
    private_home(home)
    assert (home.stat().st_mode & 0o777) == 0o700, "tightened: it holds the journals"
    with pytest.raises(UntrustedHomeError, match="belongs to user id"):
        private_home(home, uid=os.getuid() + 1)

    assert read_server_url(home) is None
    target = tmp_path / "elsewhere.url"
    target.write_text("http://127.0.0.1:5000")
    (home / "mlflow-server.url").symlink_to(target)
    with pytest.raises(UntrustedHomeError, match="not a plain file"):
        read_server_url(home)
    (home / "mlflow-server.url").unlink()
    (home / "mlflow-server.url").write_text("http://127.0.0.1:5000\n")
    assert read_server_url(home) == "http://127.0.0.1:5000"
    with pytest.raises(UntrustedHomeError, match="not a file of yours"):
        read_server_url(home, uid=os.getuid() + 1)

    for bad in (
        "https://127.0.0.1:5000",
        "http://127.0.0.1",
        "http://user:pw@127.0.0.1:5000",
        "http://127.0.0.1:5000/somewhere",
        "http://127.0.0.1.evil.example:5000",
        "http://localhost.evil.example:5000",
        "http://10.0.0.1:5000",
        "file:///etc/passwd",
        "not a url",
    ):
        with pytest.raises(UntrustedHomeError):
            loopback_url(bad)
    assert loopback_url("http://[::1]:5000/") == "http://[::1]:5000"
    assert loopback_url("http://127.0.0.2:5001") == "http://127.0.0.2:5001"


# -- two real processes sharing one server -------------------------------------------------------

USER = """
import sys
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.server import tracking_url
print(tracking_url(), flush=True)
for line in sys.stdin:
    with MlflowClient(tracking_url(), retries=1, backoff=0.05) as client:
        print(client.ensure_experiment(line.strip()), flush=True)
"""


def _user(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", USER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ask(user: subprocess.Popen[str], experiment: str) -> str:
    """An experiment id from the user process, or what it said before dying."""
    assert user.stdin is not None and user.stdout is not None
    user.stdin.write(experiment + "\n")
    user.stdin.flush()
    answer = user.stdout.readline().strip()
    if not answer:
        assert user.stderr is not None
        user.kill()
        pytest.fail(f"the process lost the server: {user.stderr.read()[-1500:]}")
    return answer


def _gone(url: str, within: float = 60.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=1)
        except httpx.TransportError:
            return True
        time.sleep(0.2)
    return False


def test_the_server_outlives_its_starter_and_stops_with_its_last_user(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["TIPBENCH_HOME"] = str(home)
    starter, sharer = _user(env), _user(env)
    try:
        assert starter.stdout is not None and sharer.stdout is not None
        url = starter.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        assert sharer.stdout.readline().strip() == url, "one server per home, shared"
        first = _ask(sharer, "before")

        starter.stdin.close()  # type: ignore[union-attr]  # the starter ends normally
        assert starter.wait(timeout=60) == 0

        assert _ask(sharer, "after-the-starter-ended") != first  # still served, same store
        assert _ask(sharer, "before") == first
        assert (home / "mlflow-server.url").read_text().strip() == url

        sharer.send_signal(signal.SIGKILL)  # the last user dies without any clean-up
        sharer.wait(timeout=30)
        assert _gone(url), "the server stops once its last user is gone, even after kill -9"
        assert not (home / "mlflow-server.url").exists()
    finally:
        for proc in (starter, sharer):
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)

    again = _user(env)  # a later process starts a fresh server on the same store
    try:
        assert again.stdout is not None
        second_url = again.stdout.readline().strip()
        assert second_url.startswith("http://127.0.0.1:")
        assert _ask(again, "before") == first
    finally:
        again.stdin.close()  # type: ignore[union-attr]
        assert again.wait(timeout=60) == 0
    assert _gone(second_url)


def test_a_server_that_cannot_start_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    home.mkdir(mode=0o700)
    (home / "mlflow.db").write_text("this is not a sqlite database")
    try:
        with pytest.raises(TrackingError, match="could not start") as err:
            tracking_url()
        assert "end of its log" in str(err.value)
    finally:
        stop_embedded()
