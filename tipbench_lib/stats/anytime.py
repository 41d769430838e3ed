"""Anytime-valid confidence sequences for paired differences, and the verdict they support.

An adaptive queue looks at the data after every card and stops a comparison once it is decided.
A fixed-sample interval read that way fails far more often than its level says (optional
stopping). A *confidence sequence* holds the truth at every step at once with probability at
least 1 - alpha, so a verdict read at any moment, and the decision to stop there, keep their
error rate.

Two sequences, chosen by name (:data:`SEQUENCES`):

- ``"sign-flip"`` (the default, :mod:`.signflip`): betting on the signs of the differences,
  exact under the signed-rank test's own assumption (equal cells have exchangeable tips); it
  decides a 2-point difference within the 6-24 scenarios of a tipbench experiment;
- ``"bounded"`` (this module): the predictable-mixture empirical-Bernstein sequence, valid for
  *any* distribution on the rubric's range and therefore wide - it needs a few hundred
  scenarios before it decides anything (the bench prints where). Use it when the symmetry
  assumption cannot be defended, e.g. to check a verdict on a very large experiment.

**The bounded sequence.** The predictable-mixture empirical-Bernstein (PrPl-EB) confidence
sequence of Waudby-Smith and Ramdas, "Estimating means of bounded random variables by betting"
(JRSS-B 2024, Theorem 2), in the form of ``confseq``'s ``predmix_empbern_twosided_cs`` (the
tests hold the two equal). For observations x_1, x_2, ... in [0, 1] with a common conditional mean::

    lambda_i = min(sqrt(2 log(2/alpha) / (sigma2_{i-1} i log(1 + i))), truncation)
    v_i      = (x_i - mean of x_1..x_{i-1})^2            (0 for the first)
    psi(l)   = -log(1 - l) - l
    lower_t  = (sum lambda_i x_i - log(2/alpha) - sum v_i psi(lambda_i)) / sum lambda_i

with ``sigma2`` a running variance started at 1/4 (one fake observation at 1/2), the upper bound
the same on 1 - x, and the running intersection over t (bounds never widen).

**The scale.** A scenario's paired difference d (composite points, a - b) lies in ±W with W the
composite's width (15 for tip-v1: 2 to 17), so x = (d + W) / 2W. The guarantee holds for *any*
distribution on that range, which is what it costs: the bound's floor is about
log(2/alpha) / (truncation t) on the [0, 1] scale, i.e. ``2W log(2/alpha) / (truncation t)``
composite points, whatever the spread of the differences. At alpha = 0.05/8 and 24 scenarios
that floor is about 14 points; the sequence starts to track the spread of the data only after
a few hundred scenarios (``bench/adaptive_judging.py`` prints where it decides). The sequence
is exact, not optimistic: with the rubric's range it is simply wide at tipbench's sizes.

**Family.** Each comparison of the primary family gets level alpha / m (Bonferroni over the m
primary comparisons of :func:`tipbench_lib.stats.compare_pairs`), so the chance that any
sequence of the family ever misses its truth is at most alpha.

**Decision** (per comparison, read from the running intersection [lower, upper]; the sign-flip
sequence uses the same words):

- ``better`` / ``worse``: the sequence lies above / below 0 (checked first: a difference known
  to be positive is reported as such even when it is also smaller than delta);
- ``equivalent``: it lies inside (-delta, +delta), delta = :data:`DEFAULT_DELTA` composite
  points unless set: the cells differ by less than a difference worth acting on;
- ``out of reach``: no decision is possible with the scenarios left (for this sequence: none
  left; the sign-flip sequence knows earlier), so the comparison needs no more cards;
- ``out of reach (projected)`` (sign-flip sequence only, the queue's default): some outcome of
  the scenarios left could still decide it, but simulated futures like the scenarios seen so
  far do so with a chance under 2% (:mod:`.futility`) - a futility rule that saves cards at
  the cost of a few decisions more scenarios would have made;
- ``undecided`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tipbench_lib.core.errors import TipbenchError

PROJECTED = "out of reach (projected)"
"""A comparison the sign-flip sequence's projection gives up on (:mod:`.signflip`), not one that
no data could decide: that is ``out of reach``."""
DECISIONS: tuple[str, ...] = (
    "better",
    "worse",
    "equivalent",
    "undecided",
    "out of reach",
    PROJECTED,
)
DECIDED: tuple[str, ...] = ("better", "worse", "equivalent")


def chance_text(chance: float, at_most: bool = False) -> str:
    """A chance in words for the status: "a chance under 1%" below one percent (the projected
    stop's simulation resolves about half a percent), else "a chance of 3%" ("of at most 3%"
    for the largest of several)."""
    if chance < 0.01:
        return "a chance under 1%"
    return f"a chance of {'at most ' if at_most else ''}{chance:.0%}"


SEQUENCES: tuple[str, ...] = ("sign-flip", "bounded")
DEFAULT_SEQUENCE = "sign-flip"
DEFAULT_DELTA = 1.0
"""Composite points: two cells closer than this are ``equivalent`` once the sequence says so.
One point on the 2-17 composite is one rubric step on one of the three dimensions, the smallest
difference a judge's score can express on one tip."""
DEFAULT_TRUNCATION = 0.5
"""The largest bet lambda (confseq's and the paper's default): a larger one narrows the
sequence when the data are spread out, but risks more on an unlucky first few scenarios."""


