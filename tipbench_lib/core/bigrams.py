"""Word bigrams: the one definition of "nearly the same tip" that collect and compare share.

``tipbench collect --diversity`` regenerates a candidate that nearly repeats an earlier one of its
cell, and the compare phase shows each cell's distinct-2 (:mod:`tipbench_lib.stats.diversity`);
both read a tip through :func:`tokens` and :func:`bigrams` here, so "a repeat" means the same thing
when it is prevented and when it is measured.

**Tokens** are case-folded runs of letters and digits (any script), with an apostrophe inside a
word kept (``don't`` is one token); punctuation and whitespace only separate them. Why:

- two tips that differ only in capitals, a final full stop, quotes or an emoji say the same thing
  to a reader, and a whitespace split would count ``lunch.`` and ``lunch`` as different words;
- ``\\w`` is Unicode-aware, so tips in any language with spaces between words tokenise the same
  way; a script written without spaces (Chinese, Japanese, Thai) yields one token per run of
  letters, so there a tip is compared nearly as a whole and only exact rewordings count as repeats;
- no stemming, stop-word list or model tokenizer: each would need language data or a model
  download, and would make the measure depend on more than the text. The measure stays a plain
  function of the text that anyone can recompute from ``candidates.json``.

**Bigrams** are the set of adjacent token pairs. A tip of one token has that token as its only
"bigram" (so two one-word tips can still repeat each other); an empty tip has none.
**Similarity** is the Jaccard index of two tips' bigram sets; two empty tips are identical (1.0).
A tip is a **near repeat** of another at :data:`NEAR_REPEAT_JACCARD` (0.8) or more: in a tip of
20 words (19 bigrams), changing only punctuation or case keeps the index at 1.0 and changing one
word (two bigrams) at 0.81, a repeat; changing two words lowers it to 0.65, a new tip. Shorter tips
need fewer changes: in a tip of 10 words one changed word gives 0.64.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

NEAR_REPEAT_JACCARD = 0.8
"""Two tips whose bigram sets have a Jaccard index of at least this are near repeats."""

_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")

Bigram = tuple[str, ...]


def tokens(text: str) -> list[str]:
    """The tip's words, case-folded, punctuation dropped (see the module docstring for why)."""
    return [t.replace("’", "'") for t in _TOKEN.findall(text.casefold())]


def bigram_list(text: str) -> list[Bigram]:
    """Adjacent word pairs in order, repeats kept (what distinct-2 counts)."""
    words = tokens(text)
    return [(a, b) for a, b in zip(words, words[1:], strict=False)]


def bigrams(text: str) -> frozenset[Bigram]:
    """The set of the tip's word pairs; a one-word tip's only element is that word."""
    words = tokens(text)
    if len(words) == 1:
        return frozenset({(words[0],)})
    return frozenset(bigram_list(text))


def jaccard(a: frozenset[Bigram], b: frozenset[Bigram]) -> float:
    """|a ∩ b| / |a ∪ b|; two empty sets are identical (1.0)."""
    union = len(a | b)
    return 1.0 if union == 0 else len(a & b) / union


def similarity(text: str, other: str) -> float:
    """The Jaccard index of two tips' word-bigram sets."""
    return jaccard(bigrams(text), bigrams(other))


def max_similarity(text: str, earlier: Iterable[str]) -> float:
    """How close ``text`` comes to the closest of ``earlier`` (0.0 when there is none)."""
    mine = bigrams(text)
    return max((jaccard(mine, bigrams(e)) for e in earlier), default=0.0)


def is_near_repeat(text: str, earlier: Iterable[str]) -> bool:
    """Whether ``text`` nearly repeats any of ``earlier`` (:data:`NEAR_REPEAT_JACCARD`)."""
    return max_similarity(text, earlier) >= NEAR_REPEAT_JACCARD


def distinct_ratio(texts: Sequence[str]) -> float:
    """The share of ``texts`` (in their order) that nearly repeat no earlier one; 1.0 for none.

    The first tip is always distinct; this is what ``--diversity`` raises, and the MLflow metric
    ``distinct_ratio`` of a cell.
    """
    if not texts:
        return 1.0
    distinct = sum(not is_near_repeat(t, texts[:i]) for i, t in enumerate(texts))
    return distinct / len(texts)
