"""Donation advice with a retry-until-valid refusal probe, in a simulated user environment.

A user (a persona template, optionally continued by a user model for several turns) asks the
model which of two organisations to donate to, with no instruction to act on any preference.
Each attempt is a fresh conversation; attempts repeat until an answer recommends exactly one of
the two, or ``max_attempts`` is reached. Attempts-to-valid is the study's refusal measure.
"""

from __future__ import annotations

import random
from itertools import combinations
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from harness.classify import (
    JudgeOutputError,
    Verdict,
    classify_answer,
    default_rules,
    parse_judge_verdict,
)
from harness.config import RunConfig
from harness.errors import UsageError
from harness.model import ChatMessage, ModelError, ModelRequest, ModelResponse
from harness.probes._base import (
    CallProfile,
    PreviewCall,
    RunContext,
    Trial,
    TrialContext,
    make_trial,
    probe,
)
from harness.probes.elicitation import generate_config
from harness.prompts import PromptTemplate, get_template, templates_for
from harness.store import RunStore
from harness.summary import summary_section

ASSUMED_ATTEMPTS = 1.3
"""Attempts per query a preview assumes without a pilot run. The study reports over 90 % of
queries valid within 100 attempts; first-attempt validity differs widely between models, so
this is a placeholder that ``--dry-run --pilot RUN`` replaces with a measured distribution."""
ASSUMED_ANSWER_TOKENS = 250
"""A donation recommendation of a paragraph or two."""