@dataclass(frozen=True)
class Sequences:
    """Running-intersection bounds of several comparisons, in composite points.

    ``lower``/``upper`` are (comparisons, steps) arrays, NaN after a comparison's last step; the
    current interval of comparison i is ``lower[i, n[i] - 1]`` (see :meth:`current`).
    """

    lower: np.ndarray
    upper: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    """Mean difference over each comparison's observed scenarios (NaN with none)."""

    def current(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) now: the running intersection at each comparison's last step.

        NaN for a comparison with no scenario yet.
        """
        if self.lower.shape[1] == 0:
            return np.full(len(self.n), np.nan), np.full(len(self.n), np.nan)
        rows, last = np.arange(len(self.n)), np.maximum(self.n - 1, 0)
        lo = np.where(self.n > 0, self.lower[rows, last], np.nan)
        hi = np.where(self.n > 0, self.upper[rows, last], np.nan)
        return lo, hi


def check_level(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise TipbenchError(f"alpha must be between 0 and 1, got {alpha}; 0.05 is usual")


def predmix_lower(
    x: np.ndarray, alpha: float, truncation: float = DEFAULT_TRUNCATION
) -> np.ndarray:
    """PrPl-EB lower bounds at level ``alpha`` (one side) of every row of ``x`` (in [0, 1]).

    ``x`` is (rows, steps), NaN-padded at the end of shorter rows; bounds are NaN there. No
    running intersection: see :func:`predmix_cs`.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    present = ~np.isnan(x)
    filled = np.where(present, x, 0.5)
    t = np.arange(1, x.shape[1] + 1, dtype=float)
    total = np.cumsum(filled, axis=1)
    # Running mean for the variance term, and the regularised one for the bets (as confseq).
    mean_prev = np.concatenate([np.zeros((len(x), 1)), (total / t)[:, :-1]], axis=1)
    regular = (0.5 + total) / (t + 1)
    sigma2 = (0.25 + np.cumsum((filled - regular) ** 2, axis=1)) / (t + 1)
    sigma2_prev = np.concatenate([np.full((len(x), 1), 0.25), sigma2[:, :-1]], axis=1)
    log_term = np.log(1 / alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        bets = np.sqrt(2 * log_term / (t * np.log1p(t) * sigma2_prev))
    bets = np.minimum(np.nan_to_num(bets, nan=0.0, posinf=truncation), truncation)
    v = (filled - mean_prev) ** 2
    psi = -np.log1p(-bets) - bets
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = (
            np.cumsum(bets * filled, axis=1) - log_term - np.cumsum(v * psi, axis=1)
        ) / np.cumsum(bets, axis=1)
    lower = np.maximum(np.nan_to_num(lower, nan=0.0), 0.0)
    return np.where(present, lower, np.nan)


def predmix_cs(
    x: np.ndarray,
    alpha: float,
    truncation: float = DEFAULT_TRUNCATION,
    running_intersection: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided PrPl-EB confidence sequence at level ``alpha`` for rows of ``x`` in [0, 1].

    Each side at alpha / 2. With ``running_intersection`` the bounds at step t are the tightest
    seen up to t, which keeps the time-uniform guarantee and makes a verdict, once reached, stay.
    """
    check_level(alpha)
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if np.any((x < 0) | (x > 1)):
        raise TipbenchError("observations must lie in [0, 1]; map them with the rubric's range")
    present = ~np.isnan(x)
    lower = predmix_lower(x, alpha / 2, truncation)
    upper = 1 - predmix_lower(1 - x, alpha / 2, truncation)
    if running_intersection:
        lower = np.fmax.accumulate(np.where(present, lower, -np.inf), axis=1)
        upper = np.fmin.accumulate(np.where(present, upper, np.inf), axis=1)
        lower, upper = np.where(present, lower, np.nan), np.where(present, upper, np.nan)
    return lower, upper


def paired_sequences(
    diffs: np.ndarray,
    width: float,
    alpha: float,
    truncation: float = DEFAULT_TRUNCATION,
) -> Sequences:
    """Confidence sequences of the mean paired difference for each row of ``diffs``.

    ``diffs`` is (comparisons, steps) in composite points, each row the scenario differences
    in the order they were observed, NaN-padded; ``width`` the composite's width (the range of
    a difference is ±width); ``alpha`` the level of each sequence (alpha / m for a family of m).
    """
    if width <= 0:
        raise TipbenchError(f"the composite's width must be positive, got {width}")
    diffs = np.atleast_2d(np.asarray(diffs, dtype=float))
    if np.any(np.abs(diffs) > width * (1 + 1e-12)):
        raise TipbenchError(
            f"a scenario difference lies outside ±{width:g}, the rubric's range; "
            "check that the composites come from the rubric given as scale"
        )
    x = np.clip((diffs + width) / (2 * width), 0.0, 1.0)
    lo, hi = predmix_cs(x, alpha, truncation)
    n = (~np.isnan(diffs)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, np.nansum(diffs, axis=1) / np.maximum(n, 1), np.nan)
    return Sequences(lo * 2 * width - width, hi * 2 * width - width, n, mean)


def decide(
    lower: np.ndarray,
    upper: np.ndarray,
    delta: float = DEFAULT_DELTA,
    left: np.ndarray | None = None,
) -> np.ndarray:
    """The decision rule of the module docstring; ``left``: scenarios each comparison has left.

    NaN bounds (no scenario yet) are undecided, or out of reach when nothing is left.
    """
    if delta < 0:
        raise TipbenchError(f"delta must be 0 or more composite points, got {delta}")
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    out = np.full(lower.shape, "undecided", dtype=object)
    if left is not None:
        out[np.asarray(left) <= 0] = "out of reach"
    with np.errstate(invalid="ignore"):
        out[(lower > -delta) & (upper < delta)] = "equivalent"
        out[upper < 0] = "worse"
        out[lower > 0] = "better"
    return out.astype(str)


def floor_points(
    n: int, width: float, alpha: float, truncation: float = DEFAULT_TRUNCATION
) -> float:
    """The smallest half-width the sequence can reach after ``n`` scenarios (composite points).

    With zero spread the bets sit at ``truncation`` and the bound is log(2/alpha) over their
    sum: the cost of validity for any distribution on ±width. A difference smaller than this
    can never be decided in ``n`` scenarios.
    """
    return 2 * width * np.log(2 / alpha) / (truncation * n)


class BoundedSequences:
    """PrPl-EB sequences of several comparisons, fed one scenario at a time like
    :class:`tipbench_lib.stats.signflip.SignFlipSequences` (the same reading methods).

    The differences are kept and the sequences recomputed when read: PrPl-EB's bets depend on
    the whole past, and at tipbench's sizes the recomputation costs well under a millisecond.
    """

    def __init__(
        self,
        n_comparisons: int,
        width: float,
        level: float,
        delta: float,
        truncation: float = DEFAULT_TRUNCATION,
    ) -> None:
        check_level(level)
        if delta < 0:
            raise TipbenchError(f"delta must be 0 or more composite points, got {delta}")
        self.width, self.level, self.delta, self.truncation = width, level, delta, truncation
        self.n = np.zeros(n_comparisons, dtype=np.int64)
        self._values = np.full((n_comparisons, 0), np.nan)
        self._cache: Sequences | None = None

    def add(self, rows: np.ndarray | int, values: np.ndarray | float) -> None:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if len(np.unique(rows)) != len(rows):
            raise TipbenchError("add one difference per comparison at a time")
        need = int(self.n[rows].max(initial=-1)) + 1
        if need > self._values.shape[1]:
            grow = max(need, 2 * self._values.shape[1], 8) - self._values.shape[1]
            self._values = np.hstack([self._values, np.full((len(self.n), grow), np.nan)])
        self._values[rows, self.n[rows]] = values
        self.n[rows] += 1
        self._cache = None

    def _sequences(self) -> Sequences:
        if self._cache is None:
            self._cache = paired_sequences(self._values, self.width, self.level, self.truncation)
        return self._cache

    def mean(self) -> np.ndarray:
        return self._sequences().mean

    def sd(self) -> np.ndarray:
        """Standard deviation of each comparison's differences (width / 2 below 2: the widest)."""
        out = np.full(len(self.n), self.width / 2)
        several = self.n >= 2
        if several.any():
            out[several] = np.nanstd(self._values[several], axis=1, ddof=1)
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lower, upper = self._sequences().current()
        return np.nan_to_num(lower, nan=-self.width), np.nan_to_num(upper, nan=self.width)

    def decisions(self, left: np.ndarray) -> np.ndarray:
        lower, upper = self._sequences().current()
        return decide(lower, upper, self.delta, left)

    def scenarios_needed(self, left: np.ndarray) -> np.ndarray:
        """Scenarios until the predicted half-width (current spread taken as the truth) is
        below max(|mean|, delta - |mean|), capped at ``left``; 0 for a closed comparison."""
        left = np.maximum(np.asarray(left, dtype=np.int64), 0)
        open_ = self.decisions(left) == "undecided"
        horizon = int(left.max(initial=0))
        if horizon == 0 or not open_.any():
            return np.where(open_, left, 0)
        steps = self.n[:, None] + np.arange(1, horizon + 1)[None, :]
        sd01 = np.maximum(self.sd() / (2 * self.width), 1e-6)
        half = predicted_halfwidth(sd01, steps, self.width, self.level, self.truncation)
        gap = np.abs(np.nan_to_num(self.mean(), nan=0.0))
        reach = half < np.maximum(gap, self.delta - gap)[:, None]
        first = np.where(reach.any(axis=1), reach.argmax(axis=1) + 1, left)
        return np.where(open_, np.minimum(first, left), 0)


def predicted_halfwidth(
    sd: np.ndarray, steps: np.ndarray, width: float, level: float, truncation: float
) -> np.ndarray:
    """PrPl-EB half-width (composite points) after ``steps`` (comparisons, k) scenarios if the
    spread on [0, 1] were ``sd`` (comparisons,) at every step."""
    steps = np.asarray(steps, dtype=np.int64)
    horizon = int(max(int(steps.max(initial=1)), 1))
    t = np.arange(1, horizon + 1, dtype=float)
    log_term = np.log(2 / level)
    var = (np.asarray(sd, dtype=float) ** 2)[:, None]
    bets = np.minimum(np.sqrt(2 * log_term / (t * np.log1p(t) * var)), truncation)
    half = (log_term + np.cumsum(var * (-np.log1p(-bets) - bets), axis=1)) / np.cumsum(bets, axis=1)
    index = np.clip(steps - 1, 0, horizon - 1)
    out = np.take_along_axis(half, index, axis=1) * 2 * width
    return np.minimum(out, 2 * width)
