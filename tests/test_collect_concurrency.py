"""Several workers and people share one MLflow: one run per cell, and no judgment lost.

Two ``tipbench collect`` processes of one experiment, each with its own home and its own Ollama
stand-in (two workers, or a retried task on another worker while the first still runs), race for
the same grid. The race is made certain, not likely, by ordering events: each host holds its first
generation until the other host has been asked for one, so both workers have looked at MLflow
before either delivers anything. Nothing here waits a tuned time.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from pathlib import Path

from tipbench_lib.collect.cli import main as collect_main
from tipbench_lib.core.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED
from tipbench_lib.core.hashing import content_hash
from tipbench_lib.judge.delivery import judge_artifact_path
from tipbench_lib.judge.session import JudgeSession
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.mapping import (
    CANDIDATES_ARTIFACT,
    CELL_TAG,
    COUNT_TAG,
    N_TIPS_TAG,
    candidates_document,
    judgments_document,
    read_cell_artifact,
)
from tipbench_lib.tracking.status import status_of

from .ollama_standin import FakeModel, OllamaStandIn
from .test_judge import tip

HOST_A = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Block 25 minutes for the draft.", "Plan lunch.")),
    FakeModel("tiny-b", 2_000_000_000, texts=("Answer two emails now.", "Stretch at noon.")),
]
HOST_B = [
    FakeModel("tiny-a", 1_000_000_000, texts=("Close every tab but one.", "Write the agenda.")),
    FakeModel("tiny-b", 2_000_000_000, texts=("Call the client first.", "File the receipts.")),
]
N_TIPS = 2
GRID = ["--backend", "ollama", "--models", "tiny-a,tiny-b", "--prompts", "v1"]
GRID += ["--scenarios", "4", "--n-tips", str(N_TIPS), "--max-tokens", "16", "--timeout", "30"]
N_CELLS = 2 * 4
BARRIER_TIMEOUT_S = 300
"""Only a safety net for a broken test: the barrier is released by the other host's request."""


class FirstGenerations:
    """Each host answers its first generation only once every host has been asked for one."""

    def __init__(self, hosts: list[OllamaStandIn]) -> None:
        self.barrier = threading.Barrier(len(hosts), timeout=BARRIER_TIMEOUT_S)
        self.met = False
        for host in hosts:
            host.on_request = self._hook()

    def _hook(self):
        waited: list[bool] = []

        def hook(path: str, body) -> None:
            if path == "/api/chat" and (body or {}).get("messages") and not waited:
                waited.append(True)
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.barrier.wait()
                    self.met = True

        return hook


