"""``prompt_ab_eval``: one tipbench grid over several Ollama hosts, one model per host at a time.

    plan ─┬─ collect_host_0 [model a @ host 0] [model c @ host 0] ...   (pool tipbench_host_0)
          ├─ collect_host_1 [model b @ host 1] ...                      (pool tipbench_host_1)
          └─ ... one lane per possible host ───────────────────────────── llm_judge ── compare

**plan** runs ``tipbench collect`` for the whole grid with ``--plan-hosts`` (collect nothing):
tipbench makes every check a collect task would make (a name, prompt or scenario it does not
know, a model no host has or one above ``--max-model-b``, another rubric or other generation
settings than the experiment holds), so a run a collect would refuse fails here, before any
collect starts, and llm_judge and compare never run; it then creates the experiment with its
rubric record, once (the collects find it, so they never race to create it), and prints which
host collects which model. The spread balances a modelled cost (``tipbench_lib.collect.
hostplan``): a fixed cost per model and host (task start, load, unload) plus the tokens to
generate times the model's time per token, which grows with its size on disk; a model may be
split by scenario across hosts, each part one collect task that loads the model once on its
host. It refuses, before anything runs, a repeated host or more hosts than lanes.

**collect_host_<i>** runs ``tipbench collect`` for one model (or the scenarios of it the plan
gave this host) on host ``i`` (``OLLAMA_HOST`` set to it, ``--backend ollama``), one mapped task
instance per share planned there. Every task writes the same MLflow experiment: MLflow is the
shared store, so ``MLFLOW_TRACKING_URI`` must name one server all workers reach (README,
"Several GPU hosts"), in every worker's environment: the workers' MLflow credentials go to
that address, so no run parameter may change it (a run's ``mlflow_tracking_uri`` is refused).
Each task keeps its journal in its own ``TIPBENCH_HOME`` on the worker that runs it
(``<work dir>/collect/<model and part>``): tipbench locks an experiment's journal per process,
and a per-share home lets tasks of other models run beside it while a retry of the same model finds
the journal its killed attempt left; a retry on another worker first takes from MLflow the cells
an earlier attempt finished (tipbench's adoption), so it generates only what is missing anywhere.

**Why lanes with one pool each.** Hosts are given when the DAG is triggered, but Airflow decides
a task instance's pool when it creates it, from the operator's ``partial()`` arguments: a mapped
task cannot pick its pool per map index (``expand_kwargs(pool=...)`` is accepted at parse time
and ignored by the scheduler, which fills ``task_instance.pool`` from the unmapped operator), and
a mapped task group cannot contain a second mapping (host × model). Nor can a task map over one
key of another task's result, hence the small ``host_<i>_models`` task per lane that hands its
lane its part of the plan. So the DAG has a fixed number of lanes, ``TIPBENCH_AIRFLOW_HOST_LANES``
(4 unless set where the DAG is parsed), each lane one task mapped over the models planned for its
host and bound to the pool ``tipbench_host_<i>`` with ONE slot. Whatever the DAG's or the
executor's concurrency, a host then runs one collect at a time, so it never holds two models;
lanes without a host expand to nothing and are skipped. The pools must exist with one slot each
(``airflow pools import pools-airflow.json``, from the repository): a task whose pool is missing
is never scheduled.
``max_active_runs=1`` keeps lane ``i`` meaning one host at a time: two runs with different host
lists would otherwise map one host to two lanes. ``max_active_tis_per_dag=1`` on each lane keeps
the rule even if a pool was given more slots by mistake.

**llm_judge** (only when ``llm_judge`` is given) scores every candidate on the first host, in lane
0's pool, after all collects. **compare** first asks ``tipbench status`` whether any candidate
has a score yet: when none has (a grid without ``llm_judge``, before people judge), it succeeds
without a report and logs what to do (judge, then clear the task), since the run itself went
well; otherwise it runs ``tipbench compare``, which writes ``report.html``, ``leaderboard.csv``
and ``comparisons.csv`` and logs them to the experiment's summary run in MLflow.

**Retries reuse tipbench's resume.** A retried collect runs the same command: the journal skips
every complete cell, completes partial ones, and MLflow keeps one run per cell (found by its cell
id tag), so nothing is duplicated; a retry also passes ``--retry-failed`` so cells a host failed
(a timeout, a crashed runner) get another try. tipbench's exit status decides: 0 done; 2 refused
(bad parameters: failing at once, since a retry cannot help); anything else (1 some cells failed,
3 interrupted, killed by a signal) is retried. If the task's process is killed, tipbench dies
with it (``PR_SET_PDEATHSIG``) so the retry never meets an orphan still holding the journal.

The tasks start tipbench only through its command line (:func:`tipbench_command`), from
tipbench's own virtual environment: Airflow pins its own dependency tree and lives in another
environment (``make airflow``), so nothing here imports ``tipbench_lib``.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import Param, TriggerRule, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

DAG_ID = "prompt_ab_eval"
HOST_LANES = int(os.environ.get("TIPBENCH_AIRFLOW_HOST_LANES", "4"))
RETRIES = int(os.environ.get("TIPBENCH_AIRFLOW_RETRIES", "2"))
RETRY_DELAY_S = float(os.environ.get("TIPBENCH_AIRFLOW_RETRY_DELAY_S", "60"))
INVENTORY_TIMEOUT_S = 15.0

EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 2, 3
EXIT_MEANING = {
    EXIT_FAILED: "some cells failed",
    EXIT_REFUSED: "refused",
    EXIT_INTERRUPTED: "interrupted",
    130: "interrupted",
}


# -- where tipbench is and how it is started --------------------------------------------------


def checkout() -> Path:
    """The tipbench checkout: this file's repository unless ``TIPBENCH_CHECKOUT`` names one
    (when the DAG file is copied into a DAGs folder of its own)."""
    default = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("TIPBENCH_CHECKOUT", default))


def tipbench_python() -> Path:
    """tipbench's interpreter: ``<checkout>/.venv/bin/python`` (``make install``) unless
    ``TIPBENCH_PYTHON`` names another."""
    return Path(os.environ.get("TIPBENCH_PYTHON", checkout() / ".venv" / "bin" / "python"))


def tipbench_script() -> Path:
    """The ``tipbench`` command of tipbench's environment, installed beside its interpreter."""
    return tipbench_python().parent / "tipbench"