@probe("donation")
class DonationProbe:
    name = "donation"

    def __init__(self, config: RunConfig):
        options = config.options
        self.config = config
        self.max_attempts = int(options.get("max_attempts", 100))
        self.prefill: str | None = options.get("prefill") or None
        self.turns = int(options.get("turns", 1))
        self.user_model: str | None = options.get("user_model")
        self.judge_model: str | None = options.get("judge_model")
        if self.max_attempts < 1:
            raise UsageError("--max-attempts must be at least 1")
        if self.turns < 1:
            raise UsageError("--turns must be at least 1")
        if self.turns > 1 and not self.user_model:
            raise UsageError("--turns above 1 needs --user-model to play the user")
        self.personas: list[PromptTemplate] = sorted(templates_for("donation"), key=lambda t: t.id)
        if not self.personas:
            raise UsageError("no donation templates found")
        self.user_template = get_template("donation-user-model")
        self.judge_template = get_template("donation-judge")
        self.rules = default_rules()
        used = [*self.personas]
        if self.user_model:
            used.append(self.user_template)
        if self.judge_model:
            used.append(self.judge_template)
        self.templates = [f"{t.id}@{t.version}" for t in used] + [f"rules:{self.rules.label}"]

    def plan(self, run: RunContext) -> list[Trial]:
        pairs = list(combinations(run.entity_subset(), 2))
        wanted = self.config.options.get("pairs")
        if wanted is not None:
            if wanted < 1:
                raise UsageError("--pairs must be at least 1")
            keep = sorted(
                random.Random(f"pairs|{self.config.seed}").sample(
                    range(len(pairs)), min(wanted, len(pairs))
                )
            )
            pairs = [pairs[i] for i in keep]
        trials = []
        for index, (first, second) in enumerate(pairs):
            for order, (a, b) in (("forward", (first, second)), ("reverse", (second, first))):
                for epoch in range(self.config.epochs):
                    for sample in range(self.config.samples):
                        # Personas rotate over pairs and samples; both orders of a pair share one,
                        # so order effects are measured within a phrasing.
                        persona = self.personas[(index + sample) % len(self.personas)]
                        trials.append(
                            make_trial(
                                self.name,
                                entity_a=a.id,
                                entity_b=b.id,
                                order=order,
                                sample=sample,
                                epoch=epoch,
                                template_id=persona.id,
                                template_version=persona.version,
                            )
                        )
        return trials

    async def run(self, trial: Trial, ctx: TrialContext) -> dict[str, Any]:
        a, b = ctx.run.entities.get(trial["entity_a"]), ctx.run.entities.get(trial["entity_b"])
        persona = get_template(trial["template_id"])
        counts = {"refusal": 0, "hedge": 0, "unparseable": 0, "judge_failures": 0}
        first: Verdict | None = None
        verdict: Verdict | None = None
        response: ModelResponse | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            response, turns = await self._conversation(trial, ctx, a, b, persona, attempt)
            verdict, judge = await self._classify(trial, ctx, a, b, response)
            first = first or verdict
            if verdict.klass != "valid":
                counts[verdict.klass] += 1
            counts["judge_failures"] += judge.get("judge_failure", False)
            ctx.record(
                "attempt",
                {
                    "entity_a": a.id,
                    "entity_b": b.id,
                    "order": trial["order"],
                    "template_id": persona.id,
                    "attempt": attempt,
                    "class": verdict.klass,
                    "case": verdict.case,
                    "reason": verdict.reason,
                    "recommended": _recommended(verdict, a.id, b.id),
                    "classifier": verdict.classifier,
                    "parse_method": verdict.method,
                    "stop_reason": response.stop_reason,
                    "turns": turns,
                    "text": response.text,
                    **judge,
                },
            )
            if verdict.klass == "valid":
                break
        assert verdict is not None and first is not None and response is not None
        valid = verdict.klass == "valid"
        return {
            "recommended": _recommended(verdict, a.id, b.id),
            "case": verdict.case,
            "valid": valid,
            "attempts": attempt,
            "attempts_to_valid": attempt if valid else None,
            "cap_reached": not valid,
            "first_class": first.klass,
            "first_reason": first.reason,
            "parse_method": verdict.method,
            "first_parse_method": first.method,
            "n_refusal": counts["refusal"],
            "n_hedge": counts["hedge"],
            "n_unparseable": counts["unparseable"],
            "judge_failures": counts["judge_failures"],
            "persona": persona.tags.get("who"),
            "amount": persona.tags.get("amount"),
            "prefill": self.prefill,
            "text": response.text,
        }

    async def _conversation(
        self,
        trial: Trial,
        ctx: TrialContext,
        a: Any,
        b: Any,
        persona: PromptTemplate,
        attempt: int = 1,
    ) -> tuple[ModelResponse, int]:
        """One fresh conversation; returns the subject's last answer and the number of turns."""
        messages = self._opening(a, b, persona)
        response: ModelResponse | None = None
        for turn in range(1, self.turns + 1):
            last = turn == self.turns
            request = self._subject_request(trial, a, b, persona, messages, attempt, last)
            response = await ctx.generate(request)
            if last:
                break
            messages.append(ChatMessage(role="assistant", content=response.text))
            messages.append(
                ChatMessage(
                    role="user",
                    content=await self._user_turn(trial, ctx, a, b, persona, messages, attempt),
                )
            )
        assert response is not None
        return response, self.turns

    def _opening(self, a: Any, b: Any, persona: PromptTemplate) -> list[ChatMessage]:
        _, opening = persona.render(name_a=a.name, name_b=b.name)
        return [ChatMessage(role="user", content=opening)]

    def first_requests(self, trial: Trial, run: RunContext) -> list[ModelRequest]:
        """The first attempt's first subject turn: the only call that depends on no answer
        (later turns follow the user model, later attempts the classification)."""
        a, b = run.entities.get(trial["entity_a"]), run.entities.get(trial["entity_b"])
        persona = get_template(trial["template_id"])
        messages = self._opening(a, b, persona)
        return [self._subject_request(trial, a, b, persona, messages, 1, self.turns == 1)]

    def _subject_request(
        self,
        trial: Trial,
        a: Any,
        b: Any,
        persona: PromptTemplate,
        messages: list[ChatMessage],
        attempt: int,
        last: bool,
    ) -> ModelRequest:
        hint = {
            "task": "donation",
            "entities": [a.id, b.id],
            "names": [a.name, b.name],
            "amount": persona.tags.get("amount", ""),
        }
        return ModelRequest(
            messages=list(messages),
            config=generate_config(self.config, trial, attempt),
            prefill=self.prefill if last else None,
            epoch=trial["epoch"],
            metadata={"sim": hint},
        )

    def preview(self, trial: Trial, run: RunContext) -> list[PreviewCall]:
        """The first attempt's opening request, and (when configured) a judge request over a
        stand-in answer of the assumed length and a user-model request over the opening."""
        a, b = run.entities.get(trial["entity_a"]), run.entities.get(trial["entity_b"])
        persona = get_template(trial["template_id"])
        opening = self._opening(a, b, persona)[0].content
        attempts = (1.0, ASSUMED_ATTEMPTS, float(self.max_attempts))
        basis = (
            f"attempts per query: at least 1, assumed {ASSUMED_ATTEMPTS:g}, at most "
            f"--max-attempts {self.max_attempts}"
        )
        subject = CallProfile(
            calls=tuple(n * self.turns for n in attempts),  # type: ignore[arg-type]
            output_tokens=ASSUMED_ANSWER_TOKENS,
            assumption=f"{basis}; {self.turns} turn(s) each; answers of a paragraph or two",
        )
        calls = [
            PreviewCall("subject", self.config.model, self.first_requests(trial, run)[0], subject)
        ]
        if self.judge_model:
            stand_in = " ".join(["word"] * int(ASSUMED_ANSWER_TOKENS * 0.75))
            system, user = self.judge_template.render(name_a=a.name, name_b=b.name, answer=stand_in)
            calls.append(
                PreviewCall(
                    "judge",
                    self.judge_model,
                    ModelRequest(messages=[ChatMessage(role="user", content=user)], system=system),
                    CallProfile(
                        calls=attempts,
                        output_tokens=40,
                        assumption="one verdict (a JSON object) per attempt",
                    ),
                )
            )
        if self.user_model and self.turns > 1:
            system, user = self.user_template.render(
                who=persona.tags.get("who", "a donor"),
                amount=persona.tags.get("amount", "some money"),
                name_a=a.name,
                name_b=b.name,
                transcript=opening,
            )
            calls.append(
                PreviewCall(
                    "user",
                    self.user_model,
                    ModelRequest(messages=[ChatMessage(role="user", content=user)], system=system),
                    CallProfile(
                        calls=tuple(n * (self.turns - 1) for n in attempts),  # type: ignore[arg-type]
                        output_tokens=50,
                        input_growth=ASSUMED_ANSWER_TOKENS,
                        assumption="one or two sentences per user turn",
                    ),
                )
            )
        return calls

    async def _user_turn(
        self,
        trial: Trial,
        ctx: TrialContext,
        a: Any,
        b: Any,
        persona: PromptTemplate,
        messages: list[ChatMessage],
        attempt: int = 1,
    ) -> str:
        """The user model writes the next user message. It sees its own instructions and the
        transcript; the evaluated model never sees those instructions."""
        transcript = (
            "\n\n".join(
                f"{'You' if m.role == 'user' else 'Assistant'}: {m.content}" for m in messages
            )
            + "\n\nWrite your next message to the assistant."
        )
        system, user = self.user_template.render(
            who=persona.tags.get("who", "a donor"),
            amount=persona.tags.get("amount", "some money"),
            name_a=a.name,
            name_b=b.name,
            transcript=transcript,
        )
        request = ModelRequest(
            messages=[ChatMessage(role="user", content=user)],
            system=system,
            config=generate_config(self.config, trial, attempt),
            epoch=trial["epoch"],
            metadata={"sim": {"task": "donation-user"}},
        )
        response = await ctx.generate(request, role="user")
        return response.text.strip() or "Which one would you pick?"

    async def _classify(
        self, trial: Trial, ctx: TrialContext, a: Any, b: Any, response: ModelResponse
    ) -> tuple[Verdict, dict[str, Any]]:
        rules = classify_answer(
            response.text,
            a.name,
            b.name,
            id_a=a.id,
            id_b=b.id,
            matcher=ctx.run.matcher,
            rules=self.rules,
            stop_reason=response.stop_reason,
        )
        if not self.judge_model:
            return rules, {}
        extra: dict[str, Any] = {
            "rules_class": rules.klass,
            "rules_case": rules.case,
            "rules_reason": rules.reason,
            "rules_parse_method": rules.method,
        }
        system, user = self.judge_template.render(
            name_a=a.name, name_b=b.name, answer=response.text
        )
        request = ModelRequest(
            messages=[ChatMessage(role="user", content=user)],
            system=system,
            config=generate_config(self.config, trial).model_copy(update={"temperature": 0.0}),
            epoch=trial["epoch"],
            metadata={
                "sim": {
                    "task": "donation-judge",
                    "names": [a.name, b.name],
                    "answer": response.text,
                }
            },
        )
        try:
            judged = await ctx.generate(request, role="judge")
        except ModelError as error:
            return rules, {
                **extra,
                "judge_failure": True,
                "judge_error": str(error),
                "judge_raw": None,
            }
        try:
            verdict = parse_judge_verdict(judged.text, self.judge_model)
        except JudgeOutputError as error:
            return rules, {
                **extra,
                "judge_failure": True,
                "judge_error": str(error),
                "judge_raw": judged.text,
            }
        return verdict, {**extra, "judge_failure": False, "judge_raw": judged.text}

    def estimate(self, run: RunContext) -> str:
        trials = len(self.plan(run))
        return (
            f"donation: {trials:,} queries, at least {trials:,} and at most "
            f"{trials * self.max_attempts * (2 * self.turns - 1):,} subject/user calls "
            f"(--max-attempts {self.max_attempts})"
        )


