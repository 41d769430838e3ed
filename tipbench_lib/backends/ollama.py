"""The Ollama backend: the official ``ollama`` client, made safe for a small GPU.

Ollama's defaults are built for chat, not for benchmarks on an 8 GB card, so every rule here comes
from something Ollama does on its own (docs/architecture.md, "Backends"):

- It keeps up to three models resident, so ``keep_alive`` alone never guarantees one model in
  VRAM: :meth:`OllamaBackend.load` unloads whatever ``/api/ps`` lists and polls until it is gone.
- Unloading is asynchronous and waits for running generations, hence the polling with a deadline.
- Changing ``num_ctx`` reloads the weights, so the context size is fixed per model at load.
- ``keep_alive=0`` on every request reloads the weights every time; tipbench keeps the model for
  its run and unloads it explicitly (``strict_unload`` trades that speed for a model that is gone
  after every request).
- A prompt longer than the context is cut silently with status 200; see :func:`is_truncated`.
- Errors while streaming come as an ``{"error": ...}`` line after status 200, and out-of-memory
  has no code of its own, so it is recognised by its message.
- A connection that breaks (Ollama killed or restarted, a stream cut mid-way, a reset) says
  nothing about the model: it becomes :class:`BackendUnavailableError`, which a run treats as an
  interruption to resume, never as a failed cell. Only the model's own errors and timeouts are
  :class:`GenerationError`.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx
import ollama

from tipbench_lib.backends.base import (
    Generation,
    GenerationOptions,
    GenerationRequest,
    ModelInfo,
    UnloadTimeoutError,
)
from tipbench_lib.core.errors import (
    BackendError,
    BackendUnavailableError,
    GenerationError,
    ModelTooLargeError,
    UnknownModelError,
)

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_PORT = 11434
UNLOAD_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05

OOM_MARKERS = (
    "requires more system memory",
    "out of memory",
    "cuda error",
    "cudamalloc",
    "failed to allocate",
    "unable to allocate",
    "insufficient memory",
    "not enough memory",
)
"""Ollama has no error code for out-of-memory; these are the phrases its messages use."""

THINK_UNSUPPORTED = "does not support thinking"

_SIZE_LABEL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMBT])\s*$", re.IGNORECASE)
_SIZE_UNIT = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}

T = TypeVar("T")


class _ThinkUnsupported(Exception):
    """Internal: the model rejected ``think``; never leaves this module."""


# -- pure helpers --------------------------------------------------------------------------------


def resolve_host(host: str | None = None) -> str:
    """The server URL, read like Ollama reads OLLAMA_HOST.

    Users write ``OLLAMA_HOST=127.0.0.1:11434`` or just ``0.0.0.0`` without a scheme, so a missing
    scheme means http and a missing port means 11434 (80/443 only when a scheme was written).
    """
    raw = (host if host is not None else os.environ.get("OLLAMA_HOST", "")).strip()
    if not raw:
        return DEFAULT_HOST
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest, port = "http", raw, DEFAULT_PORT
    else:
        port = 443 if scheme == "https" else 80
    split = urllib.parse.urlsplit(f"{scheme}://{rest}")
    hostname = split.hostname or "127.0.0.1"
    if ":" in hostname:
        hostname = f"[{hostname}]"
    path = split.path.rstrip("/")
    return f"{scheme}://{hostname}:{split.port or port}{path}"


def canonical_name(name: str) -> str:
    """Ollama's name rule: a name without a tag means ``:latest`` (``/api/ps`` shows the tag)."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def parse_parameter_size(label: str | None) -> int | None:
    """Turn Ollama's rounded label ("3.8B", "270M") into a count; None when it is not one.

    Only a fallback: the label is rounded, so a "4.0B" model may really hold 4.02 billion.
    """
    match = _SIZE_LABEL.match(label or "")
    if not match:
        return None
    return round(float(match.group(1)) * _SIZE_UNIT[match.group(2).upper()])


def is_oom(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in OOM_MARKERS)