def collect_process(home: Path, host: OllamaStandIn, env: dict, experiment: str, *extra: str):
    """A ``tipbench collect`` process with its own home and its own Ollama."""
    env = {**env, "TIPBENCH_HOME": str(home), "OLLAMA_HOST": host.url}
    cmd = [sys.executable, "-m", "tipbench_lib", "collect", *GRID, "--experiment", experiment]
    return subprocess.Popen(
        [*cmd, *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def cell_runs(client: MlflowClient, experiment: str) -> dict[str, list]:
    """Every run carrying a cell tag, by cell (any status)."""
    exp = client.get_experiment_by_name(experiment)
    by_cell: dict[str, list] = {}
    for run in client.search_runs([exp.experiment_id]):
        if run.tags.get(CELL_TAG):
            by_cell.setdefault(run.tags[CELL_TAG], []).append(run)
    return by_cell


def journal_candidates(home: Path) -> dict[str, dict[int, str]]:
    """cell → sample index → candidate id, as the home's collect journal finally holds them."""
    [path] = home.glob("journal/*/collect.jsonl")
    cells: dict[str, dict[int, str]] = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["type"] == "adopted":
            cells.pop(record["cell_id"], None)
        elif record["type"] == "candidate":
            held = cells.setdefault(record["cell_id"], {})
            held.setdefault(record["sample_index"], record["candidate_id"])
    return cells


def test_two_workers_collecting_one_experiment_at_once_make_one_run_per_cell(
    mlflow_env, mlflow_client, experiment_name, tmp_path
):
    hosts = OllamaStandIn(HOST_A, load_s=0.01, gen_s=0.01), OllamaStandIn(HOST_B, load_s=0.01)
    with hosts[0] as a, hosts[1] as b:
        race = FirstGenerations([a, b])
        first = collect_process(tmp_path / "worker-a", a, mlflow_env, experiment_name)
        second = collect_process(tmp_path / "worker-b", b, mlflow_env, experiment_name)
        outs = [p.communicate(timeout=600) for p in (first, second)]
        codes = [first.returncode, second.returncode]
        generated = len(a.generation_requests()) + len(b.generation_requests())
    assert race.met, "the two workers never generated at the same time"
    assert codes == [EXIT_OK, EXIT_OK], outs

    by_cell = cell_runs(mlflow_client, experiment_name)
    assert len(by_cell) == N_CELLS
    assert {cid: len(runs) for cid, runs in by_cell.items()} == dict.fromkeys(by_cell, 1), (
        "a cell has more than one run"
    )
    assert {runs[0].status for runs in by_cell.values()} == {"FINISHED"}
    assert generated == N_CELLS * N_TIPS, "a cell was generated twice"

    in_mlflow = {}
    for cid, [run] in by_cell.items():
        tips = read_cell_artifact(mlflow_client, run).candidates
        in_mlflow[cid] = {c.sample_index: c.candidate_id for c in tips}
    for home in ("worker-a", "worker-b"):
        assert journal_candidates(tmp_path / home) == in_mlflow, f"{home}'s journal differs"


# -- duplicates that already exist ------------------------------------------------------------


def collect_here(monkeypatch, mlflow_server: str, home: Path, host: OllamaStandIn, name: str):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("TIPBENCH_HOME", str(home))
    monkeypatch.setenv("OLLAMA_HOST", host.url)
    return collect_main([*GRID, "--experiment", name])


def plant_copy(client: MlflowClient, run, candidates, *, start_time_ms: int) -> str:
    """A FINISHED run for ``run``'s cell, as a second worker's delivery would have made it."""
    exp_id = run.experiment_id
    copy = client.create_run(
        exp_id, run.run_name, start_time_ms=start_time_ms, tags={CELL_TAG: run.tags[CELL_TAG]}
    )
    client.log_artifact(copy.run_id, CANDIDATES_ARTIFACT, candidates_document("p", candidates))
    tags = {COUNT_TAG: str(len(candidates)), N_TIPS_TAG: str(len(candidates))}
    client.log_batch(copy.run_id, params=run.params, tags=tags)
    client.update_run(copy.run_id, "FINISHED")
    return copy.run_id


def test_duplicate_and_stray_runs_are_reconciled_without_deleting_or_losing_a_judgment(
    monkeypatch, mlflow_server, mlflow_client, experiment_name, tmp_path, capsys
):
    from dataclasses import replace

    from tipbench_lib.tracking.experiment import read_experiment

    home = tmp_path / "home"
    with OllamaStandIn(HOST_A, load_s=0.01, gen_s=0.005) as a:
        assert collect_here(monkeypatch, mlflow_server, home, a, experiment_name) == EXIT_OK
    by_cell = cell_runs(mlflow_client, experiment_name)
    (stray_cell, [real]), (dup_cell, [original]) = sorted(by_cell.items())[:2]

    # Ana judges both tips of the first cell and one of the second.
    ana = JudgeSession(mlflow_client, experiment_name, "ana")
    real_tips = read_cell_artifact(mlflow_client, real).candidates
    dup_tips = read_cell_artifact(mlflow_client, original).candidates
    for candidate in [*real_tips, dup_tips[0]]:
        assert ana.save(candidate.candidate_id, tip(4, 4, 4, True, False)).synced
    assert (
        status_of(read_experiment(mlflow_client, experiment_name).records)["judged_candidates"] == 3
    )

    # A stray FINISHED run for the first cell: same count, other texts (ids made right), later.
    changed = [
        replace(
            c,
            text=f"Changed {c.sample_index}.",
            candidate_id=content_hash([stray_cell, c.sample_index, f"Changed {c.sample_index}."]),
        )
        for c in real_tips
    ]
    stray = plant_copy(mlflow_client, real, changed, start_time_ms=real.start_time + 60_000)
    # A second worker's copy of the second cell (the same tips), where Bo judged the other tip.
    copy = plant_copy(mlflow_client, original, dup_tips, start_time_ms=original.start_time + 1)
    bo = [
        replace(j, candidate_id=dup_tips[1].candidate_id, source=replace(j.source, id="bo"))
        for j in ana.journal.latest().values()
        if j.candidate_id == dup_tips[0].candidate_id
    ]
    mlflow_client.log_artifact(copy, judge_artifact_path("bo"), judgments_document(bo))
    before = {r.run_id for runs in cell_runs(mlflow_client, experiment_name).values() for r in runs}

    capsys.readouterr()
    with OllamaStandIn(HOST_A, load_s=0.01, gen_s=0.005) as a:
        code = collect_here(monkeypatch, mlflow_server, home, a, experiment_name)
        out = capsys.readouterr().out
        assert a.generation_requests() == [], "nothing is generated again"
    assert code == EXIT_OK, out

    after = {r.run_id for runs in cell_runs(mlflow_client, experiment_name).values() for r in runs}
    assert after == before, "a run was deleted"
    assert {mlflow_client.get_run(r).status for r in (stray, copy)} == {"FINISHED"}, "one killed"
    stored = read_experiment(mlflow_client, experiment_name)
    status = status_of(stored.records)
    assert status["cells"] == N_CELLS and status["candidates"] == N_CELLS * N_TIPS
    assert status["judged_candidates"] == 4 and status["judges"] == ["ana", "bo"], status
    assert stored.records.run_ids[stray_cell] == real.run_id, "the judged run is the cell's"
    kept = stored.records.run_ids[dup_cell]
    files = {f.path for f in mlflow_client.list_artifacts(kept, "judgments")}
    assert {judge_artifact_path("ana"), judge_artifact_path("bo")} <= files, "judgments moved"
    assert "moved" in out and copy in out and original.run_id in out, out


# -- settings that race ---------------------------------------------------------------------------


def temperatures(client: MlflowClient, experiment: str) -> set[str]:
    """The temperatures the experiment's cell runs were collected with (claims included)."""
    found = set()
    for runs in cell_runs(client, experiment).values():
        for run in runs:
            options = run.params.get("options") or run.tags.get("tipbench.settings", "")
            found |= {p for p in options.replace(";", ",").split(",") if "temperature" in p}
    return found


def test_a_collect_whose_ollama_describes_slowly_cannot_add_other_settings(
    mlflow_env, mlflow_client, experiment_name, tmp_path
):
    at_show, go = threading.Event(), threading.Event()

    def slow_show(path: str, body) -> None:
        if path == "/api/show":
            at_show.set()
            go.wait(BARRIER_TIMEOUT_S)

    with OllamaStandIn(HOST_A, load_s=0.01) as a, OllamaStandIn(HOST_B, load_s=0.01) as b:
        b.on_request = slow_show
        hot = collect_process(
            tmp_path / "hot", b, mlflow_env, experiment_name, "--temperature", "0.2"
        )
        assert at_show.wait(BARRIER_TIMEOUT_S), "the second collect never described its models"
        plain = collect_process(tmp_path / "plain", a, mlflow_env, experiment_name)
        plain_out = plain.communicate(timeout=600)
        go.set()
        hot_out = hot.communicate(timeout=600)
        assert b.generation_requests() == [], "the refused collect generated"
    assert plain.returncode == EXIT_OK, plain_out
    assert hot.returncode == EXIT_REFUSED, hot_out
    assert "other generation settings" in hot_out[1] and "--temperature 0.2" in hot_out[1]
    assert temperatures(mlflow_client, experiment_name) == {"temperature=0.8"}


def test_two_collects_with_other_settings_passing_their_checks_at_once_never_mix(
    mlflow_env, mlflow_client, experiment_name, tmp_path
):
    """Both collects are held after their checks until both got there: the claim decides."""
    barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT_S)

    def after_checks():
        described: list[bool] = []

        def hook(path: str, body) -> None:
            if path == "/api/show":
                described.append(True)
            elif path == "/api/version" and described and len(described) < 99:
                described.extend([True] * 99)  # once
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait()

        return hook

    with OllamaStandIn(HOST_A, load_s=0.01) as a, OllamaStandIn(HOST_B, load_s=0.01) as b:
        a.on_request, b.on_request = after_checks(), after_checks()
        plain = collect_process(tmp_path / "plain", a, mlflow_env, experiment_name)
        hot = collect_process(
            tmp_path / "hot", b, mlflow_env, experiment_name, "--temperature", "0.2"
        )
        outs = {"plain": plain.communicate(timeout=600), "hot": hot.communicate(timeout=600)}
    codes = {"plain": plain.returncode, "hot": hot.returncode}
    assert set(codes.values()) <= {EXIT_OK, EXIT_REFUSED}, outs
    assert EXIT_OK not in codes.values() or set(codes.values()) == {EXIT_OK, EXIT_REFUSED}, outs
    for who, code in codes.items():
        if code == EXIT_REFUSED:
            assert "other generation settings" in outs[who][1], outs[who]
    held = temperatures(mlflow_client, experiment_name)
    assert len(held) <= 1, f"both settings in the experiment: {held}"
    if codes["plain"] == EXIT_OK:
        assert held == {"temperature=0.8"}
    if codes["hot"] == EXIT_OK:
        assert held == {"temperature=0.2"}
    leftovers = [r for runs in cell_runs(mlflow_client, experiment_name).values() for r in runs]
    assert {r.status for r in leftovers} <= {"FINISHED"}, "a claim was left behind"


# -- claims of other workers --------------------------------------------------------------------


def plant_claim(client: MlflowClient, experiment_id: str, cell_id: str, *, until_ms: int) -> str:
    """Another worker's claim of a cell, as its collect made it."""
    tags = {
        CELL_TAG: cell_id,
        "tipbench.claimant": "0123abcd@another-host",
        "tipbench.claim_until": str(until_ms),
    }
    return client.create_run(experiment_id, "claimed elsewhere", tags=tags).run_id


def test_a_live_claim_of_another_worker_is_waited_for_and_an_abandoned_one_left_alone(
    mlflow_env, mlflow_client, experiment_name, tmp_path
):
    """The grid's cells are known from a first collect into another home; a second collect then
    finds one cell claimed by a live worker and one by a worker whose lease ran out."""
    import time

    with OllamaStandIn(HOST_A, load_s=0.01, gen_s=0.005) as a:
        first = collect_process(tmp_path / "first", a, mlflow_env, experiment_name)
        assert first.communicate(timeout=600) and first.returncode == EXIT_OK
    by_cell = cell_runs(mlflow_client, experiment_name)
    (live_cell, [live_run]), (old_cell, [old_run]) = sorted(by_cell.items())[:2]
    for run in (live_run, old_run):
        mlflow_client.delete_run(run.run_id)  # as if the first collect never made these two
    exp_id = live_run.experiment_id
    now = int(time.time() * 1000)
    live = plant_claim(mlflow_client, exp_id, live_cell, until_ms=now + 3_600_000)
    abandoned = plant_claim(mlflow_client, exp_id, old_cell, until_ms=now - 3_600_000)

    with OllamaStandIn(HOST_B, load_s=0.01, gen_s=0.005) as b:
        second = collect_process(tmp_path / "second", b, mlflow_env, experiment_name)
        # It makes the abandoned cell; the live worker's cell it waits for.
        deadline = time.monotonic() + 600
        while len(b.generation_requests()) < N_TIPS and second.poll() is None:
            assert time.monotonic() < deadline, "the abandoned cell was never made"
            time.sleep(0.05)
        assert second.poll() is None, second.communicate()
        assert mlflow_client.get_run(live).status == "RUNNING"
        mlflow_client.delete_run(live)  # that worker gives the cell up
        out = second.communicate(timeout=600)
        generated = len(b.generation_requests())
    assert second.returncode == EXIT_OK, out
    assert generated == 2 * N_TIPS, "exactly the two missing cells were made"
    assert mlflow_client.get_run(abandoned).status == "RUNNING", "another's claim left alone"
    after = cell_runs(mlflow_client, experiment_name)
    finished = {cid: [r for r in runs if r.status == "FINISHED"] for cid, runs in after.items()}
    assert {cid: len(runs) for cid, runs in finished.items()} == dict.fromkeys(by_cell, 1)


def test_cells_made_while_mlflow_could_not_be_claimed_give_way_to_another_workers_runs(
    monkeypatch, mlflow_server, mlflow_client, experiment_name, tmp_path, capsys
):
    """Worker A cannot claim (its MLflow answers runs/create with nonsense): it generates into
    its journal. Worker B, with MLflow, makes the same cells. A's next run takes B's runs into its
    journal instead of delivering its own tips beside them."""
    from .test_service_answers import Answering

    proxy = Answering(mlflow_server, lambda method, path: path.endswith("/runs/create"))
    try:
        with OllamaStandIn(HOST_A, load_s=0.01, gen_s=0.005) as a:
            code = collect_here(monkeypatch, proxy.url, tmp_path / "a", a, experiment_name)
            assert code == EXIT_INTERRUPTED, capsys.readouterr()
            made_by_a = len(a.generation_requests())
    finally:
        proxy.close()
    assert made_by_a == N_CELLS * N_TIPS and not cell_runs(mlflow_client, experiment_name)
    with OllamaStandIn(HOST_B, load_s=0.01, gen_s=0.005) as b:
        assert collect_here(monkeypatch, mlflow_server, tmp_path / "b", b, experiment_name) == 0
    capsys.readouterr()
    with OllamaStandIn(HOST_A, load_s=0.01, gen_s=0.005) as a:
        code = collect_here(monkeypatch, mlflow_server, tmp_path / "a", a, experiment_name)
        out = capsys.readouterr().out
        assert a.generation_requests() == [], "nothing made again"
    assert code == EXIT_OK, out
    by_cell = cell_runs(mlflow_client, experiment_name)
    assert {cid: len(runs) for cid, runs in by_cell.items()} == dict.fromkeys(by_cell, 1)
    in_mlflow = {}
    for cid, [run] in by_cell.items():
        tips = read_cell_artifact(mlflow_client, run).candidates
        in_mlflow[cid] = {c.sample_index: c.candidate_id for c in tips}
    assert journal_candidates(tmp_path / "a") == in_mlflow, "A's journal holds B's tips"
