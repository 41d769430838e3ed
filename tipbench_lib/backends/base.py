"""The one interface both backends implement, and the plain data they exchange.

The collect runner and the LLM judge only ever talk to :class:`Backend`; they never know whether
the weights live in an Ollama server or in this process. Residency is the backend's job: after
``load(model)`` returns, ``model`` is the only model resident, whatever was there before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from tipbench_lib.core.errors import BackendError, BackendUnavailableError

DEFAULT_MAX_MODEL_B = 4.0


class UnloadTimeoutError(BackendError):
    """A model is still resident after the backend asked to unload it and waited its deadline.

    Not a failure of any cell: loading the next model now would put two in memory, so a run
    stops here and says how to free the model. The backend remembers the model and does not
    wait for it a second time (not when loading another model, not when closing).
    """


BACKEND_STOPS: tuple[type[BackendError], ...] = (BackendUnavailableError, UnloadTimeoutError)
"""Errors after which a backend cannot go on safely: the service is gone, or a model would not
leave memory. They interrupt a run (collecting or LLM judging) without failing any of its work;
a rerun resumes."""


@dataclass(frozen=True)
class ModelInfo:
    """What tipbench knows about a model before loading it (all from metadata, nothing loaded)."""

    name: str
    backend: str
    parameter_count: int | None
    parameter_label: str = ""
    quantization: str = ""
    digest: str = ""
    family: str = ""
    context_length: int | None = None
    is_base: bool = False
    """Base (non-instruct) models get the prompt's raw-completion form instead of chat."""

    @property
    def parameter_b(self) -> float | None:
        return None if self.parameter_count is None else self.parameter_count / 1e9

    def size_problem(self, max_model_b: float) -> str | None:
        """Why this model may not be used under ``max_model_b``, or None when it may.

        The edge is exact: a count of at most ``max_model_b * 1e9`` passes, so a model labelled
        "4.0B" that really holds 4.02 billion parameters is refused under the default 4.0.
        """
        if self.parameter_count is None:
            return (
                f"{self.name}: the parameter count is unknown, so tipbench cannot check it "
                f"against the {max_model_b:g}B limit"
            )
        if self.parameter_count > max_model_b * 1e9:
            return (
                f"{self.name} has {self.parameter_count:,} parameters "
                f"({self.parameter_count / 1e9:.2f}B), above the --max-model-b limit of "
                f"{max_model_b:g}B (exact count; the limit is inclusive)"
            )
        return None

    def as_params(self) -> dict[str, str]:
        """The MLflow params that identify the model a cell ran on."""
        return {
            "model": self.name,
            "model_digest": self.digest,
            "quantization": self.quantization,
            "parameter_count": "" if self.parameter_count is None else str(self.parameter_count),
            "backend": self.backend,
        }


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling and safety options sent with every request (num_predict and timeout always)."""

    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 96
    num_ctx: int = 2048
    timeout_s: float = 120.0
    keep_alive_s: int = 300

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation: either chat ``messages`` or a raw ``prompt`` (for base models)."""

    seed: int
    options: GenerationOptions
    messages: tuple[dict[str, str], ...] = ()
    prompt: str | None = None
    json_schema: dict[str, Any] | None = None
    """Constrain the output to this JSON schema (Ollama ``format``, llama.cpp grammar)."""
    stop: tuple[str, ...] = ()
    """Stop sequences; a raw few-shot prompt needs them or a base model writes the next example."""
    prefix_marks: tuple[str, ...] = ()
    """Texts of the prompt, in order, ending parts other requests share (a rubric, a scenario).

    The embedded backend cuts its prompt evaluation there so the cache of those parts is reused by
    the next request that shares them; a chat request's messages before the last are marks
    already. Never changes what is generated (docs/architecture.md, section 7); Ollama ignores it.
    """


@dataclass(frozen=True)
class Generation:
    """What came back, with the timing and token counts the report needs."""

    text: str
    raw: str
    prompt_tokens: int
    eval_tokens: int
    latency_s: float
    tokens_per_s: float
    done_reason: str
    truncated: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A source of generations that keeps at most one model resident."""

    name: str

    def version(self) -> str:
        """The backend's own version (Ollama server version, llama-cpp-python version)."""
        ...

    def list_models(self) -> list[ModelInfo]:
        """Every model this backend can run, with sizes, without loading any of them."""
        ...

    def describe(self, model: str) -> ModelInfo:
        """Metadata for one model; raises UnknownModelError with the known names."""
        ...

    def load(self, model: str, options: GenerationOptions) -> float:
        """Make ``model`` the only resident model; return the seconds the load took."""
        ...

    def generate(self, model: str, request: GenerationRequest) -> Generation:
        """One generation on the loaded model.

        Raises GenerationError when the model answered with an error (out of memory, a prompt
        that does not fit, a generation over its timeout): the cell failed. Raises
        BackendUnavailableError when the service went away or the connection broke (a stream cut
        mid-way, a reset): nothing is wrong with the cell, the run was interrupted.
        """
        ...

    def unload(self, model: str) -> None:
        """Free ``model`` and confirm it is gone; UnloadTimeoutError if it stays resident."""
        ...

    def close(self) -> None:
        """Unload everything this backend loaded and release connections."""
        ...