def is_truncated(prompt_eval_count: int, num_ctx: int) -> bool:
    """Whether Ollama probably cut the prompt to fit the context window.

    Ollama does not report truncation: it drops the start of an over-long prompt, evaluates what
    is left and answers 200. What is left fills the window, so a prompt token count that reaches
    ``num_ctx`` is the only visible trace. A prompt that exactly fills the window is flagged too,
    which is right: it leaves no room for the answer. Ollama's prompt cache can lower the count
    for repeated prefixes, so a miss is possible, never a false alarm on a prompt that fits.
    """
    return num_ctx > 0 and prompt_eval_count >= num_ctx


def ollama_available(host: str | None = None, timeout: float = 1.0) -> bool:
    """Whether an Ollama server answers ``/api/version`` (for ``--backend auto``)."""
    try:
        response = httpx.get(f"{resolve_host(host)}/api/version", timeout=timeout)
        return response.status_code == 200 and "version" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


def _unavailable(host: str, detail: object) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"no Ollama server answers at {host} ({detail}). Start it with `ollama serve`, or set "
        "OLLAMA_HOST to where it listens (e.g. OLLAMA_HOST=127.0.0.1:11434), or use "
        "--backend embedded"
    )


def _connection_lost(host: str, what: str, exc: Exception) -> BackendUnavailableError:
    detail = str(exc) or type(exc).__name__
    return BackendUnavailableError(
        f"the connection to Ollama at {host} broke during {what} ({detail}); Ollama was probably "
        "stopped or restarted. Check that `ollama serve` is running"
    )


def _generation_error(model: str, message: str) -> GenerationError:
    kind = "oom" if is_oom(message) else "error"
    hint = " (free GPU memory or pick a smaller model or quantization)" if kind == "oom" else ""
    return GenerationError(kind, f"Ollama model {model!r}: {message}{hint}")


# -- the backend ---------------------------------------------------------------------------------


