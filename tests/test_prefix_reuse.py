"""The prompt schedule: a cached prefix is reused only where the cache is what a fresh evaluation
builds, and the llama-cpp-python internals it relies on are checked by version.

A stand-in shaped like ``llama_cpp.Llama`` 0.3.36 records, for every cached position, the batch
that evaluated it: llama.cpp's arithmetic for a token depends on the tokens before it and on its
batch, so two caches with the same tokens and the same batches are the same bits. The real model
is checked in ``tests/test_embedded_backend.py`` (slow), logits compared bitwise.
"""

from __future__ import annotations

import logging
import random

import numpy as np
import pytest

from tipbench_lib.backends import prefix_reuse
from tipbench_lib.backends.prefix_reuse import internals_problems, schedule, schedule_prompts


class LlamaLike:
    """The parts of ``llama_cpp.Llama`` 0.3.36 the schedule touches: ``generate`` reuses the
    longest cached prefix (at least the last token is evaluated) and evaluates the rest in
    ``n_batch`` chunks, as the real one does; tokens detokenize to one letter each."""

    def __init__(self, n_batch: int = 4) -> None:
        self.n_batch = n_batch
        self.n_tokens = 0
        self.input_ids = np.zeros(256, dtype=np.intc)
        self.batch_of: list[tuple[int, int]] = []  # the batch that evaluated each cached position
        self.evaluated = 0

    @property
    def _input_ids(self) -> np.ndarray:
        return self.input_ids[: self.n_tokens]

    def reset(self) -> None:
        self.n_tokens = 0

    def detokenize(self, tokens, special=False) -> bytes:
        return bytes(ord("a") + t % 26 for t in tokens)

    def eval(self, tokens) -> None:
        self._decode(tokens)

    def _decode(self, tokens) -> None:
        del self.batch_of[self.n_tokens :]
        for i in range(0, len(tokens), int(self.n_batch)):
            batch = list(tokens[i : i + int(self.n_batch)])
            start = self.n_tokens
            self.input_ids[start : start + len(batch)] = batch
            self.batch_of += [(start, start + len(batch))] * len(batch)
            self.n_tokens += len(batch)
            self.evaluated += len(batch)

    def generate(self, tokens, *args, **kwargs):
        tokens = list(tokens)
        common = 0
        for cached, wanted in zip(self.input_ids[: self.n_tokens], tokens, strict=False):
            if cached != wanted:
                break
            common += 1
        self.n_tokens = min(common, len(tokens) - 1)
        self._decode(tokens[self.n_tokens :])
        self._decode([7])  # two generated tokens, one at a time
        self._decode([8])
        return iter(())


def layout_after(requests, marks_of, n_batch=4):
    """The batches that built the cache of the last request's prompt, after all of them ran."""
    llm = LlamaLike(n_batch)
    prompts = schedule_prompts(llm)
    assert prompts is not None
    for tokens in requests:
        prompts.marks = marks_of(tokens)
        llm.generate(tokens)
    return llm.batch_of[: len(requests[-1])], llm


def test_schedule_cuts_at_marks_every_batch_and_before_the_last_token():
    assert schedule(10, [], 4) == (4, 8, 9, 10)
    assert schedule(10, [3], 4) == (3, 7, 9, 10)
    assert schedule(10, [3, 9, 12, 0], 4) == (3, 7, 9, 10), "marks at the ends add nothing"
    assert schedule(1, [], 4) == (1,)


def test_a_cells_tips_evaluate_the_prompt_once_and_reuse_it_as_fresh():
    prompt = list(range(11))
    layout, llm = layout_after([prompt, prompt, prompt], lambda _: ())
    assert llm.evaluated == 11 + 2 * (1 + 2) + 2, "the prompt once, then its last token per tip"
    fresh, _ = layout_after([prompt], lambda _: ())
    assert layout == fresh


def test_a_shared_marked_part_is_reused_and_an_unmarked_match_is_not():
    system = list(range(6))
    first, second = [*system, 10, 11, 12, 13, 14], [*system, 10, 11, 20, 21]
    marked = lambda _tokens: ("abcdef",)  # noqa: E731  (the letters of the six system tokens)
    _, llm = layout_after([first, second], marked, n_batch=16)
    assert llm.evaluated == 11 + 2 + (len(second) - 6) + 2
    _, llm = layout_after([first, second], lambda _: (), n_batch=16)
    assert llm.evaluated == 11 + 2 + len(second) + 2, "8 tokens in common but no cut: afresh"
    _, llm = layout_after([first, second], lambda _: (), n_batch=4)
    assert llm.evaluated == 11 + 2 + (len(second) - 8) + 2, "cut after two whole batches"


def test_whatever_ran_before_the_cache_is_built_by_the_fresh_batches():
    """Random prompts sharing random prefixes, with and without marks: after any history, the
    cache under the last prompt was built by exactly the batches a fresh evaluation uses."""
    rng = random.Random(20)
    base = [rng.randrange(26) for _ in range(40)]
    for _ in range(300):
        requests = [
            base[: rng.randrange(1, 40)] + [rng.randrange(26) for _ in range(rng.randrange(0, 12))]
            for _ in range(rng.randrange(1, 5))
        ]
        cut_at = rng.randrange(1, 30)

        def marks_of(tokens, cut_at=cut_at):
            return (bytes(ord("a") + t for t in tokens[:cut_at]).decode(),)

        n_batch = rng.choice([1, 3, 4, 8])
        after_history, _ = layout_after(requests, marks_of, n_batch)
        fresh, _ = layout_after(requests[-1:], marks_of, n_batch)
        assert after_history == fresh, requests


@pytest.mark.parametrize(
    ("break_it", "named"),
    [
        (lambda llm: setattr(type(llm), "_input_ids", None), "Llama._input_ids"),
        (lambda llm: setattr(llm, "n_batch", "512"), "Llama.n_batch"),
        (lambda llm: setattr(llm, "eval", None), "Llama.eval"),
        (
            lambda llm: setattr(type(llm), "_input_ids", property(lambda s: s.input_ids)),
            "not the n_tokens=0 whose cache is held",
        ),
    ],
    ids=["input-ids-gone", "n-batch-not-int", "eval-gone", "input-ids-changed-meaning"],
)
def test_changed_internals_are_named_with_the_version_and_evaluate_afresh(
    break_it, named, monkeypatch, caplog
):
    class Broken(LlamaLike):
        pass

    llm = Broken()
    break_it(llm)
    monkeypatch.setattr(prefix_reuse, "llama_cpp_version", lambda: "9.9.9")
    with caplog.at_level(logging.WARNING, logger="tipbench_lib.backends.prefix_reuse"):
        assert schedule_prompts(llm) is None
    message = caplog.text
    assert "llama-cpp-python 9.9.9 changed" in message and named in message, message
    assert f"written for {prefix_reuse.WRITTEN_FOR}" in message
    assert "evaluated afresh" in message
    llm.n_tokens = 5
    llm.generate([1, 2, 3])
    assert llm.n_tokens == 3 + 2, "reset first: the prompt evaluated from its first token"


def test_the_stand_in_matches_what_the_reuse_needs():
    assert internals_problems(LlamaLike()) == []
