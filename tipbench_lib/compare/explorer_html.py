"""The explorer in the offline report: the frames of :mod:`.explorer`, rendered.

Every tip of every cell, one scenario at a time, cells side by side; each tip with its flags,
near repeat, and every judge's scores and note. The filters (scenario, cell, a dimension's low
scores, judges who disagree, near repeats) are a few lines of script that only show and hide
what the page already holds, so the report stays one file that works offline.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tipbench_lib.compare.explorer import side_by_side
from tipbench_lib.core.escaping import html_text as esc
from tipbench_lib.core.schema import AUTO_SUFFIX

LOW_SCORE = 2
"""A dimension filter keeps tips some judge scored at most this (on a 1–5 scale: 1 or 2)."""


def _score(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return esc(value)


def judge_rows(scores: pl.DataFrame, dimensions: Sequence[str]) -> str:
    """One line per judge: who, each dimension, the composite, the note (the LLM's reason)."""
    if scores.height == 0:
        return "<p class='xp-none'>not judged</p>"
    head = "".join(f"<th class='num'>{esc(d)}</th>" for d in dimensions)
    rows = []
    for row in scores.iter_rows(named=True):
        cells = "".join(f"<td class='num'>{_score(row.get(d))}</td>" for d in dimensions)
        rows.append(
            f"<tr><td class='xp-judge'>{esc(row['judge_id'])}"
            f" <span class='muted'>{esc(row['judge_kind'])}</span></td>{cells}"
            f"<td class='num'><b>{_score(row.get('composite'))}</b></td></tr>"
        )
        if row.get("note"):
            rows.append(
                f"<tr><td class='xp-note' colspan='{len(dimensions) + 2}'>"
                f"{esc(row['note'])}</td></tr>"
            )
    return (
        f"<table class='xp-scores'><thead><tr><th>judge</th>{head}<th class='num'>total</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def tip_card(tip: dict, scores: pl.DataFrame, dimensions: Sequence[str]) -> str:
    low = sorted(d for d in dimensions if d in scores.columns and (scores[d] <= LOW_SCORE).any())
    flags = [
        f"{k[: -len(AUTO_SUFFIX)]}: {'yes' if v else 'no'}"
        for k, v in tip.items()
        if k.endswith(AUTO_SUFFIX) and v is not None
    ]
    badges = "".join(f"<span class='xp-flag'>{esc(f)}</span>" for f in flags)
    if tip["near_repeat"]:
        badges += "<span class='xp-flag xp-repeat'>near repeat</span>"
    spread = tip.get("disagreement")
    spread_text = f" · judges differ by {spread:.1f}" if spread else ""
    return (
        f"<div class='xp-tip' data-disagree='{spread or 0:.3f}' "
        f"data-repeat='{int(bool(tip['near_repeat']))}' data-low='{esc(' '.join(low))}'>"
        f"<div class='muted'>tip {tip['sample_index'] + 1}{esc(spread_text)} {badges}</div>"
        f"<pre class='tip-text'>{esc(tip['text'])}</pre>"
        f"{judge_rows(scores, dimensions)}</div>"
    )


def controls(tips: pl.DataFrame, dimensions: Sequence[str]) -> str:
    scenarios = tips["scenario_id"].unique(maintain_order=True).to_list()
    cells = tips["cell"].unique(maintain_order=True).to_list()
    options = "".join(f"<option value='{esc(s)}'>{esc(s)}</option>" for s in scenarios)
    dims = "".join(f"<option value='{esc(d)}'>{esc(d)} ≤ {LOW_SCORE}</option>" for d in dimensions)
    boxes = "".join(
        f"<label><input type='checkbox' class='xp-cellbox' value='{esc(c)}' checked> {esc(c)}"
        "</label>"
        for c in cells
    )
    return (
        "<div class='xp-controls'>"
        f"<label>Scenario <select id='xp-scenario'><option value=''>all</option>{options}"
        "</select></label>"
        f"<label>Low score on <select id='xp-dimension'><option value=''>any dimension</option>"
        f"{dims}</select></label>"
        "<label>Judges differ by at least <input id='xp-disagree' type='number' min='0' "
        "step='1' value='0'></label>"
        "<label><input id='xp-repeat' type='checkbox'> near repeats only</label>"
        f"<div class='xp-cells'>Cells: {boxes}</div>"
        "<p class='note' id='xp-count'></p></div>"
    )


def explorer_html(
    tips: pl.DataFrame,
    tip_scores: pl.DataFrame,
    dimensions: Sequence[str],
    *,
    controls_shown: bool = True,
) -> str:
    """The explorer section's body: controls, then one block per scenario, cells side by side.

    The notebook filters with its own widgets (``filter_tips``) and renders without controls.
    """
    if tips.height == 0:
        return "<p class='note'>No tip matches.</p>"
    by_tip = {str(cid): group for (cid,), group in tip_scores.group_by(["candidate_id"])}
    empty = tip_scores.clear()
    blocks = []
    for scenario, columns in side_by_side(tips):
        cols = []
        for cell, group in columns:
            cards = "".join(
                tip_card(t, by_tip.get(t["candidate_id"], empty), dimensions)
                for t in group.iter_rows(named=True)
            )
            cols.append(
                f"<div class='xp-cell' data-cell='{esc(cell)}'>"
                f"<h4 class='mono'>{esc(cell)}</h4>{cards}</div>"
            )
        blocks.append(
            f"<div class='xp-scenario' data-scenario='{esc(scenario)}'>"
            f"<h3>Scenario <span class='mono'>{esc(scenario)}</span></h3>"
            f"<div class='xp-grid'>{''.join(cols)}</div></div>"
        )
    return (
        "<p class='note'>Every tip of every cell, a scenario at a time, cells side by side, "
        "exactly as the model wrote it, with every judge's scores and note (an LLM judge's "
        "note is its reason).</p>"
        + (controls(tips, dimensions) if controls_shown else "")
        + "".join(blocks)
    )
