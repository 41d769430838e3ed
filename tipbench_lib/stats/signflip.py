"""Sign-flip betting: anytime-valid tests and confidence sequences for paired differences.

tipbench's default sequence (:mod:`.anytime` keeps the distribution-free PrPl-EB one as the
alternative). It rests on the assumption the fixed-sample signed-rank test of
:func:`tipbench_lib.stats.compare_pairs` makes: when two cells do not differ, their tips in a
scenario are exchangeable, so the scenario's paired difference d (judge-aware, as in
:mod:`.pairs`) is symmetric about 0 - a positive and a negative d of the same size are equally
likely, whatever the spread, the ties or the zeros.

**Testing symmetry by betting.** A bettor starts with wealth 1 and, before each scenario, stakes
part of it on the sign of the next difference, more on a large difference than on a small one::

    K_n = prod_{i <= n} (1 + b * tanh(a * d_i / s_i))

with s_i the running standard deviation of the differences before scenario i (shrunk towards a
prior of width / 8 worth one scenario), fixed before d_i is seen. The payoff is odd in d and never
decreasing, so under symmetry about 0 each factor has conditional mean exactly 1: K is a
nonnegative martingale, and by Ville's inequality it ever reaches 1/q with probability at most
q - at any moment, however the judging was stopped or continued. This is testing by betting
(Shafer 2021; the survey of Ramdas, Grunwald, Vovk and Shafer, "Game-theoretic statistics and
safe anytime-valid inference", Statistical Science 2023); testing symmetry this way is the worked
example of Ramdas, Ruf, Larsson and Koolen, "Admissible anytime-valid sequential inference must
rely on nonnegative martingales" (arXiv 2009.03167), and Shaer, Maman and Romano bet the same way
on a symmetric null ("Model-X sequential testing for conditional independence via testing by
betting", AISTATS 2023).
The same bet loses on average when d is symmetric about any centre below 0, so crossing 1/q also
rejects every smaller centre: ``better`` is a directional claim. The tanh shape is the
growth-optimal stake on a sign given the size of a normal difference (tanh(mu d / sigma^2)).

**The bet.** No single slope suits every difference, so the wealth is the average over fixed
slopes a_g (:data:`SLOPES`), each with stake b = :data:`DEFAULT_MAX_BET` (a discrete mixture, as
the "diversified" bettors of Waudby-Smith and Ramdas, "Estimating means of bounded random
variables by betting", JRSS-B 2024): an average of martingales is one, and it is never far below
the best fixed slope in hindsight.

**The sequence.** Testing "symmetric about theta" for every theta of a grid (every 0.1 points over
the difference's range, with 0 and +-delta added) inverts into a confidence sequence: theta stays
in it while neither bettor on d - theta - one on positive, one on negative signs, each at level
alpha / 2 - has ever reached 2 / alpha. With fixed slopes and a payoff scale that does not depend on
theta, each bettor's wealth is monotone in theta, so the excluded values are a half-line on each
side and the sequence is an interval (lower, upper) that only shrinks (the largest wealth so far
counts). Its coverage of the *mean* difference needs more than the exact null: the differences
must be symmetric about their centre. Scores on a 1-5 scale clipped near a bound are not exactly
symmetric; on the synthetic model's scenario differences the coverage holds
(``tests/test_signflip.py``), and it holds with moderate one-sided failures, but rare large
ones (a cell 12 points worse in 10% of scenarios) pull the mean away from the centre: coverage
of the mean is at the 95% edge at 24 scenarios and 0.87 at 96, where 2% of such comparisons are
still wrongly called ``equivalent`` at delta = 1 (7% before a verdict was read with the mean's
t interval, below; ``bench/adaptive_judging.py`` prints the table). ``better``/``worse`` stay
exact.

**What is exact.** ``better``/``worse`` (the bettors at theta = 0) have family-wise error at most
alpha under the null of exchangeable arms, with ties and zeros (a zero difference pays nothing),
at 6 or 600 scenarios: no range term, no large-sample approximation. This holds when the order in
which a comparison's scenarios enter, and who judges them, do not depend on their differences,
e.g. one comparison judged in a seeded scenario order. The queue (:mod:`.adaptive`) mixes
comparisons that share cells in one plan, and a comparison that stops hands its cards to the
others, so when a scenario completes can depend on scores of other comparisons in it - with one
person too, and more so with several people. The simulation (``bench/adaptive_judging.py``)
measures that case: family-wise false better/worse 0.006-0.016 against 0.05.

**The verdict and the mean.** Passing "symmetric about 0" is not yet "the mean is above 0": each
bet pays tanh(a d / s), which saturates, so the bettor on positive signs also wins on differences
that are small and positive in most scenarios and large and negative in a few - a cell that
fails badly now and then, whose mean is below 0 (issue 18.8: failing in a third of the
scenarios, mean -0.5, median +0.33). Exactly, the bettors test the centres where
E[tanh(a (d - theta) / s)] = 0 for their slopes and scales - the median for a steep slope, the
mean for a gentle one, all of them the centre of a symmetric distribution - and no bet can test
the mean of differences on +-15 points without the range (the ``bounded`` sequence's price).
So a verdict is read, at every moment, together with the mean it is shown with: ``better``
needs the mean's (1 - alpha) Student t interval (:data:`VERDICT_ALPHA`, compare's own) above
0, ``worse`` below, ``equivalent`` inside +-delta (:meth:`SignFlipSequences.mean_interval`).
A bettor's crossing is kept (the largest wealth counts), the verdict is not: a cell called
better on failure-free scenarios is undecided again once the failures that follow pull its
mean's interval down to 0. The check only removes verdicts, so the error rates above stand.
What it cannot do is see a failure no scenario has shown yet: a cell failing in 15% of the
scenarios has none in its first ten in a fifth of the runs, and then any test says better
(``tests/test_signflip.py``, ``bench/adaptive_judging.py``).

**Out of reach.** A scenario multiplies any bettor's wealth by at most 1 + b, so with r scenarios
left the wealth can at most grow by (1 + b)^r. When even that average stays below 2 / alpha for
every decision, no outcome of the remaining scenarios can decide the comparison: it is ``out of
reach``. The rule is exact in that direction - it never stops a comparison that could still be
decided (``tests/test_signflip.py`` and ``tests/test_adaptive_simulation.py`` check it on
continued data).

**Out of reach, projected** (``futility``, off unless asked; the queue asks by default). The exact
rule waits until not even the best possible scenarios could decide - for two equal cells at
delta = 1, which 24 scenarios rarely make ``equivalent``, that is late, and the queue spends most
of its cards there. The projection gives up sooner, on the data's evidence: from
:data:`FUTILITY_AFTER` scenarios on, the scenarios left are simulated (:mod:`.futility`: a
normal model and a resampling one of the differences to come, their parameters as uncertain as
the differences seen leave them, the larger chance counting) and every bettor a decision needs
is grown on them as it would be; when the share of simulated futures that reach some decision
is under ``futility`` (2% by default, :data:`DEFAULT_FUTILITY`), the comparison is ``out of
reach (projected)`` and gets no more cards, and the status states that chance. A comparison
whose typical future (the mean and spread seen, every scenario paying its expected log payoff)
decides it is not simulated: its chance is about one half or more. It is a futility rule in
the sense of group-sequential trials, not a test: it never makes a verdict - stopping a
sequence at any moment keeps every better/worse/equivalent exactly as valid - but it can give
up a comparison that more scenarios would have decided. That is its cost, and the bench
measures it (the share of the real difference's decisions lost against judging every card).
It is re-read after every scenario: a comparison that gets more scenarios anyway (a cell it
shares with an open one) can come back to ``undecided``.

The rule it replaces followed one future only, the expected log payoff of scenarios with the
spread seen and the mean at the favourable end of a 99% t interval, with no chance attached.
That margin grows with the scenarios left (r scenarios times a shift of the mean), while what
decides a comparison near the end is the scatter of the few scenarios left, which it ignored:
too generous early, too strict late, and how many real decisions it lost depended on how many
comparisons sit near the edge - about 1% on :mod:`tipbench_lib.validation.synthetic`'s scores (a +2
difference decided well before 24 scenarios), 3% on ceiling-heavy scores with wider paired
differences (the issue's case: a +2 at mean 1.8 after 20 of 24 scenarios given up, which the 4
left decide), 10% when the better cell fails badly in a tenth of the scenarios.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats import futility as chance_of
from tipbench_lib.stats.anytime import PROJECTED
from tipbench_lib.stats.futility import log_mean_exp

__all__ = ["SignFlipSequences", "log_mean_exp"]

DEFAULT_MAX_BET = 0.98
"""The largest fraction of the wealth staked on one scenario. Below 1 so that one scenario going
against the bet cannot wipe the wealth out; the out-of-reach rule assumes this stake wins every
remaining scenario, so a smaller one would close hopeless comparisons sooner and decide clear ones
later."""
SLOPES: tuple[float, ...] = tuple(float(x) for x in np.geomspace(0.25, 4.0, 12))
"""The bettors' slopes a_g, per running standard deviation of the differences: from a cautious
near-linear bet (a small difference) to an almost pure bet on the sign (a large one)."""
DEFAULT_GRID_STEP = 0.1
"""Composite points between the centres tested for the displayed sequence."""
PRIOR_FRACTION = 1 / 8
"""The running standard deviation's prior, as a fraction of the difference's range (+-width),
worth one scenario: about two points for tip-v1, so the first bets are neither timid nor
reckless."""

DEFAULT_FUTILITY = 0.02
"""The smallest chance that the scenarios left decide a comparison for which the queue still
sends cards (:mod:`.futility`): below it the comparison is ``out of reach (projected)``. Chosen
by ``bench/adaptive_judging.py`` part 1b: at most 2% of the real 2-point differences' decisions
lost, on ceiling-heavy scores and on a cell that fails now and then (module docstring)."""
FUTILITY_AFTER = 3
"""Scenarios a comparison must have before it is projected (two degrees of freedom for the
spread)."""
ESTIMATE_CONFIDENCE = 0.99
"""For the status's estimate of the scenarios a comparison still needs: it counts a comparison
as given up once scenarios like those seen, their mean at the favourable end of this t interval,
would not decide it (about where the projected stop gives equal cells up)."""
VERDICT_ALPHA = 0.05
"""A verdict is read with the mean's (1 - alpha) t interval, compare's own (module docstring,
"The verdict and the mean")."""
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
"""Gauss-Hermite nodes and weights of a standard normal, for a bettor's expected log payoff."""

