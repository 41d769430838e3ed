"""Bradley–Terry strengths of the (model, prompt) cells from pairwise judgments (leaderboard).

**The model.** Cell i beats cell j with probability 1 / (1 + exp(−(β_i − β_j))); β is the
*strength*, on the log-odds scale: a strength 1 above another wins 73% of their pairs. A tie
counts as half a win for each side (as in :mod:`.pairwise`; Davidson's model would add a tie
parameter and a model of when ties happen; half-wins need neither, and no verdict uses the
strengths). Strengths are fitted by Hunter's MM algorithm ("MM algorithms for generalized
Bradley–Terry models", Annals of Statistics 2004), vectorised over bootstrap resamples, with
:data:`PRIOR_GAMES` virtual games split evenly between every two cells judged against each
other, so a cell that won every pair of a resample keeps a finite strength. Strengths are
anchored at the baseline (its strength is 0) when one is named, else at their mean.

**Intervals.** The scenario is the unit: the intervals resample scenarios (every judged tip pair
of a scenario together), never single pairs. A resample's strengths give the bootstrap's
standard error; the interval is β̂ ± t(n − 1) · se · sqrt(n / (n − 1)) over n scenarios: the
percentile bootstrap of a handful of clusters is too narrow (the plug-in variance divides by n,
and its quantiles are those of a normal rather than a t; ``bench/pairwise.py`` part 5: 0.85
coverage at 6 scenarios against 0.95), and for a mean of scenario values this is close to
compare's Student t interval. Its coverage of the strengths a very large
experiment would give is measured by :mod:`tipbench_lib.validation.pair_simulation`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.stats.pairwise import (
    GROUP,
    TIE_WEIGHT,
    canonical,
    compare_pairwise,
    slot_frames,
    with_slots,
)

PRIOR_GAMES = 0.5
"""Virtual games between every two cells judged against each other, half won by each."""
INTERVAL_METHODS = ("t", "percentile")
MAX_ITERATIONS = 2000
TOLERANCE = 1e-9
COLUMNS = (
    "model",
    "prompt_version",
    "strength",
    "strength_lo",
    "strength_hi",
    "win_rate",
    "win_rate_vs_baseline",
    "vs_baseline_lo",
    "vs_baseline_hi",
    "n_pairs",
    "n_scenarios",
    "rank",
)


def wins_tensor(
    outcomes: pl.DataFrame, by: str | None = None
) -> tuple[np.ndarray, pl.DataFrame, list[object]]:
    """(experiments, scenarios, cells, cells) wins of the row cell over the column cell (ties
    half), the cells (e, c, model, prompt_version) and the experiments' ``by`` values."""
    wins, cells, _, groups = _wins_tensor(outcomes, by)
    return wins, cells, groups


def _wins_tensor(
    outcomes: pl.DataFrame, by: str | None = None
) -> tuple[np.ndarray, pl.DataFrame, pl.DataFrame, list[object]]:
    """:func:`wins_tensor`, with the scenarios (e, s, scenario_id) too."""
    frame = canonical(outcomes, by)
    groups_frame, cells, scenarios = slot_frames(frame)
    rows = (
        frame.group_by(GROUP, "a_model", "a_prompt", "b_model", "b_prompt", "scenario_id")
        .agg(
            ((pl.col("win") == 1).sum() + TIE_WEIGHT * (pl.col("win") == 0).sum()).alias("_a"),
            ((pl.col("win") == -1).sum() + TIE_WEIGHT * (pl.col("win") == 0).sum()).alias("_b"),
        )
        .pipe(with_slots, groups_frame, cells, scenarios)
    )
    n_e = groups_frame.height
    n_c = int(cells["c"].max() or 0) + 1 if cells.height else 0
    n_s = int(scenarios["s"].max() or 0) + 1 if scenarios.height else 0
    wins = np.zeros((n_e, n_s, n_c, n_c))
    e, s = rows["e"].to_numpy(), rows["s"].to_numpy()
    ca, cb = rows["ca"].to_numpy(), rows["cb"].to_numpy()
    wins[e, s, ca, cb] = rows["_a"].to_numpy()
    wins[e, s, cb, ca] = rows["_b"].to_numpy()
    return (
        wins,
        cells.select("e", "c", "model", "prompt_version"),
        scenarios.select("e", "s", "scenario_id"),
        groups_frame[GROUP].to_list(),
    )


