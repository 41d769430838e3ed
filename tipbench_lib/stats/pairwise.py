"""Pairwise judging's statistics: win shares per scenario, paired verdicts, position bias.

A pairwise judgment says which of two tips of one scenario, from two (model, prompt) cells, serves
the person better, or that neither does (``docs/architecture.md`` section 13). The statistics
mirror the rubric's (section 8) with the scenario as the unit:

**The win share.** Per scenario, cell pair and judge, the share of the judged tip pairs cell A
won, a tie counting half (each cell gets half a win: the judge saw no difference, which is what
"no difference" predicts half the time either way); per scenario the mean over the judges who
judged that pair there, so every judge weighs the same in a scenario whatever number of cards
they answered, and a judge's lean towards one cell moves each scenario by its weight only.
A share lies in [0, 1]; the comparison tests its centred form, share − 1/2, in [−1/2, 1/2].

**Exact shares.** share − 1/2 = (wins_a − wins_b) / (2 n) is a rational number; the mean over a
scenario's judges is too. They are carried as integer numerators over one common denominator
(:class:`tipbench_lib.stats.pairs.PairDiffs`, built here instead of from scores), so a +1/3 from
one judge and a −1/3 from another make an exact 0 and equal shares tie exactly in the
signed-rank test, as for the rubric's differences (issue 18).

**The test, the families, the verdicts.** Exactly :func:`tipbench_lib.stats.compare_pairs`'s:
the two-sided signed-rank test over scenarios of the centred shares (exact, exact over sign
flips with ties and zeros, or normal, per row), Holm within the primary family (named baseline:
every cell against it; else all pairs) and the exploratory one, the floor and the interval's
reach deciding ``underpowered`` before any sign is seen, ``better``/``worse`` needing Holm's
rejection *and* the (1 − α) Student t interval of the mean share excluding 1/2. Under "the two
cells do not differ" a scenario's tips are exchangeable, so its centred share is symmetric about
0, the null the signed-rank test and the sign-flip sequences assume. ``confounded`` cannot
happen: a pairwise judgment always judges both cells.

**Judges.** Each row names the judges it rests on; it is ``provisional`` when any of them is in
``provisional_judges`` (:func:`tipbench_lib.stats.judges` decides who is weak for the rubric;
:func:`pair_provisional_judges` does it for pairs).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats as sps

from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats.compare import holm_families, pair_statistics, verdicts
from tipbench_lib.stats.pairs import PairDiffs, common_denominator, pair_slots
from tipbench_lib.stats.scale import ScoreScale

GROUP = "_group"
SIDES = ("a_model", "a_prompt", "b_model", "b_prompt")
OUTCOME_COLUMNS = ("scenario_id", *SIDES, "judge_id", "answer")
TIE_WEIGHT = 0.5
"""A tie counts as half a win for each side (stated in every view that shows a share)."""
SHARE_SCALE = ScoreScale(
    composite=(0.0, 0.5), dimension=(0.0, 0.5), dimensions=(), flags=(), weights=()
)
"""The centred share's range as compare's statistics see it: a difference within ±1/2."""


# -- outcomes in one canonical order --------------------------------------------------------------


def canonical(outcomes: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """The counted outcomes with A the smaller (model, prompt) and ``win`` +1 / −1 / 0 for A.

    The pairs frame's order is by cell id; the statistics work on (model, prompt) cells, so a
    row is turned round when its B cell sorts first (its answer with it). Rows whose two sides
    are the same (model, prompt) and rows with no answer (failed judgments) are dropped.
    """
    require_columns(outcomes, [*OUTCOME_COLUMNS, *([by] if by else [])], "pair outcomes")
    swap = (pl.col("a_model") > pl.col("b_model")) | (
        (pl.col("a_model") == pl.col("b_model")) & (pl.col("a_prompt") > pl.col("b_prompt"))
    )
    win = pl.when(pl.col("answer") == "a").then(1).when(pl.col("answer") == "b").then(-1)
    frame = outcomes.filter(pl.col("answer").is_in(["a", "b", "tie"])).with_columns(
        (pl.col(by) if by else pl.lit(None, dtype=pl.String)).alias(GROUP),
        win.otherwise(0).cast(pl.Int64).alias("win"),
        swap.alias("_swap"),
    )
    frame = frame.with_columns(
        *(
            pl.when(pl.col("_swap"))
            .then(pl.col(f"{o}_{k}"))
            .otherwise(pl.col(f"{s}_{k}"))
            .alias(f"{s}_{k}")
            for s, o in (("a", "b"), ("b", "a"))
            for k in ("model", "prompt")
        ),
        pl.when(pl.col("_swap")).then(-pl.col("win")).otherwise(pl.col("win")).alias("win"),
    )
    same = (pl.col("a_model") == pl.col("b_model")) & (pl.col("a_prompt") == pl.col("b_prompt"))
    return frame.filter(~same).drop("_swap")


def win_shares(outcomes: pl.DataFrame, by: str | None = None) -> pl.DataFrame:
    """Per scenario and (model, prompt) pair (A the smaller cell): counts and A's win share.

    ``wins_a``, ``wins_b``, ``ties`` and ``n`` count the judged tip pairs over every judge;
    ``share_a`` is the judge-aware share (module docstring): per judge (wins_a + ties/2) / n,
    then the mean over the ``n_judges`` who judged the pair in that scenario.
    """
    frame = canonical(outcomes, by)
    keys = [GROUP, *SIDES, "scenario_id"]
    per_judge = frame.group_by(*keys, "judge_id").agg(
        (pl.col("win") == 1).sum().cast(pl.Int64).alias("wins_a"),
        (pl.col("win") == -1).sum().cast(pl.Int64).alias("wins_b"),
        (pl.col("win") == 0).sum().cast(pl.Int64).alias("ties"),
        pl.len().cast(pl.Int64).alias("n"),
    )
    per_judge = per_judge.with_columns(
        ((pl.col("wins_a") + TIE_WEIGHT * pl.col("ties")) / pl.col("n")).alias("share_a")
    )
    shares = (
        per_judge.group_by(keys)
        .agg(
            pl.col("wins_a", "wins_b", "ties", "n").sum(),
            pl.col("share_a").mean(),
            pl.len().cast(pl.Int64).alias("n_judges"),
        )
        .sort(keys, nulls_last=True)
    )
    columns = [*SIDES, "scenario_id", "wins_a", "wins_b", "ties", "n", "share_a", "n_judges"]
    return shares.select(*columns, *([pl.col(GROUP).alias(by)] if by else []))


# -- the grid of exact centred shares -------------------------------------------------------------


@dataclass(frozen=True)
class ShareGrid:
    """Win counts per (experiment, cell pair, scenario, judge), with the cells' labels."""

    net: np.ndarray
    """(experiments, pairs, scenarios, judges) int64: wins of A minus wins of B."""
    counts: np.ndarray
    """Same shape: tip pairs judged (ties included)."""
    ties: np.ndarray
    cells: pl.DataFrame
    """One row per (experiment, cell slot): e, c, model, prompt_version."""
    judges: list[str]
    groups: list[object]
    scenarios: pl.DataFrame
    """One row per (experiment, scenario slot): e, s, scenario_id."""

    @property
    def n_cells(self) -> int:
        return int(self.cells["c"].max() or 0) + 1 if self.cells.height else 0


