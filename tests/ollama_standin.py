"""A test double that speaks Ollama's HTTP API over a real socket, with Ollama's semantics.

Why a server and not a mock: tipbench's Ollama rules (one resident model, numeric keep_alive,
``think: false``, error lines inside a 200 stream, silent truncation) are about what travels over
the wire and what the server keeps in memory. A real socket lets the official ``ollama`` client and
httpx do exactly what they do against a real Ollama, and the recorded events let tests assert on
what a GPU would have seen: every load and unload with its timestamp, every request body, and the
peak number of resident models.

Semantics copied from Ollama (docs/api.md and its scheduler):
- up to ``max_loaded_models`` (default 3) models stay resident; a new one evicts the least
  recently used idle model only when that limit is reached;
- ``keep_alive`` is a number of seconds or a Go duration string ("5m", "0", "-1"); the default is
  5 minutes; negative means forever; 0 unloads after the request; a bare number in a string
  ("300") is rejected with 400 like Go's ``time.ParseDuration``;
- an empty prompt (``/api/generate``) or empty messages (``/api/chat``) loads the model, and with
  ``keep_alive`` 0 unloads it; unloading is asynchronous: the model stays listed by ``/api/ps``
  until its running requests finish and ``unload_s`` has passed;
- changing ``num_ctx`` reloads the model;
- streaming is NDJSON (chunked), the last object carries durations in nanoseconds; errors while
  streaming are an ``{"error": ...}`` line after status 200;
- a prompt longer than ``num_ctx`` (fake tokens: whitespace-separated words) is cut silently and
  ``prompt_eval_count`` reports ``num_ctx``;
- a server that dies (``crash``, or the ``crash`` fault mid-stream) drops every connection and
  forgets its resident models, as a killed process frees its memory; ``start`` again on the same
  port is a restarted Ollama: same models pulled, nothing resident.

It is a test double only: nothing in tipbench_lib may import it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_KEEP_ALIVE_S = 300.0
DEFAULT_NUM_CTX = 4096
FOREVER = float("inf")
CHAT_MESSAGE_OVERHEAD_TOKENS = 4
"""Fake template tokens per chat message, so a chat prompt counts a little more than its words."""

FAULT_KINDS = frozenset(
    {"stream_error", "oom", "http_500", "slow", "rejects_think", "stuck_unload", "crash"}
)
DEFAULT_FAULT_MESSAGES = {
    "stream_error": "an error was encountered while running the model: unexpected EOF",
    "oom": "model requires more system memory (5.6 GiB) than is available (3.1 GiB)",
    "http_500": "llama runner process has terminated: exit status 2",
}


@dataclass
class Fault:
    """A failure injected into one model's requests.

    kinds:
    - ``stream_error``: status 200, ``after_chunks`` chunks, then an ``{"error": message}`` line
      (a non-streaming request gets 500 with the same error, as Ollama does);
    - ``oom``: the load fails with 500 and Ollama's memory message; nothing becomes resident;
    - ``http_500``: 500 ``{"error": message}`` after the model is loaded;
    - ``slow``: wait ``delay_s`` before the first byte (for client timeouts);
    - ``rejects_think``: 400 ``"NAME" does not support thinking`` when the body has ``think``;
    - ``stuck_unload``: unload requests are acknowledged but the model never leaves ``/api/ps``;
    - ``crash``: status 200, ``after_chunks`` chunks, then the whole server dies like a killed
      Ollama (:meth:`OllamaStandIn.crash`); ``reset`` makes the streaming client see a TCP reset
      instead of an orderly close (what a killed process sends when unread bytes are pending).

    ``times`` limits the fault to the next n requests that trigger it (None: every one).
    """

    kind: str
    message: str = ""
    after_chunks: int = 2
    delay_s: float = 0.0
    times: int | None = None
    reset: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}"
            )
        if not self.message:
            self.message = DEFAULT_FAULT_MESSAGES.get(self.kind, self.kind)


@dataclass
class FakeModel:
    """One model the stand-in pretends to have pulled.

    ``parameter_count`` None leaves ``general.parameter_count`` out of ``/api/show`` (as for some
    imported GGUFs), so clients must fall back to the ``parameter_size`` label.
    """

    name: str
    parameter_count: int | None
    parameter_size: str = ""
    quantization_level: str = "Q4_K_M"
    digest: str = ""
    family: str = "llama"
    context_length: int = 8192
    texts: tuple[str, ...] = ("Block 25 minutes for your hardest task before lunch.",)
    json_text: str = '{"ok": true}'
    template: str = "<|user|>\n{{ .Prompt }}<|end|>\n<|assistant|>\n"
    capabilities: tuple[str, ...] = ("completion",)
    size_bytes: int = 0
    fault: Fault | None = None
    gen_s: float | None = None
    """Seconds per generation for this model; None: the server's ``gen_s``."""
    answer: Callable[[Mapping[str, Any]], str] | None = None
    """Scripts the answer to a request with ``format`` from its body (messages or prompt), in
    place of the fixed ``json_text``: a judge whose answer depends on what it was shown."""

    def __post_init__(self) -> None:
        self.name = canonical_name(self.name)
        if not self.digest:
            self.digest = hashlib.sha256(self.name.encode()).hexdigest()
        if not self.parameter_size and self.parameter_count is not None:
            self.parameter_size = size_label(self.parameter_count)
        if not self.size_bytes:
            self.size_bytes = int((self.parameter_count or 1_000_000_000) * 0.6)


