"""The people's queue through the real export/apply path and ``--status``, against real MLflow.

Simulated people know a truth (one cell better than the baseline by about four composite points,
two equal to it) and fill the exported batches from it; the queue must reach the true verdicts,
stop asking, and never send two judges the same unit while a plan is live.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED
from tipbench_lib.judge.cli import main

from .test_judge import collected_experiment

REPO = Path(__file__).resolve().parents[1]
MODELS = ("smollm2-135m", "gemma3-270m")
PROMPTS = ("v1", "v2-mentor")
BASELINE = "smollm2-135m:v1"
BETTER = ("smollm2-135m", "v2-mentor")
STATUS_KEYS = ["comparisons", "decided", "undecided", "cards_judged", "cards_left_estimate"]


def _experiment(client, name: str, n_scenarios: int = 12) -> dict[str, tuple[str, str]]:
    """4 cells x ``n_scenarios`` x 1 tip; candidate id -> (model, prompt)."""
    from tipbench_lib.tracking.experiment import read_experiment

    collected_experiment(
        client, name, models=MODELS, prompts=PROMPTS, n_scenarios=n_scenarios, n_tips=1
    )
    records = read_experiment(client, name).records
    return {
        c.candidate_id: (records.cells[c.cell_id].model, records.cells[c.cell_id].prompt_version)
        for c in records.candidates
    }


class Person:
    """A simulated judge: per dimension, the cell's true level plus their bias and noise."""

    def __init__(self, cells: dict[str, tuple[str, str]], bias: float, seed: int) -> None:
        self.cells = cells
        self.bias = bias
        self.rng = np.random.default_rng(seed)

    def scores(self, candidate_id: str) -> dict:
        level = 4.0 if self.cells[candidate_id] == BETTER else 2.7
        dims = np.clip(np.rint(level + self.bias + self.rng.normal(0, 0.6, 3)), 1, 5)
        relevance, actionability, tone = (int(x) for x in dims)
        return {
            "relevance": relevance,
            "actionability": actionability,
            "tone": tone,
            "format_ok": True,
            "overlong": False,
        }


def _export(client, name: str, path: Path, judge: str, *extra: str) -> dict:
    args = ["--experiment", name, "--export", str(path), "--judge-id", judge, *extra]
    assert main(args, client=client) == EXIT_OK
    return json.loads(path.read_text(encoding="utf-8"))


def _apply(client, name: str, doc: dict, person: Person, path: Path) -> int:
    for item in doc["items"]:
        item["scores"] = person.scores(item["candidate_id"])
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert main(["--experiment", name, "--apply", str(path)], client=client) == EXIT_OK
    return len(doc["items"])


def _status(client, name: str, capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["--experiment", name, "--status", *extra], client=client) == EXIT_OK
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, "one JSON object, nothing else on standard output"
    return json.loads(out[0])


