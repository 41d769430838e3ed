"""Evaluating a prompt on a schedule fixed by the request alone, so a cached prefix can be reused
without changing any text (docs/architecture.md, section 7).

llama.cpp's arithmetic for a token depends on the batch it is evaluated in (the kernel chosen by
the batch's width, the attention's length padded to the batch's end), so the KV cache one split
of a prompt into batches builds is not bitwise the cache another split builds, and the same seed
could then sample another text. Here the split is a function of the request: a cut at the end of
each marked part (:attr:`GenerationRequest.prefix_marks`: a system prompt, a rubric, a scenario),
batches of at most ``n_batch`` tokens between cuts, and the last prompt token evaluated alone (to
sample from logits of a one-token batch whether or not the rest came from the cache). A request
resumes from the cache at the furthest cut up to which its tokens and its cuts are those of the
state held: the held cache there is exactly what a fresh evaluation would build. So a cell's K
tips evaluate its prompt once (each later tip evaluates its last token alone), the LLM judge
evaluates the rubric once and a cell's scenario once, and the same request with the same seed
gives the same text whatever ran before.

llama-cpp-python has no public way to ask for that, so this module is the one place that relies on
its private state (written against :data:`WRITTEN_FOR`):

- ``Llama.generate(tokens, ...)`` is what every completion calls with the whole prompt; it reuses
  the cache for the longest prefix of ``tokens`` that ``_input_ids`` holds and evaluates the rest
  (at least the last token) itself;
- ``Llama.eval(tokens)`` first drops the cache past ``n_tokens`` and evaluates ``tokens`` in one
  batch when there are at most ``n_batch`` of them;
- ``Llama._input_ids`` is exactly the first ``n_tokens`` tokens whose KV cache is held, so setting
  ``n_tokens`` to a cut keeps the cache up to there;
- ``Llama.reset()`` forgets the cache, and ``Llama.n_batch`` is the batch size.

:func:`schedule_prompts` checks that these are still there and mean that before it installs
anything; when they are not it has every prompt evaluated afresh (the same text, only slower) and
says which llama-cpp-python version changed what.
``tests/test_embedded_backend.py`` fails with the same message when an upgrade breaks them.
"""

from __future__ import annotations

import bisect
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
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
        for name in ("generate", "eval", "reset", "detokenize")
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


def schedule(n_tokens: int, marks_at: Sequence[int], n_batch: int) -> tuple[int, ...]:
    """Where each batch of an ``n_tokens`` prompt ends: at the marks, every ``n_batch`` tokens
    between them, and at ``n_tokens - 1`` so the last token is a batch of its own."""
    ends = sorted({m for m in marks_at if 0 < m < n_tokens - 1} | {n_tokens - 1, n_tokens} - {0})
    cuts: list[int] = []
    start = 0
    for end in ends:
        cuts += range(start + n_batch, end, n_batch)
        cuts.append(end)
        start = end
    return tuple(cuts)


@dataclass(frozen=True)
class PromptCost:
    """What the last prompt cost: tokens taken from the cache, tokens evaluated (the last one
    included), and the batches that evaluated them."""

    reused: int
    evaluated: int
    batches: int


class PromptSchedule:
    """One ``Llama``'s prompt evaluation on the request's schedule (see the module's docstring).

    Set :attr:`marks` before each completion; :attr:`last` says what its prompt cost.
    """

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.n_batch = max(1, int(llm.n_batch))
        self.marks: tuple[str, ...] = ()
        self.last: PromptCost | None = None
        self._held: tuple[int, ...] = ()
        self._pieces: dict[int, bytes] = {}
        self._generate = llm.generate

    def generate(self, tokens: Any, *args: Any, **kwargs: Any) -> Any:
        """``Llama.generate`` with the prompt evaluated here up to its last token."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            return self._generate(tokens, *args, **kwargs)
        cuts = schedule(len(tokens), self.mark_positions(tokens), self.n_batch)
        start = self.resume_point(tokens, cuts)
        self._held = ()  # nothing is safe to resume from until the schedule has run
        if start == 0:
            self.llm.reset()
        else:
            self.llm.n_tokens = start
        evaluated_to, batches = start, 0
        for cut in cuts[:-1]:  # the last token is left to generate, alone
            if cut > evaluated_to:
                self.llm.eval(tokens[evaluated_to:cut])
                evaluated_to, batches = cut, batches + 1
        self._held = cuts
        self.last = PromptCost(start, len(tokens) - start, batches + 1)
        return self._generate(tokens, *args, **kwargs)

    def resume_point(self, tokens: Sequence[int], cuts: Sequence[int]) -> int:
        """The furthest cut up to which the held tokens and the held cuts are this prompt's."""
        limit = min(_common_prefix(self.llm._input_ids, tokens), len(tokens) - 1)
        start = 0
        for index, cut in enumerate(cuts):
            if cut > limit or index >= len(self._held) or self._held[index] != cut:
                break
            start = cut
        return start

    def mark_positions(self, tokens: Sequence[int]) -> list[int]:
        """For each mark found in the prompt's text (in order), the number of tokens that lie
        wholly before the mark's end; a mark not found is skipped (a cut less, same text)."""
        pieces = [self._piece(token) for token in tokens]
        ends = list(itertools.accumulate(len(piece) for piece in pieces))
        text = b"".join(pieces)
        positions = []
        searched_to = 0
        for mark in self.marks:
            wanted = mark.encode("utf-8")
            found = text.find(wanted, searched_to) if wanted else -1
            if found >= 0:
                searched_to = found + len(wanted)
                positions.append(bisect.bisect_right(ends, searched_to))
        return positions

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = bytes(self.llm.detokenize([token], special=True))
        return piece


def _common_prefix(held: Sequence[int], tokens: Sequence[int]) -> int:
    common = 0
    for cached, wanted in zip(held, tokens, strict=False):
        if cached != wanted:
            break
        common += 1
    return common


def schedule_prompts(llm: Any) -> PromptSchedule | None:
    """Evaluate every prompt of ``llm`` on its request's schedule; None when it cannot.

    ``llm`` is a freshly loaded ``llama_cpp.Llama``; its ``generate`` is replaced in place. When
    the internals moved, every prompt is evaluated afresh instead (``reset`` first): the same
    text, only slower.
    """
    problems = internals_problems(llm)
    if problems:
        log.warning(
            "%s; every prompt is evaluated afresh (same text, slower)", changed_message(problems)
        )
        _evaluate_afresh(llm)
        return None
    prompts = PromptSchedule(llm)
    llm.generate = prompts.generate
    return prompts


def _evaluate_afresh(llm: Any) -> None:
    """Forget the cache before every prompt, when ``generate`` and ``reset`` are still there."""
    generate, reset = getattr(llm, "generate", None), getattr(llm, "reset", None)
    if not (callable(generate) and callable(reset)):
        return

    def afresh(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        reset()
        return generate(tokens, *args, **kwargs)

    llm.generate = afresh
