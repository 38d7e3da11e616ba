"""Preference elicitation by two independent methods: pairwise forced choice and direct ranking.

Every query is a fresh conversation with no other context: the study's point is that
preferences are measured apart from the behaviour they are meant to predict.
"""

from __future__ import annotations

import hashlib
import random
from itertools import combinations
from typing import Any

import pandas as pd

from harness.config import RunConfig
from harness.model import ChatMessage, GenerateConfig, ModelRequest
from harness.parsing import parse_choice, parse_ranking
from harness.probes._active import ActiveDesign, ActivePlanner, design_state, recorded_questions
from harness.probes._base import (
    CallProfile,
    PreviewCall,
    RunContext,
    Trial,
    TrialContext,
    entity_limit,
    make_trial,
    probe,
)
from harness.probes._preferences import pairwise_frame
from harness.prompts import PromptTemplate, get_template


def derived_seed(*parts: object) -> int:
    """A 31-bit seed fixed by ``parts``: sent to providers that accept a seed."""
    return (
        int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big") >> 1
    )


def generate_config(config: RunConfig, trial: Trial, attempt: int = 1) -> GenerateConfig:
    """Sampling settings for a trial's calls. Each further ``attempt`` of a retry-until-valid
    loop gets its own seed, so it is a fresh sample: with one seed a seeded provider would
    repeat its first answer, and the response cache would replay it."""
    parts: tuple[object, ...] = (config.seed, trial.id)
    if attempt > 1:
        parts = (*parts, f"attempt{attempt}")
    return GenerateConfig(
        temperature=config.temperature,
        max_tokens=config.max_tokens,
        seed=derived_seed(*parts),
    )


def user_request(
    template: PromptTemplate, config: RunConfig, trial: Trial, hint: dict[str, Any], **values: Any
) -> ModelRequest:
    system, user = template.render(**values)
    return ModelRequest(
        messages=[ChatMessage(role="user", content=user)],
        system=system,
        config=generate_config(config, trial),
        epoch=trial.key.get("epoch", 0),
        metadata={"sim": hint},
    )


class PairwiseProbe:
    """Pairwise forced choice, ``samples`` times per question, each epoch: every unordered pair
    in both orders (``--pair-strategy full``), or the pairs an adaptive design chooses in
    rounds from the answers so far (``active``, :mod:`harness.probes._active`)."""

    name = "pairwise"

    def __init__(self, config: RunConfig):
        self.config = config
        self.template = get_template(
            config.options.get("pairwise_template", "pairwise-forced-choice")
        )
        self.templates = [f"{self.template.id}@{self.template.version}"]
        self.design = ActiveDesign.from_options(config.options)
        self.adaptive = self.design is not None
        """Planned again after each round until nothing new is planned (see the engine)."""
        self.design_options = {} if self.design is None else self.design.options()
        size = config.entity_set.get("size")
        if self.design is not None and size:
            limit = entity_limit(config)
            self.design.round_sizes(min(size, limit or size), config.samples * config.epochs)

    def plan(self, run: RunContext) -> list[Trial]:
        ids = [e.id for e in run.entity_subset()]
        if self.design is None:
            return self._trials(
                [
                    q
                    for first, second in combinations(ids, 2)
                    for q in ((first, second), (second, first))
                ],
                ids,
            )
        planner = ActivePlanner(self.design, self.config, ids)
        if run.preview:
            # Later rounds depend on answers: a preview plans the budget's worth of questions.
            return self._trials(planner.stand_in(), ids)
        state = design_state(run.store) or planner.start(run.store)
        trials = self._trials(recorded_questions(state), ids)
        if state["stopped"] is None:
            samples = run.store.samples_df(self.name)
            stored = set(samples["trial_id"]) if not samples.empty else set()
            if all(t.id in stored for t in trials):
                # Every trial of the recorded rounds has been tried: decide what follows.
                state = planner.advance(run.store, pairwise_frame(samples))
                trials = self._trials(recorded_questions(state), ids)
        return trials

    def _trials(self, questions: list[tuple[str, str]], ids: list[str]) -> list[Trial]:
        """Trials for ordered pairs; ``order`` is ``forward`` when option A comes first in the
        entity set, so a question has one id whichever design asks it."""
        position = {eid: i for i, eid in enumerate(ids)}
        return [
            make_trial(
                self.name,
                entity_a=a,
                entity_b=b,
                order="forward" if position[a] < position[b] else "reverse",
                sample=sample,
                epoch=epoch,
                template_id=self.template.id,
                template_version=self.template.version,
            )
            for a, b in questions
            for epoch in range(self.config.epochs)
            for sample in range(self.config.samples)
        ]

    profile = CallProfile(
        output_tokens=40,
        assumption="one call per trial; a letter, often with a sentence of reasons",
    )

    def request(self, trial: Trial, run: RunContext) -> ModelRequest:
        a, b = run.entities.get(trial["entity_a"]), run.entities.get(trial["entity_b"])
        return user_request(
            self.template,
            self.config,
            trial,
            {"task": "pairwise", "entities": [a.id, b.id], "names": [a.name, b.name]},
            name_a=a.name,
            name_b=b.name,
            description_a=a.description,
            description_b=b.description,
        )

    def preview(self, trial: Trial, run: RunContext) -> list[PreviewCall]:
        return [PreviewCall("subject", self.config.model, self.request(trial, run), self.profile)]

    def first_requests(self, trial: Trial, run: RunContext) -> list[ModelRequest]:
        return [self.request(trial, run)]

    async def run(self, trial: Trial, ctx: TrialContext) -> dict[str, Any]:
        a, b = ctx.run.entities.get(trial["entity_a"]), ctx.run.entities.get(trial["entity_b"])
        response = await ctx.generate(self.request(trial, ctx.run))
        parsed = parse_choice(
            response.text,
            a.name,
            b.name,
            aliases_a=a.aliases,
            aliases_b=b.aliases,
            stop_reason=response.stop_reason,
        )
        chosen = {"A": a.id, "B": b.id}.get(parsed.choice or "")
        return {
            "choice": parsed.choice,
            "chosen": chosen,
            "parse": parsed.method,  # the column's name before parse_method existed
            "parse_method": parsed.method,
            "stop_reason": response.stop_reason,
            "text": response.text,
        }


