"""PPI and judge calibration in compare: an LLM judge on every tip, people on a random subset."""

from __future__ import annotations

import polars as pl
import pytest

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
from tipbench_lib.validation import synthetic

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


# -- through the product: the ppi-uniform queue, an LLM judge, `tipbench compare` ---------------


def _llm_scores(client, experiment: str, cells: dict, seed: int) -> None:
    """A simulated LLM judge (a noisy reading of the same truth) scores every tip, through the
    judge session's own save path, as `tipbench judge --llm-judge` records its judgments."""
    from tipbench_lib.core.records import JudgeSource
    from tipbench_lib.judge.session import JudgeSession

    from .test_judge_queue import Person

    session = JudgeSession(client, experiment, "llm:sim", judge_kind="llm")
    person = Person(cells, 0.5, seed)
    source = JudgeSource("llm", "llm:sim", model="sim", parameter_count=3_000_000_000)
    records = [session.record_for(cid, _scores(person.scores(cid)), source=source) for cid in cells]
    assert session.save_records(records).synced


def _scores(values: dict):
    from tipbench_lib.judge.session import Scores

    return Scores(values)


def test_compare_shows_ppi_for_the_ppi_uniform_queue_and_refuses_a_chosen_subset(
    mlflow_server, mlflow_client, experiment_name, tipbench_home, tmp_path, capsys, monkeypatch
):
    import json

    from tipbench_lib.compare.cli import main as compare
    from tipbench_lib.judge.cli import main as judge
    from tipbench_lib.stats.ppi import PPIDesign
    from tipbench_lib.tracking.mapping import PPI_SAMPLING_TAG

    from .test_judge_queue import Person, _apply, _experiment, _export

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    cells = _experiment(mlflow_client, experiment_name, n_scenarios=8)
    _llm_scores(mlflow_client, experiment_name, cells, seed=4)
    doc = _export(
        mlflow_client, experiment_name, tmp_path / "p.json", "ana", "--next", "16",
        "--order", "ppi-uniform",
    )  # fmt: skip
    _apply(mlflow_client, experiment_name, doc, Person(cells, 0.0, 1), tmp_path / "p.json")
    out = tmp_path / "report"
    assert compare(["--experiment", experiment_name, "--out", str(out)]) == 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "People scored 4 of 8 scenarios" in html and "Worth human cards" in html
    assert compare(["--experiment", experiment_name, "--out", str(out), "--ppi", "llm:sim"]) == 0

    # A subset chosen by hand (the random order's last scenario) is no random sample.
    other = f"{experiment_name}-chosen"
    cells = _experiment(mlflow_client, other, n_scenarios=8)
    _llm_scores(mlflow_client, other, cells, seed=4)
    _export(
        mlflow_client, other, tmp_path / "q.json", "ana", "--next", "4", "--order", "ppi-uniform"
    )
    tag = mlflow_client.get_experiment_by_name(other).tags[PPI_SAMPLING_TAG]
    last = PPIDesign.from_record(json.loads(tag)).permutation()[-1]
    doc = _export(
        mlflow_client, other, tmp_path / "u.json", "bo", "--next", "32", "--order", "uniform"
    )
    from tipbench_lib.tracking.experiment import read_experiment

    records = read_experiment(mlflow_client, other).records
    scenario = {c.candidate_id: records.cells[c.cell_id].scenario_id for c in records.candidates}
    doc["items"] = [i for i in doc["items"] if scenario[i["candidate_id"]] == last]
    assert len(doc["items"]) == 4
    _apply(mlflow_client, other, doc, Person(cells, 0.0, 2), tmp_path / "u.json")
    capsys.readouterr()
    refused = compare(["--experiment", other, "--out", str(tmp_path / "r2"), "--ppi", "llm:sim"])
    err = capsys.readouterr().err
    assert refused == 2 and "not a uniform random sample" in err and "Traceback" not in err
    assert not (tmp_path / "r2" / "report.html").exists()
    assert compare(["--experiment", other, "--out", str(tmp_path / "r3")]) == 0
    html = (tmp_path / "r3" / "report.html").read_text(encoding="utf-8")
    assert "No prediction-powered view" in html and "not a uniform random sample" in html
    assert judge(["--experiment", other, "--status"], client=mlflow_client) == 0


# -- the words (issue 18.7) ----------------------------------------------------------------------


def _only(kinds: set[str], disjoint: bool = False) -> ExperimentData:
    data = _data(None, None)
    judgments = data.judgments.filter(pl.col("judge_kind").is_in(sorted(kinds)))
    if disjoint:  # people on the first half of the tips, the LLM judge on the rest
        tips = sorted(set(judgments["candidate_id"].to_list()))
        first = set(tips[: len(tips) // 2])
        person = pl.col("judge_kind") == "human"
        judgments = judgments.filter(person == pl.col("candidate_id").is_in(sorted(first)))
    return ExperimentData(data.cells, data.candidates, judgments, provenance={})


def test_the_calibration_note_says_what_is_missing_in_each_case() -> None:
    people_only = calibration(_only({"human"}), alpha=0.05).note
    assert people_only.startswith("No LLM judge scored this experiment")
    assert "same tips" not in people_only
    llm_only = calibration(_only({"llm"}), alpha=0.05).note
    assert llm_only.startswith("No person scored a tip") and "judge-2" in llm_only
    apart = calibration(_only({"human", "llm"}, disjoint=True), alpha=0.05).note
    assert apart.startswith("No LLM judge and person scored the same tips")
    scale = ScoreScale.from_rubric(_data(None, None).rubric)
    assert ppi_absent_note(_only({"human"}), scale).startswith("No LLM judge scored this")
    assert ppi_absent_note(_only({"llm"}), scale).startswith("No person scored a tip")


def test_the_ppi_note_claims_no_more_than_the_simulation_shows() -> None:
    design = ppi_design(_scenarios(), seed=5)
    data = _data(design.permutation()[:8], design.as_record())
    scale = ScoreScale.from_rubric(data.rubric)
    view = ppi_view(data, scale, llm_judge=None, baseline=None, alpha=0.05)
    assert "never rest" not in view.note
    assert "jackknife" in view.note and "approximate" in view.note
