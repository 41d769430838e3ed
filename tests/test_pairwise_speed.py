"""The pairwise view's fast paths give the numbers of the straightforward computation.

Compare with pairwise judgments spent most of its time fitting Bradley–Terry to 2000 scenario
resamples twice, once for the strengths' intervals and once more for the rankings' agreement,
and computing the comparisons twice with a named baseline (``bench/compare_pairs.py``). The
view now fits the resamples once and reads the shares from its own comparisons; these tests pin
that every number is the one the straightforward computation gives, to the last bit, on small
seeded experiments (``docs/architecture.md`` section 13), and that the work is done once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

from tipbench_lib.compare import pairwise_view as view_module
from tipbench_lib.compare.analysis import Options, analyse
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.stats import bradley_terry, pairwise
from tipbench_lib.validation import pair_simulation, synthetic

from .pair_data import pair_judgments, pairs_frame

N_BOOT = 150


def textbook_fit(
    wins: np.ndarray, anchor: np.ndarray | None = None, prior: float = bradley_terry.PRIOR_GAMES
) -> np.ndarray:
    """Hunter's MM as first written: fresh arrays every iteration (the reference)."""
    wins = np.asarray(wins, dtype=float)
    games = wins + np.swapaxes(wins, -1, -2)
    met = games > 0
    games = games + prior * met
    won = wins.sum(axis=-1) + prior / 2 * met.sum(axis=-1)
    judged = met.any(axis=-1)
    p = np.where(judged, 1.0, 0.0)
    for _ in range(bradley_terry.MAX_ITERATIONS):
        with np.errstate(invalid="ignore", divide="ignore"):
            denom = (games / (p[..., :, None] + p[..., None, :])).sum(axis=-1, where=met)
            new = np.where(judged, won / denom, 0.0)
        logs = np.where(judged, np.log(np.where(judged, new, 1.0)), 0.0)
        centre = logs.sum(axis=-1, keepdims=True) / np.maximum(judged.sum(-1, keepdims=True), 1)
        new = np.where(judged, np.exp(logs - centre), 0.0)
        change = np.max(np.abs(new - p), initial=0.0)
        p = new
        if change < bradley_terry.TOLERANCE:
            break
    beta = np.where(judged, np.log(np.where(judged, p, 1.0)), np.nan)
    if anchor is not None:
        anchor = np.broadcast_to(np.asarray(anchor), beta.shape[:-1])
        base = np.take_along_axis(beta, np.maximum(anchor, 0)[..., None], axis=-1)
        beta = np.where((anchor >= 0)[..., None], beta - base, beta)
    return beta


def simulated(n_cells: int = 6, n_scenarios: int = 8, seed: int = 4) -> pl.DataFrame:
    """Pair outcomes of simulated people, unequal cells, ties and position bias included."""
    setup = pair_simulation.Setup(
        n_cells=n_cells,
        n_scenarios=n_scenarios,
        effects=tuple(np.linspace(-0.6, 0.6, n_cells)),
    )
    return pair_simulation.outcomes(setup, 1, seed).drop("experiment")


def resampled_wins(outcomes: pl.DataFrame, n_boot: int = N_BOOT) -> np.ndarray:
    wins, _, _ = bradley_terry.wins_tensor(outcomes)
    n_s = wins.shape[1]
    weights = np.random.default_rng(0).multinomial(n_s, np.full(n_s, 1 / n_s), size=n_boot)
    return np.einsum("bs,sij->bij", weights.astype(float), wins[0])


