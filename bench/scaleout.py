"""Scale-out of the ``prompt_ab_eval`` DAG: the same grid on one Ollama host and on two.

Three runs side by side (after an unmeasured warm-up run), each against fresh Ollama stand-ins
whose load and generation times make the work dominate (a model's generation time grows with its
size, as on a GPU), all logging to one real ``mlflow server``:
  one host    the DAG through a local Airflow (scheduler, LocalExecutor, pools), one stand-in
  two hosts   the same DAG and grid, two stand-ins
  direct      ``notebooks/collect.py`` on one stand-in, no Airflow: what the DAG costs on top
Printed: wall time of each DAG run and of its collect phase (first collect task's start to the last
one's end), the speed-up, loads per model and the most models resident on a host at once (from the
stand-ins' own records), and the DAG's overhead against the direct run; per host, the plan's
predicted time (its cost model, ``tipbench_lib.collect.hostplan``) beside the measured one (the
host's first collect task's start to its last one's end) and what the plan gave it.

    python bench/scaleout.py [--gen-s 2.5] [--load-s 2.0] [--scenarios 4] [--n-tips 3]

Needs .venv-airflow (``make airflow``). Takes about 13 minutes with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.airflow_harness import LocalAirflow, airflow_installed  # noqa: E402
from tests.ollama_standin import FakeModel, OllamaStandIn  # noqa: E402
from tipbench_lib.tracking.server import LocalMlflowServer  # noqa: E402

MODEL_PARAMS = {"bench-a:3b": 3.0e9, "bench-b:2b": 2.5e9, "bench-c:2b": 2.0e9, "bench-d:1b": 1.5e9}
JUDGE = "bench-judge:1b"
JUDGE_SCORES = (
    '{"relevance": 4, "actionability": 3, "tone": 4, "format_ok": true, "overlong": false}'
)
PROMPTS = ("v1", "v3-few-shot")


@dataclass
class Measured:
    name: str
    wall_s: float
    collect_s: float
    loads: dict[str, int]
    peaks: list[int]
    hosts: list[tuple[float, float, str]] = field(default_factory=list)
    """Per host: predicted s, measured s, what the plan gave it."""
    one_host_s: float = 0.0


def stand_in(gen_s: float, load_s: float) -> OllamaStandIn:
    """A host with every model; a model's generation takes ``gen_s`` scaled by its size."""
    mean = sum(MODEL_PARAMS.values()) / len(MODEL_PARAMS)
    models = [
        FakeModel(name, int(count), gen_s=gen_s * count / mean)
        for name, count in MODEL_PARAMS.items()
    ]
    models.append(FakeModel(JUDGE, 1_000_000_000, json_text=JUDGE_SCORES, gen_s=0.01))
    return OllamaStandIn(models, load_s=load_s, gen_s=gen_s).start()


def peak_resident(host: OllamaStandIn) -> int:
    resident: set[str] = set()
    peak = 0
    for event in sorted(host.events, key=lambda e: e.t):
        if event.kind == "load":
            resident.add(event.model)
        elif event.kind == "unload":
            resident.discard(event.model)
        peak = max(peak, len(resident))
    return max(peak, host.max_resident)


def dag_run(
    airflow: LocalAirflow, name: str, n_hosts: int, args: argparse.Namespace, work: Path
) -> Measured:
    hosts = [stand_in(args.gen_s, args.load_s) for _ in range(n_hosts)]
    try:
        conf = {
            "experiment": f"scaleout-{name.replace(' ', '-')}-{int(time.time())}",
            "models": list(MODEL_PARAMS),
            "prompts": list(PROMPTS),
            "scenarios": str(args.scenarios),
            "n_tips": args.n_tips,
            "hosts": [h.url for h in hosts],
            "llm_judge": JUDGE,
            "collect_args": ["--max-tokens", "32"],
            "report_dir": str(work / f"report-{name}"),
        }
        run_id = f"scaleout-{name.replace(' ', '-')}"
        airflow.trigger(conf, run_id)
        state = airflow.wait_for_run(run_id, timeout=3600)
        if state != "success":
            raise SystemExit(f"the {name} run ended {state}:\n{airflow.logs()}")
        start, end = airflow.run_times(run_id)
        collects = [
            ti
            for ti in airflow.task_instances(run_id)
            if ti.task_id.startswith("collect_host_") and ti.start and ti.end
        ]
        collect_s = max(ti.end for ti in collects) - min(ti.start for ti in collects)
        loads = {m: sum(h.load_count(m) for h in hosts) for m in MODEL_PARAMS}
        peaks = [peak_resident(h) for h in hosts]
        per_host, one_host = planned_vs_measured(airflow, run_id, collects, n_hosts)
        return Measured(name, end - start, collect_s, loads, peaks, per_host, one_host)
    finally:
        for host in hosts:
            host.stop()


def plan_of(airflow: LocalAirflow, run_id: str) -> dict:
    """The plan task's result (its XCom): the lanes' shares with their predicted seconds."""
    rows = airflow.query(
        "SELECT x.value FROM xcom x JOIN dag_run r ON x.dag_run_id = r.id "
        "WHERE r.run_id = ? AND x.task_id = 'plan' AND x.key = 'return_value'",
        (run_id,),
    )
    value = json.loads(rows[0]["value"]) if rows else {}
    return json.loads(value) if isinstance(value, str) else value


