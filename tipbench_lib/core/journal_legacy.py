"""Adopting journals of the first layout, whose folder and file names were slugs of the name only.

In that layout ``a b``, ``a_b`` and ``a/b`` shared ``journal/a_b/``, names in non-Latin letters
shared ``journal/experiment/``, judges ``a b`` and ``a_b`` shared ``judgments/a_b.jsonl``, and
collect records did not say which experiment they belonged to. Such a folder is therefore never
taken whole: each name adopts, record by record, exactly what can be proven to be its own.

- A collect cell belongs to experiment X when its cell id, which hashes the experiment name with the
  cell's inputs, is recomputed from the cell record's params for X (:func:`cell_id_from_params`).
  A cell of another experiment that shared the folder can never pass (it hashed another name), so
  every colliding experiment takes its own cells and no one has to split the folder by hand. A cell
  that cannot be proven (a scenario edited since, so its hash changed) stays behind, with a
  warning: the planner never asks for that cell again (its id hashes the old scenario), so only a
  cell that never reached MLflow could be missed, and it is still in the old file.
- A judgment belongs to judge J of experiment X when its ``judge_id`` is exactly J (every record
  always carried it) and its cell is one of X's runs in MLflow (:func:`adopt_judgments`).

Records are copied, never moved: the old folder stays as it was, a backup and the source for every
other name that shared it. The new file is created in one step (``journal.create_journal``); once it
exists the old folder is not read again for that name, so adoption happens once.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tipbench_lib.core.hashing import content_hash
from tipbench_lib.core.journal import Journal, JournalWarning, create_journal

ADOPTED_MARKER = "legacy-adopted.json"
"""Written into a keyed judgments folder once its old-layout judgments were adopted."""


def cell_id_from_params(experiment: str, params: Mapping[str, Any], scenario_hash: str) -> str:
    """The cell id the first layout's collector gave these params under ``experiment``.

    A frozen copy of ``collect.cell_id_for`` as it was when those journals were written, on
    purpose: old records carry ids made by that formula, whatever the formula becomes later.
    Only the scenario's content hash is not in the params; the caller looks it up.
    """
    return content_hash(
        {
            "experiment": experiment,
            "model": params["model"],
            "digest": params["model_digest"],
            "prompt": [params["prompt_version"], params["prompt_hash"]],
            "scenario": [params["scenario_id"], scenario_hash],
            "options": params["options"],
            "seed": int(params["seed"]),
        }
    )


def scenario_hashes() -> dict[str, str]:
    """Content hash of every scenario of the scenario file that parses (one that does not cannot
    prove any cell, and must not stop the others from being adopted)."""
    from tipbench_lib.core.errors import DataFileError
    from tipbench_lib.core.scenarios import ScenarioFile

    file = ScenarioFile.read()
    hashes = {}
    for sid, pair in file.pairs().items():
        with contextlib.suppress(DataFileError):
            hashes[sid] = file.scenario(*pair).content_hash
    return hashes


def owned_cells(
    experiment: str, records: list[dict[str, Any]], scenario_hashes: Mapping[str, str]
) -> set[str]:
    """Ids of the cells among ``records`` that provably belong to ``experiment``."""
    owned = set()
    for rec in records:
        if rec.get("type") != "cell":
            continue
        if "experiment" in rec:
            if rec["experiment"] == experiment:
                owned.add(rec["cell_id"])
            continue
        params = rec.get("params") or {}
        scenario_hash = scenario_hashes.get(str(params.get("scenario_id")))
        try:
            proven = scenario_hash is not None and rec["cell_id"] == cell_id_from_params(
                experiment, params, scenario_hash
            )
        except (KeyError, TypeError, ValueError):
            proven = False  # params of an older shape: not provable, so not taken
        if proven:
            owned.add(rec["cell_id"])
    return owned


def adopt_collect(experiment: str, legacy: Path, target: Path) -> None:
    """Create ``target`` from the cells of ``legacy`` that are ``experiment``'s (see module doc)."""
    if target.exists() or not legacy.is_file():
        return
    records = list(Journal(legacy).records())
    owned = owned_cells(experiment, records, scenario_hashes())
    kept = [{**r, "experiment": experiment} for r in records if r.get("cell_id") in owned]
    left = {r["cell_id"] for r in records if r.get("type") == "cell"} - owned
    header = {
        "type": "adopted",
        "experiment": experiment,
        "from": str(legacy),
        "cells": len(owned),
        "cells_left": len(left),
        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    if create_journal(target, [header, *kept]) and left:
        warnings.warn(
            f"{legacy} (the old journal layout, shared by every experiment name with the same "
            f"letters and digits) holds {len(left)} cell(s) that are not {experiment!r}'s: another "
            f"experiment's, or made from a scenario edited since. They stay in that file, "
            f"unused here; {len(owned)} cell(s) were taken into {target.parent}.",
            JournalWarning,
            stacklevel=3,
        )


def adopt_judgments(
    legacy_dir: Path,
    target_dir: Path,
    cell_ids: Collection[str],
    path_for: Callable[[str], Path],
) -> None:
    """Give every judge of ``legacy_dir`` a keyed journal with their judgments of ``cell_ids``.

    ``cell_ids`` are the experiment's runs in MLflow, so a judgment of a cell outside them is
    another experiment's (the folders of colliding names were shared) and stays behind. A judge's
    queue seed comes along with their judgments, so the order they were working through is kept.
    """
    marker = target_dir / ADOPTED_MARKER
    if marker.exists() or not legacy_dir.is_dir():
        return
    seeds: dict[str, list[dict[str, Any]]] = {}
    judgments: dict[str, list[dict[str, Any]]] = {}
    left = 0
    for path in sorted(legacy_dir.glob("*.jsonl")):
        for rec in Journal(path).records():
            judge = rec.get("judge_id")
            if isinstance(judge, str) and rec.get("type") == "queue":
                seeds.setdefault(judge, []).append(rec)
            elif isinstance(judge, str) and rec.get("cell_id") in cell_ids:
                judgments.setdefault(judge, []).append(rec)
            else:
                left += 1
    for judge, records in sorted(judgments.items()):
        create_journal(path_for(judge), [*seeds.get(judge, [])[:1], *records])
    summary = {"from": str(legacy_dir), "judges": sorted(judgments), "records_left": left}
    if create_journal(marker, [summary]) and left:
        warnings.warn(
            f"{legacy_dir} (the old journal layout, shared by every experiment name with the same "
            f"letters and digits) holds {left} judgment(s) of cells that are not in this "
            "experiment; they stay in that folder, unused here.",
            JournalWarning,
            stacklevel=3,
        )