def test_the_fit_in_buffers_is_the_textbook_loop_to_the_last_bit() -> None:
    resamples = resampled_wins(simulated())
    # a seventh cell judged in no resample, and resamples where one cell met only one other
    resamples = np.pad(resamples, ((0, 0), (0, 1), (0, 1)))
    resamples[:20, 0, 2:] = resamples[:20, 2:, 0] = 0.0
    for anchor in (None, np.full(len(resamples), 3), np.arange(len(resamples)) % 7 - 1):
        fast, reference = bradley_terry.fit(resamples, anchor), textbook_fit(resamples, anchor)
        assert np.array_equal(fast, reference, equal_nan=True)
        assert np.isnan(fast[:, 6]).all() and np.isfinite(fast[:, :6]).all()
    one = resamples.sum(axis=0)
    fast, reference = bradley_terry.fit(one, 0, prior=0.0), textbook_fit(one, 0, prior=0.0)
    assert np.array_equal(fast, reference, equal_nan=True)


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[tuple]:
    """Record every call of ``module.name`` (its arguments' shapes) and let it run."""
    calls: list[tuple] = []
    real: Callable = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(getattr(a, "shape", None) for a in args))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_rank_agreement_ranks_the_strengths_own_resamples_with_the_same_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outcomes = simulated()
    board, resamples = bradley_terry.strengths_with_resamples(outcomes, n_boot=N_BOOT, seed=7)
    assert resamples is not None and resamples.draws.shape == (N_BOOT, 6)
    assert resamples.scenarios == tuple(str(s) for s in range(8))
    rng = np.random.default_rng(1)
    means = board.select("model", "prompt_version", "strength").join(
        pl.DataFrame({"scenario_id": [str(s) for s in range(8)]}), how="cross"
    )
    means = means.with_columns(
        (10 + pl.col("strength") + pl.Series(rng.normal(0, 0.5, means.height))).alias("composite")
    )
    rubric = means.group_by("model", "prompt_version").agg(
        pl.col("composite").mean().alias("composite_mean")
    )
    common = {"seed": 7, "n_boot": N_BOOT, "scenario_means": means, "outcomes": outcomes}
    fits = counting(monkeypatch, bradley_terry, "fit")
    shared = pairwise.rank_agreement(rubric, board, **common, resamples=resamples)
    assert fits == []  # nothing drawn or fitted again
    alone = pairwise.rank_agreement(rubric, board, **common)
    assert len(fits) == 1
    assert shared.method == alone.method == "scenario bootstrap"
    assert (shared.tau, shared.lo, shared.hi) == (alone.tau, alone.lo, alone.hi)
    assert shared.disagreements.equals(alone.disagreements)
    # resamples of other scenarios, another seed or another size are drawn again, not used
    more = means.vstack(
        means.filter(pl.col("scenario_id") == "0").with_columns(scenario_id=pl.lit("9"))
    )
    for changed in (
        {"scenario_means": more},
        {"seed": 8},
        {"n_boot": N_BOOT + 1},
    ):
        options = common | changed
        fits.clear()
        reused = pairwise.rank_agreement(rubric, board, **options, resamples=resamples)
        fresh = pairwise.rank_agreement(rubric, board, **options)
        assert len(fits) == 2
        assert (reused.tau, reused.lo, reused.hi) == (fresh.tau, fresh.lo, fresh.hi)
    # resamples of other pairs (here fewer scenarios' worth) are not those of these outcomes
    _, fewer = bradley_terry.strengths_with_resamples(
        outcomes.filter(pl.col("scenario_id") != "3"), n_boot=N_BOOT, seed=7
    )
    fits.clear()
    other = pairwise.rank_agreement(rubric, board, **common, resamples=fewer)
    assert len(fits) == 1
    assert (other.tau, other.lo, other.hi) == (alone.tau, alone.lo, alone.hi)


def test_strengths_read_the_baseline_shares_from_the_comparisons_given() -> None:
    outcomes = simulated()
    base = ("model-01", "v1")
    rows = pairwise.compare_pairwise(outcomes, baseline=base, seed=3)
    given = bradley_terry.strengths(
        outcomes, baseline=base, n_boot=N_BOOT, seed=3, comparisons=rows
    )
    computed = bradley_terry.strengths(outcomes, baseline=base, n_boot=N_BOOT, seed=3)
    assert given.equals(computed)
    assert given["win_rate_vs_baseline"].null_count() == 1  # the baseline's own row


