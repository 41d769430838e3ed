"""The embedded MLflow server: a real ``mlflow server`` tipbench starts when none is configured.

A fresh machine has no tracking server, and asking a researcher to start one before the first
run is a step they will get wrong, so with no ``MLFLOW_TRACKING_URI`` tipbench runs its own on a
free loopback port, with a SQLite store and proxied artifacts under ``tipbench_home()``.

Two servers must not share one store: started together on a fresh SQLite file they race on the
schema migration and one dies ("duplicate column name", 3 of 3 tries on this machine), while
steady-state writes from two servers are merely serialised by SQLite's file lock. So a server
holds an exclusive ``flock`` on ``<home>/mlflow-server.lock`` while it runs and writes its URL to
``<home>/mlflow-server.url``; a second ``start()`` on that home raises :class:`HomeInUseError`,
and ``tracking_url()`` then shares the running server instead of starting another.

Run ``python -m tipbench_lib.tracking.server [--port 5000]`` to keep it up for browsing the UI.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx

from tipbench_lib.errors import TrackingError
from tipbench_lib.paths import tipbench_home

log = logging.getLogger(__name__)

FAST_START_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""Job execution (a huey consumer per server) is for MLflow's GenAI jobs, which tipbench never
uses; turning it off, with one worker, brings a start on 2 cores from ~13 s down to ~5 s."""

