"""Refusals come before the embedded MLflow server starts (issue 22, finding 5).

An unknown model, a misspelt experiment, ``status`` of a missing experiment and the LLM judge
with Ollama down each took 12–15 s because the server started first. Each command here runs
in-process with ``MLFLOW_TRACKING_URI`` unset and the server's start replaced by a recorder: the
refusal (exit 2) must come with no start recorded. The home's store is real: a real ``mlflow
server`` made ``tipbench-demo`` in it, then stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tipbench_lib.cli import main as tipbench
from tipbench_lib.core.errors import EXIT_INTERRUPTED, EXIT_REFUSED
from tipbench_lib.tracking import server
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.local_store import experiment_names_offline, missing_experiment_message


class ServerStarted(Exception):
    """Raised by the recorder in place of starting a server."""


@pytest.fixture(scope="module")
def home_with_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tipbench home whose embedded store holds the experiment ``tipbench-demo``."""
    home = tmp_path_factory.mktemp("home")
    home.chmod(0o700)
    with server.LocalMlflowServer(home) as running, MlflowClient(running.url) as client:
        client.create_experiment("tipbench-demo")
        client.create_experiment("tipbench-ab")
    return home


@pytest.fixture
def starts(
    home_with_demo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[list[str]]:
    """The calls that would have started the embedded server (each one refused)."""
    calls: list[str] = []

    def record(home: Path, port: int | None = None) -> str:
        calls.append(str(home))
        raise ServerStarted(str(home))

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("TIPBENCH_HOME", str(home_with_demo))
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setattr(server, "shared_server_url", record)
    yield calls


def test_offline_names_read_from_the_real_store(home_with_demo: Path) -> None:
    assert experiment_names_offline(home_with_demo) == ["Default", "tipbench-ab", "tipbench-demo"]


def test_misspelt_experiment_names_the_one_meant() -> None:
    message = missing_experiment_message("tipbench-dmeo", ["Default", "tipbench-demo", "x"])
    assert "did you mean 'tipbench-demo'?)" in message
    assert "Experiments there: tipbench-demo, x" in message


@pytest.mark.parametrize(
    "argv",
    [
        ["compare", "--experiment", "tipbench-dmeo", "--out", "OUT"],
        ["status", "--experiment", "tipbench-dmeo"],
        ["judge", "--experiment", "tipbench-dmeo", "--llm-judge", "gemma3-270m"],
        ["judge", "--experiment", "tipbench-dmeo", "--status"],
    ],
    ids=["compare", "status", "judge-llm", "judge-status"],
)
def test_misspelt_experiment_refused_before_the_server(
    argv: list[str], starts: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert tipbench(argv) == EXIT_REFUSED
    assert starts == []
    err = capsys.readouterr().err
    assert "did you mean 'tipbench-demo'?)" in err
    assert "tipbench-ab" in err
    assert not (tmp_path / "out").exists()


def test_judge_with_ollama_down_refused_before_the_server(
    starts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 3, as everywhere a service is down (a rerun may succeed), but before any start."""
    argv = ["judge", "--experiment", "tipbench-demo", "--llm-judge", "x", "--backend", "ollama"]
    assert tipbench(argv) == EXIT_INTERRUPTED
    assert starts == []
    assert "no Ollama server answers" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["judge", "collect"])
def test_unknown_model_refused_before_the_server(
    command: str, starts: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--experiment", "tipbench-demo", "--backend", "embedded"]
    if command == "judge":
        argv = ["judge", *common, "--llm-judge", "no-such-model"]
    else:
        argv = ["collect", *common, "--models", "no-such-model", "--prompts", "v1"]
    assert tipbench(argv) == EXIT_REFUSED
    assert starts == []
    assert "no-such-model" in capsys.readouterr().err


def test_a_known_experiment_goes_on_to_the_server(starts: list[str]) -> None:
    """The offline read only refuses: a name the store holds still asks the server."""
    with pytest.raises(ServerStarted):
        tipbench(["status", "--experiment", "tipbench-demo"])
    assert len(starts) == 1


def test_collect_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """Finding 6: ``collect --help`` hid them."""
    with pytest.raises(SystemExit):
        tipbench(["collect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("(default: 3)", "(default: 12)", "(default: auto)", "(default: 0)"):
        assert shown in text