def fit(
    wins: np.ndarray, anchor: np.ndarray | None = None, prior: float = PRIOR_GAMES
) -> np.ndarray:
    """Strengths β (..., cells) from wins (..., cells, cells), by MM; NaN for a cell never
    judged. ``anchor``: the cell slot (per leading index, −1 for none) whose β is 0, else the
    judged cells' mean is 0.

    The iteration runs in two preallocated (..., cells, cells) buffers: a bootstrap fits 2000
    resamples at once, and allocating those arrays afresh in every iteration cost as much as the
    arithmetic (``bench/compare_pairs.py``). The operations and their order are the textbook
    loop's, so the numbers are the same to the last bit (``tests/test_pairwise_speed.py``).
    """
    wins = np.asarray(wins, dtype=float)
    games = wins + np.swapaxes(wins, -1, -2)
    met = games > 0
    games = games + prior * met
    won = wins.sum(axis=-1) + prior / 2 * met.sum(axis=-1)
    judged = met.any(axis=-1)
    n_judged = np.maximum(judged.sum(-1, keepdims=True), 1)
    p = np.where(judged, 1.0, 0.0)
    pair = np.empty(games.shape)
    denom = np.empty(p.shape)
    for _ in range(MAX_ITERATIONS):
        np.add(p[..., :, None], p[..., None, :], out=pair)
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(games, pair, out=pair)
            pair.sum(axis=-1, where=met, out=denom)
            new = np.where(judged, won / denom, 0.0)
        logs = np.where(judged, np.log(np.where(judged, new, 1.0)), 0.0)
        centre = logs.sum(axis=-1, keepdims=True) / n_judged
        new = np.where(judged, np.exp(logs - centre), 0.0)
        change = np.max(np.abs(new - p), initial=0.0)
        p = new
        if change < TOLERANCE:
            break
    beta = np.where(judged, np.log(np.where(judged, p, 1.0)), np.nan)
    return beta if anchor is None else anchored(beta, anchor)


def anchored(beta: np.ndarray, anchor: np.ndarray | int) -> np.ndarray:
    """``beta`` (..., cells) moved so the ``anchor`` cell (per leading index; −1: none, left as
    it is) has strength 0."""
    anchor = np.broadcast_to(np.asarray(anchor), beta.shape[:-1])
    base = np.take_along_axis(beta, np.maximum(anchor, 0)[..., None], axis=-1)
    return np.where((anchor >= 0)[..., None], beta - base, beta)


@dataclass(frozen=True)
class Resamples:
    """One experiment's scenario bootstrap: which scenarios each resample drew and the
    strengths fitted to it, kept so :func:`tipbench_lib.stats.pairwise.rank_agreement` ranks
    the same resamples instead of drawing and fitting them again (``docs/architecture.md``
    section 13: "the same resampled scenarios give both rankings")."""

    scenarios: tuple[str, ...]
    """The scenario ids, in the order of ``weights``' columns (sorted)."""
    cells: tuple[tuple[str, str], ...]
    """The (model, prompt) cells, in the order of ``draws``' columns (sorted)."""
    weights: np.ndarray
    """(n_boot, scenarios): how many times each resample drew each scenario."""
    draws: np.ndarray
    """(n_boot, cells): each resample's strengths, mean 0 (not anchored)."""
    seed: int


KEPT_FITS = 4
"""How many resampled fits :func:`_resample` keeps (each about n_boot × (scenarios + cells)
floats: 0.7 MB for 2000 resamples of 20 cells and 24 scenarios)."""
_kept: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray, dict]] = OrderedDict()
_kept_lock = threading.Lock()


