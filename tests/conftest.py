"""Shared fixtures: one real ``mlflow server`` for the whole session, and clients for it.

The server is real (SQLite store, proxied artifacts, on a free loopback port) because the
behaviours tipbench must handle — batch limits, paging, plain-text 403s — are the server's.
Nothing here sets ``MLFLOW_TRACKING_URI`` globally: a test that runs a subprocess passes
``mlflow_env`` as its environment, so tests never leak a server address into each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.server import LocalMlflowServer


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of a real mlflow server shared by the session."""
    server = LocalMlflowServer(tmp_path_factory.mktemp("mlflow-home"))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def mlflow_client(mlflow_server: str) -> Iterator[MlflowClient]:
    """A tipbench REST client for the session's server, closed after the test."""
    with MlflowClient(mlflow_server) as client:
        yield client


@pytest.fixture
def experiment_name(request: pytest.FixtureRequest) -> str:
    """A name no other test (or earlier session on the same server) uses."""
    return f"{request.node.name[:60]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def mlflow_env(mlflow_server: str, tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess: the session's server and a private TIPBENCH_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env["MLFLOW_TRACKING_URI"] = mlflow_server
    env["TIPBENCH_HOME"] = str(tmp_path / "tipbench-home")
    return env


@pytest.fixture
def tipbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private TIPBENCH_HOME for in-process code (journal, embedded store)."""
    home = tmp_path / "tipbench-home"
    home.mkdir()
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    return home