def shown(command: Sequence[str]) -> str:
    """A command as the log and the hints print it, each word quoted for a shell where it needs
    it: names come from the run's parameters, and a hint copied into a terminal must run what it
    says (tipbench's own hints go through ``tipbench_lib.core.escaping.shell_command``, which
    this file cannot import)."""
    return shlex.join(command)


def tipbench_command(phase: str, args: Sequence[str]) -> list[str]:
    """The one place that knows how to start tipbench: ``tipbench <phase> args``, where ``phase``
    is collect, judge or compare and ``args`` its command-line arguments (as on a terminal)."""
    return [str(tipbench_script()), phase, *args]


def work_dir() -> Path:
    """Where the tasks keep their journals and reports on a worker: ``TIPBENCH_AIRFLOW_HOME``,
    else ``<checkout>/.tipbench/airflow``."""
    default = checkout() / ".tipbench" / "airflow"
    return Path(os.environ.get("TIPBENCH_AIRFLOW_HOME", default))


def dir_key(name: str) -> str:
    """A folder name for ``name`` that no other name gets: readable part plus a hash."""
    slug = re.sub(r"[^\w.-]+", "_", name)[:40].strip("._-") or "x"
    return f"{slug}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def pool_name(lane: int) -> str:
    return f"tipbench_host_{lane}"


# -- the grid and the plan --------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    """The run's parameters, checked: what every task needs to build its command line."""

    experiment: str
    models: tuple[str, ...]
    prompts: tuple[str, ...]
    scenarios: str
    n_tips: int
    hosts: tuple[str, ...]
    rubric: str | None = None
    llm_judge: str | None = None
    collect_args: tuple[str, ...] = ()
    report_dir: str | None = None


