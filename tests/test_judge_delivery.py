"""The judge app's MLflow sender (tipbench_lib.judge.delivery) against a real MLflow server.

A save in the app journals and returns; MLflow gets the score from a thread a moment later. These
tests hold it to "nothing lost": every score arrives, saves racing a delivery included, an outage
is reported and retried, a process that exits right after a save still delivers, and a session
opened later finds what never arrived.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tipbench_lib.tracking.client import MlflowClient

from .test_judge import collected_experiment, tip
from .test_judge_browser import judgments_in_mlflow

REPO = Path(__file__).resolve().parents[1]


def judged_count(client: MlflowClient, session: object, candidate_id: str) -> float | None:
    run_id = session.records.run_ids[session.candidates[candidate_id].cell_id]
    return client.get_run(run_id).metrics.get("judged_count")


def test_saves_during_deliveries_all_reach_mlflow(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.judge.delivery import BackgroundDelivery
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=2)
    session = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    # No quiet wait: deliveries start at once, so saves land while one is sending.
    delivery = BackgroundDelivery(session, quiet=0.0)
    for n, cid in enumerate(session.order):
        session.save(cid, tip(1 + n % 5, 3, 3, True, False), sync=False)
        delivery.request()
    state = delivery.settle()
    assert state.error == "" and state.pending == 0, state
    assert state.sentence() == "MLflow has every score"
    for run_id in set(session.records.run_ids.values()):
        saved = {r["candidate_id"]: r for r in judgments_in_mlflow(mlflow_client, run_id, "ana")}
        for cid in session.by_cell[
            next(c for c, r in session.records.run_ids.items() if r == run_id)
        ]:
            assert saved[cid]["relevance"] == session.judged()[cid].scores["relevance"]


def test_saves_close_together_share_one_delivery(mlflow_client, experiment_name, tipbench_home):
    from tipbench_lib.judge.delivery import BackgroundDelivery
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    session = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    calls = []
    send = session.sync_pending
    session.sync_pending = lambda: calls.append(1) or send()  # type: ignore[method-assign]
    # A quiet spell longer than any three saves take, however busy the machine: the saves all
    # fall within it, then flush (what an exit does) sends at once instead of waiting it out.
    delivery = BackgroundDelivery(session, quiet=60.0)
    for cid in session.order:
        session.save(cid, tip(4, 4, 4, True, False), sync=False)
        delivery.request()
        assert delivery.state().sentence() == "MLflow gets it in the background"
    assert calls == [], "nothing is sent while the judge is busy"
    assert delivery.flush(timeout=120).pending == 0
    assert len(calls) == 1, "saves within the quiet spell share one delivery"
    assert judged_count(mlflow_client, session, session.order[0]) == 3.0


def test_an_outage_is_reported_and_the_next_save_delivers(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.delivery import BackgroundDelivery
    from tipbench_lib.judge.session import JudgeSession
    from tipbench_lib.tracking.server import free_port

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    session = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    delivery = BackgroundDelivery(session, quiet=0.0)
    first, second = session.order[:2]
    with MlflowClient(f"http://127.0.0.1:{free_port()}", retries=0, timeout=2) as dead:
        session.client = dead
        session.save(first, tip(2, 2, 2, True, False), sync=False)
        delivery.request()
        state = delivery.settle()
    assert state.pending == 1 and state.error, state
    assert state.sentence().startswith("MLflow is behind (")
    assert session.judged()[first].scores["relevance"] == 2, "the journal has it"
    assert judged_count(mlflow_client, session, first) is None
    session.client = mlflow_client
    session.save(second, tip(5, 5, 5, True, False), sync=False)
    delivery.request()
    state = delivery.settle()
    assert state.pending == 0 and state.error == "", state
    assert judged_count(mlflow_client, session, first) == 2.0, "both scores arrived"


def test_a_session_opened_later_sends_what_never_arrived(
    mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    closed = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    delivered, lost = closed.order[:2]
    closed.save(delivered, tip(3, 3, 3, True, False))
    closed.save(lost, tip(1, 1, 1, True, False), sync=False)  # the app stopped before sending
    assert judged_count(mlflow_client, closed, lost) == 1.0

    reopened = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    assert reopened.undelivered() == 1
    assert reopened.sync_pending() == ""
    assert judged_count(mlflow_client, reopened, lost) == 2.0
    again = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    assert again.undelivered() == 0, "what MLflow has is not sent again"


def test_an_app_that_exits_right_after_a_save_still_delivers(
    mlflow_server, mlflow_client, experiment_name, tipbench_home
):
    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    script = textwrap.dedent(
        f"""
        from tests.test_judge import tip
        from tipbench_lib.judge.delivery import BackgroundDelivery
        from tipbench_lib.judge.session import JudgeSession
        from tipbench_lib.tracking.client import MlflowClient

        session = JudgeSession(MlflowClient({mlflow_server!r}), {experiment_name!r}, "ana",
                               order="uniform")
        delivery = BackgroundDelivery(session, quiet=30.0)
        session.save(session.order[0], tip(4, 2, 5, True, False), sync=False)
        delivery.request()
        """
    )
    env = {**os.environ, "TIPBENCH_HOME": str(tipbench_home)}
    subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True, timeout=120)
    session = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    assert session.undelivered() == 0
    assert judged_count(mlflow_client, session, session.order[0]) == 1.0


# -- a score an app never sent is sent by the next command that reads (issue 17, finding 7) -----


def save_and_get_killed(mlflow_server: str, experiment: str, home: Path, index: int) -> str:
    """A judge app process that journals a save and is killed (SIGKILL) before its sender ran:
    the score is in the journal only. Returns the candidate saved."""
    script = textwrap.dedent(
        f"""
        import os, signal
        from tests.test_judge import tip
        from tipbench_lib.judge.delivery import BackgroundDelivery
        from tipbench_lib.judge.session import JudgeSession
        from tipbench_lib.tracking.client import MlflowClient

        session = JudgeSession(MlflowClient({mlflow_server!r}), {experiment!r}, "ana",
                               order="uniform")
        delivery = BackgroundDelivery(session, quiet=30.0)
        candidate = session.order[{index}]
        session.save(candidate, tip(5, 4, 3, True, False), sync=False)
        delivery.request()
        print(candidate, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "TIPBENCH_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == -9, done.stderr
    return done.stdout.strip()


def in_mlflow(client: MlflowClient, experiment: str, candidate_id: str) -> bool:
    from tipbench_lib.tracking.experiment import read_experiment

    judgments = read_experiment(client, experiment).records.judgments
    return any(j.candidate_id == candidate_id and j.judge_id == "ana" for j in judgments)


def test_a_score_an_app_never_sent_is_sent_by_every_command_that_reads(
    mlflow_server, mlflow_client, experiment_name, tipbench_home, monkeypatch, capsys, tmp_path
):
    from tipbench_lib.compare.load import load_experiment
    from tipbench_lib.judge.cli import main as judge_main
    from tipbench_lib.tracking.status import main as status_main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=2)
    capsys.readouterr()

    first = save_and_get_killed(mlflow_server, experiment_name, tipbench_home, 0)
    assert not in_mlflow(mlflow_client, experiment_name, first), "killed before sending"
    assert status_main(["--experiment", experiment_name]) == 0
    status = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status["judged_candidates"] == 1 and status["judges"] == ["ana"], status
    assert in_mlflow(mlflow_client, experiment_name, first)

    second = save_and_get_killed(mlflow_server, experiment_name, tipbench_home, 1)
    export = tmp_path / "export.json"
    assert judge_main(["--experiment", experiment_name, "--export", str(export)]) == 0
    assert in_mlflow(mlflow_client, experiment_name, second)

    third = save_and_get_killed(mlflow_server, experiment_name, tipbench_home, 2)
    assert judge_main(["--experiment", experiment_name, "--status"]) == 0
    assert in_mlflow(mlflow_client, experiment_name, third)

    fourth = save_and_get_killed(mlflow_server, experiment_name, tipbench_home, 3)
    data = load_experiment(mlflow_client, experiment_name)
    judged = set(data.judgments.filter(data.judgments["judge_id"] == "ana")["candidate_id"])
    assert judged == {first, second, third, fourth} and data.warnings == []
    assert "not in MLflow" not in capsys.readouterr().err