def _recommended(verdict: Verdict, id_a: str, id_b: str) -> str | None:
    return {"a": id_a, "b": id_b}.get(verdict.case) if verdict.klass == "valid" else None


def donation_entity_table(samples: pd.DataFrame, attempts: pd.DataFrame) -> pd.DataFrame:
    """Per entity: recommendation win rate (valid queries), refusal and hedge rates (attempts)
    and mean attempts-to-valid (queries; capped queries count at the cap)."""
    ok = samples[samples["status"] == "ok"]
    rows = []
    for entity in sorted(set(ok["entity_a"]) | set(ok["entity_b"])):
        involved = ok[(ok["entity_a"] == entity) | (ok["entity_b"] == entity)]
        valid = involved[involved["valid"]]
        tried = attempts[(attempts["entity_a"] == entity) | (attempts["entity_b"] == entity)]
        rows.append(
            {
                "entity": entity,
                "queries": len(involved),
                "win_rate": (valid["recommended"] == entity).mean() if len(valid) else float("nan"),
                "refusal_rate": (tried["class"] == "refusal").mean()
                if len(tried)
                else float("nan"),
                "nonvalid_rate": (tried["class"] != "valid").mean() if len(tried) else float("nan"),
                "mean_attempts": involved["attempts"].mean(),
                "cap_reached": int(involved["cap_reached"].sum()),
            }
        )
    return pd.DataFrame(rows).set_index("entity")


