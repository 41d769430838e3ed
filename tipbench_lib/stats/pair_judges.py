"""Who pairwise verdicts rest on: each judge's position bias and agreement, and who is provisional.

The pairwise twin of :mod:`tipbench_lib.stats.judges` (``docs/architecture.md`` sections 8 and
13), re-exported by :mod:`tipbench_lib.stats.pairwise`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy import stats as sps

from tipbench_lib.core.provenance import Provenance
from tipbench_lib.core.schema import require_columns
from tipbench_lib.stats import judges


def wilson(
    successes: np.ndarray, n: np.ndarray, alpha: float = 0.05, z: np.ndarray | float | None = None
) -> tuple[np.ndarray, ...]:
    """Wilson's score interval of a binomial share (NaN where n is 0); ``z`` replaces the
    normal quantile (:func:`clustered_wilson` gives a t quantile)."""
    successes, n = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    z = sps.norm.ppf(1 - alpha / 2) if z is None else np.asarray(z, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return p, np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def clustered_wilson(
    left: np.ndarray, decided: np.ndarray, alpha: float = 0.05
) -> tuple[np.ndarray, ...]:
    """The left share of the last axis's pairs (clusters) and its (1 − α) interval.

    ``left``/``decided``: per pair (last axis), its showings won by the left side, and those
    decided (left or right). The share is Σ left / Σ decided. The two showings of one pair are
    not independent: a judge that reads the tips picks the same tip in both orders (one left,
    one right), one that picks a side picks it twice, so Wilson's interval over showings covers
    a side-picking judge shown both orders 0.85–0.87 of the time (``bench/pairwise.py --parts
    bias``). Here the
    pair is the unit: the share's cluster-robust variance n/(n − 1) Σ (left − p·decided)² /
    (Σ decided)² over the n pairs with a decided showing gives the design effect (that
    variance over the binomial one, at least 1), Wilson's interval is taken on the showings
    divided by it (Kish's effective size), with Student's t quantile on n − 1 degrees of
    freedom instead of the normal one (Korn and Graubard's rule for few clusters). Where the
    design effect cannot be estimated (fewer than 2 such pairs, or a share of 0 or 1) the
    effective size is the number of pairs: every pair's showings taken as one. Covers 0.949–1.00
    at 10–100 pairs, shown once or in both orders, judges reading the tips, picking sides or
    noisy, leaning left by 0, 0.1 and 0.3 (the bench's table, ``docs/architecture.md``
    section 13). Returns (share, lo, hi, effective size).
    """
    left, decided = np.asarray(left, dtype=float), np.asarray(decided, dtype=float)
    total = decided.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = left.sum(axis=-1) / total
        pairs = (decided > 0).sum(axis=-1)
        spread = ((left - share[..., None] * decided) ** 2).sum(axis=-1)
        robust = pairs / (pairs - 1) * spread / total**2
        binomial = share * (1 - share) / total
        estimable = (pairs >= 2) & (binomial > 0)
        effect = np.where(estimable, np.maximum(robust / np.where(estimable, binomial, 1), 1), 1)
        size = np.where(estimable, total / effect, pairs)
    t = sps.t.ppf(1 - alpha / 2, np.maximum(pairs - 1, 1))
    _, lo, hi = wilson(share * size, size, alpha, z=t)
    return share, lo, hi, size


def position_bias(pairs: pl.DataFrame, *, alpha: float = 0.05) -> pl.DataFrame:
    """Per judge: showings won by the side shown left / right, ties, and the left share.

    ``share_left`` = n_left / (n_left + n_right), 1/2 for a judge with no position bias, with
    its (1 − α) interval over pairs (:func:`clustered_wilson`: each row, one judgment of a pair
    and its showings, is a cluster, so two showings that went the same way count as the one
    decision they are). A share of 1/2 can also hide a judge that decides by position in
    both directions, so ``n_same_side`` counts the pairs shown in both orders
    (``n_both_orders``) whose two showings the same side won: position, not content (the
    both-orders rule makes them ties). Reads the pairs frame (or pair outcomes): ``n_left``,
    ``n_right``, ``n_showings`` per judgment.
    """
    require_columns(pairs, ["judge_id", "judge_kind", "n_left", "n_right", "n_showings"], "pairs")
    decided = pl.col("n_left") + pl.col("n_right")
    counts = (
        pairs.group_by("judge_id", "judge_kind")
        .agg(
            pl.col("n_left").sum().cast(pl.Int64),
            pl.col("n_right").sum().cast(pl.Int64),
            (pl.col("n_showings") - pl.col("n_left") - pl.col("n_right"))
            .sum()
            .cast(pl.Int64)
            .alias("n_ties"),
            (pl.col("n_showings") == 2).sum().cast(pl.Int64).alias("n_both_orders"),
            ((pl.col("n_showings") == 2) & ((pl.col("n_left") == 2) | (pl.col("n_right") == 2)))
            .sum()
            .cast(pl.Int64)
            .alias("n_same_side"),
            pl.col("n_left").alias("_left"),
            decided.alias("_decided"),
        )
        .sort("judge_id", "judge_kind")
    )
    share, lo, hi = (np.full(counts.height, np.nan) for _ in range(3))
    for i, (left, decided_) in enumerate(zip(counts["_left"], counts["_decided"], strict=True)):
        share[i], lo[i], hi[i], _ = clustered_wilson(left.to_numpy(), decided_.to_numpy(), alpha)
    return counts.drop("_left", "_decided").with_columns(
        pl.Series("share_left", share, dtype=pl.Float64).fill_nan(None),
        pl.Series("share_left_lo", lo, dtype=pl.Float64).fill_nan(None),
        pl.Series("share_left_hi", hi, dtype=pl.Float64).fill_nan(None),
    )


# -- who the verdicts rest on ---------------------------------------------------------------------

ANSWER_VALUES = {"a": 1.0, "tie": 0.5, "b": 0.0}
PAIR_AGREEMENT_FLOOR = 0.45
"""The agreement below which a pairwise judge is provisional. Not the rubric's 0.667, which
every simulated person misses on pairs: a choice among three answers is coarse. In
``bench/pairwise.py`` part 4 (6 cells, 12 scenarios, 2 tip pairs, 100 replicates) people harsh,
neutral and lenient by 0.5 agree at 0.48–0.63 (10th–90th percentile) and are flagged in 0–1%
of the replicates; a person with three times their noise agrees at 0.32–0.42, five times at
0.19–0.32, one pushing the left tip up by 1.0 at 0.31–0.42, flagged in 97–100%: the role 0.667
plays for the rubric (docs/benchmarks.md, pairwise judging)."""


def pair_judge_panel(
    pairs: pl.DataFrame,
    provenance: Provenance | Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """One row per pairwise judge: kind, size, agreement, and whether it is provisional.

    The rubric's rule (:mod:`tipbench_lib.stats.judges`, ``docs/architecture.md`` section 8,
    "Provisional") on pairwise answers: an LLM judge under 1B parameters; a person whose best
    agreement with another person, or an LLM judge whose agreement with the people who passed
    (else with the judge it agrees with best), is below the floor over at least 10
    tip pairs both judged; an LLM judge nobody can be checked against. The floor is
    :data:`PAIR_AGREEMENT_FLOOR` (0.45), not 0.667, chosen by simulation. Agreement is interval
    alpha on the answer (A 1, tie 1/2, B 0) of the same tip pairs (``pair_id``), each judge's
    mean answer taken away (the rubric's within-scenario centring with the experiment as one
    scenario): a judge's lean towards side A, which the paired test cancels, is no disagreement.
    ``n_alpha_tips`` counts tip pairs. Reads the pairs frame (``core/schema.PAIRS``).
    """
    require_columns(pairs, ["pair_id", "judge_id", "judge_kind", "answer"], "pairs")
    counted = pairs.filter(pl.col("answer").is_in(list(ANSWER_VALUES)))
    prov = provenance if isinstance(provenance, Provenance) else Provenance.from_dict(provenance)
    counts = (
        counted.group_by("judge_id")
        .agg(pl.col("judge_kind").first().alias("kind"), pl.len().cast(pl.Int64).alias("n"))
        .sort("judge_id")
    )
    kinds = dict(zip(counts["judge_id"], counts["kind"], strict=True))
    wide = (
        counted.with_columns(pl.col("answer").replace_strict(ANSWER_VALUES).alias("_value"))
        .group_by("pair_id", "judge_id", maintain_order=True)
        .agg(pl.col("_value").last())
        # a fixed order of judges and pairs, so the agreements (and who each judge is checked
        # against when two agree equally) do not change from one run to the next
        .sort("judge_id", "pair_id")
        .pivot(on="judge_id", index="pair_id", values="_value")
        .sort("pair_id")
    )
    judges_seen = [c for c in wide.columns if c != "pair_id"]
    tips = judges.TipScores(
        np.zeros(wide.height, dtype=np.int64),
        {j: wide[j].cast(pl.Float64).fill_null(np.nan).to_numpy() for j in judges_seen},
    )
    agreement = judges.agreements(tips, kinds, PAIR_AGREEMENT_FLOOR)
    return judges.panel_frame(
        counts, agreement, prov, counted, PAIR_AGREEMENT_FLOOR, "on the same tip pairs"
    )


def pair_provisional_judges(
    pairs: pl.DataFrame, provenance: Provenance | Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The judges :func:`pair_judge_panel` marks provisional (for ``compare_pairwise``)."""
    panel = pair_judge_panel(pairs, provenance)
    return tuple(panel.filter(pl.col("provisional"))["judge_id"].to_list())
