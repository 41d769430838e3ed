"""Reusing the KV cache of a shared prompt prefix in llama-cpp-python, in whole batches only.

Every LLM-judge prompt starts with the same rubric (~600 tokens), so evaluating it afresh for each
tip was most of a judgment's time. llama.cpp evaluates a prompt in batches of ``n_batch`` tokens;
reusing the cache only up to a batch boundary means the rest is evaluated in exactly the batches a
fresh start would use, so the same request with the same seed gives the same text whatever ran
before it. Prompts shorter than one batch are evaluated afresh.

llama-cpp-python has no public way to ask for that, so this module is the one place that relies on
its private state (written against :data:`WRITTEN_FOR`):

- ``Llama.generate(tokens, ...)`` is what every completion calls with the whole prompt, and it
  reuses the cache for the longest prefix of ``tokens`` that ``_input_ids`` holds;
- ``Llama._input_ids`` is exactly the first ``n_tokens`` tokens whose KV cache is held, so setting
  ``n_tokens`` to a batch boundary cuts what ``generate`` may reuse there;
- ``Llama.reset()`` forgets the cache, and ``Llama.n_batch`` is the batch size.

:func:`reuse_whole_batches` checks that these are still there and mean that before it installs
anything; when they are not it leaves the model as it is (every prompt evaluated afresh: the same
text, only slower) and says which llama-cpp-python version changed what.
``tests/test_embedded_backend.py`` fails with the same message when an upgrade breaks them.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

log = logging.getLogger(__name__)

WRITTEN_FOR = "0.3.36"
"""The llama-cpp-python version whose internals this module was written and tested against."""


def llama_cpp_version() -> str:
    try:
        return package_version("llama-cpp-python")
    except PackageNotFoundError:
        return "(not installed)"


def internals_problems(llm: Any) -> list[str]:
    """What the prefix reuse needs of ``llm`` and does not find (empty when all is there)."""
    problems = [
        f"Llama.{name} is no longer a method"
        for name in ("generate", "reset")
        if not callable(getattr(llm, name, None))
    ]
    for name in ("n_tokens", "n_batch"):
        if not isinstance(getattr(llm, name, None), int):
            problems.append(f"Llama.{name} is no longer an integer")
    held = getattr(llm, "_input_ids", None)
    if held is None or not hasattr(held, "__len__") or not hasattr(held, "__getitem__"):
        problems.append("Llama._input_ids (the tokens whose cache is held) is gone")
    elif isinstance(getattr(llm, "n_tokens", None), int) and len(held) != llm.n_tokens:
        problems.append(
            f"Llama._input_ids holds {len(held)} tokens, not the n_tokens={llm.n_tokens} whose "
            "cache is held"
        )
    return problems


def changed_message(problems: list[str]) -> str:
    """The one message for internals that moved: the installed version, and what changed."""
    return (
        f"llama-cpp-python {llama_cpp_version()} changed what tipbench's prefix reuse relies on "
        f"(written for {WRITTEN_FOR}): {'; '.join(problems)}. Install llama-cpp-python=="
        f"{WRITTEN_FOR}, or update tipbench_lib/backends/prefix_reuse.py"
    )


def reuse_whole_batches(llm: Any) -> bool:
    """Make ``llm`` reuse a shared prompt prefix up to a batch boundary; False when it cannot.

    ``llm`` is a freshly loaded ``llama_cpp.Llama``; its ``generate`` is wrapped in place.
    """
    problems = internals_problems(llm)
    if problems:
        log.warning(
            "%s; every prompt is evaluated afresh (same text, slower)", changed_message(problems)
        )
        return False
    generate = llm.generate
    n_batch = max(1, int(llm.n_batch))

    def aligned_generate(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        tokens = list(tokens)
        common = 0
        for cached, wanted in zip(llm._input_ids, tokens[:-1], strict=False):
            if cached != wanted:
                break
            common += 1
        boundary = (common // n_batch) * n_batch
        if boundary == 0:
            llm.reset()
        else:
            llm.n_tokens = boundary
        return generate(tokens, *args, **kwargs)

    llm.generate = aligned_generate
    return True
