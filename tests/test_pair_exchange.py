"""Pair cards for outside judges (docs/architecture.md, section 13), against a real MLflow server:
``judge --export --mode pairwise`` writes blind cards with random sides, ``--apply`` stores the
answers in the pair's own terms, all of the file or nothing, journal first, then MLflow."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tipbench_lib.core.errors import EXIT_OK, EXIT_REFUSED
from tipbench_lib.judge.cli import main
from tipbench_lib.judge.pair_exchange import PAIRS_FORMAT

from .test_judge import collected_experiment
from .test_pair_mlflow import stored


def _export(client, experiment: str, path: Path, *extra: str) -> dict:
    argv = ["--experiment", experiment, "--export", str(path), "--mode", "pairwise", *extra]
    assert main(argv, client=client) == EXIT_OK
    return json.loads(path.read_text(encoding="utf-8"))


def _apply(client, experiment: str, path: Path, doc: dict, *extra: str) -> int:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return main(["--experiment", experiment, "--apply", str(path), *extra], client=client)


def _answer(doc: dict, choices=("left", "right", "tie")) -> dict:
    filled = copy.deepcopy(doc)
    for index, item in enumerate(filled["items"]):
        item["answer"] = choices[index % len(choices)]
    return filled


def _journal_and_mlflow(client, experiment: str, home: Path) -> list:
    """Every pairwise judgment anywhere: pair records in journals, pairs in MLflow."""
    records = [
        line
        for path in (home / "journal").rglob("judgments/*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if '"type": "pair"' in line or '"type":"pair"' in line
    ]
    return records + stored(client, experiment).records.pairs


def test_export_is_blind_random_sided_and_apply_maps_answers_back(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=2)
    doc = _export(mlflow_client, experiment_name, tmp_path / "pairs.json", "--judge-id", "ext")
    records = stored(mlflow_client, experiment_name).records
    assert doc["format"] == PAIRS_FORMAT and doc["judge_id"] == "ext" and doc["blind"]
    assert len(doc["items"]) == 8  # 2 scenarios x 1 cell pair x 2 x 2 tips: fewer than 20
    text = json.dumps(doc)
    for cell in records.cells.values():  # nothing names a cell, a model or a prompt
        assert cell.cell_id not in text and cell.model not in text
    filled = _answer(doc)
    assert _apply(mlflow_client, experiment_name, tmp_path / "filled.json", filled) == EXIT_OK
    pairs = {
        frozenset((p.candidate_a, p.candidate_b)): p
        for p in stored(mlflow_client, experiment_name).records.pairs
    }
    assert len(pairs) == 8
    for item in filled["items"]:
        left, right = item["left"]["candidate_id"], item["right"]["candidate_id"]
        pair = pairs[frozenset((left, right))]
        assert (pair.judge_id, pair.source.kind) == ("ext", "import")
        winner = {"left": left, "right": right, "tie": None}[item["answer"]]
        said = {"a": pair.candidate_a, "b": pair.candidate_b, "tie": None}[pair.answer]
        assert said == winner
    # Every pair has an answer now: the next export has no card left.
    again = _export(mlflow_client, experiment_name, tmp_path / "again.json", "--judge-id", "ext")
    assert again["items"] == []


def test_next_draws_unanswered_pairs_only(mlflow_client, experiment_name, tipbench_home, tmp_path):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=3)
    args = ("--judge-id", "ext", "--next", "4")
    first = _export(mlflow_client, experiment_name, tmp_path / "a.json", *args)
    same = _export(mlflow_client, experiment_name, tmp_path / "b.json", *args)
    assert first == same, "exporting twice before applying gives the same cards"
    assert _apply(mlflow_client, experiment_name, tmp_path / "f.json", _answer(first)) == EXIT_OK
    later = _export(mlflow_client, experiment_name, tmp_path / "c.json", *args)

    def pairs(doc):
        return {
            frozenset((i["left"]["candidate_id"], i["right"]["candidate_id"])) for i in doc["items"]
        }

    assert len(pairs(first)) == 4 and len(pairs(later)) == 4
    assert not pairs(first) & pairs(later)


def _break(kind: str, good: dict, other: dict) -> tuple[dict, list[str]]:
    bad = copy.deepcopy(good)
    item = bad["items"][1]
    if kind == "tip changed":
        item["left"]["tip"] += " (edited)"
        return bad, ["item 2", "changed since export"]
    if kind == "unknown candidate":
        item["right"]["candidate_id"] = "0" * 16
        return bad, ["item 2", "unknown candidate id"]
    if kind == "same cell":
        item["right"] = copy.deepcopy(bad["items"][2]["left"])
        item["left"] = copy.deepcopy(bad["items"][2]["left"])
        return bad, ["item 2", "same cell"]
    if kind == "two scenarios":
        item["right"] = copy.deepcopy(other["items"][0]["right"])
        return bad, ["item 2", "different scenarios"]
    if kind == "bad answer":
        item["answer"] = "A"
        return bad, ["item 2", "'A'", '"left", "right", "tie" or null']
    if kind == "twice":
        bad["items"].append(copy.deepcopy(item))
        return bad, [f"item {len(bad['items'])}", "more than one card"]
    if kind == "note":
        item["note"] = {"text": "nested"}
        return bad, ["item 2", "note must be text"]
    if kind == "other experiment":
        bad["experiment"] = "someone-else"
        return bad, ["'someone-else'"]
    if kind == "other format":
        bad["format"] = "tipbench.pairs/0"
        return bad, ["'tipbench.pairs/0'", PAIRS_FORMAT]
    if kind == "no judge":
        bad["judge_id"] = None
        return bad, ["no judge id"]
    if kind == "other rubric":
        bad["rubric"]["version"] = "tip-v9"
        return bad, ["tip-v9"]
    raise AssertionError(kind)


KINDS = (
    "tip changed",
    "unknown candidate",
    "same cell",
    "two scenarios",
    "bad answer",
    "twice",
    "note",
    "other experiment",
    "other format",
    "no judge",
    "other rubric",
)


def test_every_rejection_stores_nothing(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=2, n_tips=2)
    doc = _export(mlflow_client, experiment_name, tmp_path / "out.json", "--next", "40")
    scenario = json.dumps(doc["items"][0]["scenario"])
    one = {**doc, "items": [i for i in doc["items"] if json.dumps(i["scenario"]) == scenario]}
    other = {**doc, "items": [i for i in doc["items"] if json.dumps(i["scenario"]) != scenario]}
    good = _answer(one)
    good["judge_id"] = "ext"
    capsys.readouterr()
    for kind in KINDS:
        bad, expected = _break(kind, good, other)
        path = tmp_path / f"{kind.replace(' ', '_')}.json"
        status = _apply(mlflow_client, experiment_name, path, bad)
        err = capsys.readouterr().err
        assert status == EXIT_REFUSED, kind
        assert "nothing was stored" in err, (kind, err)
        for text in expected:
            assert text in err, (kind, err)
        assert _journal_and_mlflow(mlflow_client, experiment_name, tipbench_home) == [], kind


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"format": "tipbench.pairs/1", "items": [' + b"[" * 100 + b"]" * 100 + b"]}", "nests"),
        (b'{"format": "tipbench.pairs/1", "note": "\xff"}', "not UTF-8"),
    ],
)
def test_an_unreadable_file_is_refused_before_mlflow(
    mlflow_client, experiment_name, tipbench_home, tmp_path, capsys, content, said
):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=1)
    path = tmp_path / "cards.json"
    path.write_bytes(content)
    argv = ["--experiment", experiment_name, "--apply", str(path), "--mode", "pairwise"]
    assert main(argv, client=mlflow_client) == EXIT_REFUSED
    assert said in capsys.readouterr().err


def test_mode_and_file_must_agree(mlflow_client, experiment_name, tipbench_home, tmp_path, capsys):
    collected_experiment(mlflow_client, experiment_name, n_scenarios=1, n_tips=1)
    scores = tmp_path / "scores.json"
    assert (
        main(["--experiment", experiment_name, "--export", str(scores)], client=mlflow_client) == 0
    )
    argv = ["--experiment", experiment_name, "--apply", str(scores), "--mode", "pairwise"]
    assert main(argv, client=mlflow_client) == EXIT_REFUSED
    assert "--mode pairwise applies a tipbench.pairs/1 file" in capsys.readouterr().err
    argv = ["--experiment", experiment_name, "--export", str(scores), "--mode", "pairwise"]
    assert main([*argv, "--order", "uniform", "--judge-id", "x"], client=mlflow_client) == 2
    assert "--order" in capsys.readouterr().err


def test_cards_are_drawn_uniformly_and_sides_by_a_fair_coin():
    """The draw itself, on 40 open pairs and a fixed seed: over 2,000 draws of 10 cards every
    pair is drawn about equally often and each side comes first about half the time."""
    from collections import Counter

    from tipbench_lib.core.records import Candidate
    from tipbench_lib.judge.pair_exchange import draw_cards

    def tip(i: int, cell: str) -> Candidate:
        return Candidate(f"{cell}#{i}", cell, i, f"tip {i}", 1.0, 10, 10.0)

    open_pairs = [("s1", tip(i, "c1"), tip(j, "c2")) for i in range(8) for j in range(5)]
    drawn: Counter[frozenset[str]] = Counter()
    first_left = 0
    for seed in range(2000):
        cards = draw_cards(open_pairs, 10, seed)
        assert len({(c.left.candidate_id, c.right.candidate_id) for c in cards}) == 10
        drawn.update(frozenset((c.left.candidate_id, c.right.candidate_id)) for c in cards)
        first_left += sum(c.left.cell_id == "c1" for c in cards)
    assert len(drawn) == 40
    expected = 2000 * 10 / 40  # 500 each; sd about 19.4
    assert all(abs(count - expected) < 100 for count in drawn.values()), drawn
    assert abs(first_left / 20_000 - 0.5) < 0.02  # sd 0.0035
    assert draw_cards(open_pairs, 100, 1) and len(draw_cards(open_pairs, 100, 1)) == 40


def test_an_exported_batch_is_held_for_its_judge_and_keeps_off_other_plans(
    mlflow_client, experiment_name, tipbench_home, tmp_path
):
    """An export's pairs were drawn with no regard for the apps' pair plans and held nothing,
    so a person in the judge app and an outside judge could answer the same (scenario, cell
    pair) at once. The batch's slots are now journalled as its judge's pair plan, which the
    apps' queues read (``judge/queue.Plans``), and a slot another judge's live plan holds is
    never drawn."""
    from tipbench_lib.judge.journal import JudgeJournal, judge_key, judgments_dir
    from tipbench_lib.judge.queue import PAIR_UNITS, JournalFeed, Plans
    from tipbench_lib.stats.pair_queue import PairSlot

    collected_experiment(mlflow_client, experiment_name, n_scenarios=3, n_tips=2)
    records = stored(mlflow_client, experiment_name).records
    cells = frozenset((c.model, c.prompt_version) for c in records.cells.values())
    scenarios = sorted({c.scenario_id for c in records.cells.values()})
    every = {(s, cells) for s in scenarios}
    # dee, in the judge app, holds the first scenario's slot (as PairSession journals it)
    app = Plans(PAIR_UNITS, own="dee")
    planned = app.record([PairSlot(scenarios[0], *sorted(cells, reverse=True))], 1800.0)
    JudgeJournal(records.name, "dee", records.rubric.part_ids, tipbench_home).append_record(planned)
    by_id = {c.candidate_id: records.cells[c.cell_id] for c in records.candidates}

    def slots_of(doc: dict) -> set:
        return {
            (
                by_id[item["left"]["candidate_id"]].scenario_id,
                frozenset(
                    (by_id[i].model, by_id[i].prompt_version)
                    for i in (item["left"]["candidate_id"], item["right"]["candidate_id"])
                ),
            )
            for item in doc["items"]
        }

    def held_by_plans(reader: str) -> dict[str, set]:
        """The slots each judge's live pair plan holds, as another judge's app reads them."""

        class Held:
            found: dict[str, set] = {}

            def hold(self, judge, units):
                self.found[judge] = {
                    (u.scenario_id, frozenset((u.cell_a, u.cell_b))) for u in units
                }

            def release(self, judge):
                self.found.pop(judge, None)

        plans = Plans(PAIR_UNITS, own=reader)
        for record in JournalFeed(judgments_dir(records.name, tipbench_home), judge_key).read():
            plans.take(record)
        held = Held()
        plans.apply(held)
        return held.found

    ana = _export(mlflow_client, experiment_name, tmp_path / "ana.json", "--judge-id", "ana")
    assert len(ana["items"]) == 8, "dee's held slot was drawn"
    assert slots_of(ana) == every - {(scenarios[0], cells)}
    assert held_by_plans("cy") == {"dee": {(scenarios[0], cells)}, "ana": slots_of(ana)}
    bo = _export(mlflow_client, experiment_name, tmp_path / "bo.json", "--judge-id", "bo")
    assert bo["items"] == [], "another judge was handed slots ana's batch holds"
