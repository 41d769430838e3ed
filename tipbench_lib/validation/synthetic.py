"""Seeded synthetic experiments with a known truth, for tests, benchmarks and chart previews.

The statistics can only be checked against something whose answer is known. This module draws the
three frames of :mod:`tipbench_lib.core.schema` from an explicit generative model and returns,
beside them, the exact expected scores of every (model, prompt) cell, so a simulation can count how
often an interval covers the truth or a test calls equal cells different.

Generative model (per dimension d of one judged tip)::

    latent = base + offset[d] + effect[model, prompt] + scenario[s] + interaction[cell, s]
             + tip + dim_noise + length_slope * (chars - mean_chars) / 100 + judge_bias[j]
             + judge_noise
    score  = clip(round(latent), 1, 5)

``base`` is 3 and every ``offset`` 0 by default (scores centred on the scale). Real rubric scores
pile up at the ceiling instead, each dimension its own way (an audit of the statistics saw about
43% of relevance scores at 5 and 57% of tone): :data:`CEILING` holds a base and offsets that give
such experiments, for the simulations that must hold there too (``docs/architecture.md`` section
8).

``scenario`` is shared by every cell (that is what makes pairing on scenarios worth it); ``tip`` is
shared by every judge and dimension of one candidate; the judge biases are fixed (evenly spread in
``[-judge_bias, +judge_bias]``, or given), so the truth does not change from one replicate to the
next. All normal terms add up to one normal variable, so the expected rounded and clipped score has
a closed form (:func:`expected_score`), and with it the expected composite of tip-v1.

Who judges what is part of the design: ``assignment`` says which judges score each cell (for
example :func:`one_judge_per_cell`, the design that confounds a judge's bias with a cell), and
``p_fail`` drops judgments at random the way a failed LLM judgment leaves no score. Because the
truth of a judge's score is known per (cell, judge), :func:`expected_judgments` gives the exact
expectation of any estimator that is linear in the scores under the realised design.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import polars as pl
from scipy.special import ndtr

from tipbench_lib.core.rubric import shipped_rubric
from tipbench_lib.core.schema import CELLS, candidates_schema, judgments_schema

RUBRIC = shipped_rubric("tip-v1")
"""The rubric a synthetic experiment is scored on: tip-v1, as shipped (the generative model below
draws its three dimensions and its two flags, ``format_ok`` and ``overlong``)."""
DIMENSIONS: tuple[str, ...] = RUBRIC.dimension_ids
CANDIDATES = candidates_schema(RUBRIC)
JUDGMENTS = judgments_schema(RUBRIC)
WEIGHTS = RUBRIC.weights

MEAN_CHARS = 120.0
SD_CHARS = 30.0
PERSONAS = ("student", "nurse", "developer", "parent", "retiree", "chef", "driver", "teacher")
TIME_SLOTS = ("morning", "afternoon", "evening")


@dataclass(frozen=True)
class Levels:
    """Where the latent scores sit: ``base`` for every dimension, plus each dimension's offset
    (in :data:`DIMENSIONS` order: relevance, actionability, tone)."""

    base: float = 3.0
    offsets: tuple[float, ...] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if len(self.offsets) != len(DIMENSIONS):
            raise ValueError(
                f"offsets has {len(self.offsets)} values; expected one per dimension "
                f"({', '.join(DIMENSIONS)})"
            )

    @property
    def per_dimension(self) -> np.ndarray:
        """The latent centre of each dimension for a cell of effect 0 and an unbiased judge."""
        return self.base + np.asarray(self.offsets, dtype=float)


CENTRED = Levels()
"""The default: every dimension centred on 3."""
CEILING = Levels(base=4.33, offsets=(0.0, -0.5, 0.35))
"""Ceiling-heavy, with heavy ties: with :func:`generate`'s noise and judges at -0.5, 0 and +0.5,
a cell of effect 0 gets 5 for about 43% of its relevance scores, 57% of tone and 25% of
actionability (``tests/test_stats.py`` checks the shares)."""


@dataclass(frozen=True)
class SyntheticExperiment:
    """The three frames plus the truth they were drawn from (one row per cell)."""

    cells: pl.DataFrame
    candidates: pl.DataFrame
    judgments: pl.DataFrame
    truth: pl.DataFrame
    """model, prompt_version, experiment, effect, relevance, actionability, tone, format_ok,
    overlong, composite: the expected values over the scenario population (all judges)."""
    judge_truth: pl.DataFrame
    """model, prompt_version, judge_id, relevance, actionability, tone, composite: what one judge
    gives a tip of the cell on average over the scenario population (its bias included)."""


def expected_composite(
    effect: float | np.ndarray,
    judge_biases: np.ndarray,
    total_sd: float,
    p_format_ok: float = 0.9,
    p_overlong: float = 0.1,
    levels: Levels = CENTRED,
) -> np.ndarray:
    """Expected tip-v1 composite of a cell with latent ``effect``, averaged over the judges."""
    effect = np.asarray(effect, dtype=float)
    centre = effect[..., None, None] + np.asarray(judge_biases)[:, None] + levels.per_dimension
    dims = expected_score(centre, total_sd).mean(axis=-2)  # (..., dimensions)
    return _weighted(dims) + _composite(0.0, p_format_ok, p_overlong)


def _weighted(dims: np.ndarray) -> np.ndarray:
    """tip-v1's weighted sum of the dimensions (last axis, in :data:`DIMENSIONS` order)."""
    return np.asarray(dims) @ np.array([WEIGHTS[d] for d in DIMENSIONS])