@dataclass(frozen=True)
class Event:
    """Something the server did: ``load``, ``unload``, ``load_failed`` (t = time.monotonic())."""

    kind: str
    model: str
    t: float
    detail: str = ""


@dataclass(frozen=True)
class GenerationSpan:
    """One request that generated text: from its first token's wait to its last (monotonic)."""

    model: str
    start: float
    end: float


@dataclass
class _Resident:
    model: FakeModel
    num_ctx: int
    expires_at: float
    last_used: float
    active: int = 0
    expiring: bool = False


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def canonical_name(name: str) -> str:
    """Ollama's name rule: a name without a tag means ``:latest``."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def size_label(count: int) -> str:
    """A label like Ollama's ``parameter_size``: "3.8B", "135M"."""
    if count >= 1_000_000_000:
        return f"{count / 1e9:.1f}B"
    return f"{round(count / 1e6)}M"


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_keep_alive(value: Any) -> float:
    """Seconds the model stays loaded, following Ollama's api.Duration (negative: forever)."""
    if value is None:
        return DEFAULT_KEEP_ALIVE_S
    if isinstance(value, bool):
        raise _HttpError(400, f"json: cannot unmarshal bool into keep_alive: {value!r}")
    if isinstance(value, int | float):
        return FOREVER if value < 0 else float(value)
    if not isinstance(value, str):
        raise _HttpError(400, f"unsupported type for keep_alive: {value!r}")
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    parts = _DURATION_PART.findall(body)
    if not body or "".join(n + u for n, u in parts) != body:
        raise _HttpError(400, f'time: missing unit in duration "{value}"')
    seconds = sum(float(n) * _UNIT_S[u] for n, u in parts) * sign
    return FOREVER if seconds < 0 else seconds


def _iso(t_wall: float) -> str:
    return datetime.fromtimestamp(t_wall, UTC).isoformat()


def _words(text: str) -> int:
    return len(text.split())