class RankingProbe:
    """The whole entity list, shuffled per sample, ranked in one answer, ``ranking_samples`` times."""

    name = "ranking"

    def __init__(self, config: RunConfig):
        self.config = config
        self.template = get_template(config.options.get("ranking_template", "direct-ranking"))
        self.templates = [f"{self.template.id}@{self.template.version}"]

    def plan(self, run: RunContext) -> list[Trial]:
        ids = [e.id for e in run.entity_subset()]
        trials = []
        for epoch in range(self.config.epochs):
            for sample in range(self.config.ranking_samples):
                shown = ids[:]
                random.Random(f"ranking|{self.config.seed}|{epoch}|{sample}").shuffle(shown)
                trials.append(
                    make_trial(
                        self.name,
                        sample=sample,
                        epoch=epoch,
                        shown=shown,
                        template_id=self.template.id,
                        template_version=self.template.version,
                    )
                )
        return trials

    def request(self, trial: Trial, run: RunContext) -> ModelRequest:
        shown = [run.entities.get(eid) for eid in trial["shown"]]
        listing = "\n".join(f"- {e.name}: {e.description}" for e in shown)
        return user_request(
            self.template,
            self.config,
            trial,
            {
                "task": "ranking",
                "entities": [e.id for e in shown],
                "names": [e.name for e in shown],
            },
            n=len(shown),
            entity_list=listing,
        )

    def preview(self, trial: Trial, run: RunContext) -> list[PreviewCall]:
        profile = CallProfile(
            output_tokens=12 * len(trial["shown"]),
            assumption="one call per trial; a numbered list, about 12 tokens a line",
        )
        return [PreviewCall("subject", self.config.model, self.request(trial, run), profile)]

    def first_requests(self, trial: Trial, run: RunContext) -> list[ModelRequest]:
        return [self.request(trial, run)]

    async def run(self, trial: Trial, ctx: TrialContext) -> dict[str, Any]:
        response = await ctx.generate(self.request(trial, ctx.run))
        parsed = parse_ranking(response.text, trial["shown"], ctx.run.matcher)
        return {
            "ranking": parsed.order,
            "n_ranked": len(parsed.order),
            "missing": parsed.missing,
            "duplicates": parsed.duplicates,
            "unknown": parsed.unknown,
            "parse": "ok" if parsed.ok else "unparseable",
            "parse_method": parsed.method,
            "stop_reason": response.stop_reason,
            "text": response.text,
        }


probe("pairwise")(PairwiseProbe)
probe("ranking")(RankingProbe)


def ranking_long(samples: pd.DataFrame) -> pd.DataFrame:
    """Ranking samples as one row per (sample, entity) with ``rank`` (NaN when left out)."""
    rows = []
    for row in samples.itertuples(index=False):
        if row.status != "ok":
            continue
        position = {eid: i + 1 for i, eid in enumerate(row.ranking)}
        for eid in row.shown:
            rows.append(
                {"sample": row.sample + 1000 * row.epoch, "entity": eid, "rank": position.get(eid)}
            )
    return pd.DataFrame(rows, columns=["sample", "entity", "rank"])
