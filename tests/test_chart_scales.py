"""Charts whose scales say what the statistics say (issue 22, finding 2).

The heatmap's colour spanned the data (5.8–6.6 as its whole range) and the quality–latency x axis
ran 3.09–3.20 s: both made small differences look large. Read from the charts' Vega-Lite specs.
"""

from __future__ import annotations

from typing import Any

from tipbench_lib.compare import charts
from tipbench_lib.core.rubric import shipped_rubric

from .test_report_browser import build_data


def _find(spec: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere in the spec."""
    found = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                found.append(v)
            found += _find(v, key)
    elif isinstance(spec, list):
        for v in spec:
            found += _find(v, key)
    return found


def test_heatmap_colour_spans_the_rubric_and_latency_starts_at_zero() -> None:
    data = build_data(2, 3, 6, 2)
    rubric = shipped_rubric()
    spec = charts.heatmap(data.leaderboard, rubric=rubric).to_dict()
    colours = [c for c in _find(spec, "color") if isinstance(c, dict) and "scale" in c]
    assert [c["scale"]["domain"] for c in colours] == [list(rubric.composite_range)]
    chart = charts.quality_latency(data.leaderboard, data.speed, data.front).to_dict()
    xs = [
        x for x in _find(chart, "x") if isinstance(x, dict) and x.get("field") == "latency_s_median"
    ]
    assert xs and all(x["scale"]["zero"] is True for x in xs)
    assert all(x["axis"]["labelOverlap"] == "greedy" for x in xs)