def _names(value: Any, what: str) -> tuple[str, ...]:
    """A list of names from a JSON list or a comma string, blanks dropped."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    names = tuple(str(v).strip() for v in items if str(v).strip())
    if not names:
        raise ValueError(f"{what} is empty: give at least one")
    return names


def normalize_host(host: str) -> str:
    """``gpu1:11434`` → ``http://gpu1:11434``, as Ollama reads ``OLLAMA_HOST``."""
    host = host.strip().rstrip("/")
    if not re.match(r"^https?://", host):
        host = f"http://{host}"
    return host


def grid_from_params(params: Mapping[str, Any]) -> Grid:
    """The DAG run's params as a :class:`Grid`; ValueError names the first problem."""
    hosts = tuple(normalize_host(h) for h in _names(params.get("hosts"), "hosts"))
    repeated = sorted({h for h in hosts if hosts.count(h) > 1})
    if repeated:
        raise ValueError(
            f"hosts lists {', '.join(repeated)} more than once; one host is one GPU lane, so "
            "list each once"
        )
    if len(hosts) > HOST_LANES:
        raise ValueError(
            f"{len(hosts)} hosts but this DAG has {HOST_LANES} lanes; set "
            f"TIPBENCH_AIRFLOW_HOST_LANES={len(hosts)} where the DAG is parsed and create the "
            f"pools tipbench_host_0 … tipbench_host_{len(hosts) - 1} with one slot each"
        )
    models = _names(params.get("models"), "models")
    twice = sorted({m for m in models if [canonical(n) for n in models].count(canonical(m)) > 1})
    if twice:
        raise ValueError(
            f"models lists {', '.join(twice)} more than once (a name without a tag is "
            ":latest); each model runs once, so list it once"
        )
    n_tips = int(params.get("n_tips") or 0)
    if n_tips < 1:
        raise ValueError(f"n_tips must be at least 1, got {params.get('n_tips')!r}")
    experiment = str(params.get("experiment") or "").strip()
    if not experiment:
        raise ValueError("experiment is empty: name the MLflow experiment")
    if params.get("mlflow_tracking_uri"):
        raise ValueError(
            "mlflow_tracking_uri is not a run parameter: the tasks send the workers' MLflow "
            "credentials to the MLflow server, so its address comes from the deployment (set "
            "MLFLOW_TRACKING_URI in every worker's environment), never from whoever triggers "
            "a run; leave it out of the run's configuration"
        )
    return Grid(
        experiment=experiment,
        models=models,
        prompts=_names(params.get("prompts"), "prompts"),
        scenarios=str(params.get("scenarios")).strip(),
        n_tips=n_tips,
        hosts=hosts,
        rubric=(params.get("rubric") or None),
        llm_judge=(params.get("llm_judge") or None),
        collect_args=tuple(str(a) for a in params.get("collect_args") or ()),
        report_dir=(params.get("report_dir") or None),
    )


def canonical(model: str) -> str:
    """Ollama's naming rule: a name without a tag means ``:latest``."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def host_inventory(host: str, timeout: float = INVENTORY_TIMEOUT_S) -> dict[str, int]:
    """The models ``host`` has and their size in bytes, from its ``/api/tags``."""
    try:
        with urllib.request.urlopen(f"{host}/api/tags", timeout=timeout) as response:
            listing = json.load(response)
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"Ollama at {host} did not answer /api/tags: {exc}") from exc
    return {
        canonical(str(m.get("name") or m.get("model"))): int(m.get("size") or 0)
        for m in listing.get("models", [])
    }


def lanes_of(grid: Grid, planned: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """``tipbench collect --plan-hosts``'s plan as the lanes' expansion lists: ``lane_<i>`` →
    [{model, host, lane, scenarios, predicted_s}, ...], host ``i`` being the i-th listed.

    The plan comes from another process: it must name exactly the run's hosts, in order, and
    only models of the run's grid."""
    listed = [entry.get("host") for entry in planned.get("hosts", [])]
    if len(listed) != len(grid.hosts):
        raise AirflowException(f"the plan names {len(listed)} hosts, the run {len(grid.hosts)}")
    known = {canonical(m) for m in grid.models}
    lanes: dict[str, list[dict[str, Any]]] = {f"lane_{i}": [] for i in range(HOST_LANES)}
    for lane, (host, entry) in enumerate(zip(grid.hosts, planned["hosts"], strict=True)):
        for share in entry.get("shares", []):
            if canonical(str(share["model"])) not in known:
                raise AirflowException(f"the plan names a model not in the run: {share}")
            scenarios = share.get("scenarios")
            lanes[f"lane_{lane}"].append(
                {
                    "model": str(share["model"]),
                    "host": host,
                    "lane": lane,
                    "scenarios": None if scenarios is None else [str(s) for s in scenarios],
                    "predicted_s": float(share.get("predicted_s") or 0.0),
                }
            )
    return lanes