def _composite(dims: np.ndarray | float, format_ok: float, overlong: float) -> np.ndarray:
    """tip-v1's composite of a mean dimension score and flag rates, from the rubric's weights."""
    dims_weight = sum(WEIGHTS[d] for d in DIMENSIONS)
    return (
        dims_weight * np.asarray(dims)
        + WEIGHTS["format_ok"] * format_ok
        + WEIGHTS["overlong"] * overlong
    )


def noise_sd(
    scenario_sd: float = 0.6,
    interaction_sd: float = 0.2,
    tip_sd: float = 0.5,
    dim_sd: float = 0.3,
    judge_sd: float = 0.3,
    length_slope: float = 0.0,
) -> float:
    """The sd of one judged score's latent around its cell's mean (defaults of :func:`generate`)."""
    return float(
        np.sqrt(
            scenario_sd**2
            + interaction_sd**2
            + tip_sd**2
            + dim_sd**2
            + judge_sd**2
            + (length_slope * SD_CHARS / 100) ** 2
        )
    )


def model_names(n_models: int) -> list[str]:
    return [f"model-{i:02d}" for i in range(n_models)]


def prompt_names(n_prompts: int) -> list[str]:
    return [f"v{i + 1}" for i in range(n_prompts)]


def expected_score(mean: np.ndarray | float, sd: float) -> np.ndarray:
    """E[clip(round(X), 1, 5)] for X ~ N(mean, sd^2): the exact truth of one rubric dimension."""
    mean = np.asarray(mean, dtype=float)
    if sd == 0:
        return np.clip(np.floor(mean + 0.5), 1, 5)
    # E = 1 + sum_{k=1..4} P(X >= k + 0.5), the tail-sum form of an expectation on 1..5.
    cuts = np.arange(1, 5) + 0.5
    return 1.0 + ndtr((mean[..., None] - cuts) / sd).sum(axis=-1)


