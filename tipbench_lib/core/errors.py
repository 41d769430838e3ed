"""Exceptions whose messages tell the user what went wrong, and the exit statuses of every command.

Every error tipbench raises on purpose derives from :class:`TipbenchError`, so the command line
(``tipbench <phase>`` and the notebooks' script mode) turns it into a one-line message and an exit
status instead of a traceback.

Exit statuses, the same for every phase (cron and Airflow read them):

- :data:`EXIT_OK` (0): everything asked for is done (and in MLflow);
- :data:`EXIT_FAILED` (1): some of the work failed and is listed (a cell the model could not
  answer, an LLM judgment that never parsed, judgments MLflow has not taken yet); the rest is done;
- :data:`EXIT_REFUSED` (2): refused before anything ran (a bad argument or name, an unknown or
  too-large model, a malformed data file the run needs, a server that answers what no MLflow or
  Ollama would); nothing was loaded and nothing was created. :func:`refuse` prints the one message;
- :data:`EXIT_INTERRUPTED` (3): a service went away, at the start or mid-run (Ollama or MLflow cut
  off, a model that would not unload), two writers met in MLflow (:class:`RetryableError`), or
  the user pressed Ctrl-C; the journal keeps everything done so far and running the same command
  again resumes. A scheduler retries it; it never retries a 2.
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


class RetryableError(TipbenchError):
    """Nothing is wrong with the request: a service went away (a transport failure, at any point)
    or two writers met in a shared store. Running the same command again resumes (exit 3)."""


class TrackingError(TipbenchError):
    """MLflow could not be reached or refused a request; the message says what to change."""


class StoreConflict(TrackingError, RetryableError):
    """Another process wrote the same MLflow record at the same moment, with other content; the
    record is left for the next run to read again (docs/architecture.md, section 6)."""


class BackendError(TipbenchError):
    """A model backend (Ollama or embedded llama.cpp) failed."""


class UnknownModelError(BackendError):
    """The backend does not know the model name the user gave."""


class ModelTooLargeError(BackendError):
    """The model has more parameters than the configured limit; it was never loaded."""


class BackendUnavailableError(BackendError, RetryableError):
    """The backend's service does not answer, or its connection broke (e.g. no Ollama server)."""


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


def exit_status(exc: BaseException) -> int:
    """The exit status an error ends a command with: 3 when running it again may succeed."""
    return EXIT_INTERRUPTED if isinstance(exc, RetryableError) else EXIT_REFUSED


def interrupted(message: object, stream: TextIO | None = None) -> int:
    """Say why a command stopped when a rerun may succeed, in one line; returns 3."""
    text = str(message).rstrip(". ")
    print(
        f"tipbench: interrupted: {text}. Nothing is lost: run the same command again to resume",
        file=stream or sys.stderr,
    )
    return EXIT_INTERRUPTED


def guarded(step: Callable[[], int]) -> int:
    """Run a command's ``step``; an error raised on purpose becomes a refusal (2), or an
    interruption (3) when a rerun may succeed (:class:`RetryableError`); Ctrl-C a resume hint.

    ``ValueError`` counts as a refusal too: it is what argument checks raise.
    """
    try:
        return step()
    except RetryableError as exc:
        return interrupted(exc)
    except (TipbenchError, ValueError) as exc:
        return refuse(exc)
    except KeyboardInterrupt:
        print("tipbench: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