class OllamaStandIn:
    """An Ollama-compatible HTTP server on 127.0.0.1 with fake models; see the module docstring."""

    def __init__(
        self,
        models: Iterable[FakeModel] | Mapping[str, FakeModel | Mapping[str, Any]],
        *,
        load_s: float = 0.05,
        gen_s: float = 0.01,
        unload_s: float = 0.02,
        max_loaded_models: int = 3,
        version: str = "0.12.6",
        port: int = 0,
    ) -> None:
        """``port`` 0 picks a free one; after the first start the server keeps its port, so a
        restart is found where the client expects Ollama."""
        self._models: dict[str, FakeModel] = {}
        for model in _model_list(models):
            self._models[model.name] = model
        self.load_s = load_s
        self.gen_s = gen_s
        self.unload_s = unload_s
        self.max_loaded_models = max_loaded_models
        self.version = version
        self.port = port
        self._lock = threading.RLock()
        self._sched_lock = threading.Lock()
        self._stop = threading.Event()
        self._connections: set[socket.socket] = set()
        self._resident: dict[str, _Resident] = {}
        self._events: list[Event] = []
        self._requests: list[dict[str, Any]] = []
        self._spans: list[GenerationSpan] = []
        self._peak = 0
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.on_request: Callable[[str, Any], str | None] | None = None
        """Called with (path, body) before a request is answered, outside every lock: a test
        orders events across processes with it (it may block on a barrier or an event), and
        ``"cut"`` as its answer drops the connection with a TCP reset, as a killed Ollama would."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> OllamaStandIn:
        """Serve on ``self.port``; call again after :meth:`stop` or :meth:`crash` to restart."""
        self._stop.clear()
        handler = type("_BoundHandler", (_Handler,), {"standin": self})
        self._server = _QuietServer(("127.0.0.1", self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut kept-alive connections, so clients see a server that is gone.

        The port is closed first, so a client that sees its connection drop finds nothing
        listening (and a test may restart the server on the same port at once).
        """
        self._stop.set()
        self._close_listener()
        with self._lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def crash(self, reset: Callable[[], None] | None = None) -> None:
        """Die like ``kill -9``: resident models are gone with the process (recorded as
        ``unload`` events with detail ``crash``), the port stops answering, every connection
        drops. ``reset`` cuts one connection with a TCP reset before the others close.
        """
        with self._lock:
            for name in list(self._resident):
                self._remove(name, "crash")
        self._stop.set()
        self._close_listener()
        if reset is not None:
            reset()
        self.stop()

    def __enter__(self) -> OllamaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("the stand-in is not started; use it as a context manager")
        return f"http://127.0.0.1:{self.port}"

    # -- what tests look at ----------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        with self._lock:
            self._sweep_expired()
            return list(self._events)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request: ``{"path", "body", "t"}`` (body is the parsed JSON or None)."""
        with self._lock:
            return [dict(r) for r in self._requests]

    def generation_requests(self) -> list[dict[str, Any]]:
        """Bodies of /api/generate and /api/chat requests that asked for text (not load/unload)."""
        wants_text = {"/api/generate": "prompt", "/api/chat": "messages"}
        return [
            r["body"]
            for r in self.requests
            if r["path"] in wants_text and (r["body"] or {}).get(wants_text[r["path"]])
        ]

    def generation_spans(self, model: str | None = None) -> list[GenerationSpan]:
        """When each generation ran, to tell whether two servers worked at the same time."""
        name = None if model is None else canonical_name(model)
        with self._lock:
            return [s for s in self._spans if name is None or s.model == name]

    def loads(self, model: str | None = None) -> list[Event]:
        return self._events_of("load", model)

    def unloads(self, model: str | None = None) -> list[Event]:
        return self._events_of("unload", model)

    def load_count(self, model: str) -> int:
        return len(self.loads(model))

    def resident(self) -> list[str]:
        with self._lock:
            self._sweep_expired()
            return sorted(self._resident)

    @property
    def max_resident(self) -> int:
        """The peak number of models resident at once since the server started."""
        with self._lock:
            return self._peak

    def set_fault(self, model: str, fault: Fault | None) -> None:
        with self._lock:
            self._models[canonical_name(model)].fault = fault

    def _events_of(self, kind: str, model: str | None) -> list[Event]:
        name = None if model is None else canonical_name(model)
        return [e for e in self.events if e.kind == kind and (name is None or e.model == name)]

    # -- state (call with self._lock held) -------------------------------------------------------

    def _record(self, kind: str, model: str, detail: str = "", t: float | None = None) -> None:
        self._events.append(Event(kind, model, time.monotonic() if t is None else t, detail))

    def _remove(self, name: str, detail: str, t: float | None = None) -> None:
        if self._resident.pop(name, None) is not None:
            self._record("unload", name, detail, t)

    def _sweep_expired(self) -> None:
        now = time.monotonic()
        for name, r in list(self._resident.items()):
            if not r.expiring and r.active == 0 and r.expires_at <= now:
                self._remove(name, "expired", r.expires_at)

    def _take_fault(self, model: FakeModel, kind: str) -> Fault | None:
        fault = model.fault
        if fault is None or fault.kind != kind:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                model.fault = None
        return fault

    def _lookup(self, body: Mapping[str, Any]) -> FakeModel:
        name = body.get("model") or body.get("name")
        if not name:
            raise _HttpError(400, "model is required")
        model = self._models.get(canonical_name(str(name)))
        if model is None:
            raise _HttpError(404, f"model '{name}' not found")
        return model

    # -- scheduling ------------------------------------------------------------------------------

    def _acquire(self, model: FakeModel, num_ctx: int) -> tuple[_Resident, float]:
        """Make ``model`` resident (loading it if needed) and mark one request active on it."""
        with self._sched_lock:
            with self._lock:
                self._sweep_expired()
                current = self._resident.get(model.name)
                if current is not None and current.num_ctx == num_ctx and not current.expiring:
                    current.active += 1
                    return current, 0.0
                if current is not None:
                    self._remove(model.name, "reload")
                if self._take_fault(model, "oom") is not None:
                    self._record("load_failed", model.name, "oom")
                    raise _HttpError(500, DEFAULT_FAULT_MESSAGES["oom"])
                self._evict_for_space()
            started = time.monotonic()
            self._stop.wait(self.load_s)
            with self._lock:
                now = time.monotonic()
                resident = _Resident(model, num_ctx, FOREVER, now, active=1)
                self._resident[model.name] = resident
                self._record("load", model.name, f"num_ctx={num_ctx}")
                self._peak = max(self._peak, len(self._resident))
                return resident, now - started

    def _evict_for_space(self) -> None:
        while len(self._resident) >= self.max_loaded_models:
            idle = [r for r in self._resident.values() if r.active == 0]
            if not idle:
                return
            victim = min(idle, key=lambda r: r.last_used)
            self._remove(victim.model.name, "evicted")

    def _release(self, resident: _Resident, keep_alive_s: float) -> None:
        with self._lock:
            resident.active -= 1
            resident.last_used = time.monotonic()
            resident.expires_at = resident.last_used + keep_alive_s
        if keep_alive_s == 0:
            self._request_unload(resident.model)

    def _request_unload(self, model: FakeModel) -> None:
        """Unload asynchronously, as Ollama does: after running requests end and ``unload_s``."""
        with self._lock:
            resident = self._resident.get(model.name)
            if resident is None or resident.expiring:
                return
            resident.expiring = True
            if model.fault is not None and model.fault.kind == "stuck_unload":
                return
        threading.Thread(target=self._finish_unload, args=(resident,), daemon=True).start()

    def _finish_unload(self, resident: _Resident) -> None:
        while not self._stop.is_set():
            with self._lock:
                if resident.active == 0:
                    break
            self._stop.wait(0.005)
        self._stop.wait(self.unload_s)
        with self._lock:
            if self._resident.get(resident.model.name) is resident:
                self._remove(resident.model.name, "keep_alive 0")

    # -- endpoints -------------------------------------------------------------------------------

    def record_request(self, path: str, body: Any) -> None:
        with self._lock:
            self._requests.append({"path": path, "body": body, "t": time.monotonic()})

    def hook(self, path: str, body: Any) -> bool:
        """Run :attr:`on_request`; False when it asked for the connection to be cut."""
        hook = self.on_request
        return hook is None or hook(path, body) != "cut"

    def tags(self) -> dict[str, Any]:
        with self._lock:
            return {"models": [_tag_entry(m) for m in self._models.values()]}

    def show(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            model = self._lookup(body)
        info: dict[str, Any] = {
            "general.architecture": model.family,
            "general.file_type": 15,
            f"{model.family}.context_length": model.context_length,
        }
        if model.parameter_count is not None:
            info["general.parameter_count"] = model.parameter_count
        return {
            "modelfile": f"FROM {model.name}",
            "parameters": "",
            "template": model.template,
            "details": _details(model),
            "model_info": info,
            "capabilities": list(model.capabilities),
            "modified_at": _iso(time.time()),
        }

    def ps(self) -> dict[str, Any]:
        with self._lock:
            self._sweep_expired()
            now_mono, now_wall = time.monotonic(), time.time()
            entries = []
            for r in self._resident.values():
                left = min(r.expires_at - now_mono, 100 * 365 * 86400.0)
                entries.append(
                    {
                        "name": r.model.name,
                        "model": r.model.name,
                        "size": r.model.size_bytes,
                        "digest": r.model.digest,
                        "details": _details(r.model),
                        "expires_at": _iso(now_wall + left),
                        "size_vram": r.model.size_bytes,
                        "context_length": r.num_ctx,
                    }
                )
            return {"models": entries}


class _QuietServer(ThreadingHTTPServer):
    """Clients that time out or drop a kept-alive connection are normal here, not tracebacks."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _model_list(
    models: Iterable[FakeModel] | Mapping[str, FakeModel | Mapping[str, Any]],
) -> list[FakeModel]:
    if isinstance(models, Mapping):
        out = []
        for name, spec in models.items():
            if isinstance(spec, FakeModel):
                out.append(replace(spec, name=name))
            else:
                out.append(FakeModel(name=name, **dict(spec)))
        return out
    # Copies: a fault set on one server must not follow a shared FakeModel into the next test.
    return [replace(model) for model in models]