class OllamaBackend:
    """Generations from an Ollama server with exactly one model resident at a time."""

    name = "ollama"

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float = 120,
        strict_unload: bool = False,
        max_model_b: float | None = None,
        unload_timeout_s: float | None = None,
    ) -> None:
        """``timeout`` bounds metadata and load calls; each generation uses its own
        ``options.timeout_s``. ``max_model_b``, when given, makes :meth:`load` refuse a model
        above the limit as a last line of defence (callers should check before planning).
        ``unload_timeout_s`` defaults to :data:`UNLOAD_TIMEOUT_S`."""
        self.host = resolve_host(host)
        self.timeout = timeout
        self.strict_unload = strict_unload
        self.max_model_b = max_model_b
        self.unload_timeout_s = UNLOAD_TIMEOUT_S if unload_timeout_s is None else unload_timeout_s
        self._clients: dict[float, ollama.Client] = {}
        self._info: dict[str, ModelInfo] = {}
        self._num_ctx: dict[str, int] = {}
        self._keep_alive: dict[str, int] = {}
        self._loaded: set[str] = set()
        self._no_think: set[str] = set()
        self._stuck: set[str] = set()
        """Canonical names whose unload already timed out: never waited for a second time."""

    # -- plumbing --------------------------------------------------------------------------------

    def _client(self, timeout: float | None = None) -> ollama.Client:
        key = float(self.timeout if timeout is None else timeout)
        if key not in self._clients:
            self._clients[key] = ollama.Client(host=self.host, timeout=key)
        return self._clients[key]

    def _call(self, what: str, fn: Callable[[], T], model: str | None = None) -> T:
        """Run one client call and turn transport and HTTP failures into tipbench errors."""
        try:
            return fn()
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _unavailable(self.host, exc) from None
        except httpx.TimeoutException as exc:
            raise GenerationError(
                "timeout", f"Ollama did not answer {what} within the client timeout ({exc})"
            ) from None
        except httpx.TransportError as exc:  # after timeouts: the connection itself broke
            raise _connection_lost(self.host, what, exc) from None
        except ollama.ResponseError as exc:
            if exc.status_code == 404 and model is not None:
                raise self._unknown(model) from None
            raise _generation_error(model or "?", f"{what} failed: {exc}") from None

    def _unknown(self, model: str) -> UnknownModelError:
        try:
            names = sorted(m.model or "" for m in self._client().list().models)
        except (ConnectionError, httpx.HTTPError, ollama.ResponseError):
            names = []
        available = ", ".join(names) if names else "none"
        return UnknownModelError(
            f"Ollama at {self.host} has no model {model!r} (available: {available}). "
            f"Pull it with `ollama pull {model}` or pick one of the available models"
        )

    # -- metadata --------------------------------------------------------------------------------

    def version(self) -> str:
        """The server's version, read from ``/api/version`` (the client has no call for it)."""
        try:
            response = httpx.get(f"{self.host}/api/version", timeout=self.timeout)
            response.raise_for_status()
            return str(response.json()["version"])
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _unavailable(self.host, exc) from None
        except httpx.TransportError as exc:
            if not isinstance(exc, httpx.TimeoutException):
                raise _connection_lost(self.host, "/api/version", exc) from None
            raise BackendError(
                f"Ollama at {self.host} did not answer /api/version in time ({exc})"
            ) from None
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise BackendError(
                f"{self.host}/api/version did not answer like Ollama ({exc}); "
                "is OLLAMA_HOST pointing at an Ollama server?"
            ) from None

    def list_models(self) -> list[ModelInfo]:
        """Every pulled model with its size, from ``/api/tags`` and ``/api/show``; none loaded."""
        tags = self._call("listing models", lambda: self._client().list())
        return sorted(
            (self._describe_tag(entry.model or "", entry) for entry in tags.models),
            key=lambda info: info.name,
        )

    def describe(self, model: str) -> ModelInfo:
        """Metadata for ``model`` without loading it; UnknownModelError names the pulled ones."""
        if model not in self._info:
            tags = self._call("listing models", lambda: self._client().list())
            wanted = canonical_name(model)
            entry = next((m for m in tags.models if canonical_name(m.model or "") == wanted), None)
            if entry is None:
                raise self._unknown(model)
            self._info[model] = self._describe_tag(model, entry)
        return self._info[model]

    def _describe_tag(self, model: str, entry: Any) -> ModelInfo:
        show = self._call(f"show {model}", lambda: self._client().show(model), model)
        info = dict(show.modelinfo or {})
        details = show.details or entry.details
        label = (details.parameter_size if details else "") or ""
        count = info.get("general.parameter_count")
        architecture = info.get("general.architecture", "")
        context = info.get(f"{architecture}.context_length")
        return ModelInfo(
            name=model,
            backend=self.name,
            parameter_count=int(count) if count is not None else parse_parameter_size(label),
            parameter_label=label,
            quantization=(details.quantization_level if details else "") or "",
            digest=entry.digest or "",
            family=(details.family if details else "") or architecture,
            context_length=int(context) if context is not None else None,
            is_base=(show.template or "").strip() in ("", "{{ .Prompt }}"),
        )

    def check_size(self, model: str, max_model_b: float) -> ModelInfo:
        """Refuse a model above ``max_model_b`` from metadata alone, before anything loads."""
        info = self.describe(model)
        problem = info.size_problem(max_model_b)
        if problem is not None:
            raise ModelTooLargeError(problem)
        return info

    # -- residency -------------------------------------------------------------------------------

    def resident_models(self) -> list[str]:
        """Names ``/api/ps`` lists now (canonical, with tag)."""
        ps = self._call("listing running models", lambda: self._client().ps())
        return sorted(canonical_name(m.model or m.name or "") for m in ps.models)

    def _wait_until_gone(self, models: set[str]) -> None:
        """Poll ``/api/ps``: Ollama unloads asynchronously and only after running requests end.

        A model whose unload already timed out once is checked once, not waited for again: the
        user has been told how to free it, and a second wait only delays the summary.
        """
        deadline = time.monotonic() + self.unload_timeout_s
        while True:
            still = models & set(self.resident_models())
            if not still:
                self._stuck -= models
                return
            if still <= self._stuck or time.monotonic() >= deadline:
                self._stuck |= still
                names = ", ".join(sorted(still))
                stop = "; ".join(f"`ollama stop {name}`" for name in sorted(still))
                raise UnloadTimeoutError(
                    f"Ollama at {self.host} still lists {names} as loaded "
                    f"{self.unload_timeout_s:g}s after tipbench asked to unload it; a generation "
                    f"may still be running. Free it with {stop} and retry"
                )
            time.sleep(POLL_INTERVAL_S)

    def _send_unload(self, name: str) -> None:
        self._call(
            f"unload {name}",
            lambda: self._client().generate(model=name, prompt="", keep_alive=0),
            name,
        )

    def load(self, model: str, options: GenerationOptions) -> float:
        """Make ``model`` the only resident model and return the load time in seconds.

        Every other model ``/api/ps`` lists is unloaded and confirmed gone first, then the model
        is loaded with its fixed ``num_ctx`` and a numeric ``keep_alive``. Ollama's load answer
        carries no ``load_duration``, so the wall time of the load request is used when absent.
        """
        info = self.describe(model)
        if self.max_model_b is not None and (problem := info.size_problem(self.max_model_b)):
            raise ModelTooLargeError(problem)
        wanted = canonical_name(model)
        others = {name for name in self.resident_models() if name != wanted}
        for name in sorted(others):
            self._send_unload(name)
        self._wait_until_gone(others)
        self._loaded -= {m for m in self._loaded if canonical_name(m) in others}
        num_ctx = int(options.num_ctx)
        keep_alive = int(options.keep_alive_s)
        started = time.monotonic()
        response = self._call(
            f"load {model}",
            lambda: self._client().generate(
                model=model, prompt="", keep_alive=keep_alive, options={"num_ctx": num_ctx}
            ),
            model,
        )
        elapsed = time.monotonic() - started
        if wanted not in self.resident_models():
            raise BackendError(
                f"Ollama at {self.host} answered the load of {model!r} but /api/ps does not list "
                "it; check the server log (`journalctl -u ollama` or the terminal running it)"
            )
        self._num_ctx[model] = num_ctx
        self._keep_alive[model] = keep_alive
        self._loaded.add(model)
        load_ns = response.load_duration
        return load_ns / 1e9 if load_ns else elapsed

    def unload(self, model: str) -> None:
        """Ask Ollama to free ``model`` and wait until ``/api/ps`` no longer lists it.

        After a timeout the model no longer counts as loaded by this backend, so :meth:`close`
        does not ask and wait again.
        """
        try:
            self._send_unload(model)
            self._wait_until_gone({canonical_name(model)})
        except UnloadTimeoutError:
            self._loaded.discard(model)
            raise
        self._loaded.discard(model)

    def close(self) -> None:
        """Unload every model this backend loaded, then close the HTTP connections."""
        failures = []
        for model in sorted(self._loaded):
            try:
                self.unload(model)
            except BackendUnavailableError:
                break
            except BackendError as exc:
                failures.append(str(exc))
        self._loaded.clear()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        if failures:
            raise BackendError("could not confirm every unload: " + "; ".join(failures))

    # -- generation ------------------------------------------------------------------------------

    def _request_kwargs(self, model: str, request: GenerationRequest) -> dict[str, Any]:
        """What every generation sends: num_predict, the model's fixed num_ctx, seed, sampling,
        numeric keep_alive (0 in strict mode), think false, and the JSON schema as ``format``."""
        opts = request.options
        kwargs: dict[str, Any] = {
            "model": model,
            "stream": True,
            "keep_alive": 0 if self.strict_unload else self._keep_alive[model],
            "options": {
                "num_predict": int(opts.max_tokens),
                "num_ctx": self._num_ctx[model],
                "seed": int(request.seed),
                "temperature": float(opts.temperature),
                "top_p": float(opts.top_p),
            },
        }
        if model not in self._no_think:
            kwargs["think"] = False
        if request.stop:
            kwargs["options"]["stop"] = list(request.stop)
        if request.json_schema is not None:
            kwargs["format"] = request.json_schema
        return kwargs

    def _open_stream(self, model: str, request: GenerationRequest) -> Iterator[Any]:
        kwargs = self._request_kwargs(model, request)
        client = self._client(request.options.timeout_s)
        if request.messages:
            return client.chat(messages=[dict(m) for m in request.messages], **kwargs)
        return client.generate(prompt=request.prompt or "", raw=True, **kwargs)

    def generate(self, model: str, request: GenerationRequest) -> Generation:
        """One streamed generation on ``model`` (loaded first if this backend has not loaded it).

        A model that rejects ``think`` (400 "does not support thinking") is retried once without
        it, and remembered, so the flag costs one request per model at most.
        """
        if not request.messages and not request.prompt:
            raise BackendError(
                "a generation needs chat messages or a prompt; an empty one would only "
                "load or unload the model in Ollama"
            )
        if model not in self._loaded or model not in self._num_ctx:
            self.load(model, request.options)
        try:
            try:
                result = self._stream(model, request)
            except _ThinkUnsupported:
                self._no_think.add(model)
                result = self._stream(model, request)
        except BackendUnavailableError:
            # A restarted Ollama holds nothing: the next generation loads (and checks) again.
            self._loaded.discard(model)
            raise
        if self.strict_unload:
            self._wait_until_gone({canonical_name(model)})
            self._loaded.discard(model)
        return result

    def _stream(self, model: str, request: GenerationRequest) -> Generation:
        """Read the NDJSON stream to its final chunk, enforcing the whole-request deadline.

        A 400 about thinking becomes :class:`_ThinkUnsupported` so :meth:`generate` can retry.
        """
        timeout_s = request.options.timeout_s
        started = time.monotonic()
        deadline = started + timeout_s
        pieces: list[str] = []
        final: Any = None
        stream: Iterator[Any] | None = None
        try:
            stream = self._open_stream(model, request)
            for part in stream:
                pieces.append(_chunk_text(part))
                if part.done:
                    final = part
                elif time.monotonic() > deadline:
                    raise httpx.ReadTimeout(f"generation exceeded {timeout_s:g}s")
        except ollama.ResponseError as exc:
            if exc.status_code == 400 and THINK_UNSUPPORTED in str(exc.error):
                raise _ThinkUnsupported(str(exc.error)) from None
            if exc.status_code == 404:
                raise self._unknown(model) from None
            raise _generation_error(model, str(exc.error)) from None
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _unavailable(self.host, exc) from None
        except httpx.TimeoutException as exc:
            raise GenerationError(
                "timeout",
                f"Ollama model {model!r} did not finish within {timeout_s:g}s ({exc}); raise "
                "the timeout or lower --max-tokens",
            ) from None
        except httpx.TransportError as exc:
            raise _connection_lost(self.host, f"a generation of {model!r}", exc) from None
        except httpx.HTTPError as exc:
            raise GenerationError(
                "error", f"Ollama's answer for {model!r} was garbled: {exc}"
            ) from None
        finally:
            if stream is not None and hasattr(stream, "close"):
                stream.close()
        if final is None:
            raise GenerationError("error", f"Ollama's stream for {model!r} ended without a result")
        return _generation(pieces, final, self._num_ctx[model], time.monotonic() - started)


def _chunk_text(part: Any) -> str:
    message = getattr(part, "message", None)
    if message is not None:
        return message.content or ""
    return getattr(part, "response", None) or ""


def _generation(pieces: Sequence[str], final: Any, num_ctx: int, wall_s: float) -> Generation:
    """Build the result from the final chunk, whose durations are nanoseconds."""
    raw = "".join(pieces)
    eval_count = int(final.eval_count or 0)
    eval_s = (final.eval_duration or 0) / 1e9
    prompt_tokens = int(final.prompt_eval_count or 0)
    return Generation(
        text=raw.strip(),
        raw=raw,
        prompt_tokens=prompt_tokens,
        eval_tokens=eval_count,
        latency_s=(final.total_duration or 0) / 1e9 or wall_s,
        tokens_per_s=eval_count / eval_s if eval_s > 0 else 0.0,
        done_reason=final.done_reason or "",
        truncated=is_truncated(prompt_tokens, num_ctx),
        extra={
            "load_s": (final.load_duration or 0) / 1e9,
            "prompt_eval_s": (final.prompt_eval_duration or 0) / 1e9,
            "wall_s": wall_s,
            "num_ctx": num_ctx,
        },
    )
