"""A local Airflow 3 for tests and benchmarks: its own metadata database, pools and processes.

Runs Airflow from ``.venv-airflow`` (``make airflow``) with the real scheduler (LocalExecutor),
API server (the tasks report to its execution API) and DAG processor, on SQLite in a folder of
the caller's, with the repository's ``dags/`` as DAGs folder. Every process starts in a session
of its own and is stopped by process group: Airflow's API server and task runners can outlive
their parent. The metadata database is read directly (read-only) to follow a run, which is far
cheaper than an ``airflow`` command per poll.

A test double's helper only: nothing in tipbench_lib or dags/ imports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_VENV = ROOT / ".venv-airflow"
AIRFLOW_BIN = AIRFLOW_VENV / "bin"
DAGS = ROOT / "dags"
DAG_ID = "prompt_ab_eval"
FINISHED_RUN_STATES = ("success", "failed")


def airflow_installed() -> bool:
    return (AIRFLOW_BIN / "airflow").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_members(sessions: set[int]) -> list[int]:
    """Live processes (zombies excluded) whose session id is one of ``sessions``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) in sessions:
            members.append(int(entry.name))
    return members


def parse_time(value: Any) -> float | None:
    """A metadata-database timestamp (UTC) as seconds since the epoch."""
    if value in (None, ""):
        return None
    text = str(value).replace("T", " ")
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


@dataclass
class TaskInstance:
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    pool: str
    start: float | None
    end: float | None
    label: str | None


@dataclass
class LocalAirflow:
    """One Airflow installation in ``home``; use as a context manager to start and stop it."""

    home: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    lanes: int = 4
    dags_folder: Path = DAGS
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.env = self._environment()

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        for key in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"):
            env.pop(key, None)
        env.update(
            {
                "PATH": f"{AIRFLOW_BIN}:{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "8",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": (
                    f"http://127.0.0.1:{self.api_port}/execution/"
                ),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "TIPBENCH_AIRFLOW_HOST_LANES": str(self.lanes),
            }
        )
        env.update(self.extra_env)
        return env

    # -- set-up and processes ------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """One ``airflow`` command; raises with its output when it fails."""
        result = subprocess.run(
            [str(AIRFLOW_BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def set_up(self) -> None:
        """Create the metadata database and the host pools (one slot each)."""
        self.airflow("db", "migrate")
        pools = {
            f"tipbench_host_{i}": {"slots": 1, "description": f"tipbench host lane {i}"}
            for i in range(self.lanes)
        }
        path = self.home / "pools.json"
        path.write_text(json.dumps(pools))
        self.airflow("pools", "import", str(path))

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.home / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [str(AIRFLOW_BIN / "airflow"), *args],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)

    def start(self) -> None:
        self._spawn("api-server", "api-server", "--port", str(self.api_port))
        self._spawn("scheduler", "scheduler")
        self._spawn("dag-processor", "dag-processor")

    def stop(self) -> None:
        """SIGTERM to everything in the sessions we started, then SIGKILL what is left.

        Each process was started in a session of its own, and everything Airflow starts from it
        (LocalExecutor workers, task processes in process groups of their own, tipbench under
        them) stays in that session, so the session, not the process group, finds them all.
        """
        sessions = {proc.pid for proc in self.procs}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in session_members(sessions):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 20
            while session_members(sessions) and time.monotonic() < deadline:
                for proc in self.procs:
                    proc.poll()
                time.sleep(0.2)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.procs.clear()

    def __enter__(self) -> LocalAirflow:
        try:
            self.set_up()
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self, lines: int = 40) -> str:
        """The last lines of each process's log, for a failure message."""
        out = []
        for path in sorted(self.home.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)

    # -- the metadata database -----------------------------------------------------------------

    @contextlib.contextmanager
    def db(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.home / 'airflow.db'}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            yield conn
        finally:
            conn.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        for attempt in range(20):
            try:
                with self.db() as conn:
                    return conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:  # locked, or a table not migrated yet
                if attempt == 19:
                    raise
                if "no such table" in str(exc):
                    return []
                time.sleep(0.25)
        return []

    def wait_for_dag(self, dag_id: str = DAG_ID, timeout: float = 180) -> None:
        """Until the DAG processor has stored the DAG; fails on an import error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors = self.query("SELECT filename, stacktrace FROM import_error")
            if errors:
                raise AssertionError(f"DAG import errors: {[dict(e) for e in errors]}")
            if self.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", (dag_id,)):
                return
            self._check_alive()
            time.sleep(1)
        raise TimeoutError(f"{dag_id} was not parsed in {timeout} s\n{self.logs()}")

    def _check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[1:]} exited {proc.returncode}\n{self.logs()}")

    def trigger(self, conf: Mapping[str, Any], run_id: str, dag_id: str = DAG_ID) -> None:
        self.airflow("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))

    def run_state(self, run_id: str, dag_id: str = DAG_ID) -> sqlite3.Row | None:
        rows = self.query(
            "SELECT state, start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        )
        return rows[0] if rows else None

    def wait_for_run(self, run_id: str, timeout: float, dag_id: str = DAG_ID) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.run_state(run_id, dag_id)
            if row is not None and row["state"] in FINISHED_RUN_STATES:
                return str(row["state"])
            self._check_alive()
            time.sleep(1)
        raise TimeoutError(f"run {run_id} did not finish in {timeout} s\n{self.logs()}")

    def run_times(self, run_id: str, dag_id: str = DAG_ID) -> tuple[float, float]:
        row = self.run_state(run_id, dag_id)
        assert row is not None
        start, end = parse_time(row["start_date"]), parse_time(row["end_date"])
        assert start is not None and end is not None
        return start, end

    def task_instances(self, run_id: str, dag_id: str = DAG_ID) -> list[TaskInstance]:
        rows = self.query(
            "SELECT task_id, map_index, state, try_number, pool, start_date, end_date, "
            "rendered_map_index FROM task_instance WHERE dag_id = ? AND run_id = ? "
            "ORDER BY task_id, map_index",
            (dag_id, run_id),
        )
        return [
            TaskInstance(
                task_id=r["task_id"],
                map_index=r["map_index"],
                state=r["state"],
                try_number=r["try_number"],
                pool=r["pool"],
                start=parse_time(r["start_date"]),
                end=parse_time(r["end_date"]),
                label=r["rendered_map_index"],
            )
            for r in rows
        ]


def airflow_python(
    code: str, home: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Any:
    """Run ``code`` with the Airflow environment's Python and return the JSON it prints last.

    How tests reach the DAG module's own functions: it imports Airflow, which tipbench's
    environment does not have (and must not: the two pin conflicting packages).
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    base.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "PYTHONWARNINGS": "ignore",
        }
    )
    base.update(env or {})
    result = subprocess.run(
        [str(AIRFLOW_BIN / "python"), "-c", code],
        env=base,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"exit {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])
