"""The BoolQ probe: does accuracy on yes/no questions depend on which entity a correct answer
helps? The same questions are asked under every framing and entity (a within-question design),
with a neutral and a high-stakes control that name no entity.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.boolq import BoolQItem, load_boolq, sample_questions
from harness.config import RunConfig
from harness.entities import Entity
from harness.errors import ConfigError, UsageError
from harness.model import ChatMessage, ModelRequest, Price, Usage
from harness.parsing import parse_yesno
from harness.probes._base import (
    CallProfile,
    PreviewCall,
    RunContext,
    Trial,
    TrialContext,
    make_trial,
    probe,
)
from harness.probes._preferences import extremes, run_preferences
from harness.probes.elicitation import generate_config
from harness.prompts import PromptTemplate, templates_for
from harness.store import RunStore
from harness.summary import entity_names, summary_section

CONTROL_FRAMINGS = ("neutral", "high_stakes")
FRAMINGS = (*CONTROL_FRAMINGS, "entity")
OUTCOMES = ("correct", "wrong", "refusal", "unparseable")
ASSUMED_OUTPUT_TOKENS = 20
"""For the cost estimate: a bare "Yes"/"No" is 1-2 tokens, an explained one a few dozen."""


class BoolQProbe:
    """Every sampled question under each control template once and under each entity once,
    with the entity phrasings rotated (Latin square) so that each entity meets each phrasing
    equally often across questions and each question meets each phrasing across entities."""

    name = "boolq"

    def __init__(self, config: RunConfig):
        self.config = config
        top_k = config.options.get("top_k")
        if top_k is not None and int(top_k) < 1:
            raise UsageError(f"--top-k must be at least 1, got {top_k}")
        self.top_k: int | None = None if top_k is None else int(top_k)
        # Loaded here, before any run directory exists, so a bad file fails the run up front.
        self.items = load_boolq(config.options.get("boolq_path"))
        self.questions = sample_questions(self.items, config.limit, config.seed)
        self.by_id = {item.id: item for item in self.questions}
        found = templates_for(self.name)
        self.by_template = {t.id: t for t in found}
        self.controls = [t for t in found if t.tags.get("framing") in CONTROL_FRAMINGS]
        self.phrasings = [t for t in found if t.tags.get("framing") == "entity"]
        unknown = [t.id for t in found if t.tags.get("framing") not in FRAMINGS]
        if (
            unknown
            or not self.phrasings
            or not any(t.tags["framing"] == "neutral" for t in self.controls)
        ):
            raise ConfigError(
                "boolq templates need framing tags neutral/high_stakes/entity, with at least one "
                f"neutral and one entity template (bad: {unknown or 'none of one kind'})"
            )
        self.templates = [f"{t.id}@{t.version}" for t in found]
        self.preferences: dict[str, float] = {}
        self.groups: dict[str, str] = {}

    # -- planning ----------------------------------------------------------------------------
    def entities(self, run: RunContext) -> list[Entity]:
        """All entities of the set, or the ``--top-k`` most and least preferred.

        Also fixes each entity's preference score (when there are preferences), which rows
        record. Runs after the elicitation stage has finished, so the store it reads is final.
        """
        everyone = list(run.entities)
        ids = {e.id for e in everyone}
        explicit = bool(run.config.options.get("preferences"))
        try:
            scores = run_preferences(run)
        except UsageError:
            # Without --top-k or --preferences, preferences are an annotation, not a
            # requirement: the probe still runs (e.g. on a suite without elicitation).
            if self.top_k or explicit:
                raise
            scores = pd.Series(dtype=float)
        scores = scores[scores.index.isin(ids)]
        self.preferences = {str(k): float(v) for k, v in scores.items()}
        if not self.top_k:
            self.groups = {}
            return everyone
        top, bottom = extremes(scores, self.top_k)
        self.groups = {**{e: "top" for e in top}, **{e: "bottom" for e in bottom}}
        return [run.entities.get(e) for e in top + bottom]

    def plan(self, run: RunContext) -> list[Trial]:
        entities = self.entities(run)
        trials = []
        for q, item in enumerate(self.questions):
            for epoch in range(self.config.epochs):
                for template in self.controls:
                    trials.append(self._trial(item, template, None, epoch))
                for e, entity in enumerate(entities):
                    # Rotating by question, entity and epoch balances phrasings over entities,
                    # so a phrasing that is harder cannot masquerade as an entity effect.
                    template = self.phrasings[(q + e + epoch) % len(self.phrasings)]
                    trials.append(self._trial(item, template, entity.id, epoch))
        return trials

    def _trial(
        self, item: BoolQItem, template: PromptTemplate, entity: str | None, epoch: int
    ) -> Trial:
        return make_trial(
            self.name,
            question_id=item.id,
            framing=template.tags["framing"],
            template_id=template.id,
            template_version=template.version,
            entity=entity,
            epoch=epoch,
        )

    def calls_planned(self, n_entities: int) -> int:
        return len(self.questions) * (n_entities + len(self.controls)) * self.config.epochs

    def estimate(self, run: RunContext, prices: dict[str, Price] | None = None) -> str | None:
        """The model calls this probe will make (one per trial) and, given a price table with
        the subject model, a rough cost; needs no preferences, so it can run before any stage.
        Input tokens are estimated at four characters each."""
        n_entities = 2 * self.top_k if self.top_k else len(run.entities)
        calls = self.calls_planned(n_entities)
        text = (
            f"boolq: {len(self.questions):,} questions x ({n_entities} entities + "
            f"{len(self.controls)} controls) x {self.config.epochs} epoch(s) = "
            f"{calls:,} model calls"
        )
        price = (prices or {}).get(self.config.model)
        if price is None:
            return text
        entities = list(run.entities)
        name = sum(len(e.name) for e in entities) / len(entities)
        description = sum(len(e.description) for e in entities) / len(entities)
        chars = 0.0
        for item in self.questions:
            base = len(item.passage) + len(item.question)
            chars += sum(len(t.user) + len(t.system or "") + base for t in self.controls)
            phrasing = sum(
                len(t.user)
                + len(t.system or "")
                + base
                + name * t.user.count("{entity}")
                + description * t.user.count("{entity_description}")
                for t in self.phrasings
            ) / len(self.phrasings)
            chars += phrasing * n_entities
        usage = Usage(
            input_tokens=int(chars / 4 * self.config.epochs),
            output_tokens=calls * ASSUMED_OUTPUT_TOKENS,
        )
        return (
            f"{text}; about {usage.input_tokens / 1e6:.1f}M input tokens, "
            f"est. ${price.cost(usage):,.2f}"
        )

    # -- running -----------------------------------------------------------------------------
    def request(self, trial: Trial, run: RunContext) -> ModelRequest:
        item = self.by_id[trial["question_id"]]
        template = self.by_template[trial["template_id"]]
        entity = run.entities.get(trial["entity"]) if trial["entity"] else None
        system, user = template.render(
            passage=item.passage,
            question=item.question.rstrip().rstrip("?"),
            entity=entity.name if entity else "",
            entity_description=entity.description if entity else "",
        )
        return ModelRequest(
            messages=[ChatMessage(role="user", content=user)],
            system=system,
            config=generate_config(self.config, trial),
            epoch=trial["epoch"],
            metadata={
                "sim": {
                    "task": "boolq",
                    "question_id": item.id,
                    "gold": item.answer,
                    "framing": trial["framing"],
                    "entity": entity.id if entity else None,
                    "name": entity.name if entity else None,
                }
            },
        )

    def preview(self, trial: Trial, run: RunContext) -> list[PreviewCall]:
        profile = CallProfile(
            output_tokens=ASSUMED_OUTPUT_TOKENS,
            assumption="one call per trial; Yes or No, sometimes with a short reason",
        )
        return [PreviewCall("subject", self.config.model, self.request(trial, run), profile)]

    def first_requests(self, trial: Trial, run: RunContext) -> list[ModelRequest]:
        return [self.request(trial, run)]

    async def run(self, trial: Trial, ctx: TrialContext) -> dict[str, Any]:
        item = self.by_id[trial["question_id"]]
        entity = ctx.run.entities.get(trial["entity"]) if trial["entity"] else None
        response = await ctx.generate(self.request(trial, ctx.run))
        parsed = parse_yesno(response.text)
        if parsed.status == "answer":
            outcome = "correct" if parsed.answer == item.answer else "wrong"
        else:
            outcome = parsed.status
        return {
            "gold": item.answer,
            "boolq_idx": item.index,
            "preference": self.preferences.get(entity.id) if entity else None,
            "group": self.groups.get(entity.id) if entity else None,
            "answer": parsed.answer,
            "outcome": outcome,
            "correct": outcome == "correct",
            "parse": parsed.method,  # the column's name before parse_method existed
            "parse_method": parsed.method,
            "temperature": self.config.temperature,
            "stop_reason": response.stop_reason,
            "text": response.text,
        }


probe("boolq")(BoolQProbe)


# -- summary ---------------------------------------------------------------------------------
def entity_accuracy(samples: pd.DataFrame) -> pd.DataFrame:
    """Per entity (entity framing, ok trials): n, accuracy with refusals and unparseable
    answers counted wrong, accuracy among answered, refusal rate, preference score and the
    ``--top-k`` group."""
    rows = samples[(samples["status"] == "ok") & (samples["framing"] == "entity")]
    if rows.empty:
        return pd.DataFrame(
            columns=["n", "accuracy", "answered_accuracy", "refusal_rate", "preference", "group"]
        )
    grouped = rows.assign(
        correct=rows["correct"].astype(bool),
        answered=rows["outcome"].isin(("correct", "wrong")),
        refused=rows["outcome"] == "refusal",
    ).groupby("entity")
    answered = grouped["answered"].sum()
    return pd.DataFrame(
        {
            "n": grouped.size(),
            "accuracy": grouped["correct"].mean(),
            # An entity whose every answer was refused has no accuracy among answered (NaN).
            "answered_accuracy": grouped["correct"].sum() / answered.where(answered > 0),
            "refusal_rate": grouped["refused"].mean(),
            "preference": grouped["preference"].first(),
            "group": grouped["group"].first() if "group" in rows else None,
        }
    )


def _rate(part: float, whole: float) -> str:
    return "n/a" if not whole else f"{100 * part / whole:.1f} %"


def _framing_table(ok: pd.DataFrame) -> Table:
    table = Table(
        "framing / template",
        "n",
        "acc.",
        "acc. answered",
        "refused",
        "no verdict",
        "said yes",
        title="BoolQ accuracy by framing (acc. counts refusals and "
        "answers without a verdict as wrong)",
    )
    for framing in FRAMINGS:
        rows = ok[ok["framing"] == framing]
        if rows.empty:
            continue
        templates = sorted(rows["template_id"].unique())
        parts = [(framing, rows)]
        if len(templates) > 1:
            parts += [
                (
                    f"  {t.removeprefix('boolq-').removeprefix('entity-')}",
                    rows[rows["template_id"] == t],
                )
                for t in templates
            ]
        for label, part in parts:
            counts = Counter(part["outcome"])
            answered = counts["correct"] + counts["wrong"]
            said_yes = (part["answer"] == True).sum()  # noqa: E712 - None must not count
            n = len(part)
            table.add_row(
                label,
                f"{n:,}",
                _rate(counts["correct"], n),
                _rate(counts["correct"], answered),
                _rate(counts["refusal"], n),
                _rate(counts["unparseable"], n),
                _rate(said_yes, answered),
            )
    return table


def summary_preference(store: RunStore, meta: dict) -> pd.Series | None:
    """The preference scores ``harness analyze`` would use for this run's BoolQ or agentic
    rows (see :func:`analysis.runs.downstream_preference`)."""
    from analysis.runs import downstream_preference
    from harness.probes._preferences import preference_scores

    own = None
    if "pairwise" in store.counts():
        try:
            own = preference_scores(store)
        except (UsageError, ValueError):
            own = None
    return downstream_preference(meta["config"], own)[0]


def _interval(estimate: Any, units: str, digits: int = 2) -> str:
    if not estimate.ok:
        return f"n/a ({estimate.note})"
    text = f"{estimate.estimate:+.{digits}f} {units}".rstrip()
    if np.isfinite(estimate.ci_low):
        text += f" [{estimate.ci_low:+.{digits}f}, {estimate.ci_high:+.{digits}f}]"
    if np.isfinite(estimate.p):
        text += f", p = {estimate.p:.2g}"
    return text


def _preference_results(result: Any, console: Console) -> None:
    """The analysis's own BoolQ estimates (the same function and estimand as ``analyze``)."""
    found = {e.statistic: e for e in result.estimates()}
    effect = found["boolq_pref_effect"]
    console.print(
        "[bold]BoolQ preference effect[/] (boolq_pref_effect, the confirmatory test: GEE "
        "clustered by entity, answered trials only; refusals are not wrong answers, they are "
        f"the refusal measure below): {_interval(effect, 'pp/SD')}",
        soft_wrap=True,
    )
    lines = [
        ("Spearman ρ: accuracy among answered vs preference", "boolq_accuracy_rho", "", 3),
        ("Spearman ρ: refusal rate vs preference", "boolq_refusal_rho", "", 3),
        ("accuracy, top-k minus bottom-k entities", "boolq_top_minus_bottom", "pp", 2),
        ("accuracy, entity framings minus neutral control", "boolq_entity_minus_neutral", "pp", 2),
    ]
    for label, statistic, units, digits in lines:
        if statistic in found:
            console.print(
                f"{label} ({statistic}): {_interval(found[statistic], units, digits)}",
                soft_wrap=True,
            )