PLUS, MINUS = 0, 1
"""Index of the bettor on positive and on negative signs of d - theta."""


class SignFlipSequences:
    """The sign-flip bettors of several comparisons, updated one scenario at a time.

    ``level`` is each comparison's two-sided level (alpha / m for a family of m); ``width`` the
    composite's width (a difference lies in +-width). A scenario's difference is added once
    (:meth:`add`) and never changed: the wealth is a product over the differences in the order
    they came, so changing one would change every bet after it.
    """

    def __init__(
        self,
        n_comparisons: int,
        width: float,
        level: float,
        delta: float,
        *,
        max_bet: float = DEFAULT_MAX_BET,
        slopes: tuple[float, ...] = SLOPES,
        grid_step: float | None = DEFAULT_GRID_STEP,
        futility: float | None = None,
        futility_after: int = FUTILITY_AFTER,
        verdict_alpha: float = VERDICT_ALPHA,
    ) -> None:
        if not 0 < level < 1:
            raise TipbenchError(f"the level must be between 0 and 1, got {level}")
        if width <= 0:
            raise TipbenchError(f"the composite's width must be positive, got {width}")
        if delta < 0:
            raise TipbenchError(f"delta must be 0 or more composite points, got {delta}")
        if not 0 < max_bet < 1:
            raise TipbenchError(f"the largest bet must lie in (0, 1), got {max_bet}")
        self.width, self.level, self.delta = float(width), float(level), float(delta)
        self.threshold = float(np.log(2 / level))
        self.max_bet = float(max_bet)
        self.slopes = np.asarray(slopes, dtype=float)
        grid = np.arange(-width, width + grid_step / 2, grid_step) if grid_step else []
        points = np.clip(np.r_[grid, 0.0, -delta, delta], -width, width)
        self.theta = np.unique(np.round(points, 10))
        self._zero = int(np.flatnonzero(self.theta == 0.0)[0])
        self._plus_delta = int(np.flatnonzero(self.theta == np.round(min(delta, width), 10))[0])
        self._minus_delta = int(np.flatnonzero(self.theta == np.round(-min(delta, width), 10))[0])
        shape = (n_comparisons, 2, len(self.theta))
        self.log_wealth = np.zeros((*shape, len(self.slopes)))
        self.peak = np.zeros(shape)
        """Largest log wealth (of the average over slopes) so far, per comparison, side, theta."""
        self.n = np.zeros(n_comparisons, dtype=np.int64)
        self._sum = np.zeros(n_comparisons)
        self._squares = np.zeros(n_comparisons)
        self._prior_var = (PRIOR_FRACTION * width) ** 2
        if futility is not None and not 0 < futility < 1:
            raise TipbenchError(
                f"the futility chance must lie in (0, 1) (e.g. {DEFAULT_FUTILITY}), got {futility}"
            )
        if not 0 < verdict_alpha < 1:
            raise TipbenchError(f"verdict_alpha must lie in (0, 1), got {verdict_alpha}")
        if futility_after < 3:
            raise TipbenchError(
                f"a projection needs at least 3 scenarios (a spread), got {futility_after}"
            )
        self.futility = None if futility is None else float(futility)
        self.futility_after = int(futility_after)
        self.verdict_alpha = float(verdict_alpha)
        self._values = np.full((n_comparisons, 32), np.nan)
        """Each comparison's differences in the order they came (for :mod:`.futility`)."""
        self._chance = np.full(n_comparisons, np.nan)
        self._chance_left = np.full(n_comparisons, -1, dtype=np.int64)
        """The last chance computed per comparison and the scenarios left it was for; a new
        difference clears it."""

    @property
    def n_comparisons(self) -> int:
        return len(self.n)

    # -- updates -------------------------------------------------------------------------------

    def payoff_scale(self) -> np.ndarray:
        """s for each comparison's next difference: fixed by the differences already seen."""
        mean = np.where(self.n > 0, self._sum / np.maximum(self.n, 1), 0.0)
        spread = np.maximum(self._squares - self.n * mean**2, 0.0)
        return np.sqrt((self._prior_var + spread) / (self.n + 1))

    def add(self, rows: np.ndarray | int, values: np.ndarray | float) -> None:
        """Add one difference to each comparison in ``rows`` (distinct), composite points."""
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        values = np.atleast_1d(np.asarray(values, dtype=float))
        if len(np.unique(rows)) != len(rows):
            raise TipbenchError("add one difference per comparison at a time")
        if np.any(~np.isfinite(values)) or np.any(np.abs(values) > self.width * (1 + 1e-12)):
            raise TipbenchError(
                f"a scenario difference is missing or outside ±{self.width:g}, the rubric's "
                "range; check that the composites come from the rubric given as scale"
            )
        scale = self.payoff_scale()[rows]
        x = (values[:, None] - self.theta[None, :]) / scale[:, None]  # (rows, theta)
        stake = self.max_bet * np.tanh(x[..., None] * self.slopes)  # (rows, theta, slopes)
        self.log_wealth[rows, PLUS] += np.log1p(stake)
        self.log_wealth[rows, MINUS] += np.log1p(-stake)
        mixture = log_mean_exp(self.log_wealth[rows])
        self.peak[rows] = np.maximum(self.peak[rows], mixture)
        if self.n[rows].max(initial=0) >= self._values.shape[1]:
            grown = np.full((self.n_comparisons, 2 * self._values.shape[1]), np.nan)
            grown[:, : self._values.shape[1]] = self._values
            self._values = grown
        self._values[rows, self.n[rows]] = values
        self._chance[rows] = np.nan
        self.n[rows] += 1
        self._sum[rows] += values
        self._squares[rows] += values**2

    def extend(self, diffs: np.ndarray) -> None:
        """Add the columns of ``diffs`` (comparisons, steps; NaN: no difference) in order."""
        diffs = np.atleast_2d(np.asarray(diffs, dtype=float))
        for column in diffs.T:
            present = np.flatnonzero(~np.isnan(column))
            if present.size:
                self.add(present, column[present])

    # -- reading -------------------------------------------------------------------------------

    def mean(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.n > 0, self._sum / self.n, np.nan)

    def sd(self) -> np.ndarray:
        """Standard deviation of each comparison's differences (the prior's below 2)."""
        mean = np.where(self.n > 0, self._sum / np.maximum(self.n, 1), 0.0)
        spread = np.maximum(self._squares - self.n * mean**2, 0.0)
        return np.where(
            self.n >= 2, np.sqrt(spread / np.maximum(self.n - 1, 1)), np.sqrt(self._prior_var)
        )

    def rejected(self) -> np.ndarray:
        """(comparisons, side, theta): the bettor has reached its threshold at some point."""
        return self.peak >= self.threshold

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The sequence now: the open interval (lower, upper) of centres not rejected.

        lower is the largest centre the bettor on positive signs has rejected (all below it are
        rejected too), -width if none; upper likewise from above.
        """
        rejected = self.rejected()
        plus, minus = rejected[:, PLUS], rejected[:, MINUS]
        theta = self.theta[None, :]
        lower = np.where(plus, theta, -np.inf).max(axis=1)
        upper = np.where(minus, theta, np.inf).min(axis=1)
        return np.maximum(lower, -self.width), np.minimum(upper, self.width)

    def _tests(self) -> dict[str, tuple[tuple[int, int], ...]]:
        """The (side, theta index) bettors each decision needs, all of them."""
        return {
            "better": ((PLUS, self._zero),),
            "worse": ((MINUS, self._zero),),
            "equivalent": ((MINUS, self._plus_delta), (PLUS, self._minus_delta)),
        }

    def mean_interval(self) -> tuple[np.ndarray, np.ndarray]:
        """Each comparison's (1 - ``verdict_alpha``) Student t interval of the mean difference,
        the interval compare requires to exclude 0 (a point with fewer than 2 differences)."""
        n = np.maximum(self.n, 1)
        quantile = sps.t.ppf(1 - self.verdict_alpha / 2, np.maximum(n - 1, 1))
        half = np.where(self.n >= 2, quantile * self.sd() / np.sqrt(n), 0.0)
        mean = np.nan_to_num(self.mean(), nan=0.0)
        return mean - half, mean + half

    def _agrees(self) -> dict[str, np.ndarray]:
        """Per decision, whether the mean's t interval agrees with it (module docstring)."""
        low, high = self.mean_interval()
        return {
            "better": low > 0,
            "worse": high < 0,
            "equivalent": (low > -self.delta) & (high < self.delta),
        }

    def decisions(self, left: np.ndarray) -> np.ndarray:
        """better/worse (checked first), equivalent, undecided, out of reach or (with
        ``futility``) out of reach (projected) per comparison.

        ``left``: scenarios each comparison can still get. A verdict needs its bettors to have
        reached their threshold *and* the mean's t interval to agree with it now; a comparison
        with no scenario left and no verdict is out of reach.
        """
        left = np.maximum(np.asarray(left), 0)
        rejected = self.rejected()
        agrees = self._agrees()
        done = {
            name: np.all([rejected[:, side, i] for side, i in tests], axis=0) & agrees[name]
            for name, tests in self._tests().items()
        }
        out = np.full(self.n_comparisons, "undecided", dtype=object)
        if self.futility is not None:
            out[~self.projected_reachable(left)] = PROJECTED
        out[~self.reachable(left) | (left == 0)] = "out of reach"
        out[done["equivalent"]] = "equivalent"
        out[done["worse"]] = "worse"
        out[done["better"]] = "better"
        return out.astype(str)

    def _can_reach(self, side: int, i: int, left: np.ndarray) -> np.ndarray:
        """Whether the bettor could still reach its threshold if every one of the ``left``
        scenarios paid it the most a scenario can (each slope's wealth times (1 + b))."""
        best = self.log_wealth[:, side, i] + np.asarray(left)[:, None] * np.log1p(self.max_bet)
        future = log_mean_exp(best)
        return (self.peak[:, side, i] >= self.threshold) | (future >= self.threshold)

    def reachable(self, left: np.ndarray) -> np.ndarray:
        """Whether any decision is still possible with ``left`` scenarios to come."""
        left = np.maximum(np.asarray(left, dtype=float), 0)
        out = np.zeros(self.n_comparisons, dtype=bool)
        for tests in self._tests().values():
            out |= np.all([self._can_reach(side, i, left) for side, i in tests], axis=0)
        return out

    def _expected_growth(self, side: int, i: int, centre: np.ndarray) -> np.ndarray:
        """(comparisons, slopes): the mean log payoff per scenario of bettor (side, theta i) if
        the differences to come were normal with mean ``centre`` and the spread seen so far,
        bet at today's payoff scale (Gauss-Hermite quadrature)."""
        d = centre[:, None] + self.sd()[:, None] * _NODES[None, :]  # (rows, nodes)
        x = (d - self.theta[i]) / self.payoff_scale()[:, None]
        stake = self.max_bet * np.tanh(x[..., None] * self.slopes)  # (rows, nodes, slopes)
        sign = 1.0 if side == PLUS else -1.0
        return np.einsum("n,rns->rs", _WEIGHTS, np.log1p(sign * stake))

    def _projection_centres(self, confidence: float = ESTIMATE_CONFIDENCE) -> dict[str, np.ndarray]:
        """Per decision, a mean for the differences to come: the end of the ``confidence`` t
        interval of the mean most favourable to that decision (the status's estimate)."""
        mean = np.nan_to_num(self.mean(), nan=0.0)
        quantile = sps.t.ppf(0.5 + confidence / 2, np.maximum(self.n - 1, 1))
        shift = quantile * self.sd() / np.sqrt(np.maximum(self.n, 1))
        toward_zero = np.sign(mean) * np.maximum(np.abs(mean) - shift, 0.0)
        return {"better": mean + shift, "worse": mean - shift, "equivalent": toward_zero}

    def _typical_path_decides(self, left: np.ndarray) -> np.ndarray:
        """Whether the scenarios left decide each comparison if they pay every bettor what they
        would on average with the mean and spread seen so far: a decision the typical future
        reaches has a chance of about one half or more, with no need to simulate it."""
        mean = np.nan_to_num(self.mean(), nan=0.0)
        out = np.zeros(self.n_comparisons, dtype=bool)
        for tests in self._tests().values():
            hit = np.ones(self.n_comparisons, dtype=bool)
            for side, i in tests:
                grown = self.log_wealth[:, side, i] + left[:, None] * self._expected_growth(
                    side, i, mean
                )
                hit &= (self.peak[:, side, i] >= self.threshold) | (
                    log_mean_exp(grown) >= self.threshold
                )
            out |= hit
        return out

    def decision_chance(self, left: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """The chance that the ``left`` scenarios to come decide each comparison (NaN for one
        with fewer than ``futility_after`` scenarios, 0 with none left), by simulating them
        (:mod:`.futility`); cached until the comparison's next difference. ``rows``: only these
        comparisons (the others NaN unless cached for the same ``left``)."""
        left = np.maximum(np.asarray(left, dtype=np.int64), 0)
        wanted = np.zeros(self.n_comparisons, dtype=bool)
        wanted[np.arange(self.n_comparisons) if rows is None else np.asarray(rows)] = True
        young = self.n < self.futility_after
        stale = wanted & ~young & (np.isnan(self._chance) | (self._chance_left != left))
        todo = np.flatnonzero(stale)
        if todo.size:
            needs, bettors = [], []
            for tests in self._tests().values():
                needs.append(tuple(len(bettors) + j for j in range(len(tests))))
                bettors += list(tests)
            sides = np.array([side for side, _ in bettors])
            index = np.array([i for _, i in bettors])
            state = chance_of.Bettors(
                log_wealth=self.log_wealth[todo][:, sides, index],
                peak=self.peak[todo][:, sides, index],
                theta=self.theta[index],
                sign=np.where(sides == PLUS, 1.0, -1.0),
                needs=tuple(needs),
            )
            bets = chance_of.Bets(self.slopes, self.max_bet, self.threshold, self.width)
            self._chance[todo] = chance_of.decision_chance(
                bets,
                state,
                self._values[todo],
                self.n[todo],
                self.payoff_scale()[todo],
                left[todo],
            )
            self._chance_left[todo] = left[todo]
        known = ~young & (self._chance_left == left) & ~np.isnan(self._chance)
        return np.where(known, self._chance, np.nan)

    def projected_reachable(self, left: np.ndarray) -> np.ndarray:
        """Whether some decision is still in sight with ``left`` scenarios to come (module
        docstring, "Out of reach, projected"): a comparison with fewer than ``futility_after``
        scenarios, one decided, one whose typical future decides it, and one the simulated
        futures decide with a chance of at least ``futility``. Always, with futility off."""
        left = np.maximum(np.asarray(left, dtype=np.int64), 0)
        if self.futility is None:
            return np.ones(self.n_comparisons, dtype=bool)
        out = (self.n < self.futility_after) | self._typical_path_decides(left)
        out |= ~self.reachable(left)  # the exact rule speaks for these
        rest = np.flatnonzero(~out)
        if rest.size:
            out[rest] = self.decision_chance(left, rest)[rest] >= self.futility
        return out

    def scenarios_needed(self, left: np.ndarray) -> np.ndarray:
        """Scenarios until each comparison is decided or out of reach (exact, or with
        ``futility`` projected), if the ones to come paid each bet what the ones so far paid on
        average (nothing, before two were seen).

        An estimate for the status, not a promise: 0 for a comparison already closed.
        """
        left = np.maximum(np.asarray(left, dtype=np.int64), 0)
        horizon = int(left.max(initial=0))
        needed = left.copy()
        decisions = self.decisions(left)
        open_ = decisions == "undecided"
        needed[~open_] = 0
        if horizon == 0 or not open_.any():
            return needed
        rows = np.flatnonzero(open_)
        steps = np.arange(1, horizon + 1)  # r scenarios from now
        rate = np.where(
            (self.n[rows] >= 2)[:, None, None, None],
            self.log_wealth[rows] / np.maximum(self.n[rows], 1)[:, None, None, None],
            0.0,
        )  # (rows, side, theta, slopes)
        closed = np.zeros((len(rows), horizon), dtype=bool)
        possible = np.zeros((len(rows), horizon), dtype=bool)
        # With the projection on, a comparison also closes once the scenarios then left would
        # not decide it if they looked like these (its centres held where they are now).
        projects = self.futility is not None
        in_sight = np.zeros((len(rows), horizon), dtype=bool)
        centres = self._projection_centres() if projects else {}
        for name, tests in self._tests().items():
            decided = np.ones((len(rows), horizon), dtype=bool)
            reach = np.ones((len(rows), horizon), dtype=bool)
            sight = np.ones((len(rows), horizon), dtype=bool)
            for side, i in tests:
                now = self.log_wealth[rows, side, i][:, None, :]  # (rows, 1, slopes)
                then = now + steps[None, :, None] * rate[:, side, i][:, None, :]
                grown = log_mean_exp(then)
                passed = (self.peak[rows, side, i][:, None] >= self.threshold) | (
                    np.maximum.accumulate(grown, axis=1) >= self.threshold
                )
                rest = np.maximum(left[rows][:, None] - steps[None, :], 0)
                hope = grown + rest * np.log1p(self.max_bet)
                decided &= passed
                reach &= passed | (hope >= self.threshold)
                if projects:
                    growth = self._expected_growth(side, i, centres[name])[rows]  # (rows, slopes)
                    projected = log_mean_exp(then + rest[..., None] * growth[:, None, :])
                    sight &= passed | (projected >= self.threshold)
            closed |= decided
            possible |= reach
            in_sight |= sight
        closed |= ~possible
        if projects:
            young = self.n[rows][:, None] + steps[None, :] < self.futility_after
            closed |= ~(in_sight | young)
        closed &= steps[None, :] <= left[rows][:, None]
        first = np.where(closed.any(axis=1), closed.argmax(axis=1) + 1, left[rows])
        needed[rows] = np.minimum(first, left[rows])
        return needed
