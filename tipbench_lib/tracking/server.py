"""The embedded MLflow server: a real ``mlflow server`` tipbench starts when none is configured.

A fresh machine has no tracking server, and asking a researcher to start one before the first
run is a step they will get wrong, so with no ``MLFLOW_TRACKING_URI`` tipbench runs its own on a
free loopback port, with a SQLite store and proxied artifacts under ``tipbench_home()``.

Two servers must not share one store: started together on a fresh SQLite file they race on the
schema migration and one dies ("duplicate column name", 3 of 3 tries on this machine), while
steady-state writes from two servers are merely serialised by SQLite's file lock. So a server
holds an exclusive ``flock`` on ``<home>/mlflow-server.lock`` while it runs and writes its URL to
``<home>/mlflow-server.url``; a second ``start()`` on that home raises :class:`HomeInUseError`.

Several tipbench processes share one server (a collect run, the judge app, a compare), and none
of them may lose it because another one ended. ``tracking_url()`` therefore does not run the
server inside the calling process: it starts a small *keeper* process (``--keep-while-used``)
that owns the server, and every process using it holds a shared ``flock`` on
``<home>/mlflow-server.users``. The keeper stops the server once it can take that lock
exclusively, i.e. when the last user has gone. Reference counting with a lock, rather than
taking over and restarting when the starter ends, was chosen because the kernel drops a lock
when its holder dies, even by ``kill -9``, so the count can never be left wrong, and because a
restart would cut requests in flight, move the server to a new port and cost ~5 s each time.

What the home says is trusted only as far as :mod:`tipbench_lib.tracking.home` allows, and the
environment's MLflow credentials are never sent to this server (see ``http.auth_for``).

Run ``tipbench mlflow-ui [--port 5000]`` to keep it up for browsing the UI.
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

from tipbench_lib.core.errors import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    TrackingError,
    refuse,
)
from tipbench_lib.core.paths import PACKAGE_ROOT, tipbench_home
from tipbench_lib.tracking.home import (
    open_private,
    private_home,
    read_server_url,
    remove_server_url,
    write_server_url,
)

log = logging.getLogger(__name__)

FAST_START_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
"""Job execution (a huey consumer per server) is for MLflow's GenAI jobs, which tipbench never
uses; turning it off, with one worker, brings a start on 2 cores from ~13 s down to ~5 s."""

LOCK_NAME = "mlflow-server.lock"
USERS_NAME = "mlflow-server.users"
LOG_NAME = "mlflow-server.log"
KEEPER_POLL = 0.5
"""Seconds between the keeper's checks for remaining users: the server outlives its last user
by at most this long."""


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
            f"({url or 'still starting'}); tipbench commands share it on their own "
            f"(leave MLFLOW_TRACKING_URI unset), or set TIPBENCH_HOME to another directory"
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
        lock_fd: int | None = None,
    ) -> None:
        """``lock_fd``: the home's lock, already taken by the process that started this one."""
        self.home = Path(home).resolve()
        self.port = port
        self.host = host
        self.extra_args = tuple(extra_args)
        self.start_timeout = start_timeout
        self.url: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._lock = _HomeLock(self.home, lock_fd)

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
        private_home(self.home)
        if not self._lock.acquire():
            raise HomeInUseError(self.home, _read_url(self.home))
        attempts = 1 if self.port is not None else 3
        for attempt in range(attempts):
            port = self.port if self.port is not None else free_port(self.host)
            try:
                self._spawn(port)
                self.url = self._wait_healthy(f"http://{self.host}:{port}")
                write_server_url(self.home, self.url)
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
        env = _env_without_tracking() | FAST_START_ENV
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
        """Stop the server and give up the claim on its home (the URL goes first: no reader
        should find the address of a server that is stopping)."""
        if self._lock.fd is not None:
            remove_server_url(self.home)
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


