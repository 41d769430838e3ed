"""Experiments whose names differ only in punctuation or script never share a journal.

The first journal layout named a folder by the name's Latin letters and digits, so ``a b``, ``a_b``
and ``a/b`` shared one, and ``実験`` and ``テスト`` another; delivery then sent every cell of the
shared folder to whichever experiment ran last. Run against the Ollama stand-in and a real MLflow
server, as a researcher would.
"""

from __future__ import annotations

import uuid
import warnings

import pytest

from tipbench_lib.backends.base import GenerationOptions
from tipbench_lib.backends.ollama import OllamaBackend
from tipbench_lib.collect.job import CollectRequest, prepare, run_prepared
from tipbench_lib.collect.journal import CellRecord, CollectJournal
from tipbench_lib.collect.plan import plan_cells
from tipbench_lib.compare.load import load_experiment
from tipbench_lib.core.journal import JournalWarning
from tipbench_lib.tracking.mapping import CELL_TAG

from .ollama_standin import FakeModel, OllamaStandIn

MODELS = [FakeModel("tiny-a", 1_000_000_000)]


@pytest.fixture()
def standin():
    with OllamaStandIn(MODELS, load_s=0.01, gen_s=0.002) as server:
        yield server


def collect(standin, client, experiment: str):
    """One prompt, two scenarios, one tip each: two cells, planned ids returned with the summary."""
    backend = OllamaBackend(standin.url)
    request = CollectRequest(
        experiment=experiment,
        models=("tiny-a",),
        prompts=("v1",),
        scenarios="2",
        n_tips=1,
        options=GenerationOptions(max_tokens=16, timeout_s=10),
    )
    try:
        prepared = prepare(request, backend, client)
        planned = {c.cell_id for c in plan_cells(prepared.config, prepared.models)}
        return run_prepared(prepared, backend, client), planned
    finally:
        backend.close()


def cell_ids_in_mlflow(client, experiment: str) -> list[str]:
    exp = client.get_experiment_by_name(experiment)
    return sorted(r.tags[CELL_TAG] for r in client.search_runs([exp.experiment_id]))


def test_experiments_whose_names_shared_a_folder_get_only_their_own_cells(
    standin, mlflow_client, tipbench_home
):
    tag = uuid.uuid4().hex[:8]
    names = [f"a b-{tag}", f"a_b-{tag}", f"a/b-{tag}", f"実験-{tag}", f"テスト-{tag}"]
    planned = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", JournalWarning)  # nothing foreign is even seen
        for name in names:
            summary, planned[name] = collect(standin, mlflow_client, name)
            assert summary.exit_code == 0, summary.lines()
            assert len(summary.finished) == 2, f"{name}: its cells were taken for another's"
    for name in names:
        assert cell_ids_in_mlflow(mlflow_client, name) == sorted(planned[name]), name
        data = load_experiment(mlflow_client, name)
        assert set(data.cells["cell_id"]) == planned[name], "compare sees only its own cells"
    assert len(list((tipbench_home / "journal").iterdir())) == len(names)


def test_a_record_of_another_experiment_in_a_journal_is_never_used(tipbench_home):
    mine, other = CollectJournal("a b"), CollectJournal("a_b")
    cell = CellRecord("c1", "m | v1 | s", 1, "prompt", {"model": "m"})
    other.add_cell(cell)
    mine.dir.mkdir(parents=True)
    with open(other.journal.path, "rb") as src, open(mine.journal.path, "ab") as dst:
        dst.write(src.read())  # a hand copy into the wrong folder
    with pytest.warns(JournalWarning, match="1 of 'a_b'"):
        assert CollectJournal("a b").state().cells == {}
    assert CollectJournal("a_b").state().cells == {"c1": cell}