def _details(model: FakeModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    }


def _tag_entry(model: FakeModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": _iso(time.time()),
        "size": model.size_bytes,
        "digest": model.digest,
        "details": _details(model),
    }


@dataclass
class _Completion:
    """One /api/generate or /api/chat request, parsed."""

    chat: bool
    model: FakeModel
    model_name: str
    body: dict[str, Any]
    keep_alive_s: float
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.body.get("messages") if self.chat else self.body.get("prompt"))

    @property
    def stream(self) -> bool:
        return self.body.get("stream", True) is not False

    @property
    def num_ctx(self) -> int:
        return int(self.options.get("num_ctx") or DEFAULT_NUM_CTX)

    def prompt_tokens(self) -> int:
        if self.chat:
            return sum(
                _words(str(m.get("content", ""))) + CHAT_MESSAGE_OVERHEAD_TOKENS
                for m in self.body.get("messages", [])
            )
        return _words(str(self.body.get("prompt", ""))) + _words(str(self.body.get("system") or ""))

    def chunk(self, text: str, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model_name, "created_at": _iso(time.time())}
        if self.chat:
            out["message"] = {"role": "assistant", "content": text}
        else:
            out["response"] = text
        out.update(extra)
        return out


class _Handler(BaseHTTPRequestHandler):
    standin: OllamaStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Small NDJSON writes must not wait for delayed ACKs (40 ms each on Linux)."""

    def setup(self) -> None:
        super().setup()
        with self.standin._lock:
            self.standin._connections.add(self.connection)

    def finish(self) -> None:
        with self.standin._lock:
            self.standin._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log line; tests read the recorded events instead."""

    # -- plumbing --------------------------------------------------------------------------------

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _HttpError(400, f"invalid character in request body: {exc}") from None

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_line(self, obj: Any) -> None:
        data = (json.dumps(obj) + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _wait_while_connected(self, seconds: float) -> bool:
        """Sleep like a busy model, but give up when the client hangs up, as Ollama cancels a
        request whose connection closed. False when the client left or the server stops."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.02))
            if readable and not self.connection.recv(1, socket.MSG_PEEK):
                self.close_connection = True
                return False
            if self.standin._stop.is_set():
                return False
        return True

    def _reset_connection(self) -> None:
        """Close with SO_LINGER 0, so the client reads a TCP reset, not an end of stream."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # its reference would keep the socket open past close()
            self.connection.close()

    def _guarded(self, route: Any) -> None:
        try:
            route()
        except _HttpError as exc:
            self._send_json(exc.status, {"error": exc.message})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- routes ----------------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        s = self.standin
        s.record_request(self.path, None)
        if not s.hook(self.path, None):
            self._reset_connection()
            return
        routes = {
            "/api/version": lambda: self._send_json(200, {"version": s.version}),
            "/api/tags": lambda: self._send_json(200, s.tags()),
            "/api/ps": lambda: self._send_json(200, s.ps()),
            "/": lambda: self._send_text(200, "Ollama is running"),
        }
        self._guarded(routes.get(self.path, lambda: self._send_text(404, "404 page not found")))

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _post(self) -> None:
        s = self.standin
        body = self._read_body()
        s.record_request(self.path, body)
        if not s.hook(self.path, body):
            self._reset_connection()
            return
        if self.path == "/api/show":
            self._send_json(200, s.show(body or {}))
        elif self.path in ("/api/generate", "/api/chat"):
            self._completion(body or {})
        else:
            self._send_text(404, "404 page not found")

    def _completion(self, body: dict[str, Any]) -> None:
        s = self.standin
        with s._lock:
            model = s._lookup(body)
        req = _Completion(
            chat=self.path == "/api/chat",
            model=model,
            model_name=str(body["model"]),
            body=body,
            keep_alive_s=parse_keep_alive(body.get("keep_alive")),
            options=dict(body.get("options") or {}),
        )
        if "think" in body:
            with s._lock:
                rejects = s._take_fault(model, "rejects_think")
            if rejects is not None:
                raise _HttpError(400, f'"{model.name}" does not support thinking')
        if req.empty and req.keep_alive_s == 0:
            s._request_unload(model)
            self._send_json(200, req.chunk("", done=True, done_reason="unload"))
            return
        started = time.monotonic()
        resident, load_s = s._acquire(model, req.num_ctx)
        try:
            if req.empty:
                self._send_json(200, req.chunk("", done=True, done_reason="load"))
            else:
                self._generate(req, started, load_s)
        finally:
            s._release(resident, req.keep_alive_s)

    def _generate(self, req: _Completion, started: float, load_s: float) -> None:
        s = self.standin
        with s._lock:
            failing = s._take_fault(req.model, "http_500")
            slow = s._take_fault(req.model, "slow")
            stream_error = s._take_fault(req.model, "stream_error")
            crash = s._take_fault(req.model, "crash") if req.stream else None
            s._counter += 1
            counter = s._counter
        if failing is not None:
            raise _HttpError(500, failing.message)
        if slow is not None and not self._wait_while_connected(slow.delay_s):
            return
        if stream_error is not None and not req.stream:
            raise _HttpError(500, stream_error.message)
        prompt_tokens = min(req.prompt_tokens(), req.num_ctx)
        pieces, done_reason = _pieces(_pick_text(req, counter), req.options.get("num_predict"))
        gen_s = s.gen_s if req.model.gen_s is None else req.model.gen_s
        gen_started = time.monotonic()
        if req.stream:
            self._start_stream()
            for i, piece in enumerate(pieces):
                if stream_error is not None and i == stream_error.after_chunks:
                    self._write_line({"error": stream_error.message})
                    self._end_stream()
                    return
                if crash is not None and i == crash.after_chunks:
                    self.close_connection = True
                    s.crash(reset=self._reset_connection if crash.reset else None)
                    return
                s._stop.wait(gen_s / max(1, len(pieces)))
                self._write_line(req.chunk(piece, done=False))
        else:
            s._stop.wait(gen_s)
        gen_ended = time.monotonic()
        with s._lock:
            s._spans.append(GenerationSpan(req.model.name, gen_started, gen_ended))
        gen_ns = int((gen_ended - gen_started) * 1e9)
        final = req.chunk(
            "" if req.stream else "".join(pieces),
            done=True,
            done_reason=done_reason,
            total_duration=int((time.monotonic() - started) * 1e9),
            load_duration=int(load_s * 1e9),
            prompt_eval_count=prompt_tokens,
            prompt_eval_duration=1_000_000,
            eval_count=len(pieces),
            eval_duration=max(gen_ns, 1),
        )
        if req.stream:
            self._write_line(final)
            self._end_stream()
        else:
            self._send_json(200, final)


def _pick_text(req: _Completion, counter: int) -> str:
    """The scripted text: the JSON text when ``format`` is set, else one chosen by the seed."""
    if req.body.get("format"):
        scripted = req.model.answer
        return req.model.json_text if scripted is None else scripted(req.body)
    seed = req.options.get("seed")
    index = counter if seed is None else int(seed)
    return req.model.texts[index % len(req.model.texts)]


def _pieces(text: str, num_predict: Any) -> tuple[list[str], str]:
    """Split the text into one-word tokens and stop at ``num_predict`` like Ollama ("length")."""
    words = text.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    if num_predict is not None and int(num_predict) >= 0 and len(pieces) > int(num_predict):
        return pieces[: int(num_predict)], "length"
    return pieces, "stop"