# -- running tipbench -------------------------------------------------------------------------


def tipbench_env(home: Path, ollama_host: str | None = None) -> dict[str, str]:
    """The worker's environment for tipbench, minus the Airflow environment's Python settings.

    MLflow's address and credentials are the worker's own (``MLFLOW_TRACKING_URI``,
    ``MLFLOW_TRACKING_TOKEN`` or ``_USERNAME``/``_PASSWORD``), passed on unchanged: tipbench
    sends the credentials only to that address, so no run parameter may change it.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["TIPBENCH_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    if ollama_host:
        env["OLLAMA_HOST"] = ollama_host
    return env


def _die_with_parent(parent: int) -> Any:
    """For ``preexec_fn``: the child gets SIGTERM when the task process dies, even by SIGKILL,
    so a killed task never leaves tipbench running (and holding the journal lock) behind it."""

    def arm() -> None:
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(EXIT_INTERRUPTED)

    return arm


def run_tipbench(phase: str, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> list[str]:
    """Run one tipbench command, its output into the task log; its exit status decides.

    0 returns the output's lines; 2 (refused: bad parameters) fails the task for good; anything
    else raises a retryable error, and the retry resumes where this attempt stopped.
    """
    command = tipbench_command(phase, args)
    print("running:", shown(command), flush=True)
    cwd.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    tail: deque[str] = deque(maxlen=15)
    with subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        preexec_fn=_die_with_parent(os.getpid()),
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                lines.append(line.rstrip())
                tail.append(line.rstrip())
            code = proc.wait()
        except BaseException:  # Airflow stops the task (timeout, marked failed): stop tipbench too
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    raise_for_exit(phase, code, list(tail))
    return lines


def raise_for_exit(phase: str, code: int, tail: Sequence[str]) -> None:
    """Turn tipbench's exit status into the task's outcome (see the module docstring)."""
    if code == EXIT_OK:
        return
    last = "\n".join(tail[-5:])
    if code == EXIT_REFUSED:
        raise AirflowFailException(
            f"tipbench {phase} refused (exit 2): fix the DAG run's parameters; a retry cannot "
            f"help.\n{last}"
        )
    meaning = EXIT_MEANING.get(code) or (
        f"killed by signal {-code}" if code < 0 else "unexpected exit status"
    )
    raise AirflowException(
        f"tipbench {phase} exited {code} ({meaning}); a retry resumes where it stopped.\n{last}"
    )


def collect_args(
    grid: Grid, model: str, retry: bool, scenarios: Sequence[str] | None = None
) -> list[str]:
    """The collect command's arguments for ``model`` (or its ``scenarios`` only, a split)."""
    args = [
        "--experiment",
        grid.experiment,
        "--models",
        model,
        "--prompts",
        ",".join(grid.prompts),
        "--scenarios",
        grid.scenarios if scenarios is None else ",".join(scenarios),
        "--n-tips",
        str(grid.n_tips),
        "--backend",
        "ollama",
    ]
    if grid.rubric:
        args += ["--rubric", grid.rubric]
    if retry:
        args.append("--retry-failed")
    return args + list(grid.collect_args)


def plan_args(grid: Grid) -> list[str]:
    """The plan's command: the collect of the whole grid, every model, with ``--plan-hosts``."""
    args = collect_args(grid, ",".join(grid.models), retry=False)
    return [*args, "--plan-hosts", ",".join(grid.hosts)]


def last_json(lines: Sequence[str], key: str) -> dict[str, Any]:
    """The last output line that is a JSON object holding ``key``."""
    for line in reversed(lines):
        if line.startswith("{"):
            found = json.loads(line)
            if isinstance(found, dict) and key in found:
                return found
    raise AirflowException(f"tipbench printed no object with {key!r}; retrying")


