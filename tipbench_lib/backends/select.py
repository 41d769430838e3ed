"""``--backend auto|ollama|embedded``: which backend a run uses, and a sentence saying why.

``auto`` prefers Ollama because that is what users run day to day; when no server answers, the
embedded llama.cpp models take over so a fresh machine still runs the whole job. The choice is
always reported, so nobody benchmarks the wrong backend without noticing. Both backends are
imported lazily: choosing one never pays for loading the other's libraries.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tipbench_lib.backends.base import Backend
from tipbench_lib.core.errors import BackendUnavailableError, TipbenchError

BACKEND_KINDS: tuple[str, ...] = ("auto", "ollama", "embedded")


def choose_backend(kind: str = "auto", *, ollama_host: str | None = None) -> tuple[Backend, str]:
    """The backend for ``kind`` and a one-line message naming the choice and its reason.

    ``ollama_host`` defaults to ``OLLAMA_HOST`` (then http://127.0.0.1:11434), as Ollama reads it.
    """
    if kind not in BACKEND_KINDS:
        raise TipbenchError(f"unknown backend {kind!r}; choose one of: {', '.join(BACKEND_KINDS)}")
    if kind == "embedded":
        return _embedded(), "using the embedded llama.cpp models (--backend embedded)"

    from tipbench_lib.backends.ollama import OllamaBackend, ollama_available, resolve_host

    host = resolve_host(ollama_host)
    if ollama_available(host):
        return OllamaBackend(host=host), f"Ollama answered at {host}"
    if kind == "ollama":
        raise BackendUnavailableError(
            f"no Ollama server answers at {host}. Start it with `ollama serve`, or set "
            f"OLLAMA_HOST to where it listens (e.g. OLLAMA_HOST=127.0.0.1:11434), or use "
            f"--backend embedded (or auto) to run the packaged llama.cpp models"
        )
    return _embedded(), f"no Ollama server at {host}; using the embedded llama.cpp models"


def _embedded() -> Backend:
    from tipbench_lib.backends.embedded import EmbeddedBackend

    return EmbeddedBackend()


def close_backend(backend: Backend, stream: TextIO | None = None) -> None:
    """Close a command's backend; a problem doing so is a warning, never the command's outcome.

    The summary already says what happened to every cell or judgment, and the backend has already
    reported a model it could not unload (once); a traceback here would hide the summary.
    """
    try:
        backend.close()
    except TipbenchError as exc:
        print(f"tipbench: warning: {exc}", file=stream or sys.stderr)
