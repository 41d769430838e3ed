"""``tipbench demo``'s stages on this machine: their times, the rate per tip, and how well the
ETA the demo printed held (issue 20).

Runs the demo once, as a user would, in a fresh tipbench home (so the MLflow server starts as on
a new machine), then reads the stage trace the demo wrote beside its report and prints:

- each stage's time, the seconds per tip of collect and of the judge, and the load average
  before and after (the machine is shared: the figures are only comparable with the load);
- the ETA replayed on the recorded trace (``tipbench_lib.demo_progress.replay``): the share
  of ETAs within 30% of the time really left and the worst one, once collect had its rate;
- the reference costs the ETA starts from, next to what this run measured, so the constants
  in ``tipbench_lib/demo.py`` can be set from a run on a 2-core machine.

    .venv/bin/python bench/demo_stages.py [--scenarios 10 --n-tips 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tipbench_lib import demo
from tipbench_lib.demo_progress import duration, replay

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    p = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
    )
    p.add_argument("--scenarios", type=int, default=demo.DEMO_SCENARIOS)
    p.add_argument("--n-tips", type=int, default=demo.DEMO_TIPS)
    p.add_argument("--prompts", default=",".join(demo.DEMO_PROMPTS))
    p.add_argument("--keep", type=Path, help="tipbench home to use and keep (default: a temp one)")
    args = p.parse_args()
    home = args.keep or Path(tempfile.mkdtemp(prefix="tipbench-demo-bench-"))
    out = home / "out"
    env = {**os.environ, "TIPBENCH_HOME": str(home)}
    env.pop("MLFLOW_TRACKING_URI", None)
    print(f"CPU: {os.cpu_count()} cores (affinity {len(os.sched_getaffinity(0))}); load {load()}")
    began = time.monotonic()
    command = [
        str(Path(sys.executable).parent / "tipbench"),
        "demo",
        "--out",
        str(out),
        "--scenarios",
        str(args.scenarios),
        "--n-tips",
        str(args.n_tips),
        "--prompts",
        args.prompts,
    ]
    code = subprocess.call(command, env=env, cwd=REPO)
    wall = time.monotonic() - began
    print(f"\ndemo exit {code}, {duration(wall)} wall; load after {load()}")
    trace_path = out / demo.TRACE_FILE
    if not trace_path.exists():
        print(f"no trace at {trace_path}")
        return 1
    recorded = json.loads(trace_path.read_text())
    events = [tuple(e) for e in recorded["events"]]
    cpu_s = recorded.get("cpu_s", {})
    prompts = tuple(args.prompts.split(","))
    grid = demo.Grid(scenarios=args.scenarios, n_tips=args.n_tips, prompts=prompts)
    stages = demo.plan(grid)
    began_at: dict[str, float] = {}
    ended_at: dict[str, float] = {}
    first_unit: dict[str, tuple[float, int]] = {}
    for time_s, name, done in events:
        began_at.setdefault(name, time_s)
        if done is None:
            ended_at[name] = time_s
        elif done and name not in first_unit:
            first_unit[name] = (time_s, done)
    print("\nstage     time      fixed (s)  s/tip   reference fixed, s/tip")
    per_tip_of: dict[str, float] = {}
    for stage in stages:
        if stage.name not in ended_at:
            continue
        took = ended_at[stage.name] - began_at[stage.name]
        fixed, per_tip = took, 0.0
        if stage.units and stage.name in first_unit:
            t_first, n_first = first_unit[stage.name]
            per_tip = (ended_at[stage.name] - t_first) / max(stage.units - n_first, 1)
            fixed = t_first - began_at[stage.name] - per_tip * n_first
        per_tip_of[stage.name] = per_tip
        cpu = f"   CPU {cpu_s[stage.name]:.0f} s" if stage.name in cpu_s else ""
        print(
            f"{stage.name:9s} {duration(took):>9s} {fixed:9.1f} {per_tip:7.2f}   "
            f"{stage.fixed_s:.1f}, {stage.unit_s:.2f}{cpu}"
        )
    if per_tip_of.get("collect") and per_tip_of.get("judge"):
        print(
            f"judge s/tip / collect s/tip, side by side in this run: "
            f"{per_tip_of['judge'] / per_tip_of['collect']:.2f} "
            f"(the ETA's reference: {demo.JUDGE_TIP_S / demo.COLLECT_TIP_S:.2f})"
        )
    rows = replay(stages, events)
    end = rows[-1][2]
    errors = [
        abs(predicted - true_end) / (true_end - t)
        for t, predicted, true_end, measured in rows
        if measured and true_end - t > 60.0
    ]
    if errors:
        within = sum(e <= 0.30 for e in errors) / len(errors)
        print(
            f"\nETA once collect had its rate, more than a minute left: {len(errors)} ETAs, "
            f"{within:.0%} within 30% of the time left, worst {max(errors):.0%}"
        )
    print(f"first ETA (reference machine): {duration(rows[0][1])}; the demo took {duration(end)}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
