"""One collect grid over several Ollama hosts: which host collects which model, or which part.

The plan task of ``dags/prompt_ab_eval.py`` runs ``tipbench collect ... --plan-hosts A,B``
(:func:`plan_hosts`): every check a collect would make runs first, through the same
:func:`tipbench_lib.collect.job.prepare` (names, rubric, the experiment's settings, a model no
host has or one above the size limit), and the experiment is created with its rubric record
there, once, before any collect starts (docs/architecture.md, "Several GPU hosts: Airflow").

The spread (:func:`spread`) balances a modelled cost. A model costs a host a fixed
:attr:`CostModel.fixed_s` (its task and tipbench's process starting, the load and unload), plus
its generations, each taking its tokens times the model's time per token: on a memory-bound host
every token reads every weight once, so that time grows with the size on disk. A model's cells
may be split across hosts by scenario, so two equal hosts finish together even when one model
outweighs the others; a split part is its own collect task, run on its host in that host's lane
(one model resident at a time) and loading the model once there.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tipbench_lib.backends.base import ModelInfo
from tipbench_lib.core.errors import BackendError, BackendUnavailableError, UnknownModelError


@dataclass(frozen=True)
class CostModel:
    """How long a model's part of the grid keeps a host busy, in seconds."""

    fixed_s: float = 4.5
    """Per model and host, whatever it generates: the collect task and tipbench's process
    starting, loading and unloading the model (about 4.5 s measured through Airflow, issue 23)."""
    bytes_per_s: float = 100e9
    """Weights read per second while decoding; a token takes size / this. Only its ratio to
    :attr:`fixed_s` matters to the spread, and a split keeps the hosts even whatever it is."""
    per_generation_s: float = 0.1
    """Per generation whatever the model: the request, its prompt and the journal."""

    def generation_s(self, size_bytes: int, max_tokens: int) -> float:
        """One generation of at most ``max_tokens`` by a model of ``size_bytes`` on disk."""
        return self.per_generation_s + max_tokens * size_bytes / self.bytes_per_s


@dataclass(frozen=True)
class ModelWork:
    """One model's part of the grid, as the spread sees it."""

    name: str
    hosts: tuple[str, ...]
    """The hosts that have the model (the same digest, so its cells are the same there)."""
    scenario_ids: tuple[str, ...]
    generations_per_scenario: int
    """Prompts x tips: a scenario is the smallest part a model's cells are split into."""
    generation_s: float

    @property
    def scenario_s(self) -> float:
        return self.generations_per_scenario * self.generation_s

    @property
    def total_s(self) -> float:
        return len(self.scenario_ids) * self.scenario_s


@dataclass(frozen=True)
class Share:
    """What one host collects of one model: all its scenarios (None) or these."""

    model: str
    scenario_ids: tuple[str, ...] | None
    predicted_s: float


@dataclass
class HostPlan:
    """Each host's shares, in the order they were planned, and the time one host would take."""

    shares: dict[str, list[Share]]
    one_host_s: float
    cost: CostModel = field(default_factory=CostModel)

    @property
    def predicted_s(self) -> dict[str, float]:
        return {host: sum(s.predicted_s for s in shares) for host, shares in self.shares.items()}

    @property
    def makespan_s(self) -> float:
        return max(self.predicted_s.values(), default=0.0)

    @property
    def n_shares(self) -> int:
        return sum(len(shares) for shares in self.shares.values())

    def as_json(self) -> dict[str, Any]:
        """What ``--plan-hosts`` prints: the hosts in the order given, each with its shares."""
        return {
            "hosts": [
                {
                    "host": host,
                    "predicted_s": round(self.predicted_s[host], 2),
                    "shares": [
                        {
                            "model": s.model,
                            "scenarios": None if s.scenario_ids is None else list(s.scenario_ids),
                            "predicted_s": round(s.predicted_s, 2),
                        }
                        for s in shares
                    ],
                }
                for host, shares in self.shares.items()
            ],
            "one_host_s": round(self.one_host_s, 2),
            "cost_model": self.cost.__dict__,
        }


def spread(models: Sequence[ModelWork], hosts: Sequence[str], cost: CostModel) -> HostPlan:
    """The plan with the shortest predicted makespan, fewest shares on a tie.

    Two kinds of plan are weighed. Whole models, biggest first each to the least-loaded host
    that has it (longest-processing-time-first, fixed costs counted). And, when every host has
    every model, McNaughton's wrap-around: models one after another fill each host up to the
    even share (the total plus one fixed cost per extra host, over the hosts); the model that
    crosses it is split by scenario, its first scenarios on this host and the rest starting the
    next. Each host then holds each model at most once, in one contiguous stretch. The order of
    the models decides which one is split, so small grids try every order.
    """
    hosts = list(hosts)
    plans = [_whole_models(models, hosts, cost)]
    if len(hosts) > 1 and all(set(m.hosts) >= set(hosts) for m in models):
        plans += [_wrap_around(order, hosts, cost) for order in _orders(models)]
    return min(plans, key=lambda p: (round(p.makespan_s, 6), p.n_shares))


def _one_host_s(models: Sequence[ModelWork], cost: CostModel) -> float:
    return sum(cost.fixed_s + m.total_s for m in models)


