"""Which judges make verdicts provisional? Lenient people must pass, noisy and random ones not.

Issue 18.6: with the old rule (interval alpha on raw composites against the other judges' mean)
two people a constant ±0.5 apart, which the paired comparison cancels, were both "weak" and
every verdict provisional; a lone person was checked against the LLM judge. The new rule
(``stats/judges``, docs/architecture.md section 8 "Provisional") measures alpha within scenarios,
each judge's scenario means taken away, people only against people (the best-agreeing other
person), LLM judges against the people who passed.

Scores from :mod:`tipbench_lib.validation.judge_simulation`: discrete 1-5 scores piled at the
ceiling (43% of relevance scores and 57% of tone scores are 5s for an unbiased judge), scenario
(sd 0.6), cell x scenario (0.2), tip (0.5) and per-dimension (0.3) effects, six cells 0.1-0.6
latent units apart (four at the smallest size), every judge scoring every tip; a person's own
noise has sd 0.3. Judge types: unbiased, harsh/lenient by ±0.25 and ±0.5, noisy (own sd 1.0,
1.5, 2.0: 3-7 times a person's), random (uniform 1-5), and LLM judges (lenient by +0.8 with sd
0.6, or random).

Per judge type, the share of replicates in which it is flagged weak, and the share in which the
people view's verdicts are provisional, under three rules side by side on the same draws:

- ``old``: today's rule before issue 18 (raw composites; a person against the mean of the other
  people, else the other judges, so a lone person against the LLM judge);
- ``judge-centred``: the new reference rule with alpha on judge-centred composites (a judge's
  mean over the shared tips removed; scenarios kept), the other measure considered;
- ``new``: the product's :func:`tipbench_lib.stats.judges.judge_panel`.

Run: ``.venv/bin/python bench/judge_consistency.py [--replicates 500] [--quick]``
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tipbench_lib.core.schema import PEOPLE_KINDS
from tipbench_lib.stats.agreement import krippendorff_alpha
from tipbench_lib.stats.judges import AGREEMENT_FLOOR, MIN_SHARED_TIPS, choose_view, judge_panel
from tipbench_lib.validation import judge_simulation as js

J = js.Judge
SIZES = ((4, 6, 2), (6, 12, 3), (6, 24, 3))
"""(cells, scenarios, tips per cell and scenario)."""


@dataclass(frozen=True)
class Case:
    label: str
    judges: tuple[js.Judge, ...]
    types: dict[str, str]
    """judge_id -> the judge type it stands for in the table (judges not listed: not shown)."""


CASES = (
    Case("2 people, unbiased", (J("p1"), J("p2")), {"p1": "unbiased"}),
    Case("2 people, ±0.25", (J("p1", bias=-0.25), J("p2", bias=0.25)), {"p1": "harsh -0.25"}),
    Case("2 people, ±0.5", (J("p1", bias=-0.5), J("p2", bias=0.5)), {"p1": "harsh -0.5"}),
    Case(
        "3 people, -0.5/0/+0.5",
        (J("p1", bias=-0.5), J("p2"), J("p3", bias=0.5)),
        {"p1": "harsh -0.5", "p2": "unbiased", "p3": "lenient +0.5"},
    ),
    *(
        Case(
            f"2 people + noisy (sd {sd:g})",
            (J("p1"), J("p2"), J("noisy", sd=sd)),
            {"noisy": f"noisy sd {sd:g}", "p1": "unbiased beside it"},
        )
        for sd in (1.0, 1.5, 2.0)
    ),
    Case(
        "2 people + random",
        (J("p1"), J("p2"), J("dice", random=True)),
        {"dice": "random", "p1": "unbiased beside it"},
    ),
    Case(
        "lone person + LLM judge",
        (J("p1"), J("llm", kind="llm", bias=0.8, sd=0.6)),
        {"p1": "lone person", "llm": "LLM +0.8, sd 0.6"},
    ),
    Case(
        "lone person + random LLM judge",
        (J("p1"), J("llm", kind="llm", random=True)),
        {"p1": "lone person", "llm": "LLM random"},
    ),
    Case(
        "2 people ±0.5 + LLM judge",
        (J("p1", bias=-0.5), J("p2", bias=0.5), J("llm", kind="llm", bias=0.8, sd=0.6)),
        {"llm": "LLM +0.8, sd 0.6"},
    ),
)


# -- the rules compared with the product's ---------------------------------------------------


def _alpha(a: np.ndarray, b: np.ndarray) -> float:
    both = ~np.isnan(a) & ~np.isnan(b)
    if both.sum() < MIN_SHARED_TIPS:
        return float("nan")
    return krippendorff_alpha(np.vstack([a[both], b[both]]), "interval")


def _judge_centred(a: np.ndarray, b: np.ndarray) -> float:
    return _alpha(a - np.nanmean(a), b - np.nanmean(b))


def old_flags(scores: np.ndarray, kinds: Sequence[str]) -> np.ndarray:
    """The rule before issue 18: raw interval alpha against the mean of the other people, else
    of all other judges; a person without a reference is not flagged, an LLM judge is."""
    flags = np.zeros(len(kinds), dtype=bool)
    people = [j for j, k in enumerate(kinds) if k in PEOPLE_KINDS]
    for j, kind in enumerate(kinds):
        alpha = float("nan")
        for reference in ([p for p in people if p != j], [o for o in range(len(kinds)) if o != j]):
            if reference:
                alpha = _alpha(scores[:, j], scores[:, reference].mean(axis=1))
                if not np.isnan(alpha):
                    break
        flags[j] = alpha < AGREEMENT_FLOOR or (np.isnan(alpha) and kind not in PEOPLE_KINDS)
    return flags


def reference_rule_flags(
    scores: np.ndarray, kinds: Sequence[str], measure: Callable[[np.ndarray, np.ndarray], float]
) -> np.ndarray:
    """The new reference rule (people against the best other person, LLM judges against the
    people who passed) with another agreement ``measure``."""
    people = [j for j, k in enumerate(kinds) if k in PEOPLE_KINDS]
    alpha = np.full(len(kinds), np.nan)
    for j in people:
        found = [measure(scores[:, j], scores[:, o]) for o in people if o != j]
        found = [a for a in found if not np.isnan(a)]
        alpha[j] = max(found) if found else np.nan
    passed = [p for p in people if not alpha[p] < AGREEMENT_FLOOR] or people
    for j, kind in enumerate(kinds):
        if kind not in PEOPLE_KINDS and passed:
            alpha[j] = measure(scores[:, j], scores[:, passed].mean(axis=1))
    flags = alpha < AGREEMENT_FLOOR
    flags |= np.isnan(alpha) & np.array([k not in PEOPLE_KINDS for k in kinds])
    return flags


def new_flags(frame: pl.DataFrame, tips: pl.DataFrame, judges: Sequence[str]) -> np.ndarray:
    panel = judge_panel(frame, scenarios=tips)
    provisional = dict(zip(panel["judge_id"], panel["provisional"], strict=True))
    return np.array([provisional[j] for j in judges])


# -- the table ---------------------------------------------------------------------------------


def run_case(case: Case, size: tuple[int, int, int], replicates: int, seed: int) -> list[dict]:
    cells, scenarios, tips = size
    design = js.Design(
        case.judges,
        n_cells=cells,
        n_scenarios=scenarios,
        n_tips=tips,
        cell_effects=tuple(np.linspace(-0.3, 0.3, cells)),
    )
    data = js.draw(design, replicates, seed)
    composite = data.composite
    ids = [j.judge_id for j in case.judges]
    kinds = [j.kind for j in case.judges]
    people = np.array([k in PEOPLE_KINDS for k in kinds])
    tip_frame = js.scenario_of(design)
    rules = ("old", "judge-centred", "new")
    flags = {rule: np.zeros((replicates, len(ids)), dtype=bool) for rule in rules}
    people_view = {rule: np.zeros(replicates, dtype=bool) for rule in rules}
    for r in range(replicates):
        scores = composite[r].reshape(-1, len(ids))
        flags["old"][r] = old_flags(scores, kinds)
        flags["judge-centred"][r] = reference_rule_flags(scores, kinds, _judge_centred)
        frame = js.judgments_frame(data, r)
        flags["new"][r] = new_flags(frame, tip_frame, ids)
        if r == 0:  # the product's people view agrees with the flags it is built from
            panel = judge_panel(frame, scenarios=tip_frame)
            view = choose_view(panel, "people")
            assert view.provisional == bool(flags["new"][0][people].any())
        for rule in rules:
            people_view[rule][r] = flags[rule][r][people].any()
    rows = []
    for judge, kind in case.types.items():
        j = ids.index(judge)
        row = {"case": case.label, "judge": kind, "size": size}
        for rule in rules:
            row[f"flag {rule}"] = float(flags[rule][:, j].mean())
            row[f"prov {rule}"] = float(people_view[rule].mean())
        rows.append(row)
    return rows


def print_rows(rows: list[dict]) -> None:
    head = (
        f"{'case':<32} {'judge type':<20} {'size':>9} | {'flagged weak':^23} | "
        f"{'people view provisional':^23}"
    )
    print(head)
    print(
        f"{'':<32} {'':<20} {'':>9} | {'old':>7}{'j-cent':>8}{'new':>8} | "
        f"{'old':>7}{'j-cent':>8}{'new':>8}"
    )
    rules = ("old", "judge-centred", "new")
    for row in rows:
        size = "{}x{}x{}".format(*row["size"])
        flags = f"{row['flag old']:>7.3f}" + "".join(f"{row[f'flag {r}']:>8.3f}" for r in rules[1:])
        prov = f"{row['prov old']:>7.3f}" + "".join(f"{row[f'prov {r}']:>8.3f}" for r in rules[1:])
        print(f"{row['case']:<32} {row['judge']:<20} {size:>9} | {flags} | {prov}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="40 replicates, for a smoke run")
    args = parser.parse_args()
    replicates = 40 if args.quick else args.replicates
    start = time.perf_counter()
    unbiased = js.draw(js.Design((J("p"),), n_scenarios=24), 200, 0)
    shares = ", ".join(
        f"{d} {s:.2f}" for d, s in zip(js.DIMENSIONS, js.top_share(unbiased), strict=True)
    )
    print(f"Share of 5s an unbiased judge gives: {shares}")
    print(
        f"{replicates} replicates per case and size; size = cells x scenarios x tips; "
        f"floor {AGREEMENT_FLOOR}; people view provisional = any person flagged\n"
    )
    rows = []
    for i, case in enumerate(CASES):
        for k, size in enumerate(SIZES):
            rows += run_case(case, size, replicates, seed=100 * i + k)
    print_rows(rows)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
