"""The generation settings an experiment is collected with: one set per experiment.

A cell's tips are a sample drawn under its generation settings: the sampling options
(``--temperature``, top_p, ``--max-tokens``, ``--num-ctx``), ``--diversity``'s rule and the base
``--seed``. Each of them is part of the cell id (:func:`tipbench_lib.collect.plan.cell_id_for`),
so a run that changes one makes new cells beside the old ones, and the compare phase, which
groups cells by (model, prompt version), would pool both samples in one row without saying so.
So an experiment holds one set: a run whose settings differ from those of any cell the
experiment already holds, in this machine's journal or in MLflow (another worker's cells), is
refused before anything is loaded or created (:func:`refuse_mixed_settings`, called by
:func:`tipbench_lib.collect.job.prepare`), naming every differing option with both values and
what to do. A run with the same settings (a resume, more models, prompt versions or scenarios)
goes on.

Two options are not settings: ``--n-tips`` (a larger count completes the held cells from the next
index, the same sample; a cell's tips are averaged per scenario before any comparison) and
``--timeout`` (it decides which generations fail, not what a tip says).

The settings are read back from what every cell records, its ``options`` and ``seed`` params
(:func:`settings_of`), or for a cell only claimed so far, its claim's settings tag; the run's own
are made by the same code that writes those params (:func:`planned_settings`), so the two always
speak the same words.

**Two collects racing.** The check runs three times, so two collects with other settings started
at once (from two homes, where no lock is shared) cannot both add cells: in ``prepare`` (to
refuse before any model is described or anything created), again under the journal's lock when
the run starts (:func:`tipbench_lib.collect.job.run_prepared`; a collect whose Ollama took long to
describe its models finds the other's cells by then), and once more right after the run's first
won claim, before anything is loaded (:func:`refuse_claimed_settings`). Every claim carries its
settings, so of two collects that both passed the lock, the later to claim sees the other's
claim: a claim exists before its worker's check, so at least one of the two sees the other and is
refused (both may be, and then neither adds a cell). A refused run withdraws its claims.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from tipbench_lib.collect.diversity import OFF, OPTION_KEY
from tipbench_lib.collect.plan import CollectConfig, content_options
from tipbench_lib.core.errors import SettingsConflict
from tipbench_lib.tracking.mapping import SETTINGS_TAG, is_cell_run, settings_text

if TYPE_CHECKING:
    from tipbench_lib.collect.journal import CollectJournal
    from tipbench_lib.tracking.client import MlflowClient
    from tipbench_lib.tracking.entities import Run

SEED_KEY = "seed"
FLAGS: dict[str, str | None] = {
    "temperature": "--temperature",
    "top_p": None,  # no command-line option: the default unless code sets it
    "max_tokens": "--max-tokens",
    "num_ctx": "--num-ctx",
    SEED_KEY: "--seed",
    OPTION_KEY: "--diversity",
}
"""Every setting in the order messages name them, with the option that sets it."""

Settings = dict[str, str]
"""Setting name → its value as the cell's params record it."""


def settings_of(params: Mapping[str, str]) -> Settings | None:
    """A cell's settings from its params; None when it has no ``options`` param yet (a run a
    kill left before its params were logged says nothing about its settings)."""
    options = params.get("options")
    if options is None:
        return None
    found: Settings = {OPTION_KEY: OFF}  # cells without the rule say nothing of it
    for part in options.split(","):
        key, sep, value = part.partition("=")
        if sep:
            found[key.strip()] = value.strip()
    found[SEED_KEY] = str(params.get(SEED_KEY, "")).strip()
    return found


def planned_settings(config: CollectConfig) -> Settings:
    """The settings this run's cells will record (the same params :mod:`.plan` writes)."""
    params = {"options": content_options(config.options, config.diversity), SEED_KEY: config.seed}
    return settings_of({k: str(v) for k, v in params.items()}) or {}


