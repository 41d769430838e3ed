"""The compare analysis: everything the notebook and the report show, computed once.

The notebook (``notebooks/compare.py``) and the offline report (:mod:`.report`) are two displays
of one :class:`Analysis`, built by :func:`analyse` from a loaded experiment and the user's
:class:`Options`. Every number AND every sentence a reader meets (the headline, the evidence
under it, the verdict sentences, which judges the numbers rest on, why the baseline is what it
is, each judge's verbosity slope, the quality/latency front, what loading found wrong) is made
here, so the two displays can only differ in layout, never in what they claim. The displays
escape the text for their medium (:mod:`tipbench_lib.core.escaping`); nothing here is markup.

Rubric values (the dimensions, their names, the flags, the composite's range) come from the
experiment's :class:`~tipbench_lib.core.rubric.Rubric`, the one the experiment recorded and the
loader read with it (``ExperimentData.rubric``), never from literals or a local default: every
statistic is handed its :class:`~tipbench_lib.stats.scale.ScoreScale`. The statistics behind
each part are ``docs/architecture.md`` section 8; the figures that chose them,
``docs/benchmarks.md``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from tipbench_lib import stats
from tipbench_lib.compare.llm_people import (
    Calibration,
    PPIView,
    calibration,
    ppi_absent_note,
    ppi_sentences,
    ppi_view,
)
from tipbench_lib.compare.load import WARNINGS_KEY, ExperimentData
from tipbench_lib.compare.pairwise_view import PairwiseView, pairwise_view
from tipbench_lib.core.cells import cell_label
from tipbench_lib.core.errors import TipbenchError
from tipbench_lib.core.rubric import Rubric
from tipbench_lib.core.schema import PAIR_COLUMNS
from tipbench_lib.stats.diversity import cell_diversity
from tipbench_lib.stats.headline import Summary, involving, summarize
from tipbench_lib.stats.intervals import DEFAULT_METHOD
from tipbench_lib.stats.judge_adjusted import judge_adjusted
from tipbench_lib.stats.judge_mix import JudgeMix, judge_mix
from tipbench_lib.stats.judges import (
    View,
    available_views,
    choose_view,
    default_view_name,
    judge_panel,
    tip_scenarios,
)
from tipbench_lib.stats.length_adjusted import LengthAdjusted
from tipbench_lib.stats.pairwise import pair_judge_panel
from tipbench_lib.stats.scale import ScoreScale
from tipbench_lib.stats.scores import CELL_KEYS
from tipbench_lib.stats.sentences import number, percent, scenarios
from tipbench_lib.tracking.mapping import FAMILY_KEY

Cell = tuple[str, str]

VERDICTS_SHOWN = 60
"""Verdict sentences listed against the baseline; the comparisons table and CSV hold them all."""
VERDICT_ORDER = {"better": 0, "worse": 0, "indistinguishable": 1, "underpowered": 2}
"""Clearest results first in the comparisons table; anything else (confounded) last."""
READING_COLUMNS = (
    *PAIR_COLUMNS,
    "diff_mean",
    "diff_lo",
    "diff_hi",
    "verdict",
    "provisional",
    "p_holm",
    "family",
    "family_size",
    "n_scenarios",
)
"""What a reader of the comparisons table needs first; the other columns follow."""
LENGTH_METHOD = (
    "Each judge's verbosity slope is fitted within scenarios and cells (composite points per "
    "standard deviation of log tip length, errors clustered on scenarios); a cell's adjusted "
    "composite is its score moved to the mean tip length."
)
"""How the length-adjusted view is made, in a sentence (``stats.length_adjusted`` in full)."""
QUESTIONS: dict[str, str] = {
    "length": "Within each cell, do its longer tips score higher? (Raw: neither scenarios nor "
    "judges are held fixed.)",
    "length_adjusted": "Would the ranking change if every cell's tips were of the mean length?",
    "calibration": "On which rubric dimensions does each LLM judge score tips as people do?",
    "slopes": "Does a judge reward length itself, and an LLM judge more than people do?",
}
"""The one question each length and LLM-judge view answers, said above it in the report and the
notebook (a view that answers none of its own goes)."""
RUBRIC_ABSENT = (
    "No tip was scored on the rubric: this experiment was judged in pairs only, so the verdicts "
    "above are the pairwise ones and the rubric's views (mean composite, dimensions, scenario "
    "means, length, judge agreement on scores, the LLM judge beside people) are not shown. Score "
    "tips on the rubric (`tipbench judge`, or the judge app) to add them and see whether the "
    "two modes agree."
)
"""Said at the top of a pairs-only analysis (``docs/architecture.md`` section 13, "Pairs
only"), so an absent view is never mistaken for an empty one."""
LAID_OUT = ("models", "prompts", "judges")
"""Provenance entries shown as tables of their own (the judges in ``Analysis.judges``)."""


@dataclass(frozen=True)
class Options:
    """What the user chooses before the statistics run: the notebook's controls, the flags.

    ``baseline`` is a cell named before seeing the data (it makes the primary family "every
    cell against it"); ``view`` picks the judges (``people``, ``all`` or an LLM judge's id; the
    default is people when any person judged, else the busiest LLM judge).
    """

    baseline: Cell | None = None
    alpha: float = 0.05
    view: str | None = None
    ppi: str | None = None
    """An LLM judge id: PPI with it, refused when its conditions do not hold; None: PPI shown
    automatically whenever they hold (:mod:`tipbench_lib.compare.llm_people`)."""
    method: str = DEFAULT_METHOD
    n_boot: int = 2000
    n_perm: int = 10000
    seed: int = 0

    @property
    def level(self) -> float:
        """The level of every interval: 1 - alpha."""
        return 1 - self.alpha


@dataclass(frozen=True)
class Baseline:
    """The cell the verdict sentences are read against, and how it came to be that cell."""

    cell: Cell
    named: bool
    """True when the user named it before seeing the data; False: the highest mean, picked after."""
    note: str
    """Why the verdicts are shown against it (a clause: "the cell with the highest mean, chosen
    after ...")."""

    @property
    def label(self) -> str:
        return cell_label(*self.cell)


@dataclass(frozen=True)
class Analysis:
    """One compare analysis: what the notebook and the report both show.

    Frames are those of :mod:`tipbench_lib.stats` (their columns are documented there); the
    ``str`` fields and tuples of ``str`` are the sentences, plain text, to be escaped by whoever
    displays them.
    """

    options: Options
    rubric: Rubric
    scale: ScoreScale
    """The composite's and the dimensions' ranges, from ``rubric``."""

    # -- who the numbers rest on
    view: View
    panel: pl.DataFrame
    """One row per judge: kind, size, agreement, provisional and why (``stats.judges``)."""
    judges: pl.DataFrame
    """One row per judge for display: judge_id, description, n_judgments, n_failed, dates."""
    agreement: pl.DataFrame
    """Krippendorff's alpha per rubric dimension over all selected judges."""

    # -- the numbers
    scores: pl.DataFrame
    scenario_means: pl.DataFrame
    leaderboard: pl.DataFrame
    comparisons: pl.DataFrame
    """Every pair, in the order ``stats.compare_pairs`` returns (the CSV's order)."""
    comparison_rows: pl.DataFrame
    """The same rows for reading: primary family first, clearest verdicts first."""
    against_baseline: pl.DataFrame
    """The rows with the baseline on either side (the verdict sentences' rows)."""
    length: pl.DataFrame
    """Per cell: Spearman of score and length, points per 100 characters."""
    length_adjusted: LengthAdjusted | None
    """Each view judge's verbosity slope and every cell's length-adjusted composite (None:
    judged in pairs only)."""
    speed: pl.DataFrame
    front: pl.DataFrame
    """The leaderboard with each model's median latency and ``pareto`` (not dominated)."""
    examples: pl.DataFrame
    """The highest- and lowest-scored tip of every cell with its text (``which``: top/bottom)."""

    # -- the words
    summary: Summary
    baseline: Baseline
    highest: str
    """The highest mean, its interval on the rubric's scale, and how much data there is."""
    view_note: str
    """Which judges the numbers rest on and why verdicts are provisional."""
    judge_note: str
    """'' when every cell's mean rests on the same judges; else why the ranking is no verdict."""
    verdicts: tuple[str, ...]
    """Sentences for the first :data:`VERDICTS_SHOWN` rows of ``against_baseline``."""
    verdicts_left_out: int
    slopes: tuple[str, ...]
    """One sentence per view judge: its verbosity slope and what it means."""
    length_note: str
    """Whether the ranking survives the length adjustment."""
    front_note: str
    """Which cells no other cell beats on both quality and latency."""

    judge_mix: JudgeMix | None = None
    """Each cell's judges and their weights in its mean (``stats.judge_mix``)."""

    # -- where the data came from
    provenance: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    """What loading found wrong but could still use (e.g. composites the rubric disagrees with)."""
    rubric_note: str = ""
    """'' when the experiment recorded its rubric; else why it is read as tip-v1."""

    # -- an LLM judge beside the people
    ppi: PPIView | None = None
    """PPI beside people-only per primary comparison (None: its conditions do not hold)."""
    ppi_note: str = ""
    """What the PPI view rests on, or why there is none (no LLM judge, no person, or the
    condition that fails)."""
    calibration: Calibration | None = None
    """Each LLM judge against people per dimension, every judge's verbosity slope."""

    # -- the explorer (compare/explorer): every tip, every judge, side by side
    tips: pl.DataFrame = field(default_factory=pl.DataFrame)
    """One row per tip: scenario, cell, text, flags, near repeat, judges' spread."""
    tip_scores: pl.DataFrame = field(default_factory=pl.DataFrame)
    """One row per tip and judge (every selected judge, not only the view's): scores, note."""
    judge_spread: pl.DataFrame = field(default_factory=pl.DataFrame)
    """Each judge's score counts per dimension, near-constant ones flagged
    (:mod:`tipbench_lib.compare.judge_spread`)."""

    # -- pairwise judging (docs/architecture.md section 13)
    pairwise: PairwiseView | None = None
    """The pairwise leaderboard, verdicts, win-rate matrix, position bias and the two rankings'
    agreement (:mod:`tipbench_lib.compare.pairwise_view`); None: the experiment has no pairs."""

    @property
    def rubric_judged(self) -> bool:
        """Whether any tip has a rubric score in the view; False: judged in pairs only, and
        every rubric frame is empty (``docs/architecture.md`` section 13, "Pairs only")."""
        return self.scores.height > 0

    @property
    def rubric_note_lines(self) -> tuple[str, ...]:
        """Why the rubric's views are absent, under the headline (none when they are shown)."""
        return () if self.rubric_judged else (RUBRIC_ABSENT,)

    @property
    def verdict_lines(self) -> tuple[str, ...]:
        """The verdicts against the shown baseline, one line per verdict (notebook, report):
        the rubric's, or the pairwise ones when only pairs were judged."""
        from tipbench_lib.compare.verdict_groups import grouped_verdicts

        if not self.rubric_judged and self.pairwise is not None:
            return self.pairwise.verdict_lines
        level = percent(self.options.level)
        return grouped_verdicts(self.against_baseline, self.baseline.cell, level)

    @property
    def pairwise_lines(self) -> tuple[str, ...]:
        """The pairwise headline and the two rankings' agreement, under the rubric's headline
        (none without pairs, nor when the pairwise headline is the headline)."""
        if self.pairwise is None or not self.rubric_judged:
            return ()
        said = (self.pairwise.headline, self.pairwise.agreement_line)
        return tuple(line for line in said if line)

    @property
    def ppi_lines(self) -> tuple[str, ...]:
        return ppi_sentences(self.ppi) if self.ppi is not None else ()

    @property
    def headline(self) -> str:
        """A winner only when it beats every other cell; otherwise the top group."""
        return self.summary.headline

    @property
    def evidence(self) -> tuple[str, ...]:
        """The lines under the headline: the highest mean's numbers, then how far the next is."""
        return (self.highest, *self.summary.lines)

    @property
    def family_note(self) -> str:
        """Which comparisons Holm corrected together, at which alpha and interval level."""
        return self.summary.family_line

    @property
    def scale_note(self) -> str:
        """The ranges the numbers live in, from the rubric."""
        low, high = self.scale.composite
        dim_low, dim_high = self.scale.dimension
        said = self.rubric_note
        note = f" {said[:1].upper()}{said[1:]}." if said else ""
        return (
            f"Composite on the {low:g}–{high:g} scale of rubric {self.rubric.version}; "
            f"dimensions on {dim_low:g}–{dim_high:g}.{note}"
        )

    @property
    def baseline_intro(self) -> str:
        """Why the verdict sentences are read against the baseline."""
        return f"Against {self.baseline.label}, {self.baseline.note}."

    @property
    def provisional(self) -> bool:
        """Whether the verdicts rest on a weak judge."""
        return self.view.provisional

    @property
    def experiment(self) -> str:
        return str(self.provenance.get("experiment") or "unnamed experiment")

    @property
    def provenance_entries(self) -> tuple[tuple[str, str], ...]:
        """(name, value as one line) for every provenance entry not laid out as a table."""
        return tuple(
            (key.replace("_", " "), plain(value))
            for key, value in self.provenance.items()
            if key not in LAID_OUT
        )

    @property
    def models(self) -> list[dict[str, Any]]:
        """One row per collected model: its name and whatever the provenance says of it."""
        models = self.provenance.get("models") or {}
        if isinstance(models, Mapping):
            models = [
                {"model": k, **(v if isinstance(v, Mapping) else {"model_digest": v})}
                for k, v in models.items()
            ]
        keys = sorted({k for m in models for k in m} - {"model"})
        return [{"model": m.get("model"), **{k: plain(m.get(k, "")) for k in keys}} for m in models]

    @property
    def prompts(self) -> list[dict[str, str]]:
        """One row per prompt version with its content hash."""
        prompts = self.provenance.get("prompts") or {}
        if isinstance(prompts, Mapping):
            prompts = [{"version": k, "hash": v} for k, v in prompts.items()]
        return [{"version": plain(p.get("version")), "hash": plain(p.get("hash"))} for p in prompts]


# ---------------------------------------------------------------- the builder


def analyse(
    data: ExperimentData, options: Options | None = None, *, rubric: Rubric | None = None
) -> Analysis:
    """Run every statistic the notebook and the report show, and word the results.

    ``rubric`` defaults to the experiment's (:func:`experiment_rubric`); every statistic gets its
    scale, so none looks a rubric up by name. The pairwise views come from ``data.pairs`` (none
    when it is empty).
    An experiment without a single rubric score but with pairwise judgments is analysed in
    pairs only (:func:`pairs_only`).
    Refused (:class:`TipbenchError`): a baseline that is not a cell of the data, a view with no
    judges, and data without a single judged tip or pair.
    """
    options = options or Options()
    rubric = rubric or experiment_rubric(data)
    scale = ScoreScale.from_rubric(rubric)
    check_baseline(data, options.baseline)
    options, family_note, family_warning = with_recorded_family(data, options)
    panel = rubric_panel(data, scale)
    if panel.height == 0 and data.pairs.height:
        return pairs_only(data, options, rubric, family_note, family_warning)
    view = choose_view(panel, options.view)
    cells, candidates, judgments = data.cells, data.candidates, data.judgments
    scores = stats.score_table(cells, candidates, judgments, judges=view.judges, scale=scale)
    if scores.height == 0:
        raise TipbenchError(nothing_scored(data))
    # Both resample scenarios the same way, on the rubric's scale.
    resampling: dict[str, Any] = {
        "scale": scale,
        "method": options.method,
        "n_boot": options.n_boot,
        "seed": options.seed,
    }
    by_judge = stats.judge_scores(cells, candidates, judgments, judges=view.judges, scale=scale)
    mix = judge_mix(by_judge)
    leaderboard = with_judges(
        with_diversity(
            stats.leaderboard(scores, level=options.level, **resampling), candidates, cells
        ),
        mix,
        judge_adjusted(by_judge),
    )
    comparisons = stats.compare_pairs(
        by_judge,
        alpha=options.alpha,
        baseline=options.baseline,
        provisional_judges=view.provisional_judges,
        n_perm=options.n_perm,
        **resampling,
    )
    summary = summarize(
        leaderboard,
        comparisons,
        view=view,
        alpha=options.alpha,
        baseline=options.baseline,
        mixed_judges=mix.mixed,
    )
    baseline = Baseline(
        summary.shown_baseline,
        options.baseline is not None,
        family_note or summary.baseline_note,
    )
    against = involving(comparisons, baseline.cell)
    length_adjusted = stats.length_adjusted(
        stats.judgment_scores(cells, candidates, judgments, judges=view.judges, scale=scale),
        alpha=options.alpha,
    )
    speed = stats.speed_by_model(candidates, cells)
    front = stats.pareto_front(leaderboard, speed)
    ppi = ppi_view(
        data, scale, llm_judge=options.ppi, baseline=options.baseline, alpha=options.alpha
    )
    scenario_means = stats.scenario_means(scores, scale)
    pairwise = pairs_view(
        data,
        options,
        view,
        rubric_leaderboard=leaderboard,
        rubric_comparisons=comparisons,
        rubric_scenario_means=scenario_means,
    )
    return Analysis(
        options=options,
        rubric=rubric,
        scale=scale,
        view=view,
        panel=panel,
        judges=judge_rows(judgments, data.provenance, data.pairs),
        agreement=stats.judge_agreement(judgments, scale),
        scores=scores,
        scenario_means=scenario_means,
        leaderboard=leaderboard,
        comparisons=comparisons,
        comparison_rows=reading_order(comparisons),
        against_baseline=against,
        length=stats.length_effect(scores),
        length_adjusted=length_adjusted,
        speed=speed,
        front=front,
        examples=example_tips(scores, candidates),
        summary=summary,
        baseline=baseline,
        highest=highest_line(leaderboard, scores, scale, options.level, mixed=mix.mixed),
        view_note=view_note(view, panel),
        judge_note=judge_note(mix, leaderboard),
        judge_mix=mix,
        verdicts=tuple(
            stats.sentence(r) for r in against.head(VERDICTS_SHOWN).iter_rows(named=True)
        ),
        verdicts_left_out=max(0, against.height - VERDICTS_SHOWN),
        slopes=slope_lines(length_adjusted),
        length_note=length_note(length_adjusted),
        front_note=front_note(front),
        provenance={k: v for k, v in data.provenance.items() if k != WARNINGS_KEY},
        warnings=(*data.warnings, *family_warning, *(pairwise.warnings if pairwise else ())),
        rubric_note=data.rubric_note,
        ppi=ppi,
        ppi_note=ppi.note if ppi is not None else ppi_absent_note(data, scale),
        calibration=calibration(data, options.alpha, scale),
        pairwise=pairwise,
        **explorer_frames(data, rubric),
    )


def pairs_only(
    data: ExperimentData,
    options: Options,
    rubric: Rubric,
    family_note: str,
    family_warning: tuple[str, ...],
) -> Analysis:
    """The analysis of an experiment judged in pairs only: the pairwise view is the analysis.

    The headline is :func:`~tipbench_lib.stats.headline.summarize`'s, worded for strengths, on
    the pairwise leaderboard and comparisons, so a cell is called the winner by the same rule as
    on the rubric. The rubric's frames are empty and :data:`RUBRIC_ABSENT` says why
    (``docs/architecture.md`` section 13, "Pairs only"). A judge view the pairs do not have is
    refused by name, as on the rubric (the pair judges' views, ``choose_view``).
    """
    wanted = choose_view(pair_judge_panel(data.pairs, data.provenance), options.view or None)
    pw = pairs_view(data, options, wanted)
    if pw is None:
        raise TipbenchError(nothing_scored(data))
    summary = summarize(
        pw.leaderboard,
        pw.comparisons,
        view=pw.judges.view,
        alpha=options.alpha,
        baseline=pw.baseline if pw.named else None,
        pairs=True,
    )
    empty = pl.DataFrame()
    return Analysis(
        options=options,
        rubric=rubric,
        scale=ScoreScale.from_rubric(rubric),
        view=pw.judges.view,
        panel=pw.judges.panel,
        judges=judge_rows(data.judgments, data.provenance, data.pairs),
        agreement=empty,
        scores=empty,
        scenario_means=empty,
        leaderboard=empty,
        comparisons=empty,
        comparison_rows=empty,
        against_baseline=empty,
        length=empty,
        length_adjusted=None,
        speed=stats.speed_by_model(data.candidates, data.cells),
        front=empty,
        examples=empty,
        summary=summary,
        baseline=Baseline(pw.baseline, pw.named, family_note or pw.baseline_note),
        highest=pw.headline,
        view_note=pw.judges.note,
        judge_note="",
        verdicts=(),
        verdicts_left_out=0,
        slopes=(),
        length_note="",
        front_note="",
        provenance={k: v for k, v in data.provenance.items() if k != WARNINGS_KEY},
        warnings=(*data.warnings, *family_warning, *pw.warnings),
        rubric_note=data.rubric_note,
        pairwise=pw,
        **explorer_frames(data, rubric),
    )


def pairs_view(
    data: ExperimentData, options: Options, view: View, **rubric_frames: pl.DataFrame
) -> PairwiseView | None:
    """The pairwise view of the data under these options (``rubric_frames``: the rubric's
    leaderboard, comparisons and scenario means, for the two rankings' agreement)."""
    return pairwise_view(
        data.cells,
        data.pairs,
        rubric_view=view,
        provenance=data.provenance,
        alpha=options.alpha,
        baseline=options.baseline,
        n_boot=options.n_boot,
        seed=options.seed,
        **rubric_frames,
    )


def view_choices(data: ExperimentData) -> tuple[list[str], str]:
    """The judge views a reader may choose, and the default: the rubric judges', or the pair
    judges' when no tip is scored on the rubric (their views then decide, :func:`pairs_only`)."""
    panel = rubric_panel(data, ScoreScale.from_rubric(data.rubric))
    if panel.height == 0 and data.pairs.height:
        panel = pair_judge_panel(data.pairs, data.provenance)
    return available_views(panel), default_view_name(panel)


def rubric_panel(data: ExperimentData, scale: ScoreScale) -> pl.DataFrame:
    """The rubric judges' panel (``stats.judges.judge_panel``), agreement within scenarios."""
    return judge_panel(
        data.judgments,
        data.provenance,
        scale,
        scenarios=tip_scenarios(data.cells, data.candidates),
    )


def nothing_scored(data: ExperimentData) -> str:
    """Why there is no report: no tip has a rubric score in the view, and no pair counts.

    Pairs alone make a report (:func:`pairs_only`); pairs that name fewer than two of the
    cells kept, or only failed calls, do not, and the message says so rather than "judge some".
    """
    counted = data.pairs.filter(pl.col("answer").is_in(["a", "b", "tie"])).height
    if data.pairs.height:
        return (
            f"no judged candidates to report on: no rubric score in this view, and of the "
            f"{data.pairs.height} pairwise judgments {counted} counted (the rest failed or were "
            "left out), none between two cells kept here; widen the model, prompt or judge "
            "filter, or judge more (`tipbench judge`, or the judge app)"
        )
    return (
        "no judged candidates to report on: judge some (`tipbench judge`, or the judge "
        "app) or widen the judge filter before writing a report"
    )


def explorer_frames(data: ExperimentData, rubric: Rubric) -> dict[str, pl.DataFrame]:
    """The explorer's two frames (:func:`tipbench_lib.compare.explorer.tip_table`)."""
    from tipbench_lib.compare.explorer import tip_table

    tips, tip_scores = tip_table(
        data.cells,
        data.candidates,
        data.judgments,
        dimensions=rubric.dimension_ids,
        notes=data.notes,
    )
    from tipbench_lib.compare.judge_spread import judge_spread

    spread = judge_spread(
        data.judgments, data.candidates, data.cells, rubric.dimension_ids, rubric.scores
    )
    return {"tips": tips, "tip_scores": tip_scores, "judge_spread": spread}


def with_diversity(
    leaderboard: pl.DataFrame, candidates: pl.DataFrame, cells: pl.DataFrame
) -> pl.DataFrame:
    """The leaderboard with each cell's distinct-2 beside its quality.

    A prompt that makes a model write one tip K times can still score well; the repetition shows
    only next to the scores. The figures count every tip of the cell, judged or not (they need no
    judge), so they come from the candidates rather than the score table.
    """
    diversity = cell_diversity(candidates, cells).drop("n_scenarios")
    return leaderboard.join(diversity, on=list(CELL_KEYS), how="left")


def with_judges(leaderboard: pl.DataFrame, mix: JudgeMix, adjusted: pl.DataFrame) -> pl.DataFrame:
    """The leaderboard with each cell's judge-adjusted composite, its judges (count and weight
    in its mean) and its mark.

    The columns go last, so the leaderboard's own keep their order (``leaderboard.csv`` too).
    """
    return (
        leaderboard.join(
            adjusted.select(*CELL_KEYS, "composite_judge_adjusted"), on=list(CELL_KEYS), how="left"
        )
        .join(mix.cells, on=list(CELL_KEYS), how="left")
        .with_columns(pl.col("judges").fill_null(""), pl.col("judge_note").fill_null(""))
    )


def judge_note(mix: JudgeMix, leaderboard: pl.DataFrame) -> str:
    """The mixed-judges warning and what the judge-adjusted means say ('' when not mixed)."""
    if not mix.mixed:
        return ""
    adjusted = leaderboard.filter(pl.col("composite_judge_adjusted").is_not_null())
    if adjusted.height < leaderboard.height:
        missing = leaderboard.height - adjusted.height
        return (
            f"{mix.sentence} No judge-adjusted mean for {missing} of {leaderboard.height} "
            "cells: the judges are not linked by cells they both scored, so no judge's leniency "
            "can be told from the cells' quality."
        )
    top = adjusted.sort(
        ["composite_judge_adjusted", *CELL_KEYS], descending=[True, False, False]
    ).row(0, named=True)
    return (
        f"{mix.sentence} Beside each raw mean, a judge-adjusted mean (cell + scenario + judge, "
        "fitted on scenario means: every cell as if each judge had scored it) is a sensitivity "
        f"view; it puts {cell_label(top['model'], top['prompt_version'])} first at "
        f"{number(top['composite_judge_adjusted'])}."
    )


def experiment_rubric(data: ExperimentData) -> Rubric:
    """The rubric the experiment recorded (read with it by the loader), never a local default.

    Judgments naming another rubric version have no common scale with it, so they are refused
    with the versions named (the loader leaves such judgments out; this catches frames put
    together by hand or by another tool).
    """
    column = data.judgments.get_column("rubric_version", default=None)
    versions = sorted(set(column.drop_nulls().to_list())) if column is not None else []
    if any(v != data.rubric.version for v in versions):
        raise TipbenchError(
            f"the judgments were scored under rubric versions {', '.join(versions)}, but the "
            f"experiment is scored on {data.rubric.version}; scores on two rubrics have no common "
            "scale: compare the judges of one version (--judges) or judge again under "
            f"{data.rubric.version}"
        )
    return data.rubric


def with_recorded_family(
    data: ExperimentData, options: Options
) -> tuple[Options, str, tuple[str, ...]]:
    """The options with the baseline people judged under, when none was given here.

    The judge phase records the primary family once, before any person's score
    (``docs/architecture.md`` section 8, "Adaptive judging"), so a baseline found there was
    named before seeing the data, which is what makes "every cell against it" a valid primary
    family; compare uses it and says so. A baseline given to compare wins, with a warning when
    it differs from the recorded one (the adaptive queue spent its cards on the recorded
    family's comparisons).
    Returns the options, the baseline's note ('' when not taken from the record) and warnings.
    """
    recorded = data.provenance.get(FAMILY_KEY)
    base = recorded.get("baseline") if isinstance(recorded, Mapping) else None
    if not (isinstance(base, list | tuple) and len(base) == 2):
        return options, "", ()
    cell: Cell = (str(base[0]), str(base[1]))
    if options.baseline is not None:
        if tuple(options.baseline) == cell:
            return options, "", ()
        return (
            options,
            "",
            (
                f"people judged with {cell_label(*cell)} as the baseline (recorded when judging "
                f"began); this report uses {cell_label(*options.baseline)} instead, so its "
                "primary family is not the one the judging queue decided",
            ),
        )
    known = cells_of(data)
    if cell not in known:
        return options, "", ()
    who = recorded.get("named_by") or "the first judge"
    when = recorded.get("named_at") or "an unrecorded time"
    note = (
        f"the baseline named when judging began ({who}, {when}), before any score, as the "
        "experiment records"
    )
    return dataclasses.replace(options, baseline=cell), note, ()


def cells_of(data: ExperimentData) -> set[Cell]:
    """The (model, prompt) cells the data holds."""
    return set(data.cells.select(*CELL_KEYS).unique().iter_rows())


def check_baseline(data: ExperimentData, baseline: Cell | None) -> None:
    """A baseline must be a cell of the data (it decides the families)."""
    if baseline is None:
        return
    known = cells_of(data)
    if tuple(baseline) not in known:
        cells = ", ".join(f"{m}:{p}" for m, p in sorted(known))
        raise TipbenchError(
            f"the baseline {baseline[0]}:{baseline[1]} is not a cell here; known cells: {cells}"
        )


# ---------------------------------------------------------------- frames for reading


def reading_order(comparisons: pl.DataFrame) -> pl.DataFrame:
    """Primary family first, then better/worse, indistinguishable, underpowered, confounded;
    the columns a reader needs first (:data:`READING_COLUMNS`)."""
    family = pl.col("family").replace_strict({"primary": 0}, default=1, return_dtype=pl.Int8)
    verdict = pl.col("verdict").replace_strict(VERDICT_ORDER, default=3, return_dtype=pl.Int8)
    first = [c for c in READING_COLUMNS if c in comparisons.columns]
    return comparisons.sort(
        [family, verdict, pl.col("p_holm"), pl.col("p_wilcoxon")], nulls_last=True
    ).select(*first, pl.exclude(first))


def example_tips(scores: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """The top and bottom judged tip of every cell, with its text (ties broken by id)."""
    judged = scores.select("candidate_id", "model", "prompt_version", "scenario_id", "composite")
    judged = judged.join(candidates.select("candidate_id", "text"), on="candidate_id", how="left")
    ranked = judged.sort(["composite", "candidate_id"], descending=[True, False])
    keys = ["model", "prompt_version"]
    top = ranked.group_by(keys, maintain_order=True).first().with_columns(which=pl.lit("top"))
    bottom = ranked.group_by(keys, maintain_order=True).last().with_columns(which=pl.lit("bottom"))
    return pl.concat([top, bottom])


def judge_description(kind: Any, entry: Mapping[str, Any]) -> str:
    """How a judge is described; an LLM judge flagged weak says so plainly."""
    if kind == "llm":
        model = entry.get("model")
        base = "LLM judge (weak: a small model)" if entry.get("weak") else "LLM judge"
        return f"{base}, {model}" if model else base
    return {"human": "person", "import": "imported scores"}.get(str(kind), str(kind))


def judge_rows(
    judgments: pl.DataFrame, provenance: Mapping[str, Any], pairs: pl.DataFrame | None = None
) -> pl.DataFrame:
    """One row per judge: what the provenance declares merged with what the judgments and the
    pairwise judgments show (a judge of pairs only is listed too, with its pairs counted apart:
    ``docs/architecture.md`` section 13)."""
    declared = provenance.get("judges") or {}
    if isinstance(declared, list):
        declared = {str(j.get("judge_id", i)): j for i, j in enumerate(declared)}
    counts = judge_counts(judgments)
    pair_counts = judge_counts(pairs if pairs is not None else pl.DataFrame())
    rows = []
    for judge_id in sorted(set(declared) | set(counts) | set(pair_counts)):
        entry = declared.get(judge_id)
        entry = entry if isinstance(entry, Mapping) else {}
        seen_row = counts.get(judge_id) or pair_counts.get(judge_id, {})
        rows.append(
            {
                "judge_id": str(judge_id),
                "description": judge_description(
                    entry.get("kind") or seen_row.get("judge_kind"), entry
                ),
                "n_judgments": _int_or_none(counts.get(judge_id, {}).get("n", entry.get("ok"))),
                "n_failed": _int_or_none(entry.get("failed")),
                "n_pairs": _int_or_none(pair_counts.get(judge_id, {}).get("n", entry.get("pairs"))),
                "n_pairs_failed": _int_or_none(entry.get("pairs_failed")),
                "dates": date_range(seen_row.get("first"), seen_row.get("last")),
            }
        )
    schema = {
        "judge_id": pl.String,
        "description": pl.String,
        "n_judgments": pl.Int64,
        "n_failed": pl.Int64,
        "n_pairs": pl.Int64,
        "n_pairs_failed": pl.Int64,
        "dates": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def judge_counts(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    """Judge id → its kind, number of rows and first and last time, in a judgments or pairs
    frame (none for an empty frame)."""
    if frame.height == 0:
        return {}
    seen = frame.group_by("judge_id").agg(
        pl.col("judge_kind").first(),
        pl.len().alias("n"),
        pl.col("created_at").min().alias("first"),
        pl.col("created_at").max().alias("last"),
    )
    return {r["judge_id"]: r for r in seen.iter_rows(named=True)}


def plain(value: Any) -> str:
    """A provenance value as one line of text: lists joined, anything nested as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, default=str, ensure_ascii=False)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def date_range(first: Any, last: Any) -> str:
    if first is None:
        return ""
    a, b = (
        v.isoformat(timespec="seconds") if isinstance(v, datetime) else str(v)
        for v in (first, last)
    )
    return a if a == b else f"{a} – {b}"


# ---------------------------------------------------------------- the words


def highest_line(
    leaderboard: pl.DataFrame,
    scores: pl.DataFrame,
    scale: ScoreScale,
    level: float,
    *,
    mixed: bool = False,
) -> str:
    """The cell with the highest mean, its interval, the scale, and the data behind it.

    ``mixed``: the cells' means rest on different judges, so the line says the top mean is no
    verdict.
    """
    best = leaderboard.row(0, named=True)
    low, high = scale.composite
    lo, hi = best["composite_lo"], best["composite_hi"]
    known = lo is not None and hi is not None and lo == lo and hi == hi  # NaN != NaN
    interval = (
        f"{percent(level)} interval {number(lo)} to {number(hi)}"
        if known
        else "no interval: too few scenarios"
    )
    said = (
        "Highest mean (over different judges per cell, so no verdict)" if mixed else "Highest mean"
    )
    return (
        f"{said}: {cell_label(best['model'], best['prompt_version'])}, composite "
        f"{number(best['composite_mean'])} ({interval}) on the "
        f"{low:g}–{high:g} scale, over {scenarios(int(best['n_scenarios']))} and "
        f"{best['n_candidates']} tips of its own; {scenarios(scores['scenario_id'].n_unique())} "
        f"and {scores.height} judged tips in all."
    )


def view_note(view: View, panel: pl.DataFrame) -> str:
    """Which judges the numbers rest on, and why some verdicts are provisional."""
    text = f"Scores and verdicts rest on the judge view {view.label}"
    text += " (the default)." if view.is_default else " (chosen)."
    if view.provisional:
        weak = panel.filter(pl.col("judge_id").is_in(list(view.provisional_judges)))
        why = "; ".join(f"{r['judge_id']}: {r['reason']}" for r in weak.iter_rows(named=True))
        text += f" Provisional, because of weak judges ({why})."
    return text


def slope_lines(fit: LengthAdjusted) -> tuple[str, ...]:
    """Each judge's verbosity slope in words: points per SD of log length, and its interval."""
    level = percent(1 - fit.alpha)
    lines = []
    for row in fit.slopes.iter_rows(named=True):
        judge = row["judge_id"]
        if row["gamma"] is None:
            lines.append(f"{judge}: no verbosity slope ({row['note']}).")
            continue
        gamma = row["gamma"]
        span = ""
        if row["gamma_lo"] is not None:
            span = f" ({level} CI {row['gamma_lo']:+.2f} to {row['gamma_hi']:+.2f})"
        if row["gamma_lo"] is not None and row["gamma_lo"] > 0:
            meaning = "it scores longer tips higher"
        elif row["gamma_hi"] is not None and row["gamma_hi"] < 0:
            meaning = "it scores longer tips lower"
        else:
            meaning = "no clear preference for length either way"
        note = f"; {row['note']}" if row["note"] else ""
        lines.append(
            f"{judge}: verbosity slope {gamma:+.2f} points per SD of tip length{span} within "
            f"a scenario and a cell, over {row['n_tips']} tips: {meaning}{note}."
        )
    return tuple(lines)


def length_note(fit: LengthAdjusted) -> str:
    """Whether the ranking (of the judges pooled) survives moving every cell to mean length."""
    pooled = fit.cells.filter(pl.col("pooled") & pl.col("composite_adjusted").is_not_null())
    if pooled.height == 0:
        return "No judge's verbosity slope could be estimated, so there is no adjusted ranking."
    moved = pooled.filter(pl.col("rank_raw") != pl.col("rank_adjusted")).sort("rank_raw")
    if moved.height == 0:
        return (
            "With each judge's length effect removed (every cell at the mean tip length), the "
            "ranking of the cells is unchanged: length does not carry it."
        )
    changes = "; ".join(
        f"{cell_label(r['model'], r['prompt_version'])} from {r['rank_raw']} to "
        f"{r['rank_adjusted']}"
        for r in moved.head(5).iter_rows(named=True)
    )
    more = f" and {moved.height - 5} more" if moved.height > 5 else ""
    return (
        f"With each judge's length effect removed (every cell at the mean tip length), "
        f"{moved.height} of {pooled.height} cells change rank: {changes}{more}. A sensitivity "
        "view: the verdicts above stay those of the raw scores."
    )


def front_note(front: pl.DataFrame) -> str:
    """The cells no other cell beats on both mean composite and median latency."""
    best = front.filter(pl.col("pareto"))
    if best.height == 0:
        return "No latency was recorded, so there is no quality/latency front."
    names = ", ".join(
        cell_label(r["model"], r["prompt_version"]) for r in best.iter_rows(named=True)
    )
    return (
        f"Quality/latency front: {names} (no other cell has a higher mean composite and a "
        "lower median latency of its model at once)."
    )