def _env_without_tracking() -> dict[str, str]:
    """The environment minus MLFLOW_TRACKING_*: no configured server, no credentials to pass on."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}


class _HomeLock:
    """The exclusive claim of one process on a home's embedded server (see the module doc)."""

    def __init__(self, home: Path, fd: int | None = None) -> None:
        self.home = home
        self._fd = fd

    @property
    def fd(self) -> int | None:
        return self._fd

    def acquire(self) -> bool:
        """True when this process now owns the home; False when another process does."""
        if self._fd is not None:
            return True
        fd = open_private(self.home / LOCK_NAME)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def hand_over(self) -> None:
        """Close this process's descriptor but keep the lock: a child inherited it."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        if self._fd is not None:
            remove_server_url(self.home)
            os.close(self._fd)
            self._fd = None


def _read_url(home: Path) -> str | None:
    with contextlib.suppress(TrackingError, OSError):
        return read_server_url(home)
    return None


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.TransportError):
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    return False


# -- sharing one server between processes -----------------------------------------------------


class ServerClaim:
    """This process's use of a home's shared server: a shared lock on ``mlflow-server.users``.

    Held until :meth:`release` or the end of the process (the kernel drops it even after
    ``kill -9``); the keeper stops the server once nobody holds one.
    """

    def __init__(self, home: Path, wait: float = 120.0) -> None:
        self.home = home
        self.url: str | None = None
        self._keeper: subprocess.Popen[bytes] | None = None
        self._fd: int | None = open_private(home / USERS_NAME)
        deadline = time.monotonic() + wait
        while True:  # a keeper holds it exclusively only while it stops its server
            try:
                fcntl.flock(self._fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.release()
                    raise TrackingError(
                        f"the embedded MLflow server of {home} has been stopping for "
                        f"{wait:.0f} s; see {home / LOG_NAME}"
                    ) from None
                time.sleep(0.1)

    def connect(self, port: int | None = None, wait: float = 120.0) -> str:
        """The URL of the home's server, starting a keeper for it when none runs."""
        deadline = time.monotonic() + wait
        lock = _HomeLock(self.home)
        while True:
            if self._keeper is None and lock.acquire():
                remove_server_url(self.home)  # left by a keeper that was killed
                self._keeper = _spawn_keeper(self.home, lock, port)
            elif (url := read_server_url(self.home)) and _healthy(url):
                self.url = url
                return url
            if self._keeper is not None and self._keeper.poll() is not None:
                raise TrackingError(
                    f"the embedded mlflow server could not start (status "
                    f"{self._keeper.returncode}); the end of its log "
                    f"({self.home / LOG_NAME}):\n{_log_tail(self.home / LOG_NAME)}"
                )
            if time.monotonic() > deadline:
                raise TrackingError(
                    f"the embedded mlflow server of {self.home} does not answer after "
                    f"{wait:.0f} s (see {self.home / LOG_NAME}); stop the tipbench processes "
                    f"using {self.home}, set TIPBENCH_HOME to another directory, or set "
                    f"MLFLOW_TRACKING_URI to a running server"
                )
            time.sleep(0.2)

    def release(self) -> None:
        """Stop using the server; the keeper stops it if this was the last user."""
        self.url = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _spawn_keeper(home: Path, lock: _HomeLock, port: int | None) -> subprocess.Popen[bytes]:
    """Start the keeper in its own session (Ctrl-C in this terminal must not stop a server
    others use), handing it the home's lock so no second keeper can start meanwhile."""
    assert lock.fd is not None
    command = [
        sys.executable,
        "-m",
        "tipbench_lib.tracking.server",
        "--keep-while-used",
        "--home",
        str(home),
        "--lock-fd",
        str(lock.fd),
    ]
    if port is not None:
        command += ["--port", str(port)]
    env = _env_without_tracking()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_ROOT.parent), env.get("PYTHONPATH", "")) if p
    )
    try:
        with (home / LOG_NAME).open("ab") as log_file:
            keeper = subprocess.Popen(
                command,
                cwd=home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                pass_fds=(lock.fd,),
                start_new_session=True,
            )
    except OSError as exc:
        lock.release()  # else no other process could start one until this one ends
        raise TrackingError(f"cannot start the embedded mlflow server's keeper: {exc}") from exc
    lock.hand_over()
    log.info("started a keeper (pid %d) for the embedded mlflow server of %s", keeper.pid, home)
    return keeper


