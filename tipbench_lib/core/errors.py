"""Exceptions whose messages tell the user what went wrong, and the exit statuses of every command.

Every error tipbench raises on purpose derives from :class:`TipbenchError`, so the command line
(``tipbench <phase>`` and the notebooks' script mode) turns it into a one-line message and an exit
status instead of a traceback.

Exit statuses, the same for every phase (cron and Airflow read them):

- :data:`EXIT_OK` (0): everything asked for is done (and in MLflow);
- :data:`EXIT_FAILED` (1): some of the work failed and is listed (a cell the model could not
  answer, an LLM judgment that never parsed, judgments MLflow has not taken yet); the rest is done;
- :data:`EXIT_REFUSED` (2): refused before anything ran (a bad argument or name, an unknown or
  too-large model, a malformed data file the run needs, a service that does not answer at the
  start); nothing was loaded and nothing was created. :func:`refuse` prints the one message;
- :data:`EXIT_INTERRUPTED` (3): a service went away mid-run (Ollama, MLflow, a model that would not
  unload) or the user pressed Ctrl-C; the journal keeps everything done so far and running the
  same command again resumes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_INTERRUPTED = 3


class TipbenchError(Exception):
    """Base class: the message is meant for the user, not for a debugger."""


class DataFileError(TipbenchError):
    """A data file (shipped, in the user's data directory, or one the user passed) is malformed.

    The message names the file, which data directory it came from, the line or key, and what was
    expected.
    """

    def __init__(self, path: object, where: str, problem: str) -> None:
        from tipbench_lib.core.paths import origin_of  # paths raises TipbenchError: import late

        self.path = str(path)
        self.where = where
        self.problem = problem
        origin = origin_of(self.path)
        shown = f"{self.path} ({origin})" if origin else self.path
        super().__init__(f"{shown}: {where}: {problem}")


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


class RubricConflict(TipbenchError):
    """An experiment is scored on another rubric than the one asked for; nothing was changed."""


class SettingsConflict(TipbenchError):
    """An experiment holds cells collected with other generation settings (``--temperature``,
    ``--max-tokens``, ``--num-ctx``, ``--seed``, ``--diversity``, ...); nothing was changed."""


class JudgingError(TipbenchError):
    """A judgment could not be accepted (score out of range, unknown candidate, ...)."""


def refuse(message: object, stream: TextIO | None = None) -> int:
    """Say why a command refused to start, in the one form every phase uses; returns 2."""
    print(f"tipbench: refused: {message}", file=stream or sys.stderr)
    return EXIT_REFUSED


def guarded(step: Callable[[], int]) -> int:
    """Run a command's ``step``; an error raised on purpose becomes a refusal, Ctrl-C a resume hint.

    ``ValueError`` counts as a refusal too: it is what argument checks raise.
    """
    try:
        return step()
    except (TipbenchError, ValueError) as exc:
        return refuse(exc)
    except KeyboardInterrupt:
        print("tipbench: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
