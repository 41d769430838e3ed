"""The chance that the scenarios still to come decide a comparison: what the projected stop reads.

The adaptive queue (docs/architecture.md section 8, "Adaptive judging") gives up on a comparison
whose sign-flip sequence (:mod:`.signflip`) the scenarios left are unlikely to decide. This module
says how unlikely, by simulating those scenarios.

**Two models of the scenarios to come; the larger chance counts.**

- *normal*: each difference to come is normal with a mean and a spread as uncertain as the n
  differences seen leave them (their posterior under the usual flat prior:
  sigma^2 = (n - 1) s^2 / chi^2_{n-1}, then mu ~ N(mean, sigma^2 / n), drawn once per path);
- *resampled*: a Polya urn, the Bayesian bootstrap's predictive: each difference to come is one
  of those already on the path - a seen one weighing :data:`SEEN_WEIGHT`, a simulated one 1 -
  or, with weight :data:`URN_WEIGHT`, a fresh normal draw at the mean and spread seen. It keeps
  the shape of the differences: ties, zeros, a ceiling, a cell that fails badly in a few
  scenarios.

Neither suffices alone (``bench/adaptive_judging.py``, part 1b): the normal model misreads lumpy
differences - a cell that fails badly in a tenth of the scenarios has a wide spread, yet the
bettors, who bet on signs, gain in the nine tenths it wins - and the urn cannot draw a value it
has not seen, which makes it over-confident after a few scenarios.

**A path.** Every bettor a decision needs is grown by the bets the sequence would place on the
simulated differences (each of its slopes, its largest stake, at today's payoff scale), and the
decision is reached on the path when each of those bettors' average over slopes has reached the
threshold at some step, as in the sequence (the peak counts). The chance is the share of paths
on which some decision is reached. It leaves out the mean check of the verdict (:mod:`.signflip`),
so it errs towards going on.

**Deterministic.** The random numbers are fixed per path and step by a seed and shared by every
comparison and call, so the chance depends only on the comparison's differences and the number
of scenarios left: a queue rebuilt from its journal gives up exactly where the first one did.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import stats as sps

PATHS = 256
"""Simulated futures per model (512 in all): the chance is a share of them."""
SEED = 20251018
_BLOCK = 32
"""Steps per block of random numbers: a block's numbers do not depend on the horizon asked for,
so a chance does not change with the longest horizon of the other comparisons."""
URN_WEIGHT = 1.0
"""The fresh draw's weight in the urn, in observations."""
SEEN_WEIGHT = 0.5
"""What one difference seen weighs in the urn, against 1 for a difference simulated on the path:
the shares of the kinds of scenario are as uncertain as half as many differences would leave
them. At 1 the urn is over-confident after a few unlucky scenarios - a cell that fails badly in
a tenth of the scenarios but drew two failures in its first six - and the stop gave up 3-4% of
such real decisions (``tests/test_signflip.py``); at one half under 2%, for about 5% more
scenarios on equal cells (tempering the normal model too costs 10% and gains little)."""
ROWS_AT_ONCE = 64
"""Comparisons simulated together (bounds the memory: rows x paths x slopes per bettor)."""


def log_mean_exp(x: np.ndarray) -> np.ndarray:
    """log(mean(exp(x))) over the last axis, without overflow: the log wealth of the average
    bettor from its bettors' log wealths."""
    top = x.max(axis=-1, keepdims=True)
    return (top + np.log(np.exp(x - top).mean(axis=-1, keepdims=True)))[..., 0]


@dataclass(frozen=True)
class Bets:
    """How a sequence bets (fixed for all its comparisons)."""

    slopes: np.ndarray
    max_bet: float
    threshold: float
    """Log wealth a bettor must reach."""
    width: float
    """A difference lies in +-width."""


@dataclass(frozen=True)
class Bettors:
    """The bettors of some comparisons that the decisions need, as they stand now."""

    log_wealth: np.ndarray
    """(rows, bettors, slopes)."""
    peak: np.ndarray
    """(rows, bettors): the largest log wealth of the average over slopes so far."""
    theta: np.ndarray
    """(bettors,) the centre each bettor tests."""
    sign: np.ndarray
    """(bettors,) +1 for a bettor on positive signs of d - theta, -1 on negative."""
    needs: tuple[tuple[int, ...], ...]
    """Per decision, the bettors (indices) that must all reach the threshold."""


@cache
def _block(index: int) -> tuple[np.ndarray, ...]:
    """Random numbers of one block of steps: normal draws, urn picks, the urn's fresh draws."""
    rng = np.random.default_rng([SEED, index])
    return (
        rng.standard_normal((PATHS, _BLOCK)),
        rng.random((PATHS, _BLOCK)),
        rng.standard_normal((PATHS, _BLOCK)),
    )


@cache
def _parameters() -> tuple[np.ndarray, np.ndarray]:
    """Per path: the uniform that draws sigma (through the chi-square) and the normal that draws
    mu in the normal model."""
    rng = np.random.default_rng([SEED, 1 << 20])
    return rng.random(PATHS), rng.standard_normal(PATHS)


