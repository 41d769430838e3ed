"""PPI and judge calibration in compare: an LLM judge on every tip, people on a random subset."""

from __future__ import annotations

import polars as pl
import pytest

from tipbench_lib import synthetic
from tipbench_lib.compare.llm_people import (
    PPI_COLUMNS,
    PPIRefused,
    calibration,
    ppi_absent_note,
    ppi_view,
)
from tipbench_lib.compare.load import ExperimentData
from tipbench_lib.stats.ppi import ppi_design
from tipbench_lib.stats.scale import ScoreScale

SEED = 11


def _data(people_scenarios: list[str] | None, record: dict | None) -> ExperimentData:
    """3 cells x 16 scenarios x 2 tips, two people and one LLM judge; people's scores kept only
    on ``people_scenarios``."""
    exp = synthetic.generate(
        n_models=3, n_prompts=1, n_scenarios=16, n_tips=2, n_judges=3, llm_judges=1, seed=SEED
    )
    kinds = dict(zip(exp.judgments["judge_id"], exp.judgments["judge_kind"], strict=False))
    judgments = exp.judgments
    if people_scenarios is not None:
        scenario_of = exp.candidates.join(exp.cells, on="cell_id").select(
            "candidate_id", "scenario_id"
        )
        judgments = judgments.join(scenario_of, on="candidate_id").filter(
            (pl.col("judge_kind") == "llm") | pl.col("scenario_id").is_in(people_scenarios)
        )
        judgments = judgments.drop("scenario_id")
    assert sorted(set(kinds.values())) == ["human", "llm"]
    provenance = {"ppi_sampling": record} if record is not None else {}
    return ExperimentData(exp.cells, exp.candidates, judgments, provenance=provenance)


def _scenarios() -> list[str]:
    exp = synthetic.generate(n_models=1, n_prompts=1, n_scenarios=16, n_tips=1, seed=SEED)
    return sorted(set(exp.cells["scenario_id"].to_list()))


def _llm(data: ExperimentData) -> str:
    return data.judgments.filter(pl.col("judge_kind") == "llm")["judge_id"][0]


def test_ppi_on_a_random_prefix_sits_beside_people_alone():
    design = ppi_design(_scenarios(), seed=5)
    data = _data(design.permutation()[:8], design.as_record())
    scale = ScoreScale.from_rubric(data.rubric)
    view = ppi_view(data, scale, llm_judge=None, baseline=None, alpha=0.05)
    assert view is not None and view.llm_judge == _llm(data)
    assert view.rows.columns == list(PPI_COLUMNS)
    assert view.rows.height == 3, "all pairs of 3 cells"
    rows = view.rows.to_dicts()
    assert all(r["n_human_scenarios"] == 8 and r["n_llm_only_scenarios"] == 8 for r in rows)
    assert all(r["lo_ppi"] <= r["diff_ppi"] <= r["hi_ppi"] for r in rows)
    assert all(r["effective_human_cards"] > 0 for r in rows)
    with_baseline = ppi_view(
        data, scale, llm_judge=_llm(data), baseline=("model-01", "v1"), alpha=0.05
    )
    assert with_baseline.rows.height == 2
    assert set(with_baseline.rows["b_model"]) == {"model-01"}


def test_ppi_is_refused_on_a_subset_that_is_not_the_random_order():
    design = ppi_design(_scenarios(), seed=5)
    chosen = [s for s in _scenarios() if s not in design.permutation()[:8]][:8]
    data = _data(chosen, design.as_record())
    scale = ScoreScale.from_rubric(data.rubric)
    with pytest.raises(PPIRefused, match="not a uniform random sample"):
        ppi_view(data, scale, llm_judge=_llm(data), baseline=None, alpha=0.05)
    assert ppi_view(data, scale, llm_judge=None, baseline=None, alpha=0.05) is None
    assert "not a uniform random sample" in ppi_absent_note(data, scale)


def test_ppi_is_refused_without_a_sampling_record_or_an_llm_judge_on_every_tip():
    design = ppi_design(_scenarios(), seed=5)
    data = _data(design.permutation()[:8], None)
    scale = ScoreScale.from_rubric(data.rubric)
    with pytest.raises(PPIRefused, match="no ppi-uniform sampling record"):
        ppi_view(data, scale, llm_judge=_llm(data), baseline=None, alpha=0.05)
    data = _data(design.permutation()[:8], design.as_record())
    judge = _llm(data)
    dropped = data.judgments.filter(pl.col("judge_id") == judge)["candidate_id"][0]
    data.judgments = data.judgments.filter(
        ~((pl.col("judge_id") == judge) & (pl.col("candidate_id") == dropped))
    )
    with pytest.raises(PPIRefused, match="PPI needs its score on every tip"):
        ppi_view(data, scale, llm_judge=judge, baseline=None, alpha=0.05)
    with pytest.raises(PPIRefused, match="not an LLM judge"):
        ppi_view(data, scale, llm_judge="nobody", baseline=None, alpha=0.05)


def test_calibration_names_the_dimensions_an_llm_judge_can_be_trusted_on():
    data = _data(None, None)
    found = calibration(data, alpha=0.05)
    assert set(found.llm["judge_id"]) == {_llm(data)}
    assert {"relevance", "actionability", "tone", "composite"} <= set(found.llm["dimension"])
    assert found.llm.columns == [
        "judge_id",
        "dimension",
        "n_items",
        "alpha",
        "mean_bias",
        "spearman",
    ]
    assert found.slopes.height == 3 and set(found.slopes["kind"]) == {"human", "llm"}
    assert found.note.startswith(f"{_llm(data)} agrees with people")
