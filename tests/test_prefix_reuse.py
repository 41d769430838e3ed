"""The embedded backend's prefix reuse relies on llama-cpp-python's private state: when that moves,
it must say so by version, and leave the model evaluating afresh instead of misusing the cache.

The real model's internals are checked in ``tests/test_embedded_backend.py`` (slow); here a
stand-in shaped like ``llama_cpp.Llama`` shows what happens when one of them vanishes or changes.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tipbench_lib.backends import prefix_reuse
from tipbench_lib.backends.prefix_reuse import internals_problems, reuse_whole_batches


class LlamaLike:
    """The parts of ``llama_cpp.Llama`` 0.3.36 the reuse touches, with a cache of held tokens."""

    def __init__(self, n_batch: int = 4) -> None:
        self.n_batch = n_batch
        self.n_tokens = 0
        self.input_ids = np.zeros(64, dtype=np.intc)
        self.calls: list[tuple[int, list[int]]] = []

    @property
    def _input_ids(self) -> np.ndarray:
        return self.input_ids[: self.n_tokens]

    def reset(self) -> None:
        self.n_tokens = 0

    def generate(self, tokens, *args, **kwargs):
        tokens = list(tokens)
        self.calls.append((self.n_tokens, tokens))
        self.input_ids[: len(tokens)] = tokens
        self.n_tokens = len(tokens)
        return iter(())


def test_reuse_cuts_the_cache_at_a_batch_boundary():
    llm = LlamaLike(n_batch=4)
    assert reuse_whole_batches(llm) is True
    llm.generate(list(range(10)))
    llm.generate([*range(9), 99])  # 9 tokens in common: reuse 8, two whole batches
    llm.generate([7, 7, 7])  # nothing in common: evaluated afresh
    assert [held for held, _ in llm.calls] == [0, 8, 0]


@pytest.mark.parametrize(
    ("break_it", "named"),
    [
        (lambda llm: setattr(type(llm), "_input_ids", None), "Llama._input_ids"),
        (lambda llm: setattr(llm, "n_batch", "512"), "Llama.n_batch"),
        (lambda llm: setattr(llm, "reset", None), "Llama.reset"),
        (
            lambda llm: setattr(type(llm), "_input_ids", property(lambda s: s.input_ids)),
            "not the n_tokens=0 whose cache is held",
        ),
    ],
    ids=["input-ids-gone", "n-batch-not-int", "reset-gone", "input-ids-changed-meaning"],
)
def test_changed_internals_are_named_with_the_version_and_leave_the_model_alone(
    break_it, named, monkeypatch, caplog
):
    class Broken(LlamaLike):
        pass

    llm = Broken()
    break_it(llm)
    monkeypatch.setattr(prefix_reuse, "llama_cpp_version", lambda: "9.9.9")
    original = llm.generate
    with caplog.at_level(logging.WARNING, logger="tipbench_lib.backends.prefix_reuse"):
        assert reuse_whole_batches(llm) is False
    assert llm.generate == original, "nothing was installed"
    message = caplog.text
    assert "llama-cpp-python 9.9.9 changed" in message and named in message, message
    assert f"written for {prefix_reuse.WRITTEN_FOR}" in message
    assert "evaluated afresh" in message


def test_the_stand_in_matches_what_the_reuse_needs():
    assert internals_problems(LlamaLike()) == []