def reference_verdicts(
    disagreements: pl.DataFrame, rubric: pl.DataFrame | None, pairs: pl.DataFrame
) -> pl.DataFrame:
    """The disagreements with each mode's verdict found row by row (the first row holding
    both cells, turned to A's side), as the view first did it."""

    def verdict(rows: pl.DataFrame | None, first: tuple, second: tuple) -> str:
        if rows is None or rows.height == 0:
            return ""
        for row in rows.iter_rows(named=True):
            a, b = (row["a_model"], row["a_prompt"]), (row["b_model"], row["b_prompt"])
            if {a, b} == {first, second}:
                flip = {"better": "worse", "worse": "better"}
                return row["verdict"] if a == first else flip.get(row["verdict"], row["verdict"])
        return ""

    out = []
    for row in disagreements.iter_rows(named=True):
        a, b = (row["a_model"], row["a_prompt"]), (row["b_model"], row["b_prompt"])
        out.append(
            row
            | {"rubric_verdict": verdict(rubric, a, b), "pairwise_verdict": verdict(pairs, a, b)}
        )
    schema = disagreements.schema | {"rubric_verdict": pl.String, "pairwise_verdict": pl.String}
    return pl.DataFrame(out, schema=schema)


def test_each_modes_verdict_is_read_from_the_disagreeing_cells_side() -> None:
    def rows(*found: tuple[str, str, str]) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {"a_model": a, "a_prompt": "v1", "b_model": b, "b_prompt": "v1", "verdict": v}
                for a, b, v in found
            ]
        )

    disagreements = pl.DataFrame(
        {
            "a_model": ["m1", "m3", "m2", "m4"],
            "a_prompt": ["v1"] * 4,
            "b_model": ["m2", "m1", "m4", "m5"],
            "b_prompt": ["v1"] * 4,
            "composite_a": [3.0, 2.9, 2.8, 2.7],
            "composite_b": [2.5, 2.4, 2.3, 2.2],
            "strength_a": [-0.1, -0.2, -0.3, -0.4],
            "strength_b": [0.1, 0.2, 0.3, 0.4],
        }
    )
    rubric = rows(
        ("m2", "m1", "better"),  # turned round: m1 is worse than m2 by the rubric
        ("m1", "m2", "indistinguishable"),  # a later row for the same cells is not read
        ("m1", "m3", "worse"),
        ("m2", "m4", "underpowered"),
    )
    pairs = rows(("m1", "m2", "worse"), ("m3", "m1", "better"), ("m4", "m5", "confounded"))
    for given in ((rubric, pairs), (None, pairs), (rubric.clear(), pairs.clear())):
        fast = view_module.with_verdicts(disagreements, *given)
        assert fast.equals(reference_verdicts(disagreements, *given))
    both = view_module.with_verdicts(disagreements, rubric, pairs)
    assert both["rubric_verdict"].to_list() == ["worse", "better", "underpowered", ""]
    assert both["pairwise_verdict"].to_list() == ["worse", "better", "", "confounded"]
    empty = view_module.with_verdicts(disagreements.clear(), rubric, pairs)
    assert empty.equals(reference_verdicts(disagreements.clear(), rubric, pairs))


@pytest.fixture(scope="module")
def judged() -> ExperimentData:
    """6 cells, 6 scenarios, 2 tips, two people scoring and judging pairs, one with a lean."""
    exp = synthetic.generate(3, 2, 6, 2, n_judges=2, seed=5)
    pairs = pairs_frame(
        pair_judgments(exp, "judge-0", tips=2, seed=1)
        + pair_judgments(exp, "judge-1", tips=2, left_lean=0.5, seed=2)
    )
    data = ExperimentData(exp.cells, exp.candidates, exp.judgments, {"experiment": "speed"})
    return dataclasses.replace(data, pairs=pairs)