def _steps(horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(paths, horizon) normal draws, urn picks and the urn's fresh draws."""
    blocks = [_block(b) for b in range(-(-horizon // _BLOCK))]
    return tuple(np.concatenate([b[k] for b in blocks], axis=1)[:, :horizon] for k in range(3))


def decision_chance(
    bets: Bets,
    bettors: Bettors,
    values: np.ndarray,
    n: np.ndarray,
    scale: np.ndarray,
    left: np.ndarray,
) -> np.ndarray:
    """(rows,) the chance that ``left`` more scenarios reach a decision (module docstring).

    ``values`` (rows, columns): each comparison's differences in the order they came, the first
    ``n`` of a row valid (n >= 2); ``scale``: its bets' payoff scale now.
    """
    out = np.zeros(len(n))
    for start in range(0, len(n), ROWS_AT_ONCE):
        part = slice(start, start + ROWS_AT_ONCE)
        sub = Bettors(
            bettors.log_wealth[part], bettors.peak[part], bettors.theta, bettors.sign, bettors.needs
        )
        out[part] = _chance(bets, sub, (values[part], n[part], scale[part], left[part]))
    return out


def _chance(bets: Bets, bettors: Bettors, chunk: tuple[np.ndarray, ...]) -> np.ndarray:
    """:func:`decision_chance` for at most :data:`ROWS_AT_ONCE` rows (``values, n, scale,
    left``), so the paths of one chunk stay in memory."""
    values, n, scale, left = chunk
    rows = len(n)
    horizon = int(left.max(initial=0))
    paths = 2 * PATHS
    passed = np.repeat((bettors.peak >= bets.threshold)[:, None, :], paths, axis=1)  # (r, p, b)
    if horizon > 0 and rows > 0:
        draws = _futures(values, n, horizon, bets.width)  # (rows, paths, horizon)
        target = np.exp(bets.threshold)
        for b in range(len(bettors.theta)):
            # Wealth, not its log: one product per step, and the average over slopes directly.
            start = bettors.log_wealth[:, b] - bettors.log_wealth[:, b].max(axis=1, keepdims=True)
            offset = bettors.log_wealth[:, b].max(axis=1)  # (rows,)
            wealth = np.repeat(np.exp(start)[:, None, :], paths, axis=1)  # (r, p, s)
            # the average reaches the threshold when mean(wealth) >= exp(threshold - offset)
            bar = (target * np.exp(-offset))[:, None]
            hit = passed[:, :, b].copy()
            for t in range(horizon):
                active = (t < left)[:, None, None]
                x = (draws[:, :, t] - bettors.theta[b]) / scale[:, None]
                factor = 1.0 + bettors.sign[b] * bets.max_bet * np.tanh(x[..., None] * bets.slopes)
                wealth *= np.where(active, factor, 1.0)
                hit |= wealth.mean(axis=-1) >= bar
            passed[:, :, b] = hit
    reached = np.zeros((rows, paths), dtype=bool)
    for needs in bettors.needs:
        reached |= passed[..., list(needs)].all(axis=-1)
    return np.maximum(reached[:, :PATHS].mean(axis=1), reached[:, PATHS:].mean(axis=1))


def _futures(values: np.ndarray, n: np.ndarray, horizon: int, width: float) -> np.ndarray:
    """(rows, 2 paths, horizon) differences to come: the normal model's paths, then the urn's."""
    z, pick, fresh = _steps(horizon)
    u_sigma, z_mu = _parameters()
    count = n.astype(float)
    valid = np.arange(values.shape[1])[None, :] < n[:, None]
    seen = np.where(valid, values, 0.0)
    mean = seen.sum(axis=1) / count
    sd = np.sqrt(((np.where(valid, values - mean[:, None], 0.0)) ** 2).sum(axis=1) / (count - 1))
    df = count - 1
    chi = sps.chi2.ppf(u_sigma[None, :], df[:, None])  # (rows, paths)
    sigma = sd[:, None] * np.sqrt(df[:, None] / np.maximum(chi, 1e-300))
    mu = mean[:, None] + sigma / np.sqrt(count)[:, None] * z_mu[None, :]
    normal = mu[..., None] + sigma[..., None] * z[None]  # (rows, paths, horizon)

    rows = len(n)
    weight = SEEN_WEIGHT * count  # what the differences seen weigh in the urn, together
    urn = np.empty((rows, PATHS, horizon))
    for t in range(horizon):
        u = pick[None, :, t] * (weight[:, None] + t + URN_WEIGHT)
        from_seen = u < weight[:, None]
        from_path = ~from_seen & (u < weight[:, None] + t)
        k = np.minimum((u / SEEN_WEIGHT).astype(np.int64), n[:, None] - 1)
        old = np.take_along_axis(seen, k, axis=1)
        earlier = np.clip((u - weight[:, None]).astype(np.int64), 0, max(t - 1, 0))
        simulated = (
            np.take_along_axis(urn[:, :, :t], earlier[..., None], axis=2)[..., 0] if t else old
        )
        new = mean[:, None] + sd[:, None] * fresh[None, :, t]
        urn[:, :, t] = np.where(from_seen, old, np.where(from_path, simulated, new))
    return np.clip(np.concatenate([normal, urn], axis=1), -width, width)