def test_batches_of_simulated_people_reach_the_true_verdicts(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    from tipbench_lib.judge.queue import open_queue

    cells = _experiment(mlflow_client, experiment_name)
    people = {"ana": Person(cells, 0.0, 1), "bo": Person(cells, -0.4, 2)}
    applied = 0
    status = _status(mlflow_client, experiment_name, capsys, "--baseline", BASELINE)
    assert status["comparisons"] == 3 and status["cards_judged"] == 0
    for turn in range(40):
        judge = ("ana", "bo")[turn % 2]
        path = tmp_path / f"batch-{turn}.json"
        first = turn == 0
        doc = _export(
            mlflow_client, experiment_name, path, judge, "--next", "6",
            *(["--baseline", BASELINE] if first else []),
        )  # fmt: skip
        assert doc["judge_id"] == judge and len(doc["items"]) <= 6
        if doc["items"]:
            applied += _apply(mlflow_client, experiment_name, doc, people[judge], path)
        status = _status(mlflow_client, experiment_name, capsys)
        assert list(status)[:5] == STATUS_KEYS
        assert status["cards_judged"] == applied
        assert status["decided"] + status["undecided"] == status["comparisons"] == 3
        if status["can_stop"]:
            break
    assert status["can_stop"], "the queue never said stop"
    assert status["cards_left_estimate"] == 0 and status["family"] == f"baseline {BASELINE}"
    # Uniform order shows every person every card; the adaptive queue stops short of that. (Not
    # short of one pass over the cards: judge-aware pairing may send a baseline card to both
    # people, so with an experiment seed where the equal pairs run until out of reach, more than
    # len(cells) cards can be needed.)
    assert applied < len(people) * len(cells), "the adaptive queue asked for every card"
    rows = open_queue(mlflow_client, experiment_name).comparisons()
    verdicts = {(r["a_model"], r["a_prompt"]): r["decision"] for r in rows}
    assert verdicts[BETTER] == "better"
    for cell in (("gemma3-270m", "v1"), ("gemma3-270m", "v2-mentor")):
        assert verdicts[cell] not in ("better", "worse"), (cell, verdicts)
    # The queue is empty now; the uniform order still serves the remaining cards.
    doc = _export(mlflow_client, experiment_name, tmp_path / "after.json", "ana", "--next", "4")
    assert doc["items"] == []
    assert "you can stop" in capsys.readouterr().out
    doc = _export(
        mlflow_client,
        experiment_name,
        tmp_path / "u.json",
        "ana",
        "--next",
        "4",
        "--order",
        "uniform",
    )
    assert len(doc["items"]) == 4


def test_exported_cards_are_planned_for_their_judge_not_judged(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    cells = _experiment(mlflow_client, experiment_name)
    ana = _export(
        mlflow_client, experiment_name, tmp_path / "a.json", "ana", "--next", "6",
        "--baseline", BASELINE,
    )  # fmt: skip
    bo = _export(mlflow_client, experiment_name, tmp_path / "b.json", "bo", "--next", "6")
    ana_ids = {i["candidate_id"] for i in ana["items"]}
    bo_ids = {i["candidate_id"] for i in bo["items"]}
    assert len(ana_ids) == len(bo_ids) == 6

    assert not ana_ids & bo_ids, "two judges were sent the same cards"
    assert _status(mlflow_client, experiment_name, capsys)["cards_judged"] == 0
    again = _export(mlflow_client, experiment_name, tmp_path / "a2.json", "ana", "--next", "6")
    assert [i["candidate_id"] for i in again["items"]] == [
        i["candidate_id"] for i in ana["items"]
    ], "an unapplied batch is exported again, in the same order"
    _apply(mlflow_client, experiment_name, again, Person(cells, 0.0, 3), tmp_path / "a2.json")
    assert _status(mlflow_client, experiment_name, capsys)["cards_judged"] == 6
    after = _export(mlflow_client, experiment_name, tmp_path / "a3.json", "ana", "--next", "6")
    assert not {i["candidate_id"] for i in after["items"]} & (ana_ids | bo_ids)


def test_a_plan_expires_so_an_absent_judge_blocks_nothing(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    from tipbench_lib.judge.queue import judge_seed, open_queue

    _experiment(mlflow_client, experiment_name)
    gone = _export(
        mlflow_client, experiment_name, tmp_path / "g.json", "gone", "--next", "200",
        "--baseline", BASELINE,
    )  # fmt: skip
    assert gone["items"], "every unit the queue has is now planned for 'gone'"
    ana = _export(mlflow_client, experiment_name, tmp_path / "a.json", "ana", "--next", "8")
    assert ana["items"] == [] and "planned for other judges" in capsys.readouterr().out

    def ana_next(hours_later: float) -> list[str]:
        queue = open_queue(mlflow_client, experiment_name)
        queue.plans.clock = lambda: time.time() + hours_later * 3600
        queue.apply_plans()
        queue.resume("ana", judge_seed(experiment_name, "ana"), [])
        return queue.next_cards(8, "adaptive")

    assert ana_next(23) == [], "gone's plan holds for 24 hours after the export"
    assert len(ana_next(25)) == 8, "then its units go back to everyone"


def test_the_family_is_fixed_once_people_have_scored(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    from tipbench_lib.judge.session import JudgeSession
    from tipbench_lib.tracking.mapping import QUEUE_FAMILY_TAG

    cells = _experiment(mlflow_client, experiment_name, n_scenarios=4)
    doc = _export(
        mlflow_client, experiment_name, tmp_path / "a.json", "ana", "--next", "3",
        "--order", "uniform",
    )  # fmt: skip
    assert len(doc["items"]) == 3
    tags = mlflow_client.get_experiment_by_name(experiment_name).tags
    assert json.loads(tags[QUEUE_FAMILY_TAG])["baseline"] is None, "all pairs, recorded"
    assert _status(mlflow_client, experiment_name, capsys)["comparisons"] == 6
    # Nobody scored yet: a baseline may still be named.
    session = JudgeSession(mlflow_client, experiment_name, "bo", baseline=BETTER)
    assert session.status()["comparisons"] == 3
    _apply(mlflow_client, experiment_name, doc, Person(cells, 0.0, 1), tmp_path / "a.json")
    capsys.readouterr()
    status = main(
        ["--experiment", experiment_name, "--export", str(tmp_path / "c.json"), "--judge-id",
         "cy", "--baseline", BASELINE],
        client=mlflow_client,
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == EXIT_REFUSED
    assert "could be chosen after seeing data" in err and "baseline smollm2-135m:v2-mentor" in err
    assert not (tmp_path / "c.json").exists()
    # δ is part of the family: a wider one now would turn undecided pairs into "equivalent".
    recorded = json.loads(
        mlflow_client.get_experiment_by_name(experiment_name).tags[QUEUE_FAMILY_TAG]
    )
    assert recorded["delta"] == 1.0
    args = ["--experiment", experiment_name, "--export", str(tmp_path / "e.json"), "--judge-id"]
    assert main([*args, "cy", "--delta", "2"], client=mlflow_client) == EXIT_REFUSED
    assert "δ = 2 now could be chosen after seeing data" in capsys.readouterr().err
    assert main([*args, "cy", "--delta", "1"], client=mlflow_client) == EXIT_OK
    assert main(
        ["--experiment", experiment_name, "--status", "--delta", "2"], client=mlflow_client
    ) == EXIT_REFUSED  # fmt: skip
    assert "leave --baseline and --delta out" in capsys.readouterr().err
    assert main(
        ["--experiment", experiment_name, "--export", str(tmp_path / "d.json"), "--next", "2"],
        client=mlflow_client,
    ) == EXIT_REFUSED, "--next without --judge-id is refused, not ignored"  # fmt: skip
    assert "add --judge-id" in capsys.readouterr().err


def test_ppi_uniform_serves_whole_scenarios_in_the_recorded_random_order(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    from tipbench_lib.judge.session import JudgeSession
    from tipbench_lib.stats import check_ppi_sample
    from tipbench_lib.tracking.experiment import read_experiment
    from tipbench_lib.tracking.mapping import PPI_SAMPLING_TAG

    cells = _experiment(mlflow_client, experiment_name, n_scenarios=6)
    records = read_experiment(mlflow_client, experiment_name).records
    scenario = {c.candidate_id: records.cells[c.cell_id].scenario_id for c in records.candidates}
    doc = _export(
        mlflow_client, experiment_name, tmp_path / "p.json", "ana", "--next", "8",
        "--order", "ppi-uniform",
    )  # fmt: skip
    record = json.loads(
        mlflow_client.get_experiment_by_name(experiment_name).tags[PPI_SAMPLING_TAG]
    )
    order = JudgeSession(mlflow_client, experiment_name, "x", judge_kind="import")
    assert record["order"] == "ppi-uniform" and sorted(record["population"]) == sorted(
        set(scenario.values())
    )
    got = [scenario[i["candidate_id"]] for i in doc["items"]]
    from tipbench_lib.stats.ppi import PPIDesign

    permutation = PPIDesign.from_record(record).permutation()
    assert got == [permutation[0]] * 4 + [permutation[1]] * 4, "whole scenarios, in order"
    journal = order.journal.path.parent.glob("*.jsonl")
    assert any('"type":"sampling"' in p.read_text() for p in journal)
    _apply(mlflow_client, experiment_name, doc, Person(cells, 0.0, 1), tmp_path / "p.json")
    check_ppi_sample(record, set(got), set(scenario.values()))


def test_status_through_the_notebook_script(mlflow_env, mlflow_client, experiment_name):
    _experiment(mlflow_client, experiment_name, n_scenarios=3)
    done = subprocess.run(
        [sys.executable, str(REPO / "notebooks/judge.py"), "--experiment", experiment_name,
         "--status", "--baseline", BASELINE],
        env=mlflow_env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    assert list(status)[:5] == STATUS_KEYS
    assert status["comparisons"] == 3 and status["decided"] == 0
    assert status["cards_judged"] == 0
    # 3 scenarios cannot decide anything at this level: every comparison is out of reach.
    assert status["undecided"] == 3 and status["out_of_reach"] == 3 and status["can_stop"]
    assert status["cards_left_estimate"] == 0


@pytest.mark.parametrize("bad", ["smollm2-135m", ":v1", "nope:v9"])
def test_a_bad_baseline_is_refused_by_name(
    mlflow_client, experiment_name, tipbench_home, bad, capsys
):
    _experiment(mlflow_client, experiment_name, n_scenarios=2)
    assert main(
        ["--experiment", experiment_name, "--status", "--baseline", bad], client=mlflow_client
    ) == EXIT_REFUSED  # fmt: skip
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("MODEL:PROMPT" in err or "not a cell" in err)


def test_status_says_an_undecidable_design_cannot_decide_before_any_card(
    mlflow_client, experiment_name, tipbench_home, capsys
):
    """Issue 20: 4 cells over 8 scenarios, all 6 pairs. No scores can decide any comparison
    (the sign-flip sequence at alpha/6 needs 9 scenarios), so at 0 judged --status must say the
    design cannot decide and what would (more scenarios, or a named baseline), not "can stop"."""
    _experiment(mlflow_client, experiment_name, n_scenarios=8)
    status = _status(mlflow_client, experiment_name, capsys)
    assert status["cards_judged"] == 0 and status["comparisons"] == 6
    assert status["decidable"] is False
    assert status["scenarios_to_decide"] == 9
    assert status["scenarios_to_decide_with_baseline"] == 8
    note = status["design_note"]
    assert "cannot decide any of its 6 primary comparisons" in note
    assert "at least 9 scenarios" in note and "--baseline MODEL:PROMPT" in note
    named = _status(mlflow_client, experiment_name, capsys, "--baseline", BASELINE)
    assert named["decidable"] is True and named["design_note"] == ""
    assert named["comparisons"] == 3 and not named["can_stop"]


def test_each_mode_reads_only_its_own_plans_and_ignores_what_no_queue_wrote():
    """The rubric's and the pairs' plans share the ``plan`` record and its hold (one mechanism,
    judge/queue.Plans); a judge's plan in one mode never replaces their plan in the other, and a
    record no queue could have written holds nothing."""
    from tipbench_lib.judge.queue import CARD_UNITS, PAIR_UNITS, Plans
    from tipbench_lib.stats.pair_queue import PairSlot

    class Held:
        def __init__(self):
            self.held: dict[str, list] = {}

        def hold(self, judge, units):
            self.held[judge] = list(units)

        def release(self, judge):
            self.held.pop(judge, None)

    slot = PairSlot("s1", ("m1", "v1"), ("m2", "v1"))
    pairs = Plans(PAIR_UNITS)
    pairs.own = "ana"
    pair_record = pairs.record([slot], 600.0)
    assert pair_record["mode"] == "pairwise" and pair_record["pair_slots"] == [
        {"scenario_id": "s1", "cell_a": ["m1", "v1"], "cell_b": ["m2", "v1"]}
    ]
    assert pairs.record([slot], 600.0) is None, "no news, no record"
    cards = Plans(CARD_UNITS)
    cards.own = "ana"
    card_record = cards.record(["c1", "c2"], 600.0)
    assert "mode" not in card_record, "a rubric plan reads as before pairs"

    for reader_units, mine in ((CARD_UNITS, ["c1", "c2"]), (PAIR_UNITS, [slot])):
        reader, state = Plans(reader_units), Held()
        other = {"scenario_id": "s2", "cell_a": ["m1", "v1"], "cell_b": ["m2", "v1"]}
        for record in (
            card_record,
            pair_record,
            # Each would replace ana's plan if it were read (same time, other units).
            {**pair_record, "pair_slots": [other], "created_at": "not a time"},
            {**pair_record, "pair_slots": [other, {"scenario_id": "s1", "cell_a": "m1"}]},
            {**card_record, "candidate_ids": "c9"},
            {**card_record, "candidate_ids": ["c9"], "ttl_seconds": float("inf")},
            {**pair_record, "pair_slots": [other], "ttl_seconds": "never"},
            {**card_record, "candidate_ids": ["c9"], "type": "judgment"},
        ):
            reader.take(record)
        reader.apply(state)
        assert state.held == {"ana": mine}