def _effects(
    effects: Mapping[tuple[str, str], float] | np.ndarray | None,
    models: list[str],
    prompts: list[str],
    effect_sd: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cell effects as an (n_models, n_prompts) array: given, or drawn once from the seed."""
    if effects is None:
        return rng.normal(0.0, effect_sd, (len(models), len(prompts)))
    if isinstance(effects, np.ndarray):
        if effects.shape != (len(models), len(prompts)):
            raise ValueError(
                f"effects has shape {effects.shape}; expected (n_models, n_prompts) = "
                f"({len(models)}, {len(prompts)})"
            )
        return effects.astype(float)
    table = np.zeros((len(models), len(prompts)))
    for (model, prompt), value in effects.items():
        table[models.index(model), prompts.index(prompt)] = value
    return table


def generate(
    n_models: int = 3,
    n_prompts: int = 2,
    n_scenarios: int = 12,
    n_tips: int = 3,
    n_judges: int = 1,
    *,
    effects: Mapping[tuple[str, str], float] | np.ndarray | None = None,
    effect_sd: float = 0.5,
    scenario_sd: float = 0.6,
    interaction_sd: float = 0.2,
    tip_sd: float = 0.5,
    dim_sd: float = 0.3,
    judge_sd: float = 0.3,
    judge_bias: float = 0.0,
    length_slope: float = 0.0,
    p_format_ok: float = 0.9,
    p_overlong: float = 0.1,
    n_experiments: int = 1,
    llm_judges: int = 0,
    judge_biases: Sequence[float] | None = None,
    judge_sds: Sequence[float] | None = None,
    assignment: np.ndarray | None = None,
    p_fail: float = 0.0,
    levels: Levels = CENTRED,
    seed: int = 0,
) -> SyntheticExperiment:
    """Draw one (or ``n_experiments`` independent) synthetic experiments.

    With ``n_experiments > 1`` every replicate gets its own models and scenarios, named
    ``e0003/model-01`` and ``e0003/s007``, so the replicates share nothing and one call of the
    statistics over the stacked frames treats them as independent experiments. The last
    ``llm_judges`` of the ``n_judges`` judges get judge_kind ``llm``, the others ``human``.

    ``judge_biases`` (one per judge, latent units) replaces the even spread of ``judge_bias``;
    ``judge_sds`` (one per judge) replaces ``judge_sd``, e.g. a noisier LLM judge beside people;
    ``assignment`` (n_models, n_prompts, n_judges booleans) says which judges score each cell,
    all of them by default; ``p_fail`` is the chance that a judgment fails and carries no scores;
    ``levels`` where the scores sit (:data:`CEILING` for ceiling-heavy ones).
    """
    rng = np.random.default_rng(seed)
    models, prompts = model_names(n_models), prompt_names(n_prompts)
    effect = _effects(effects, models, prompts, effect_sd, rng)
    n_e, n_m, n_p, n_s, n_k, n_j, n_d = (
        n_experiments,
        n_models,
        n_prompts,
        n_scenarios,
        n_tips,
        n_judges,
        len(DIMENSIONS),
    )
    biases = _biases(judge_biases, judge_bias, n_j)
    assigned = _assignment(assignment, n_m, n_p, n_j)

    scenario = rng.normal(0, scenario_sd, (n_e, 1, 1, n_s, 1))
    interaction = rng.normal(0, interaction_sd, (n_e, n_m, n_p, n_s, 1))
    tip = rng.normal(0, tip_sd, (n_e, n_m, n_p, n_s, n_k))
    chars = np.maximum(20, np.rint(rng.normal(MEAN_CHARS, SD_CHARS, tip.shape))).astype(int)
    quality = 3 + effect[None, :, :, None, None] + scenario + interaction + tip
    quality = quality + length_slope * (chars - MEAN_CHARS) / 100
    dim_noise = rng.normal(0, dim_sd, tip.shape + (1, n_d))
    if judge_sds is None:
        judge_noise = rng.normal(0, judge_sd, tip.shape + (n_j, n_d))
    else:
        judge_noise = rng.normal(0, 1, tip.shape + (n_j, n_d)) * _judge_sds(judge_sds, n_j)[:, None]
    latent = quality[..., None, None] + dim_noise + judge_noise + biases[:, None]
    latent = latent + (levels.per_dimension - 3.0)
    scores = np.clip(np.floor(latent + 0.5), 1, 5).astype(np.int64)
    format_ok = rng.random(tip.shape) < p_format_ok
    overlong = rng.random(tip.shape) < p_overlong

    cells = _cells_frame(n_e, models, prompts, n_s)
    candidates = _candidates_frame(cells, n_k, chars, format_ok, overlong, effect, rng)
    judgments = _judgments_frame(candidates, scores, format_ok, overlong, n_j, llm_judges)
    judgments = _assigned_only(judgments, assigned, (n_e, n_m, n_p, n_s, n_k))
    if p_fail > 0:
        failed = rng.random(judgments.height) < p_fail
        judgments = judgments.with_columns(
            pl.when(pl.Series(failed)).then(None).otherwise(pl.col(c)).alias(c)
            for c in (*DIMENSIONS, "composite")
        )
    sds = _judge_sds(judge_sds, n_j) if judge_sds is not None else np.full(n_j, judge_sd)
    total_sd = np.array(
        [noise_sd(scenario_sd, interaction_sd, tip_sd, dim_sd, sd, length_slope) for sd in sds]
    )
    truth, judge_truth = _truth_frames(
        n_e, models, prompts, effect, biases, total_sd, p_format_ok, p_overlong, levels
    )
    return SyntheticExperiment(cells, candidates, judgments, truth, judge_truth)


def one_judge_per_cell(n_models: int, n_prompts: int, n_judges: int) -> np.ndarray:
    """Cell i (in model, prompt order) is scored by judge i mod n_judges alone."""
    cell = np.arange(n_models * n_prompts).reshape(n_models, n_prompts)
    return cell[..., None] % n_judges == np.arange(n_judges)


def expected_judgments(experiment: SyntheticExperiment) -> pl.DataFrame:
    """The judgments with each score replaced by its expectation for that (cell, judge).

    Fed to the same statistics as the real judgments, an estimator that is linear in the scores
    (a cell mean, a paired mean difference on shared judges) returns its exact expectation under
    the realised design: which judges scored which tips, and which judgments failed. The
    rubric dimensions become floats (expectations are not whole scores).
    """
    cell_of = experiment.candidates.select("candidate_id", "cell_id").join(
        experiment.cells.select("cell_id", "model", "prompt_version"), on="cell_id"
    )
    measures = [*DIMENSIONS, "composite"]
    truth = experiment.judge_truth.select(
        "model", "prompt_version", "judge_id", *(pl.col(m).alias(f"_{m}") for m in measures)
    )
    return (
        experiment.judgments.join(cell_of, on="candidate_id", how="left")
        .join(truth, on=["model", "prompt_version", "judge_id"], how="left")
        .with_columns(
            pl.when(pl.col(m).is_null()).then(None).otherwise(pl.col(f"_{m}")).alias(m)
            for m in measures
        )
        .select(experiment.judgments.columns)
    )


def _biases(given: Sequence[float] | None, spread: float, n_j: int) -> np.ndarray:
    if given is None:
        return np.linspace(-spread, spread, n_j) if n_j > 1 else np.zeros(1)
    biases = np.asarray(given, dtype=float)
    if biases.shape != (n_j,):
        raise ValueError(f"judge_biases has {biases.size} values; expected one per judge ({n_j})")
    return biases


def _judge_sds(given: Sequence[float], n_j: int) -> np.ndarray:
    sds = np.asarray(given, dtype=float)
    if sds.shape != (n_j,) or (sds < 0).any():
        raise ValueError(f"judge_sds needs one sd of 0 or more per judge ({n_j}), got {given}")
    return sds


def _per_judge_scores(mean: np.ndarray, total_sd: np.ndarray) -> np.ndarray:
    """Expected dimension scores per judge: ``mean[..., j, d]`` with judge j's own total sd."""
    return np.stack(
        [expected_score(mean[..., j, :], float(total_sd[j])) for j in range(mean.shape[-2])],
        axis=-2,
    )


def _assignment(given: np.ndarray | None, n_m: int, n_p: int, n_j: int) -> np.ndarray:
    if given is None:
        return np.ones((n_m, n_p, n_j), dtype=bool)
    assigned = np.asarray(given, dtype=bool)
    if assigned.shape != (n_m, n_p, n_j):
        raise ValueError(
            f"assignment has shape {assigned.shape}; expected (n_models, n_prompts, n_judges) = "
            f"({n_m}, {n_p}, {n_j})"
        )
    return assigned


def _assigned_only(
    judgments: pl.DataFrame, assigned: np.ndarray, shape: tuple[int, ...]
) -> pl.DataFrame:
    """Keep each judge's judgments of the cells assigned to it (rows are judge-major, C order)."""
    if assigned.all():
        return judgments
    n_e, n_m, n_p, n_s, n_k = shape
    per_candidate = np.broadcast_to(
        assigned[None, :, :, None, None, :], (n_e, n_m, n_p, n_s, n_k, assigned.shape[-1])
    )
    keep = per_candidate.reshape(-1, assigned.shape[-1]).T.ravel()
    return judgments.filter(pl.Series(keep))


def _prefix(n_experiments: int) -> list[str]:
    """Name prefixes that keep replicates apart (none for a single experiment)."""
    return [""] if n_experiments == 1 else [f"e{e:04d}/" for e in range(n_experiments)]


def _cells_frame(n_e: int, models: list[str], prompts: list[str], n_s: int) -> pl.DataFrame:
    """One row per (experiment, model, prompt, scenario) in C order of the drawn arrays."""
    prefixes = _prefix(n_e)
    e, m, p, s = (a.ravel() for a in np.indices((n_e, len(models), len(prompts), n_s)))
    frame = pl.DataFrame(
        {
            "experiment": np.array(prefixes)[e],
            "model": np.array(models)[m],
            "prompt_version": np.array(prompts)[p],
            "scenario_id": [f"s{i:03d}" for i in s],
            "persona": np.array(PERSONAS)[s % len(PERSONAS)],
            "time_slot": np.array(TIME_SLOTS)[s % len(TIME_SLOTS)],
            "load_s": 0.5 + 0.1 * m,
        }
    )
    frame = frame.with_columns(
        (pl.col("experiment") + pl.col("model")).alias("model"),
        (pl.col("experiment") + pl.col("scenario_id")).alias("scenario_id"),
    )
    frame = frame.with_columns(
        (
            pl.lit("cell-")
            + pl.col("model")
            + "|"
            + pl.col("prompt_version")
            + "|"
            + pl.col("scenario_id")
        ).alias("cell_id")
    )
    return frame.select(*CELLS, "load_s", "experiment")


def _candidates_frame(
    cells: pl.DataFrame,
    n_k: int,
    chars: np.ndarray,
    format_ok: np.ndarray,
    overlong: np.ndarray,
    effect: np.ndarray,
    rng: np.random.Generator,
) -> pl.DataFrame:
    """n_k candidates per cell; text length is the drawn char count, speed depends on the model."""
    n = chars.size
    cell_index = np.repeat(np.arange(cells.height), n_k)
    model_index = np.indices(chars.shape)[1].ravel()
    tokens_per_s = 40.0 / (1 + 0.15 * model_index) * np.exp(rng.normal(0, 0.1, n))
    eval_tokens = np.maximum(1, chars.ravel() // 4)
    texts = ["Tip: " + "x" * (c - 5) for c in chars.ravel()]
    frame = pl.DataFrame(
        {
            "cell_id": cells["cell_id"].gather(cell_index),
            "sample_index": np.tile(np.arange(n_k), cells.height),
            "text": texts,
            "latency_s": 0.2 + eval_tokens / tokens_per_s,
            "eval_tokens": eval_tokens,
            "tokens_per_s": tokens_per_s,
            "format_ok_auto": format_ok.ravel(),
            "overlong_auto": overlong.ravel(),
        }
    )
    frame = frame.with_columns(
        (pl.col("cell_id") + "#" + pl.col("sample_index").cast(pl.String)).alias("candidate_id")
    )
    return frame.select(*CANDIDATES)


def _judgments_frame(
    candidates: pl.DataFrame,
    scores: np.ndarray,
    format_ok: np.ndarray,
    overlong: np.ndarray,
    n_j: int,
    llm_judges: int,
) -> pl.DataFrame:
    """Every judge scores every candidate; format_ok and overlong follow the automatic checks."""
    per_judge = scores.reshape(-1, n_j, len(DIMENSIONS))  # (candidates, judges, dims)
    judge_ids = [f"judge-{j}" for j in range(n_j)]
    kinds = ["human"] * (n_j - llm_judges) + ["llm"] * llm_judges
    n = candidates.height
    dims = {d: per_judge[:, :, i].T.ravel() for i, d in enumerate(DIMENSIONS)}
    fo = np.tile(format_ok.ravel(), n_j)
    ol = np.tile(overlong.ravel(), n_j)
    composite = sum(WEIGHTS[d] * v for d, v in dims.items()) + _composite(
        0.0, fo.astype(float), ol.astype(float)
    )
    return pl.DataFrame(
        {
            "candidate_id": pl.concat([candidates["candidate_id"]] * n_j),
            "judge_id": np.repeat(judge_ids, n),
            "judge_kind": np.repeat(kinds, n),
            "rubric_version": "tip-v1",
            **dims,
            "format_ok": fo,
            "overlong": ol,
            "composite": composite,
            "created_at": datetime(2025, 1, 1, tzinfo=UTC),
        },
        schema_overrides=JUDGMENTS,
    ).select(*JUDGMENTS)


def _truth_frames(
    n_e: int,
    models: list[str],
    prompts: list[str],
    effect: np.ndarray,
    biases: np.ndarray,
    total_sd: np.ndarray,
    p_format_ok: float,
    p_overlong: float,
    levels: Levels = CENTRED,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Expected scores per cell (over the scenario population and the fixed judges) and per
    (cell, judge): one judge's bias moves every dimension it scores."""
    centre = effect[..., None, None] + biases[:, None] + levels.per_dimension  # (m, p, j, d)
    per_judge = _per_judge_scores(centre, total_sd)
    flags = float(_composite(0.0, p_format_ok, p_overlong))
    cell_dims = per_judge.mean(axis=-2)  # (m, p, d)
    cell_rows, judge_rows = [], []
    for prefix in _prefix(n_e):
        for mi, model in enumerate(models):
            for pi, prompt in enumerate(prompts):
                cell = {"experiment": prefix, "model": prefix + model, "prompt_version": prompt}
                dims = cell_dims[mi, pi]
                cell_rows.append(
                    cell
                    | {"effect": float(effect[mi, pi])}
                    | {d: float(v) for d, v in zip(DIMENSIONS, dims, strict=True)}
                    | {"format_ok": p_format_ok, "overlong": p_overlong}
                    | {"composite": float(_weighted(dims)) + flags}
                )
                for j in range(len(biases)):
                    dim = per_judge[mi, pi, j]
                    judge_rows.append(
                        cell
                        | {"judge_id": f"judge-{j}"}
                        | {d: float(v) for d, v in zip(DIMENSIONS, dim, strict=True)}
                        | {"composite": float(_weighted(dim)) + flags}
                    )
    return pl.DataFrame(cell_rows), pl.DataFrame(judge_rows)
