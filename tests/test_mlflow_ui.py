"""``tipbench mlflow-ui`` right after another command (issue 22, findings 4 and 6).

Right after a command that used the embedded server, its keeper still ran the server on a port
chosen at random, and ``mlflow-ui --port P`` joined it there. The UI must come up on P, print
each experiment's runs view (MLflow 3 opens an experiment on "Traces" otherwise), and leave on
SIGTERM with status 0 and no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tipbench_lib.tracking.server import free_port

MAKE_AN_EXPERIMENT = """
from tipbench_lib.tracking.client import MlflowClient
from tipbench_lib.tracking.server import tracking_url
with MlflowClient(tracking_url()) as client:
    print(client.create_experiment("tipbench-demo"))
"""


def test_mlflow_ui_takes_the_asked_port_after_another_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env["TIPBENCH_HOME"] = str(home)
    made = subprocess.run(
        [sys.executable, "-c", MAKE_AN_EXPERIMENT], env=env, capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    experiment_id = made.stdout.split()[-1]
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "tipbench_lib.cli", "mlflow-ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert ui.stdout is not None
        for line in ui.stdout:
            lines.append(line)
            if line.startswith("MLflow UI:"):
                break
        assert f"MLflow UI: http://127.0.0.1:{port} " in lines[-1], lines
        for line in ui.stdout:  # printed at once after the URL
            lines.append(line)
            if "/runs" in line:
                break
        out = "".join(lines)
        assert f"tipbench-demo: http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs" in out
    finally:
        ui.send_signal(signal.SIGTERM)
        _, err = ui.communicate(timeout=60)
    assert ui.returncode == 0
    assert "Traceback" not in err, err
