"""Exceptions whose messages tell the user what went wrong and what to do next.

Every error tipbench raises on purpose derives from :class:`TipbenchError`, so the notebooks'
script mode can turn it into a one-line message and an exit status instead of a traceback.
"""

from __future__ import annotations


class TipbenchError(Exception):
    """Base class: the message is meant for the user, not for a debugger."""


class DataFileError(TipbenchError):
    """A file under data/ (or one the user passed) is malformed.

    The message names the file, the line or key, and what was expected.
    """

    def __init__(self, path: object, where: str, problem: str) -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        super().__init__(f"{self.path}: {where}: {problem}")


class TrackingError(TipbenchError):
    """MLflow could not be reached or refused a request; the message says what to change."""


class BackendError(TipbenchError):
    """A model backend (Ollama or embedded llama.cpp) failed."""


class UnknownModelError(BackendError):
    """The backend does not know the model name the user gave."""


class ModelTooLargeError(BackendError):
    """The model has more parameters than the configured limit; it was never loaded."""


class BackendUnavailableError(BackendError):
    """The backend's service does not answer (e.g. no Ollama server)."""


class GenerationError(BackendError):
    """One generation failed; ``kind`` is a short machine-readable reason.

    kinds: ``error`` (the model answered with an error), ``timeout``, ``oom`` (out of memory),
    ``truncated`` (the prompt did not fit the context window).
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class JudgingError(TipbenchError):
    """A judgment could not be accepted (score out of range, unknown candidate, ...)."""