def _whole_models(models: Sequence[ModelWork], hosts: list[str], cost: CostModel) -> HostPlan:
    """Longest-processing-time-first: ties go to the host listed first."""
    shares: dict[str, list[Share]] = {h: [] for h in hosts}
    load = dict.fromkeys(hosts, 0.0)
    for model in sorted(models, key=lambda m: -m.total_s):
        host = min(model.hosts, key=lambda h: (load[h], hosts.index(h)))
        seconds = cost.fixed_s + model.total_s
        shares[host].append(Share(model.name, None, seconds))
        load[host] += seconds
    return HostPlan(shares, _one_host_s(models, cost), cost)


MAX_ORDERS_TRIED = 720
"""Every order of up to 6 models; beyond, biggest first and smallest first."""


def _orders(models: Sequence[ModelWork]) -> list[Sequence[ModelWork]]:
    if len(models) <= 6:
        return list(itertools.permutations(models))[:MAX_ORDERS_TRIED]
    by_size = sorted(models, key=lambda m: -m.total_s)
    return [by_size, by_size[::-1]]


def _wrap_around(order: Sequence[ModelWork], hosts: list[str], cost: CostModel) -> HostPlan:
    """McNaughton's wrap-around in whole scenarios (see :func:`spread`)."""
    one_host = _one_host_s(order, cost)
    even = (one_host + (len(hosts) - 1) * cost.fixed_s) / len(hosts)
    shares: dict[str, list[Share]] = {h: [] for h in hosts}
    load = dict.fromkeys(hosts, 0.0)
    at = 0
    for model in order:
        left = list(model.scenario_ids)
        while left:
            host, last = hosts[at], at == len(hosts) - 1
            room = even - load[host]
            if last or cost.fixed_s + len(left) * model.scenario_s <= room + model.scenario_s / 2:
                take = len(left)
            else:
                fits = round((room - cost.fixed_s) / model.scenario_s)
                take = max(0, min(fits, len(left) - 1))
                at += 1
            if take:
                part = tuple(left[:take])
                whole = len(part) == len(model.scenario_ids)
                seconds = cost.fixed_s + take * model.scenario_s
                shares[host].append(Share(model.name, None if whole else part, seconds))
                load[host] += seconds
                left = left[take:]
    return HostPlan(shares, one_host, cost)


# -- the plan task's command ------------------------------------------------------------------


@dataclass(frozen=True)
class Pulled:
    """A model as a host's ``/api/tags`` lists it."""

    size_bytes: int
    digest: str


def host_inventory(host: str, timeout: float = 15.0) -> dict[str, Pulled]:
    """The models ``host`` has (canonical names), from one ``/api/tags``; no answer is retryable."""
    import httpx
    import ollama

    from tipbench_lib.backends.ollama import canonical_name

    try:
        listed = ollama.Client(host=host, timeout=timeout).list()
    except (ConnectionError, httpx.TransportError) as exc:
        raise BackendUnavailableError(f"Ollama at {host} did not answer /api/tags: {exc}") from None
    except ollama.ResponseError as exc:
        raise BackendError(f"Ollama at {host} refused /api/tags: {exc}") from None
    return {
        canonical_name(m.model or ""): Pulled(int(m.size or 0), m.digest or "")
        for m in listed.models
    }


class HostsDescriber:
    """:meth:`describe` as a collect's backend answers it, on the first host that has the model,
    so :func:`tipbench_lib.collect.job.prepare` makes its checks for the whole plan."""

    def __init__(self, hosts: Sequence[str], inventories: Mapping[str, Mapping[str, Pulled]]):
        from tipbench_lib.backends.ollama import OllamaBackend

        self.hosts = list(hosts)
        self.inventories = inventories
        self.backends = {host: OllamaBackend(host) for host in hosts}

    def holders(self, model: str) -> list[str]:
        from tipbench_lib.backends.ollama import canonical_name

        return [h for h in self.hosts if canonical_name(model) in self.inventories[h]]

    def describe(self, model: str) -> ModelInfo:
        holders = self.holders(model)
        if not holders:
            raise UnknownModelError(
                f"no host has {model} (hosts: {', '.join(self.hosts)}): `ollama pull {model}` on "
                "at least one host or drop it from models"
            )
        return self.backends[holders[0]].describe(model)

    def close(self) -> None:
        for backend in self.backends.values():
            backend.close()


def plan_hosts(request: Any, hosts: Sequence[str], client: Any, cost: CostModel) -> HostPlan:
    """Every check of a collect of ``request`` (:func:`~tipbench_lib.collect.job.prepare`, which
    also creates the experiment with its rubric record), then the spread over ``hosts``.

    A model goes only to hosts that list it with the digest of the one described: elsewhere its
    cells would be other cells.
    """
    from tipbench_lib.backends.ollama import canonical_name
    from tipbench_lib.collect.job import prepare

    inventories = {host: host_inventory(host) for host in hosts}
    describer = HostsDescriber(hosts, inventories)
    try:
        prepared = prepare(request, describer, client)  # type: ignore[arg-type]
    finally:
        describer.close()
    config = prepared.config
    works = []
    for info in prepared.models:
        name = canonical_name(info.name)
        first = inventories[describer.holders(info.name)[0]][name]
        same = tuple(
            h for h in hosts if inventories[h].get(name, Pulled(0, "")).digest == first.digest
        )
        works.append(
            ModelWork(
                name=info.name,
                hosts=same,
                scenario_ids=tuple(s.id for s in config.scenarios),
                generations_per_scenario=len(config.prompts) * config.n_tips,
                generation_s=cost.generation_s(first.size_bytes, config.options.max_tokens),
            )
        )
    return spread(works, hosts, cost)