LOCK_NAME = "mlflow-server.lock"
URL_NAME = "mlflow-server.url"
LOG_NAME = "mlflow-server.log"


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now; the server may still lose a race for it (start retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _log_tail(path: Path, lines: int = 25) -> str:
    """The end of the server's log, for error messages when it dies on start."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


class HomeInUseError(TrackingError):
    """Another process runs a server on this home; ``url`` is where it says it listens."""

    def __init__(self, home: Path, url: str | None) -> None:
        self.url = url
        super().__init__(
            f"another process already runs an MLflow server on {home} "
            f"({url or 'still starting'}); use it (MLFLOW_TRACKING_URI={url or '<its url>'}), "
            f"stop it, or set TIPBENCH_HOME to another directory"
        )


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM the server if tipbench is killed (-9), so no orphan keeps the port.

    Linux ties this to the thread that forked, so it is only used from the main thread (a
    worker thread that ends would otherwise take the server with it).
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalMlflowServer:
    """One ``mlflow server`` process group with its store, artifacts and log under ``home``."""

    def __init__(
        self,
        home: Path,
        port: int | None = None,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        start_timeout: float = 120.0,
    ) -> None:
        self.home = Path(home).resolve()
        self.port = port
        self.host = host
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self.url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._lock = _HomeLock(self.home)

    def __repr__(self) -> str:
        return f"LocalMlflowServer(home={str(self.home)!r}, url={self.url!r})"

    @property
    def log_path(self) -> Path:
        return self.home / LOG_NAME

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self, port: int) -> list[str]:
        """The ``mlflow server`` command line: SQLite store, proxied artifacts, one worker."""
        return [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{self.home / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.home / "mlartifacts"),
            "--host",
            self.host,
            "--port",
            str(port),
            "--workers",
            "1",
            *self.extra_args,
        ]

    def start(self) -> str:
        """Start the server and wait until ``/health`` answers; returns its base URL.

        An auto-chosen port can be taken between choosing and binding it, so that case is
        retried with a new port; any other death raises with the tail of the server's log.
        """
        if self.url is not None:
            return self.url
        if not self._lock.acquire():
            raise HomeInUseError(self.home, _read_url(self.home))
        attempts = 1 if self.port is not None else 3
        for attempt in range(attempts):
            port = self.port if self.port is not None else free_port(self.host)
            try:
                self._spawn(port)
                self.url = self._wait_healthy(f"http://{self.host}:{port}")
                (self.home / URL_NAME).write_text(self.url, encoding="utf-8")
                return self.url
            except TrackingError:
                self._stop_process()
                if (
                    attempt + 1 < attempts
                    and "address already in use" in _log_tail(self.log_path).lower()
                ):
                    continue
                self._lock.release()
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self, port: int) -> None:
        self._log_file = self.log_path.open("ab")
        env = {**os.environ, **FAST_START_ENV}
        env.pop("MLFLOW_TRACKING_URI", None)
        on_main_thread = threading.current_thread() is threading.main_thread()
        log.info("starting mlflow server on %s:%s (log: %s)", self.host, port, self.log_path)
        self._proc = subprocess.Popen(
            self.command(port),
            cwd=self.home,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if on_main_thread else None,
        )
        atexit.register(self.stop)

    def _wait_healthy(self, url: str) -> str:
        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                assert self._proc is not None
                if self._proc.poll() is not None:
                    raise TrackingError(
                        f"mlflow server exited with status {self._proc.returncode} while "
                        f"starting; the end of its log ({self.log_path}):\n"
                        f"{_log_tail(self.log_path)}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if http.get(f"{url}/health").status_code == 200:
                        return url
                time.sleep(0.1)
        raise TrackingError(
            f"mlflow server at {url} did not answer /health within {self.start_timeout:.0f} s; "
            f"the end of its log ({self.log_path}):\n{_log_tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Stop the server and give up the claim on its home."""
        self._stop_process()
        self._lock.release()

    def _stop_process(self) -> None:
        """Terminate the whole process group (``mlflow server`` runs uvicorn as a child)."""
        proc, self._proc = self._proc, None
        self.url = None
        atexit.unregister(self.stop)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers left by a clean exit
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> LocalMlflowServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _HomeLock:
    """The exclusive claim of one process on a home's embedded server (see the module doc)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True when this process now owns the home; False when another process does."""
        self.home.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                (self.home / URL_NAME).unlink()
            os.close(self._fd)
            self._fd = None


_embedded: LocalMlflowServer | None = None
_embedded_guard = threading.Lock()


def _read_url(home: Path) -> str | None:
    with contextlib.suppress(OSError):
        return (home / URL_NAME).read_text(encoding="utf-8").strip() or None
    return None


def _shared_url(home: Path, wait: float = 120.0) -> str:
    """The URL of the server another process runs on ``home``, once it answers."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:  # the owner may still be starting it
        url = _read_url(home)
        with contextlib.suppress(httpx.TransportError):
            if url and httpx.get(f"{url}/health", timeout=2).status_code == 200:
                log.info("sharing the embedded mlflow server of another process: %s", url)
                return url
        time.sleep(0.2)
    raise TrackingError(
        f"another process holds {home / LOCK_NAME} but its mlflow server does not answer; "
        f"stop that process, or set TIPBENCH_HOME to another directory, or set "
        f"MLFLOW_TRACKING_URI to a running server"
    )


def tracking_url() -> str:
    """The MLflow server to use: ``MLFLOW_TRACKING_URI``, else the embedded one (started once)."""
    global _embedded
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if configured:
        return configured.rstrip("/")
    with _embedded_guard:
        if _embedded is not None and _embedded.url is not None:
            return _embedded.url
        server = LocalMlflowServer(tipbench_home())
        try:
            url = server.start()
        except HomeInUseError:
            return _shared_url(server.home)
        _embedded = server
        atexit.register(stop_embedded)
        return url


def stop_embedded() -> None:
    """Stop this process's embedded server, if it started one (runs at exit too)."""
    global _embedded
    server, _embedded = _embedded, None
    if server is not None:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Keep the embedded server in the foreground so the user can browse the MLflow UI."""
    parser = argparse.ArgumentParser(
        prog="python -m tipbench_lib.tracking.server",
        description="Run tipbench's embedded MLflow server until Ctrl-C, to browse the MLflow UI.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--home", type=Path, default=None, help="default: TIPBENCH_HOME")
    args = parser.parse_args(argv)
    server = LocalMlflowServer((args.home or tipbench_home()).resolve(), port=args.port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        url = server.start()
        print(f"MLflow UI: {url}  (store: {server.home}; Ctrl-C stops it)", flush=True)
        while server.running():
            time.sleep(0.5)
        print(f"mlflow server exited; see {server.log_path}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except HomeInUseError as err:
        print(f"tipbench's MLflow server for {server.home} already runs at {err.url}")
        return 0
    except TrackingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