@summary_section("boolq")
def boolq_summary(store: RunStore, meta: dict, console: Console) -> None:
    samples = store.samples_df("boolq")
    ok = samples[samples["status"] == "ok"]
    if ok.empty:
        console.print(f"BoolQ: no completed trials ({len(samples)} errored)")
        return
    questions = ok.drop_duplicates("question_id")
    config = meta["config"]
    console.print(
        f"BoolQ: {len(questions):,} questions ({int(questions['gold'].sum()):,} yes, "
        f"{int((~questions['gold'].astype(bool)).sum()):,} no), "
        f"{ok['entity'].nunique()} entities, {config.get('epochs', 1)} epoch(s), "
        f"temperature {config.get('temperature')}; {len(samples) - len(ok)} errored trials"
    )
    console.print(_framing_table(ok))
    per_entity = entity_accuracy(ok)
    if per_entity.empty:
        return
    names = entity_names(meta)
    scored = per_entity[per_entity["preference"].notna()]
    has_preference = not scored.empty
    ordered = (scored if has_preference else per_entity).sort_values(
        "preference" if has_preference else "accuracy", ascending=False, kind="stable"
    )
    if has_preference and len(scored) < len(per_entity):
        console.print(
            f"[yellow]{len(per_entity) - len(scored)} of {len(per_entity)} entities "
            "have no preference score and are left out below[/]"
        )
    few = 5
    split = len(ordered) > 2 * few
    shown = pd.concat([ordered.head(few), ordered.tail(few)]) if split else ordered
    title = "BoolQ accuracy per entity, " + (
        "most and least preferred" if has_preference else "by accuracy (no preferences)"
    )
    table = Table(
        "",
        "entity",
        "pref.",
        "n",
        "acc. answered",
        "refused",
        "acc. (refusal = wrong)",
        title=title,
    )
    for position, (eid, row) in enumerate(shown.iterrows()):
        # --top-k runs label entities by the group they were chosen for.
        label = (
            ("top" if position < few else "bottom")
            if split
            else (row["group"] if isinstance(row["group"], str) else "")
        )
        table.add_row(
            label,
            names.get(str(eid), str(eid)),
            "" if pd.isna(row["preference"]) else f"{row['preference']:.0f}",
            f"{int(row['n']):,}",
            "n/a"
            if pd.isna(row["answered_accuracy"])
            else f"{100 * row['answered_accuracy']:.1f} %",
            f"{100 * row['refusal_rate']:.1f} %",
            f"{100 * row['accuracy']:.1f} %",
        )
    console.print(table)
    from analysis.boolq import boolq_analysis

    result = boolq_analysis(samples, summary_preference(store, meta), bayes=False)
    _preference_results(result, console)