@pytest.mark.parametrize("baseline", [None, ("model-01", "v2")])
def test_the_pairwise_view_fits_one_bootstrap_and_compares_once(
    judged: ExperimentData, baseline: tuple[str, str] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the rank agreement drew and fitted the strengths' resamples again, and with a
    named baseline the strengths computed the comparisons again."""
    options = Options(n_boot=N_BOOT, n_perm=500, seed=2, baseline=baseline)
    bradley_terry.forget_fits()
    fits = counting(monkeypatch, bradley_terry, "fit")
    compared = [
        counting(monkeypatch, module, "compare_pairwise") for module in (view_module, bradley_terry)
    ]
    analysis = analyse(judged, options)
    found = analysis.pairwise
    assert found is not None and found.agreement is not None
    assert [shapes[0] for shapes in fits if len(shapes[0] or ()) == 3] == [(N_BOOT, 6, 6)]
    assert sum(len(calls) for calls in compared) == 1
    # the straightforward computation: strengths on their own, the agreement drawing its own
    monkeypatch.undo()
    board = bradley_terry.strengths(
        found.outcomes, baseline=baseline, alpha=options.alpha, n_boot=N_BOOT, seed=options.seed
    )
    columns = [c for c in bradley_terry.COLUMNS if "baseline" not in c]
    assert found.leaderboard.select(columns).equals(board.select(columns))
    if baseline is not None:
        shares = ["win_rate_vs_baseline", "vs_baseline_lo", "vs_baseline_hi"]
        assert found.leaderboard.select(shares).equals(board.select(shares))
    agreement = pairwise.rank_agreement(
        analysis.leaderboard,
        found.leaderboard,
        seed=options.seed,
        alpha=options.alpha,
        n_boot=N_BOOT,
        scenario_means=analysis.scenario_means,
        outcomes=found.outcomes,
    )
    assert found.agreement.method == agreement.method == "scenario bootstrap"
    assert (found.agreement.tau, found.agreement.lo, found.agreement.hi) == (
        agreement.tau,
        agreement.lo,
        agreement.hi,
    )
    assert found.agreement.disagreements.equals(agreement.disagreements)


def big_fits(fits: list[tuple]) -> int:
    return sum(len(shapes[0] or ()) == 3 for shapes in fits)


def test_a_new_baseline_or_alpha_reuses_the_fitted_resamples(
    judged: ExperimentData, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notebook's baseline and α controls run the analysis again; the resamples' fit
    depends on neither, so it is kept, and the numbers are those of a fresh analysis."""
    bradley_terry.forget_fits()
    analyse(judged, Options(n_boot=N_BOOT, n_perm=500, seed=2))
    fits = counting(monkeypatch, bradley_terry, "fit")
    for options in (
        Options(n_boot=N_BOOT, n_perm=500, seed=2, baseline=("model-02", "v1")),
        Options(n_boot=N_BOOT, n_perm=500, seed=2, alpha=0.1),
    ):
        fits.clear()
        kept = analyse(judged, options).pairwise
        assert big_fits(fits) == 0
        bradley_terry.forget_fits()
        fresh = analyse(judged, options).pairwise
        assert big_fits(fits) == 1
        assert kept is not None and fresh is not None
        for name in ("leaderboard", "comparisons", "disagreements"):
            assert getattr(kept, name).equals(getattr(fresh, name)), name
        assert kept.agreement is not None and fresh.agreement is not None
        assert (kept.agreement.tau, kept.agreement.lo, kept.agreement.hi) == (
            fresh.agreement.tau,
            fresh.agreement.lo,
            fresh.agreement.hi,
        )
    fits.clear()
    analyse(judged, Options(n_boot=N_BOOT + 10, n_perm=500, seed=2))
    analyse(judged, Options(n_boot=N_BOOT, n_perm=500, seed=3))
    assert big_fits(fits) == 2  # another number of resamples, another seed: fitted anew


def test_kept_fits_leave_the_generator_where_drawing_would_have() -> None:
    """Stacked experiments share one generator: an experiment whose fit is kept must move it
    on as drawing would, or the next experiment's resamples change."""
    setup = pair_simulation.Setup(n_cells=4, n_scenarios=6, effects=(0.0, 0.3, 0.6, 0.9))
    stacked = pair_simulation.outcomes(setup, 3, 9)
    bradley_terry.forget_fits()
    fresh = bradley_terry.strengths(stacked, n_boot=N_BOOT, seed=5, by="experiment")
    bradley_terry.forget_fits()
    first = stacked.filter(pl.col("experiment") == "0")
    bradley_terry.strengths(first, n_boot=N_BOOT, seed=5, by="experiment")  # keeps its fit
    partly = bradley_terry.strengths(stacked, n_boot=N_BOOT, seed=5, by="experiment")
    again = bradley_terry.strengths(stacked, n_boot=N_BOOT, seed=5, by="experiment")
    assert partly.equals(fresh) and again.equals(fresh)
    with pytest.raises(ValueError):
        _, resamples = bradley_terry.strengths_with_resamples(first.drop("experiment"))
        assert resamples is not None
        resamples.draws[0, 0] = 1.0  # kept arrays are read-only