def planned_vs_measured(
    airflow: LocalAirflow, run_id: str, collects: list, n_hosts: int
) -> tuple[list[tuple[float, float, str]], float]:
    lanes = plan_of(airflow, run_id)
    out = []
    for lane in range(n_hosts):
        shares = lanes.get(f"lane_{lane}", [])
        mine = [ti for ti in collects if ti.task_id == f"collect_host_{lane}"]
        measured = max(ti.end for ti in mine) - min(ti.start for ti in mine) if mine else 0.0
        given = ", ".join(
            s["model"] + ("" if s["scenarios"] is None else f"[{len(s['scenarios'])}sc]")
            for s in shares
        )
        out.append((sum(s["predicted_s"] for s in shares), measured, given))
    return out, sum(p for p, _, _ in out)


def warm_up(airflow: LocalAirflow, args: argparse.Namespace, work: Path) -> None:
    """A tiny run first, not measured: an Airflow's first DAG run also pays for one-off work
    (the DAG's first version, cold caches) that would otherwise be charged to "one host"."""
    small = argparse.Namespace(**{**vars(args), "gen_s": 0.01, "load_s": 0.01, "scenarios": 1})
    small.n_tips = 1
    dag_run(airflow, "warm up", 1, small, work)


def direct_run(mlflow_url: str, args: argparse.Namespace, work: Path) -> Measured:
    host = stand_in(args.gen_s, args.load_s)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env.update(
        MLFLOW_TRACKING_URI=mlflow_url, OLLAMA_HOST=host.url, TIPBENCH_HOME=str(work / "direct")
    )
    command = [
        sys.executable,
        str(ROOT / "notebooks" / "collect.py"),
        *("--experiment", f"scaleout-direct-{int(time.time())}"),
        *("--models", ",".join(MODEL_PARAMS), "--prompts", ",".join(PROMPTS)),
        *("--scenarios", str(args.scenarios), "--n-tips", str(args.n_tips)),
        *("--backend", "ollama", "--max-tokens", "32"),
    ]
    try:
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"direct collect exited {done.returncode}:\n{done.stderr[-3000:]}")
        loads = {m: host.load_count(m) for m in MODEL_PARAMS}
        return Measured("direct", wall, wall, loads, [peak_resident(host)])
    finally:
        host.stop()


def report(one: Measured, two: Measured, direct: Measured, args: argparse.Namespace) -> None:
    n_gen = len(MODEL_PARAMS) * len(PROMPTS) * args.scenarios * args.n_tips
    ideal = len(MODEL_PARAMS) * (args.load_s + args.gen_s * n_gen / len(MODEL_PARAMS))
    print(
        f"\nprompt_ab_eval scale-out: {len(MODEL_PARAMS)} models x {len(PROMPTS)} prompts x "
        f"{args.scenarios} scenarios x {args.n_tips} tips = {n_gen} generations; load "
        f"{args.load_s:.1f} s, generation {args.gen_s:.2f} s on average (by model size); "
        f"ideal on one host {ideal:.0f} s\n"
    )
    print(f"{'':12} {'DAG run':>9} {'collect':>9}  {'loads per model':<17} peak models/host")
    for m in (one, two):
        loads = ",".join(str(v) for v in m.loads.values())
        peaks = ",".join(str(p) for p in m.peaks)
        print(f"{m.name:12} {m.wall_s:8.1f}s {m.collect_s:8.1f}s  {loads:<17} {peaks}")
    print("\nper host: predicted by the plan's cost model | measured (first collect to last end)")
    for m in (one, two):
        for i, (predicted, measured, given) in enumerate(m.hosts):
            print(f"  {m.name:10} host {i}: {predicted:6.1f}s | {measured:6.1f}s  {given}")
    if two.hosts:
        predicted_ratio = one.one_host_s / max(p for p, _, _ in two.hosts)
        measured_ratio = max(x for _, x, _ in one.hosts) / max(x for _, x, _ in two.hosts)
        print(
            f"  two hosts vs one, busiest host: predicted {predicted_ratio:.2f}x, "
            f"measured {measured_ratio:.2f}x"
        )
    loads = ",".join(str(v) for v in direct.loads.values())
    print(f"{'direct':12} {'':>9} {direct.wall_s:8.1f}s  {loads:<17} {direct.peaks[0]}")
    print(
        f"\nspeed-up, two hosts vs one: {one.wall_s / two.wall_s:.2f}x (DAG run), "
        f"{one.collect_s / two.collect_s:.2f}x (collect phase)"
    )
    extra = one.collect_s - direct.wall_s
    print(
        f"DAG overhead on one host vs direct collect: collect phase +{extra:.1f} s "
        f"({one.collect_s / direct.wall_s:.2f}x); whole run +{one.wall_s - direct.wall_s:.1f} s "
        f"({one.wall_s / direct.wall_s:.2f}x, with plan, LLM judge, compare and scheduling)"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--gen-s", type=float, default=2.5, help="mean seconds per generation")
    p.add_argument("--load-s", type=float, default=2.0, help="seconds to load a model")
    p.add_argument("--scenarios", type=int, default=4)
    p.add_argument("--n-tips", type=int, default=3)
    args = p.parse_args()
    if not airflow_installed():
        print("the Airflow environment is missing: run `make airflow` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tipbench-scaleout-") as tmp:
        work = Path(tmp)
        mlflow = LocalMlflowServer(work / "mlflow")
        url = mlflow.start()
        try:
            airflow = LocalAirflow(
                work / "airflow",
                lanes=2,
                extra_env={"MLFLOW_TRACKING_URI": url, "TIPBENCH_AIRFLOW_HOME": str(work / "w")},
            )
            with airflow:
                airflow.wait_for_dag()
                warm_up(airflow, args, work)
                one = dag_run(airflow, "one host", 1, args, work)
                two = dag_run(airflow, "two hosts", 2, args, work)
            direct = direct_run(url, args, work)
        finally:
            mlflow.stop()
    report(one, two, direct, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