def test_a_score_mlflow_will_not_take_is_named_with_how_to_send_it(
    mlflow_server, mlflow_client, experiment_name, tipbench_home, monkeypatch, capsys
):
    from tipbench_lib.core.errors import TrackingError
    from tipbench_lib.tracking.status import main as status_main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    lost = save_and_get_killed(mlflow_server, experiment_name, tipbench_home, 0)

    def refused(*args: object, **kwargs: object) -> None:
        raise TrackingError("MLflow refused the request (403): this token may only read")

    with monkeypatch.context() as patch:
        patch.setattr(MlflowClient, "log_artifact", refused)
        capsys.readouterr()
        assert status_main(["--experiment", experiment_name]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out.strip().splitlines()[-1])["judged_candidates"] == 0
    err = captured.err
    assert "1 judgment(s) journalled on this machine are not in MLflow yet (1 by 'ana'" in err
    assert "403" in err and f"`tipbench status --experiment {experiment_name}`" in err, err

    assert status_main(["--experiment", experiment_name]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["judges"] == ["ana"]
    assert in_mlflow(mlflow_client, experiment_name, lost)


def test_two_senders_of_one_judge_leave_mlflow_the_newer_scores(
    mlflow_client, experiment_name, tipbench_home
):
    """A reading command and the app may send one judge's scores at once. Each sends the journal
    as it read it, so one that read first and uploads last would leave MLflow an older copy; the
    judge's send lock makes the second reader wait for the first upload."""
    import threading

    from tipbench_lib.judge.session import JudgeSession

    collected_experiment(mlflow_client, experiment_name, models=("smollm2-135m",), n_scenarios=1)
    reader = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    app = JudgeSession(mlflow_client, experiment_name, "ana", order="uniform")
    candidate = reader.order[0]
    cell = reader.candidates[candidate].cell_id
    reader.save(candidate, tip(1, 1, 1, True, False), sync=False)

    def newer_save_and_send() -> None:
        app.save(candidate, tip(5, 5, 5, True, False), sync=False)
        app.sync_cell(cell)

    reader.client = MlflowClient(mlflow_client.base_url)
    upload = reader.client.log_artifact
    started: list[threading.Thread] = []

    def upload_after_the_app_tried(*args: object) -> None:
        started.append(threading.Thread(target=newer_save_and_send))
        started[0].start()
        started[0].join(timeout=5)  # without the lock the app's upload lands first
        upload(*args)

    reader.client.log_artifact = upload_after_the_app_tried  # type: ignore[method-assign]
    reader.sync_cell(cell)
    started[0].join(timeout=120)
    assert not started[0].is_alive()
    run_id = reader.records.run_ids[cell]
    [saved] = judgments_in_mlflow(mlflow_client, run_id, "ana", candidate)
    assert saved["relevance"] == 5, "MLflow kept the older score"