def _resample(
    wins: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Scenario weights (n_boot, scenarios) drawn from ``rng`` and each resample's strengths,
    mean 0, from ``wins`` (scenarios, cells, cells); both read-only.

    The fit is most of compare's cost with pairs, and it depends on the wins, the number of
    resamples and the generator's state alone, not on the baseline (anchoring comes after)
    or α: the compare notebook runs the analysis again on every change of those controls, so
    the last :data:`KEPT_FITS` fits are kept and a second call returns the same arrays and
    leaves ``rng`` where drawing would have left it.
    """
    key = (
        hashlib.blake2b(np.ascontiguousarray(wins).tobytes(), digest_size=16).hexdigest(),
        wins.shape,
        wins.dtype.str,
        n_boot,
        repr(rng.bit_generator.state),
    )
    with _kept_lock:
        kept = _kept.get(key)
        if kept is not None:
            _kept.move_to_end(key)
    if kept is not None:
        weights, draws, state = kept
        rng.bit_generator.state = state
        return weights, draws
    n_s = wins.shape[0]
    weights = rng.multinomial(n_s, np.full(n_s, 1.0 / n_s), size=n_boot).astype(float)
    draws = fit(np.einsum("bs,sij->bij", weights, wins))
    weights.flags.writeable = draws.flags.writeable = False
    with _kept_lock:
        _kept[key] = (weights, draws, rng.bit_generator.state)
        while len(_kept) > KEPT_FITS:
            _kept.popitem(last=False)
    return weights, draws


def forget_fits() -> None:
    """Drop the fits :func:`_resample` keeps (tests that count fits start from none)."""
    with _kept_lock:
        _kept.clear()


def bootstrap(
    wins: np.ndarray,
    anchor: int,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    method: str = "t",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, lower, upper) per cell of one experiment's (scenarios, cells, cells) wins:
    β̂ ± t(n − 1) · se · sqrt(n / (n − 1)), se from a scenario bootstrap (module docstring);
    ``method="percentile"``: the resamples' quantiles instead, the alternative
    ``bench/pairwise.py`` part 5 measures against it."""
    estimate, low, high, _ = _bootstrap(wins, anchor, n_boot, rng, level, method)
    return estimate, low, high


def _bootstrap(
    wins: np.ndarray,
    anchor: int,
    n_boot: int,
    rng: np.random.Generator,
    level: float,
    method: str = "t",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """:func:`bootstrap`, with the resamples' (weights, strengths) when it drew any."""
    if method not in INTERVAL_METHODS:
        raise TipbenchError(f"method must be one of {', '.join(INTERVAL_METHODS)}, got {method!r}")
    n_s = wins.shape[0]
    estimate = fit(wins.sum(axis=0), anchor)
    if n_s < 2 or n_boot < 2:
        nan = np.full_like(estimate, np.nan)
        return estimate, nan, nan, None
    weights, free = _resample(wins, n_boot, rng)
    draws = anchored(free, np.full(n_boot, anchor))
    if method == "percentile":
        low, high = np.nanquantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return estimate, low, high, (weights, free)
    se = np.nanstd(draws, axis=0, ddof=1) * np.sqrt(n_s / (n_s - 1))
    half = sps.t.ppf(0.5 + level / 2, n_s - 1) * se
    return estimate, estimate - half, estimate + half, (weights, free)


def strengths(
    outcomes: pl.DataFrame,
    *,
    baseline: tuple[str, str] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    by: str | None = None,
    comparisons: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The pairwise leaderboard: one row per cell, strongest first (``rank`` 1).

    ``strength`` and its (1 − α) interval (module docstring); ``win_rate`` the share of its
    judged tip pairs the cell won, ties half; with a baseline, ``win_rate_vs_baseline`` and its
    interval are the mean judge-aware win share against it over scenarios and compare's t
    interval (:func:`tipbench_lib.stats.pairwise.compare_pairwise`), null for the baseline.
    ``comparisons``: that function's rows for these outcomes with this baseline, α, seed and
    ``by``, when the caller has them, so they are not computed twice.
    """
    return _strengths(outcomes, baseline, alpha, n_boot, seed, by, comparisons)[0]


def strengths_with_resamples(
    outcomes: pl.DataFrame,
    *,
    baseline: tuple[str, str] | None = None,
    alpha: float = 0.05,
    n_boot: int = 2000,
    seed: int = 0,
    comparisons: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, Resamples | None]:
    """:func:`strengths` of one experiment, with its scenario bootstrap (None: fewer than two
    scenarios or resamples), for :func:`tipbench_lib.stats.pairwise.rank_agreement`."""
    table, resamples = _strengths(outcomes, baseline, alpha, n_boot, seed, None, comparisons)
    return table, resamples[0] if resamples else None


def _strengths(
    outcomes: pl.DataFrame,
    baseline: tuple[str, str] | None,
    alpha: float,
    n_boot: int,
    seed: int,
    by: str | None,
    comparisons: pl.DataFrame | None,
) -> tuple[pl.DataFrame, list[Resamples | None]]:
    if not 0 < alpha < 1:
        raise TipbenchError(f"alpha must lie between 0 and 1, got {alpha}")
    wins, cells, scenario_slots, groups = _wins_tensor(outcomes, by)
    rng = np.random.default_rng(seed)
    frames, kept = [], []
    for e, group in enumerate(groups):
        these = cells.filter(pl.col("e") == e).sort("c")
        anchor = _anchor(these, baseline)
        n_c = these.height
        w = wins[e][:, :n_c, :n_c]
        present = (w + np.swapaxes(w, -1, -2)).sum(axis=-1) > 0  # (scenarios, cells)
        judged = present.any(axis=1)
        w = w[judged]
        estimate, lo, hi, drawn = _bootstrap(w, anchor, n_boot, rng, 1 - alpha)
        ids = scenario_slots.filter(pl.col("e") == e).sort("s")["scenario_id"].to_numpy()
        kept.append(
            None
            if drawn is None
            else Resamples(
                tuple(str(i) for i in ids[judged[: len(ids)]]),
                tuple(these.select("model", "prompt_version").rows()),
                drawn[0],
                drawn[1],
                seed,
            )
        )
        total = w.sum(axis=0)
        games = total + total.T
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = total.sum(axis=1) / games.sum(axis=1)
        frame = these.select("model", "prompt_version").with_columns(
            pl.Series("strength", estimate, dtype=pl.Float64).fill_nan(None),
            pl.Series("strength_lo", lo, dtype=pl.Float64).fill_nan(None),
            pl.Series("strength_hi", hi, dtype=pl.Float64).fill_nan(None),
            pl.Series("win_rate", rate, dtype=pl.Float64).fill_nan(None),
            pl.Series("n_pairs", np.rint(games.sum(axis=1)).astype(np.int64), dtype=pl.Int64),
            pl.Series("n_scenarios", present.sum(axis=0), dtype=pl.Int64),
        )
        if by is not None:
            frame = frame.with_columns(pl.lit(group).alias(by))
        frames.append(frame)
    if not frames:
        return _empty(by), []
    table = pl.concat(frames)
    table = _with_baseline_shares(table, outcomes, baseline, alpha, seed, by, comparisons)
    keys = [by] if by else []
    table = table.with_columns(
        pl.col("strength")
        .rank("ordinal", descending=True)
        .over(keys or pl.lit(0))
        .cast(pl.Int64)
        .alias("rank")
    )
    return table.select(*COLUMNS, *keys).sort(*keys, "rank"), kept


def _anchor(cells: pl.DataFrame, baseline: tuple[str, str] | None) -> int:
    """The baseline's slot among ``cells`` (−1 without a baseline), or an error naming them."""
    if baseline is None:
        return -1
    match = cells.with_row_index("_i").filter(
        (pl.col("model") == baseline[0]) & (pl.col("prompt_version") == baseline[1])
    )
    if match.height == 0:
        known = ", ".join(f"{m}/{p}" for m, p in cells.select("model", "prompt_version").rows())
        raise TipbenchError(
            f"baseline {baseline[0]}/{baseline[1]} is not a (model, prompt) cell with pairwise "
            f"judgments; pick one of: {known}"
        )
    return int(match["_i"][0])


def _with_baseline_shares(
    table: pl.DataFrame,
    outcomes: pl.DataFrame,
    baseline: tuple[str, str] | None,
    alpha: float,
    seed: int,
    by: str | None,
    comparisons: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Each cell's mean win share against the baseline and its interval (null without one),
    from ``comparisons`` when given (:func:`strengths`)."""
    columns = ("win_rate_vs_baseline", "vs_baseline_lo", "vs_baseline_hi")
    if baseline is None:
        return table.with_columns(pl.lit(None, dtype=pl.Float64).alias(c) for c in columns)
    rows = comparisons
    if rows is None:
        rows = compare_pairwise(outcomes, alpha=alpha, baseline=baseline, seed=seed, by=by)
    rows = rows.filter(
        (pl.col("b_model") == baseline[0]) & (pl.col("b_prompt") == baseline[1])
    ).select(
        pl.col("a_model").alias("model"),
        pl.col("a_prompt").alias("prompt_version"),
        *([by] if by else []),
        pl.col("share_mean").alias(columns[0]),
        pl.col("share_lo").alias(columns[1]),
        pl.col("share_hi").alias(columns[2]),
    )
    keys = ["model", "prompt_version", *([by] if by else [])]
    return table.join(rows, on=keys, how="left", nulls_equal=True)


def _empty(by: str | None) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {c: pl.Float64() for c in COLUMNS}
    schema.update(
        model=pl.String(),
        prompt_version=pl.String(),
        n_pairs=pl.Int64(),
        n_scenarios=pl.Int64(),
        rank=pl.Int64(),
    )
    if by:
        schema[by] = pl.String()
    return pl.DataFrame(schema=schema)