def keep_while_used(home: Path, lock_fd: int, port: int | None, poll: float = KEEPER_POLL) -> int:
    """The keeper: run the server until no process holds a claim on it, then stop it.

    The users lock is taken exclusively before the server stops and given up only after the
    URL is removed and the home's lock released, so a process that claims meanwhile waits,
    then finds no server and starts a new keeper instead of using a dying one.
    """
    server = LocalMlflowServer(home, port=port, lock_fd=lock_fd)
    users = open_private(home / USERS_NAME)
    _leave_on_sigterm()
    try:
        url = server.start()
        print(f"keeper {os.getpid()}: mlflow server at {url}", flush=True)
        while server.running():
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(poll)
                continue
            print(f"keeper {os.getpid()}: no process uses {url} any more; stopping it", flush=True)
            return EXIT_OK
        print(f"keeper {os.getpid()}: the mlflow server exited", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except TrackingError as err:
        print(f"keeper {os.getpid()}: {err}", file=sys.stderr, flush=True)
        return EXIT_REFUSED
    finally:
        server.stop()
        os.close(users)


_claim: ServerClaim | None = None
_claim_guard = threading.Lock()


def shared_server_url(home: Path, port: int | None = None) -> str:
    """This process's claim on the embedded server of ``home`` (taken once), and its URL."""
    global _claim
    with _claim_guard:
        if _claim is not None and _claim.url is not None and _claim.home == home:
            return _claim.url
        if _claim is not None:
            _claim.release()
        claim = ServerClaim(private_home(home))
        try:
            claim.connect(port)
        except BaseException:
            claim.release()
            raise
        _claim = claim
        assert claim.url is not None
        return claim.url


def tracking_url() -> str:
    """The MLflow server to use: ``MLFLOW_TRACKING_URI``, else the embedded one (shared)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if configured:
        return configured.rstrip("/")
    return shared_server_url(tipbench_home())


def stop_embedded() -> None:
    """Give up this process's use of the embedded server; it stops when nobody else uses it."""
    global _claim
    with _claim_guard:
        claim, _claim = _claim, None
    if claim is not None:
        claim.release()


def _leave_on_sigterm() -> None:
    """SIGTERM ends the process like Ctrl-C ends the UI: once. A second signal while it is
    already leaving (``make`` and a terminal both send one) is ignored, so no exception is raised
    inside the ``finally`` or the interpreter's exit handlers, where it printed a traceback."""

    def leave(*_: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(EXIT_OK)

    signal.signal(signal.SIGTERM, leave)


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something already listens on ``port`` (then our server could not bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) == 0


def idle_server_on_another_port(home: Path, port: int, wait: float = 30.0) -> str:
    """Let the home's server stop if it runs on another port than asked and nobody uses it.

    Right after another tipbench command the home's server (on a port chosen at random) is
    still up for up to ``KEEPER_POLL`` with no user left; joining it kept it on that port. So
    when no process holds a claim (the users lock can be taken exclusively), wait for its
    keeper to stop it, and the caller starts one on ``port``. Returns why ``port`` cannot be
    used ('' when it can).
    """
    url = _read_url(home)
    if url is None or url.endswith(f":{port}") or not _healthy(url):
        return ""
    users = open_private(home / USERS_NAME)
    try:
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return (
                f"--port {port} was not used: the embedded server of {home} already runs at "
                f"{url} for other tipbench processes (a collect, a judge app, a compare); stop "
                f"them and run this again to have it on port {port}"
            )
        fcntl.flock(users, fcntl.LOCK_UN)
    finally:
        os.close(users)
    print(f"waiting for the idle server at {url} to stop, to start it on port {port}", flush=True)
    deadline = time.monotonic() + wait
    while _read_url(home) == url and time.monotonic() < deadline:
        time.sleep(0.1)
    return ""


def runs_urls(url: str) -> list[str]:
    """The runs table of each experiment, where the summary run is the leaderboard (MLflow 3
    would open an experiment of no recorded kind on its GenAI "Traces" page)."""
    from tipbench_lib.tracking.client import MlflowClient

    lines = []
    with contextlib.suppress(TrackingError), MlflowClient(url) as client:
        for experiment in client.experiments(limit=20):
            if experiment.name != "Default":
                lines.append(
                    f"  {experiment.name}: {url}/#/experiments/{experiment.experiment_id}/runs"
                )
    return lines


def main(argv: Sequence[str] | None = None, *, prog: str = "tipbench mlflow-ui") -> int:
    """Keep the embedded server up so the user can browse the MLflow UI (or, hidden: keep it)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Keep tipbench's embedded MLflow server up until Ctrl-C, to browse the "
        "MLflow UI. It is shared with every other tipbench process using the same home.",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument("--home", type=Path, default=None, help="default: TIPBENCH_HOME")
    parser.add_argument("--keep-while-used", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    home = (args.home or tipbench_home()).resolve()
    if args.keep_while_used:
        return keep_while_used(home, args.lock_fd, args.port)
    _leave_on_sigterm()
    try:
        why = idle_server_on_another_port(home, args.port) if args.port is not None else ""
        if args.port is not None and not why and _read_url(home) is None and port_taken(args.port):
            return refuse(
                f"port {args.port} is taken by another program (not tipbench's server of "
                f"{home}); free it, or give another --port"
            )
        url = shared_server_url(home, args.port)
        print(
            f"MLflow UI: {url}  (store: {home}; Ctrl-C leaves it to the other tipbench "
            f"processes using it, if any)",
            flush=True,
        )
        if why:
            print(why, flush=True)
        listed = runs_urls(url)
        if listed:
            print("Each experiment's runs (the summary run is its leaderboard):", flush=True)
            print("\n".join(listed), flush=True)
        while _healthy(url):
            time.sleep(2)
        print(f"the mlflow server stopped; see {home / LOG_NAME}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # how a user leaves the UI: nothing to resume
        return EXIT_OK
    except TrackingError as err:
        return refuse(err)
    finally:
        stop_embedded()


if __name__ == "__main__":
    sys.exit(main())