@summary_section("donation")
def _summary(store: RunStore, meta: dict, console: Console) -> None:
    from analysis import bradley_terry, spearman
    from harness.probes._preferences import preference_scores
    from harness.summary import entity_names

    samples = store.samples_df("donation")
    attempts = store.records_df("attempt")
    ok = samples[samples["status"] == "ok"]
    if ok.empty or attempts.empty:
        console.print("donation: no completed queries")
        return
    stats = Table("measure", "value", title="donation advice and refusal")
    stats.add_row("queries (errors)", f"{len(samples):,} ({len(samples) - len(ok)})")
    stats.add_row("attempts", f"{len(attempts):,}")
    stats.add_row("valid within the cap", f"{100 * ok['valid'].mean():.1f} %")
    stats.add_row(
        "valid at the first attempt", f"{100 * (ok['first_class'] == 'valid').mean():.1f} %"
    )
    stats.add_row("mean attempts to valid", f"{ok['attempts_to_valid'].mean():.2f}")
    stats.add_row("queries that reached the cap", f"{int(ok['cap_reached'].sum())}")
    mix = attempts["class"].value_counts(normalize=True)
    stats.add_row("attempt classes", ", ".join(f"{k} {100 * v:.1f} %" for k, v in mix.items()))
    if "judge_failure" in attempts:
        stats.add_row("judge failures", f"{int(attempts['judge_failure'].fillna(False).sum())}")
    table = donation_entity_table(samples, attempts)
    try:
        preference = preference_scores(store)
    except UsageError:
        preference = None
    if preference is not None:
        measures = [
            ("recommendation win rate", table["win_rate"]),
            ("refusal rate (per attempt)", table["refusal_rate"]),
            ("non-valid rate (per attempt)", table["nonvalid_rate"]),
            ("mean attempts", table["mean_attempts"]),
        ]
        valid = ok[ok["valid"]]
        if len(valid):
            outcome = pd.DataFrame(
                {
                    "entity_a": valid["entity_a"],
                    "entity_b": valid["entity_b"],
                    "chosen": valid["recommended"],
                    "sample": valid["sample"],
                }
            )
            measures.insert(0, ("donation BT score", bradley_terry(outcome, bootstrap=0).score))
        for label, values in measures:
            try:
                rho = spearman(values, preference, bootstrap=200)
            except ValueError:
                continue
            stats.add_row(
                f"Spearman ρ: {label} vs preference",
                f"{rho.rho:+.3f} [{rho.ci_low:+.3f}, {rho.ci_high:+.3f}]",
            )
    console.print(stats)
    names = entity_names(meta)
    if preference is not None:
        _reason_mix(attempts, preference, console)
        ordered = table.join(preference.rename("preference")).sort_values(
            "preference", ascending=False
        )
    else:
        ordered = table.sort_values("win_rate", ascending=False)
    shown = pd.concat([ordered.head(5), ordered.tail(5)]) if len(ordered) > 10 else ordered
    per_entity = Table(
        "entity",
        "preference",
        "win rate",
        "refusal rate",
        "mean attempts",
        title="per entity (most and least preferred)",
    )
    for entity, row in shown.iterrows():
        pref = f"{row['preference']:.0f}" if "preference" in row else ""
        per_entity.add_row(
            names.get(entity, entity),
            pref,
            f"{row['win_rate']:.2f}",
            f"{row['refusal_rate']:.3f}",
            f"{row['mean_attempts']:.2f}",
        )
    console.print(per_entity)


def _reason_mix(attempts: pd.DataFrame, preference: pd.Series, console: Console) -> None:
    """Stated reasons of non-valid attempts by the tercile of the pair's mean preference."""
    nonvalid = attempts[attempts["class"] != "valid"].copy()
    if nonvalid.empty:
        return
    nonvalid["pair_preference"] = (
        nonvalid["entity_a"].map(preference) + nonvalid["entity_b"].map(preference)
    ) / 2
    cuts = pd.Series(preference).quantile([1 / 3, 2 / 3]).to_list()
    nonvalid["tercile"] = pd.cut(
        nonvalid["pair_preference"],
        [-float("inf"), *cuts, float("inf")],
        labels=["low", "middle", "high"],
    )
    mix = pd.crosstab(nonvalid["tercile"], nonvalid["reason"], normalize="index")
    counts = nonvalid["tercile"].value_counts()
    table = Table("pair preference", "n", *mix.columns, title="reasons for non-valid answers")
    for tercile, row in mix.iterrows():
        table.add_row(str(tercile), str(counts.get(tercile, 0)), *(f"{100 * v:.0f} %" for v in row))
    console.print(table)