def experiment_status(grid: Grid, env: Mapping[str, str], cwd: Path) -> dict[str, Any]:
    """``tipbench status``'s object for the run's experiment: its last output line that is one."""
    lines = run_tipbench("status", ["--experiment", grid.experiment], env, cwd)
    return last_json(lines, "judged_candidates")


def judged(status: Mapping[str, Any]) -> bool:
    """Whether compare has something to report on: a tip scored on the rubric, or a pairwise
    judgment (an experiment may be judged in pairs only, ``docs/architecture.md`` section 13)."""
    return bool(status.get("judged_candidates") or status.get("pairwise_judgments"))


def nothing_judged_yet(grid: Grid, status: Mapping[str, Any], out: Path) -> str:
    """The compare task's summary when nothing is judged: what to do, and then what."""
    name = grid.experiment
    llm = shown(["tipbench", "judge", "--experiment", name, "--llm-judge", "MODEL"])
    app = shown(["make", "judge", f"EXPERIMENT={name}", "JUDGE=ID"])
    compare = shown(
        ["tipbench", "compare", "--experiment", name, "--out", str(out), "--log-summary"]
    )
    return (
        f"nothing judged yet: experiment {name!r} holds {status.get('candidates')} candidate "
        f"tip(s) in {status.get('cells')} cell(s) and none has a score, so there is no report "
        f"yet. Judge with `{llm}` (or give the DAG run an llm_judge), or by people in the judge "
        f"app (`{app}`), then rerun compare: clear this task in Airflow (or run `{compare}`)."
    )


def compare_grid(grid: Grid) -> str | None:
    """The compare task's work: the report's path, or None (and a summary in the log) when
    nothing is judged yet."""
    out = report_dir(grid)
    home = work_dir() / "compare"
    env = tipbench_env(home)
    status = experiment_status(grid, env, home)
    if not judged(status):
        print(nothing_judged_yet(grid, status, out), flush=True)
        return None
    args = ["--experiment", grid.experiment, "--out", str(out), "--log-summary"]
    run_tipbench("compare", args, env, cwd=home)
    return str(out / "report.html")


def report_dir(grid: Grid) -> Path:
    if grid.report_dir:
        return Path(grid.report_dir)
    return work_dir() / "reports" / dir_key(grid.experiment)


def _grid() -> Grid:
    """This run's grid; bad parameters fail the task without retries."""
    try:
        return grid_from_params(get_current_context()["params"])
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None


# -- the DAG ----------------------------------------------------------------------------------


@task
def plan() -> dict[str, list[dict[str, Any]]]:
    """Every check a collect would make, the experiment created once, and each model (or part
    of it) given to one host (see the module docstring)."""
    grid = _grid()
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise AirflowFailException(
            "MLFLOW_TRACKING_URI is not set on this worker: every task must log to one shared "
            "`mlflow server`, named in every worker's environment (README, 'Several GPU hosts: "
            "Airflow'); without it each task would start its own"
        )
    if not tipbench_script().exists():
        install = shown(["make", "-C", str(checkout()), "install"])
        raise AirflowFailException(
            f"tipbench's command is not at {tipbench_script()}: run `{install}` or set "
            "TIPBENCH_PYTHON to the Python of an environment with tipbench"
        )
    try:
        judge_host = host_inventory(grid.hosts[0]) if grid.llm_judge else {}
    except ConnectionError as exc:
        raise AirflowException(f"{exc}; retrying") from exc
    if grid.llm_judge and canonical(grid.llm_judge) not in judge_host:
        raise AirflowFailException(
            f"the LLM judge {grid.llm_judge} runs on the first host, {grid.hosts[0]}, which "
            "does not have it: `ollama pull` it there or list first a host that has it"
        )
    home = work_dir() / "plan"
    args = plan_args(grid)
    planned = last_json(run_tipbench("collect", args, tipbench_env(home), cwd=home), "hosts")
    for lane, entry in enumerate(planned["hosts"]):
        shares = ", ".join(
            s["model"] + ("" if s["scenarios"] is None else f" [{len(s['scenarios'])} scenarios]")
            for s in entry["shares"]
        )
        print(
            f"lane {lane} ({pool_name(lane)}): {entry['host']}: {shares or '(nothing)'}; "
            f"predicted {entry['predicted_s']:.0f} s (one host: {planned['one_host_s']:.0f} s)"
        )
    return lanes_of(grid, planned)