def slot_frames(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The slots of a :func:`canonical` frame: its experiments (``GROUP``, e), cells (e, c,
    model, prompt_version: every (model, prompt) on either side, in that order, so the pair
    slots a < b match the rows' canonical order) and scenarios (e, s, scenario_id)."""
    groups_frame = frame.select(GROUP).unique().sort(GROUP, nulls_last=True).with_row_index("e")
    sides = pl.concat(
        [
            frame.select(
                GROUP,
                pl.col(f"{s}_model").alias("model"),
                pl.col(f"{s}_prompt").alias("prompt_version"),
            )
            for s in ("a", "b")
        ]
    )
    cells = (
        sides.unique()
        .join(groups_frame, on=GROUP, nulls_equal=True)
        .sort("e", "model", "prompt_version")
        .with_columns(pl.int_range(pl.len()).over("e").alias("c"))
    )
    scenarios = (
        frame.select(GROUP, "scenario_id")
        .unique()
        .join(groups_frame, on=GROUP, nulls_equal=True)
        .sort("e", "scenario_id")
        .with_columns(pl.int_range(pl.len()).over("e").alias("s"))
    )
    return groups_frame, cells, scenarios


def with_slots(
    rows: pl.DataFrame, groups_frame: pl.DataFrame, cells: pl.DataFrame, scenarios: pl.DataFrame
) -> pl.DataFrame:
    """``rows`` of a :func:`canonical` frame with their slots from :func:`slot_frames`: the
    experiment (e), side A's and B's cells (ca, cb) and the scenario (s)."""
    slot = cells.select(GROUP, "model", "prompt_version", "c")
    return (
        rows.join(groups_frame, on=GROUP, nulls_equal=True)
        .join(
            slot.rename({"model": "a_model", "prompt_version": "a_prompt", "c": "ca"}),
            on=[GROUP, "a_model", "a_prompt"],
            nulls_equal=True,
        )
        .join(
            slot.rename({"model": "b_model", "prompt_version": "b_prompt", "c": "cb"}),
            on=[GROUP, "b_model", "b_prompt"],
            nulls_equal=True,
        )
        .join(
            scenarios.select(GROUP, "scenario_id", "s"), on=[GROUP, "scenario_id"], nulls_equal=True
        )
    )


def share_grid(outcomes: pl.DataFrame, by: str | None = None) -> ShareGrid:
    """The dense grid of :class:`ShareGrid` from a pair outcomes frame (experiments by ``by``).

    Cells are every (model, prompt) that appears on either side within an experiment, in
    (model, prompt) order, so the pair slots (a < b) match the canonical order of the rows.
    """
    frame = canonical(outcomes, by)
    groups_frame, cells, scenarios = slot_frames(frame)
    groups = groups_frame[GROUP].to_list()
    judges = sorted(frame["judge_id"].unique().to_list())
    n_e = len(groups)
    n_c = int(cells["c"].max() or 0) + 1 if cells.height else 0
    n_s = int(scenarios["s"].max() or 0) + 1 if scenarios.height else 0
    a_slots, b_slots = pair_slots(n_c)
    pair_index = np.full((max(n_c, 1), max(n_c, 1)), -1, dtype=np.int64)
    pair_index[a_slots, b_slots] = np.arange(len(a_slots))
    counted = (
        frame.group_by(GROUP, *SIDES, "scenario_id", "judge_id")
        .agg(
            pl.col("win").sum().alias("_net"),
            pl.len().cast(pl.Int64).alias("_n"),
            (pl.col("win") == 0).sum().cast(pl.Int64).alias("_ties"),
        )
        .pipe(with_slots, groups_frame, cells, scenarios)
        .join(
            pl.DataFrame({"judge_id": judges}, schema={"judge_id": pl.String}).with_row_index("j"),
            on="judge_id",
        )
    )
    shape = (n_e, len(a_slots), n_s, len(judges))
    net, counts, ties = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    p = pair_index[counted["ca"].to_numpy(), counted["cb"].to_numpy()]
    index = (counted["e"].to_numpy(), p, counted["s"].to_numpy(), counted["j"].to_numpy())
    net[index] = counted["_net"].to_numpy()
    counts[index] = counted["_n"].to_numpy()
    ties[index] = counted["_ties"].to_numpy()
    return ShareGrid(
        net,
        counts,
        ties,
        cells.select("e", "c", "model", "prompt_version", GROUP),
        judges,
        groups,
        scenarios.select("e", "s", "scenario_id"),
    )


def centred_shares(grid: ShareGrid) -> PairDiffs:
    """Per scenario, share − 1/2 of every cell pair, exact (module docstring).

    With J judges of a pair in a scenario, n_j its tip pairs for judge j and M the least common
    multiple of the n_j: share − 1/2 = N / (2 J M) with N = Σ_j net_j M / n_j, an integer; the
    scenarios are then put over one denominator (:func:`tipbench_lib.stats.pairs.
    common_denominator`, with unit 2).
    """
    n_e, n_p, n_s, n_j = grid.net.shape
    counts = grid.counts
    judged = counts > 0
    safe = np.where(judged, counts, 1)
    lcm = np.lcm.reduce(safe, axis=3) if n_j else np.ones((n_e, n_p, n_s), dtype=np.int64)
    numerator = np.where(judged, grid.net * (lcm[..., None] // safe), 0).sum(axis=3)
    n_judges = judged.sum(axis=3)
    usable = n_judges > 0
    scale = np.where(usable, n_judges * lcm, 1)
    rows = (n_e * n_p, n_s)
    numerators, denominator = common_denominator(
        numerator.reshape(rows), scale.reshape(rows), usable.reshape(rows), 2
    )
    a, b = pair_slots(grid.n_cells)
    n_usable = usable.sum(axis=2).ravel()
    present = np.zeros((n_e, max(grid.n_cells, 1)), dtype=bool)
    present[grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()] = True
    keep = (present[:, a] & present[:, b]).ravel()
    return PairDiffs(
        e=np.repeat(np.arange(n_e), n_p)[keep],
        a=np.tile(a, n_e)[keep],
        b=np.tile(b, n_e)[keep],
        numerators=numerators[keep],
        denominator=denominator,
        n_usable=n_usable[keep],
        n_shared=n_usable[keep],
        common=judged.any(axis=2).reshape(n_e * n_p, n_j)[keep],
    )


# -- the verdicts ---------------------------------------------------------------------------------


def compare_pairwise(
    outcomes: pl.DataFrame,
    *,
    alpha: float = 0.05,
    baseline: tuple[str, str] | None = None,
    provisional_judges: Collection[str] = (),
    seed: int = 0,
    by: str | None = None,
) -> pl.DataFrame:
    """One row per cell pair: the mean win share over scenarios, its interval, test and verdict.

    ``share_mean`` is A's mean judge-aware win share over the scenarios the pair was judged in
    (``n_scenarios``), ``share_lo``/``share_hi`` its (1 − α) Student t interval; ``p`` the
    signed-rank p of the centred shares, ``p_holm`` Holm's within ``family``. With a baseline,
    it is always B; otherwise A is the cell with the higher share. ``by`` stacks independent
    experiments (simulation replicates). Verdicts: :data:`tipbench_lib.stats.compare.VERDICTS`.
    """
    if not 0 < alpha < 1:
        raise TipbenchError(f"alpha must lie between 0 and 1, got {alpha}")
    grid = share_grid(outcomes, by)
    diffs = centred_shares(grid)
    values = pair_statistics(diffs, alpha, "t", 0, 0, seed, SHARE_SCALE)
    base_slot = _baseline_slots(grid, baseline)
    flip = values["diff_mean"] < 0
    if base_slot is not None:
        base = base_slot[diffs.e]
        flip = np.where(diffs.a == base, True, np.where(diffs.b == base, False, flip))
    a = np.where(flip, diffs.b, diffs.a)
    b = np.where(flip, diffs.a, diffs.b)
    sign = np.where(flip, -1.0, 1.0)
    mean = sign * values["diff_mean"]
    lo = np.where(flip, -values["diff_hi"], values["diff_lo"])
    hi = np.where(flip, -values["diff_lo"], values["diff_hi"])
    primary = np.ones(len(a), dtype=bool)
    if base_slot is not None:
        primary = (a == base_slot[diffs.e]) | (b == base_slot[diffs.e])
    can_pass = (values["floor"] <= alpha) & (values["reach"] > 0)
    family = holm_families(diffs.e, primary, can_pass, values["p_wilcoxon"], alpha)
    verdict = verdicts(
        family["rejected"],
        lo,
        hi,
        values["floor"],
        family["stop"],
        diffs.n_shared,
        diffs.n_usable,
        alpha,
        reach=values["reach"],
    )
    names, provisional = _judges(grid.judges, diffs.common, provisional_judges)
    totals = _totals(grid, diffs, flip)
    model, prompt = _labels(grid)

    def floats(name: str, array: np.ndarray) -> pl.Series:
        return pl.Series(name, array, dtype=pl.Float64).fill_nan(None)

    columns = [
        pl.Series("a_model", model[diffs.e, a], dtype=pl.String),
        pl.Series("a_prompt", prompt[diffs.e, a], dtype=pl.String),
        pl.Series("b_model", model[diffs.e, b], dtype=pl.String),
        pl.Series("b_prompt", prompt[diffs.e, b], dtype=pl.String),
        pl.Series("n_scenarios", diffs.n_usable, dtype=pl.Int64),
        floats("share_mean", 0.5 + mean),
        floats("share_lo", 0.5 + lo),
        floats("share_hi", 0.5 + hi),
        floats("p", values["p_wilcoxon"]),
        floats("p_holm", family["p_holm"]),
        pl.Series("verdict", verdict, dtype=pl.String),
        pl.Series("family", family["name"], dtype=pl.String),
        pl.Series("family_size", family["size"], dtype=pl.Int64),
        pl.Series("judges", names, dtype=pl.String),
        pl.Series("provisional", provisional, dtype=pl.Boolean),
        pl.Series("family_tested", family["tested"], dtype=pl.Int64),
        floats("holm_threshold", family["stop"]),
        pl.Series("min_p_attainable", values["floor"], dtype=pl.Float64),
        floats("interval_reach", values["reach"]),
        floats("sd_share", values["sd_diff"]),
        *(pl.Series(name, totals[name], dtype=pl.Int64) for name in ("wins_a", "wins_b", "ties")),
        pl.Series("n_pairs", totals["n_pairs"], dtype=pl.Int64),
        pl.Series("alpha", np.full(len(a), alpha), dtype=pl.Float64),
    ]
    if by is not None:
        columns.append(pl.Series(by, np.array(grid.groups, dtype=object)[diffs.e]))
    frame = pl.DataFrame(columns)
    order = np.lexsort((-np.nan_to_num(mean, nan=-1.0), ~primary, diffs.e))
    return frame[order]


def _baseline_slots(grid: ShareGrid, baseline: tuple[str, str] | None) -> np.ndarray | None:
    """The baseline's cell slot in each experiment, or an error naming the known cells."""
    if baseline is None:
        return None
    match = grid.cells.filter(
        (pl.col("model") == baseline[0]) & (pl.col("prompt_version") == baseline[1])
    )
    if match["e"].n_unique() < len(grid.groups):
        keys = sorted(set(zip(grid.cells["model"], grid.cells["prompt_version"], strict=True)))
        known = ", ".join(f"{m}/{p}" for m, p in keys[:10])
        raise TipbenchError(
            f"baseline {baseline[0]}/{baseline[1]} is not a (model, prompt) cell with pairwise "
            f"judgments; pick one of: {known}{' ...' if len(keys) > 10 else ''}"
        )
    slots = np.full(len(grid.groups), -1, dtype=np.int64)
    slots[match["e"].to_numpy()] = match["c"].to_numpy()
    return slots


def _labels(grid: ShareGrid) -> tuple[np.ndarray, np.ndarray]:
    n_e, n_c = len(grid.groups), max(grid.n_cells, 1)
    model = np.full((n_e, n_c), "", dtype=object)
    prompt = np.full((n_e, n_c), "", dtype=object)
    e, c = grid.cells["e"].to_numpy(), grid.cells["c"].to_numpy()
    model[e, c] = grid.cells["model"].to_numpy()
    prompt[e, c] = grid.cells["prompt_version"].to_numpy()
    return model, prompt


def _totals(grid: ShareGrid, diffs: PairDiffs, flip: np.ndarray) -> dict[str, np.ndarray]:
    """Per row, the judged tip pairs, wins of the row's A and B, and ties, over everything."""
    n_e, n_p = grid.net.shape[:2]
    n = grid.counts.sum(axis=(2, 3)).reshape(n_e * n_p)
    ties = grid.ties.sum(axis=(2, 3)).reshape(n_e * n_p)
    net = grid.net.sum(axis=(2, 3)).reshape(n_e * n_p)
    rows = diffs.e * n_p + _pair_number(diffs.a, diffs.b, grid.n_cells)
    n, ties, net = n[rows], ties[rows], net[rows]
    wins_a, wins_b = (n - ties + net) // 2, (n - ties - net) // 2
    return {
        "wins_a": np.where(flip, wins_b, wins_a),
        "wins_b": np.where(flip, wins_a, wins_b),
        "ties": ties,
        "n_pairs": n,
    }


def _pair_number(a: np.ndarray, b: np.ndarray, n_cells: int) -> np.ndarray:
    """The index of pair (a < b) in :func:`tipbench_lib.stats.pairs.pair_slots`'s order."""
    return a * n_cells - a * (a + 1) // 2 + (b - a - 1)


def _judges(
    judges: list[str], common: np.ndarray, provisional_judges: Collection[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the judges who judged the pair (comma-joined) and whether any is weak."""
    weak = np.array([j in set(provisional_judges) for j in judges], dtype=bool)
    if not common.size:
        return np.full(len(common), "", dtype=object), np.zeros(len(common), dtype=bool)
    provisional = (common & weak).any(axis=1)
    names = np.array(
        [", ".join(j for j, used in zip(judges, row, strict=True) if used) for row in common],
        dtype=object,
    )
    return names, provisional


# -- descriptive views ----------------------------------------------------------------------------


def win_matrix(outcomes: pl.DataFrame) -> pl.DataFrame:
    """Long win-rate matrix: how often the row cell beat the column cell (ties half), pooled
    over every judged tip pair of the two cells (``n``), both orientations."""
    frame = canonical(outcomes)
    pooled = frame.group_by(*SIDES).agg(
        pl.len().cast(pl.Int64).alias("n"),
        ((pl.col("win") + 1) / 2).mean().alias("win_rate"),  # 1 win, 1/2 tie, 0 loss
    )
    forward = pooled.select(
        pl.col("a_model").alias("row_model"),
        pl.col("a_prompt").alias("row_prompt"),
        pl.col("b_model").alias("col_model"),
        pl.col("b_prompt").alias("col_prompt"),
        "win_rate",
        "n",
    )
    backward = pooled.select(
        pl.col("b_model").alias("row_model"),
        pl.col("b_prompt").alias("row_prompt"),
        pl.col("a_model").alias("col_model"),
        pl.col("a_prompt").alias("col_prompt"),
        (1 - pl.col("win_rate")).alias("win_rate"),
        "n",
    )
    return pl.concat([forward, backward]).sort("row_model", "row_prompt", "col_model", "col_prompt")


# -- agreement with the rubric's leaderboard ------------------------------------------------------

from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:  # bradley_terry imports this module
    from tipbench_lib.stats.bradley_terry import Resamples


@dataclass(frozen=True)
class RankAgreement:
    """Kendall's τ-b between the rubric leaderboard's order and the pairwise strengths'."""

    tau: float
    lo: float
    hi: float
    n_cells: int
    disagreements: pl.DataFrame
    """The cell pairs the two rankings order differently: a_model, a_prompt, b_model,
    b_prompt, composite_a, composite_b, strength_a, strength_b."""
    method: str = ""
    """How the interval was drawn (scenario bootstrap, or from the cells' intervals)."""


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """τ-b of the last axis of ``x`` and ``y`` (rows of equal length), vectorised."""
    i, j = np.triu_indices(x.shape[-1], k=1)
    sx, sy = np.sign(x[..., j] - x[..., i]), np.sign(y[..., j] - y[..., i])
    concord = (sx * sy).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return concord / np.sqrt((sx != 0).sum(axis=-1) * (sy != 0).sum(axis=-1))


def rank_agreement(
    leaderboard: pl.DataFrame,
    strengths: pl.DataFrame,
    *,
    seed: int = 0,
    alpha: float = 0.05,
    n_boot: int = 2000,
    scenario_means: pl.DataFrame | None = None,
    outcomes: pl.DataFrame | None = None,
    resamples: Resamples | None = None,
) -> RankAgreement:
    """Kendall's τ-b of the cells both frames hold, with a (1 − α) interval and the disagreements.

    With ``scenario_means`` (model, prompt_version, scenario_id, composite: the rubric's
    scenario means, :func:`tipbench_lib.stats.scenario_means`) and ``outcomes`` (the pair
    outcomes) the interval is a scenario bootstrap: the same resampled scenarios give the
    cells' means and their strengths, and τ is taken between them. Without them it draws each
    cell's composite mean and strength from normals matching their own intervals (an
    approximation that ignores how the cells' errors go together), and ``method`` says which.
    ``resamples``: the scenario bootstrap of the strengths of these outcomes
    (:func:`tipbench_lib.stats.bradley_terry.strengths_with_resamples`); when it drew with this
    seed and ``n_boot`` over the same scenarios and cells as are ranked here, its resamples are
    ranked rather than drawn and fitted again, which gives the same numbers at half the cost.
    """
    require_columns(leaderboard, ["model", "prompt_version", "composite_mean"], "leaderboard")
    require_columns(strengths, ["model", "prompt_version", "strength"], "strengths")
    joined = (
        leaderboard.select(
            "model",
            "prompt_version",
            "composite_mean",
            *(c for c in ("composite_lo", "composite_hi") if c in leaderboard.columns),
        )
        .join(
            strengths.select(
                "model",
                "prompt_version",
                "strength",
                *(c for c in ("strength_lo", "strength_hi") if c in strengths.columns),
            ),
            on=["model", "prompt_version"],
        )
        .drop_nulls(["composite_mean", "strength"])
        .sort("model", "prompt_version")
    )
    x, y = joined["composite_mean"].to_numpy(), joined["strength"].to_numpy()
    n = joined.height
    tau = float(kendall_tau_b(x, y)) if n >= 2 else float("nan")
    rng = np.random.default_rng(seed)
    taus, method = None, ""
    if n >= 2 and scenario_means is not None and outcomes is not None:
        shared = resamples if resamples is not None and resamples.seed == seed else None
        taus, method = (
            _scenario_taus(joined, scenario_means, outcomes, rng, n_boot, shared),
            ("scenario bootstrap"),
        )
    elif n >= 2 and {"composite_lo", "composite_hi", "strength_lo", "strength_hi"} <= set(
        joined.columns
    ):
        z = sps.norm.ppf(1 - alpha / 2)

        def sd(low: str, high: str) -> np.ndarray:
            return np.nan_to_num((joined[high] - joined[low]).to_numpy() / (2 * z))

        xs = x + rng.standard_normal((n_boot, n)) * sd("composite_lo", "composite_hi")
        ys = y + rng.standard_normal((n_boot, n)) * sd("strength_lo", "strength_hi")
        taus, method = kendall_tau_b(xs, ys), "from the cells' intervals"
    lo = hi = float("nan")
    if taus is not None and np.isfinite(taus).any():
        lo, hi = (float(v) for v in np.nanquantile(taus, [alpha / 2, 1 - alpha / 2]))
    return RankAgreement(tau, lo, hi, n, disagreements(joined), method)


def _scenario_taus(
    joined: pl.DataFrame,
    scenario_means: pl.DataFrame,
    outcomes: pl.DataFrame,
    rng: np.random.Generator,
    n_boot: int,
    resamples: Resamples | None = None,
) -> np.ndarray:
    """τ-b of each scenario resample: cell means of the resampled scenario means against the
    Bradley–Terry strengths fitted to the resampled scenarios' pairs (``resamples``' own when
    they are of the same scenarios, cells and number: the weights ``rng`` would draw, as
    ``strengths`` drew them from a generator of the same seed, and the strengths they gave;
    the rubric's scenarios must then be the pairs' too, or the weights would not be those)."""
    require_columns(
        scenario_means, ["model", "prompt_version", "scenario_id", "composite"], "scenario means"
    )
    cells = joined.select("model", "prompt_version").with_row_index("c")
    means = scenario_means.join(cells, on=["model", "prompt_version"])
    pair_scenarios = canonical(outcomes)["scenario_id"].unique().to_list()
    scenarios = sorted(set(pair_scenarios) | set(means["scenario_id"].to_list()))
    code = {s: i for i, s in enumerate(scenarios)}
    n_s, n_c = len(scenarios), cells.height
    sums, counts = np.zeros((n_s, n_c)), np.zeros((n_s, n_c))
    rows = (means["scenario_id"].replace_strict(code).to_numpy(), means["c"].to_numpy())
    np.add.at(sums, rows, means["composite"].to_numpy())
    np.add.at(counts, rows, 1)
    if (
        resamples is not None
        and resamples.scenarios == tuple(scenarios)
        and resamples.cells == tuple(cells.select("model", "prompt_version").rows())
        and resamples.weights.shape[0] == n_boot
    ):
        weights, strengths = resamples.weights, resamples.draws
    else:
        weights, strengths = _resampled_strengths(
            cells, outcomes, scenarios, sorted(pair_scenarios), rng, n_boot
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        cell_means = (weights @ sums) / (weights @ counts)
    return kendall_tau_b(cell_means, strengths)


def _resampled_strengths(
    cells: pl.DataFrame,
    outcomes: pl.DataFrame,
    scenarios: list[str],
    scenario_ids: list[str],
    rng: np.random.Generator,
    n_boot: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Scenario weights (n_boot, ``scenarios``) drawn from ``rng`` and the strengths of
    ``cells`` fitted to each resample's pairs (``scenario_ids``: the pairs' scenarios, sorted,
    the order of the wins tensor's)."""
    from tipbench_lib.stats import bradley_terry  # it imports this module

    wins, pair_cells, _ = bradley_terry.wins_tensor(outcomes)
    code = {s: i for i, s in enumerate(scenarios)}
    n_s, n_c = len(scenarios), cells.height
    order = pair_cells.join(cells, on=["model", "prompt_version"], how="left")["c"].to_numpy()
    tensor = np.zeros((n_s, n_c, n_c))
    if wins.size:
        known = ~np.isnan(order.astype(float))
        slots = order[known].astype(np.int64)
        taken = wins[0][:, known][:, :, known]
        at = np.array([code[s] for s in scenario_ids])
        tensor[np.ix_(at, slots, slots)] = taken
    weights = rng.multinomial(n_s, np.full(n_s, 1.0 / n_s), size=n_boot).astype(float)
    return weights, bradley_terry.fit(np.einsum("bs,sij->bij", weights, tensor))


def disagreements(joined: pl.DataFrame) -> pl.DataFrame:
    """Cell pairs ordered one way by ``composite_mean`` and the other by ``strength``."""
    rows = joined.to_dicts()
    out = []
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            p, q = rows[i], rows[j]
            by_score = np.sign(p["composite_mean"] - q["composite_mean"])
            by_strength = np.sign(p["strength"] - q["strength"])
            if by_score * by_strength < 0 or (by_score == 0) != (by_strength == 0):
                first, second = (p, q) if by_score >= 0 else (q, p)
                out.append(
                    {
                        "a_model": first["model"],
                        "a_prompt": first["prompt_version"],
                        "b_model": second["model"],
                        "b_prompt": second["prompt_version"],
                        "composite_a": first["composite_mean"],
                        "composite_b": second["composite_mean"],
                        "strength_a": first["strength"],
                        "strength_b": second["strength"],
                    }
                )
    schema = {
        "a_model": pl.String,
        "a_prompt": pl.String,
        "b_model": pl.String,
        "b_prompt": pl.String,
        "composite_a": pl.Float64,
        "composite_b": pl.Float64,
        "strength_a": pl.Float64,
        "strength_b": pl.Float64,
    }
    return pl.DataFrame(out, schema=schema)


# the judges' side, kept in its own module and named here for one import
from tipbench_lib.stats.pair_judges import (  # noqa: E402
    PAIR_AGREEMENT_FLOOR,
    clustered_wilson,
    pair_judge_panel,
    pair_provisional_judges,
    position_bias,
    wilson,
)

__all__ = [
    "PAIR_AGREEMENT_FLOOR",
    "RankAgreement",
    "canonical",
    "centred_shares",
    "clustered_wilson",
    "compare_pairwise",
    "kendall_tau_b",
    "pair_judge_panel",
    "pair_provisional_judges",
    "position_bias",
    "rank_agreement",
    "share_grid",
    "wilson",
    "win_matrix",
    "win_shares",
]