def settings_params(run: Run) -> Mapping[str, str]:
    """What a run says of its settings: its params, or for a claim without params yet, its
    settings tag read as those params."""
    if "options" in run.params:
        return run.params
    options, sep, seed = run.tags.get(SETTINGS_TAG, "").rpartition(";seed=")
    return {"options": options, SEED_KEY: seed} if sep else {}


def settings_tag(config: CollectConfig) -> str:
    """The settings tag this run's claims carry (:data:`tipbench_lib.tracking.mapping.
    SETTINGS_TAG`): its ``options`` and ``seed`` params, as :mod:`.plan` writes them."""
    return settings_text(content_options(config.options, config.diversity), config.seed)


def held_cells(
    journal: CollectJournal,
    client: MlflowClient,
    experiment: str,
    runs: Iterable[Run] | None = None,
) -> list[tuple[str, Mapping[str, str]]]:
    """(where, params) of every cell the experiment holds, in this journal and in MLflow.

    ``runs`` are the experiment's runs when the caller already searched them; else one
    ``runs/search`` when the experiment exists, none when it does not yet (nothing is created).
    """
    held: list[tuple[str, Mapping[str, str]]] = [
        ("the journal", cell.params) for cell in journal.state().cells.values()
    ]
    if runs is None:
        found = client.get_experiment_by_name(experiment)
        runs = [] if found is None or found.deleted else client.search_runs([found.experiment_id])
    held += [("MLflow", settings_params(run)) for run in runs if is_cell_run(run)]
    return held


def refuse_claimed_settings(
    client: MlflowClient, experiment_id: str, config: CollectConfig
) -> None:
    """After a won claim: refuse when any claim or cell of other settings is in MLflow.

    One search for a run whose settings tag is not this run's (claims carry the tag from their
    creation, so a racing collect's first claim is found); cells delivered before claims
    existed were checked under the lock.
    """
    from tipbench_lib.collect.claims import tag_filter

    other = client.find_run(experiment_id, tag_filter(SETTINGS_TAG, settings_tag(config), "!="))
    if other is not None:
        held = [("MLflow", settings_params(other))]
        refuse_mixed_settings(config.experiment, planned_settings(config), held)


def refuse_mixed_settings(
    experiment: str, asked: Settings, held: Iterable[tuple[str, Mapping[str, str]]]
) -> None:
    """Raise :class:`SettingsConflict` when a held cell's settings differ from ``asked``.

    ``held`` gives (where, params) per cell (:func:`held_cells`); nothing is changed either way.
    """
    other: dict[str, dict[str, set[str]]] = {}  # setting → held value → where
    for where, params in held:
        settings = settings_of(params)
        if settings is None:
            continue
        for key in asked.keys() | settings.keys():
            value = settings.get(key, "")
            if value != asked.get(key, ""):
                other.setdefault(key, {}).setdefault(value, set()).add(where)
    if not other:
        return
    keys = [k for k in FLAGS if k in other] + sorted(k for k in other if k not in FLAGS)
    found = "; ".join(
        " and ".join(
            f"{shown(key, value)} (in {', '.join(sorted(where))})"
            for value, where in sorted(other[key].items())
        )
        + f", this run {shown(key, asked.get(key, ''))}"
        for key in keys
    )
    same = ", ".join(" or ".join(shown(key, value) for value in sorted(other[key])) for key in keys)
    raise SettingsConflict(
        f"experiment {experiment!r} already holds cells collected with other generation "
        f"settings than this run's: {found}. Compare would pool both kinds of cells in one "
        f"(model, prompt) row. Run with the experiment's settings ({same}), or collect into a "
        "new --experiment. Nothing was changed."
    )


def shown(key: str, value: str) -> str:
    """A setting as the user would type it: ``--temperature 0.8``, ``without --diversity``."""
    if key == OPTION_KEY:
        return "without --diversity" if value == OFF else f"with --diversity ({value})"
    if not value:
        return f"no {key} recorded"
    flag = FLAGS.get(key)
    return f"{flag} {value}" if flag else f"{key}={value}"