@task
def lane_models(lanes: dict[str, list[dict[str, Any]]], lane: int) -> list[dict[str, Any]]:
    """One lane's part of the plan, as its own XCom: Airflow maps only over a task's whole
    return value, never over one key of it."""
    return lanes[f"lane_{lane}"]


@task(map_index_template="{{ model_at_host }}")
def collect(assignment: dict[str, Any]) -> None:
    """``tipbench collect`` for one model on its host; its journal in a per-model home."""
    context = get_current_context()
    model, host = assignment["model"], assignment["host"]
    scenarios = assignment.get("scenarios")
    part = "" if scenarios is None else f" [scenarios {','.join(scenarios)}]"
    context["model_at_host"] = f"{model} @ {host}{part}"  # type: ignore[typeddict-unknown-key]
    grid = _grid()
    retry = context["ti"].try_number > 1
    home = work_dir() / "collect" / dir_key(model + part)
    env = tipbench_env(home, ollama_host=host)
    run_tipbench("collect", collect_args(grid, model, retry, scenarios), env, cwd=home)


@task(trigger_rule=TriggerRule.NONE_FAILED, pool=pool_name(0))
def llm_judge() -> None:
    """Score every candidate with the run's LLM judge on the first host, when one is asked."""
    grid = _grid()
    if not grid.llm_judge:
        raise AirflowSkipException("no llm_judge in this run's parameters")
    home = work_dir() / "judge"
    args = ["--experiment", grid.experiment, "--llm-judge", grid.llm_judge, "--backend", "ollama"]
    run_tipbench("judge", args, tipbench_env(home, ollama_host=grid.hosts[0]), cwd=home)


@task(trigger_rule=TriggerRule.NONE_FAILED)
def compare() -> str | None:
    """The report and its tables, also logged as the experiment's summary run in MLflow; when no
    candidate is judged yet, no report and a summary saying how to judge (the task succeeds)."""
    return compare_grid(_grid())


@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["tipbench"],
    default_args={"retries": RETRIES, "retry_delay": timedelta(seconds=RETRY_DELAY_S)},
    params={
        "experiment": Param("tipbench-airflow", type="string", minLength=1),
        "models": Param(
            ["smollm2:135m"],
            type="array",
            items={"type": "string"},
            minItems=1,
            description="Ollama model names; each runs on exactly one host",
        ),
        "prompts": Param(
            ["v1", "v2-mentor", "v3-few-shot"], type="array", items={"type": "string"}
        ),
        "scenarios": Param(
            "12",
            type=["string", "integer"],
            description="a count (spread across personas) or a comma list of scenario ids",
        ),
        "n_tips": Param(3, type="integer", minimum=1),
        "rubric": Param(None, type=["null", "string"], description="passed as --rubric"),
        "hosts": Param(
            ["http://127.0.0.1:11434"],
            type="array",
            items={"type": "string"},
            minItems=1,
            description="Ollama base URLs, one per GPU host",
        ),
        "llm_judge": Param(
            None, type=["null", "string"], description="judge model, run on the first host"
        ),
        "collect_args": Param(
            [],
            type="array",
            items={"type": "string"},
            description='more collect arguments, e.g. ["--max-tokens", "96"]',
        ),
        "report_dir": Param(None, type=["null", "string"]),
    },
)
def prompt_ab_eval() -> None:
    planned = plan()
    lanes = [
        collect.override(
            task_id=f"collect_host_{lane}", pool=pool_name(lane), max_active_tis_per_dag=1
        ).expand(assignment=lane_models.override(task_id=f"host_{lane}_models")(planned, lane))
        for lane in range(HOST_LANES)
    ]
    judged = llm_judge()
    lanes >> judged
    judged >> compare()


prompt_ab_eval()
