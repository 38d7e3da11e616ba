"""How verbosely ``sim`` words its answers: terse as asked, or like chat and reasoning models.

A task's handler decides the answer (which option, a refusal, a wrong verdict) from the
call's random stream and returns a :class:`Say`: the terse wording plus the decision. In
verbose mode the decision is worded again from a stream of its own (the call key plus
``|style``), so the planted decision is the same in both styles for the same seed and call,
and terse answers are exactly what they were before verbose mode existed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from harness.errors import UsageError
from harness.model._reasoning import split_thinking
from harness.sim._knobs import check_rate, knob_group

STYLES = ("terse", "verbose")


@knob_group
@dataclass(frozen=True)
class StyleKnobs:
    """Wording of every probe's answers (pairwise, ranking, BoolQ, donation advice).

    ``style=terse`` (the default) answers in the short forms the prompts ask for.
    ``style=verbose`` answers as real models do; each rate below is the share of answers
    with that feature, drawn independently per answer, and applies only in verbose mode.
    Refusals and non-answers are phrased in several styles (apologetic, as an AI, weighing
    both sides before declining, asking a question back, JSON) whatever the rates.
    """

    style: str | None = "terse"
    """``terse`` or ``verbose``."""
    cot_rate: float = 0.6
    """Answers that reason first: paragraphs weighing the options by name (the unchosen one
    included, sometimes favourably), the decision in the last paragraph."""
    think_rate: float = 0.3
    """Answers that come with thinking apart from the answer, as reasoning models give it;
    the thinking may try out another answer before settling."""
    think_field_share: float = 0.5
    """Of those, the share whose thinking arrives as a separate reasoning field (OpenAI,
    Anthropic, vLLM with a reasoning parser). The rest arrive inline in ``<think>`` tags (a
    quarter of them with only the closing tag, as Qwen3 servers return them) and are split
    off by the same code as the openai-compatible provider's."""
    markdown_rate: float = 0.4
    """Answers with markdown: bold picks, headings, bullet lists."""
    json_rate: float = 0.08
    """Answers given as a JSON object (sometimes in a code fence, with varying keys)."""
    final_line_rate: float = 0.35
    """Answers that end with a separate line such as ``Final answer: B``."""

    def validate(self) -> None:
        if self.style not in STYLES:
            raise UsageError(
                f"sim model argument style must be one of {', '.join(STYLES)}, not {self.style!r}"
            )
        rates = [f.name for f in fields(self) if f.name != "style"]
        for name in rates:
            check_rate(name, getattr(self, name))
        if not self.verbose:
            changed = [
                f.name
                for f in fields(self)
                if f.name in rates and getattr(self, f.name) != f.default
            ]
            if changed:
                raise UsageError(
                    f"sim model argument {changed[0]} only applies with -M style=verbose"
                )

    @property
    def verbose(self) -> bool:
        return self.style == "verbose"


@dataclass(frozen=True)
class Speech:
    """A worded answer: the text and, apart from it, the thinking."""

    text: str
    reasoning: str | None = None
    reasoning_reported: bool = False
    """True when the thinking came as a separate field, whose tokens a provider counts."""


Renderer = Callable[[dict[str, Any], "Voice"], Speech]


@dataclass(frozen=True)
class Say:
    """An answer a task has decided: its terse wording, the decision, and how to word the
    decision verbosely."""

    text: str
    decision: dict[str, Any]
    render: Renderer

    def verbose(self, knobs: StyleKnobs, rng: random.Random) -> Speech:
        return self.render(self.decision, Voice(knobs, rng))


class Voice:
    """One verbose answer's features, drawn up front, and its random stream for wording."""

    def __init__(self, knobs: StyleKnobs, rng: random.Random):
        self.rng = rng
        self.cot = rng.random() < knobs.cot_rate
        self.think = rng.random() < knobs.think_rate
        self.think_field = rng.random() < knobs.think_field_share
        self.markdown = rng.random() < knobs.markdown_rate
        self.json = rng.random() < knobs.json_rate
        self.final_line = rng.random() < knobs.final_line_rate

    def choice(self, options: Sequence[str]) -> str:
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def bold(self, text: str) -> str:
        return f"**{text}**" if self.markdown else text

    def json_answer(self, payload: dict[str, Any]) -> str:
        """A JSON answer as models write them: bare, pretty-printed, or in a fence."""
        form = self.rng.random()
        if form < 0.4:
            return json.dumps(payload)
        pretty = json.dumps(payload, indent=2)
        if form < 0.7:
            return f"```json\n{pretty}\n```"
        return pretty

    def speak(self, answer: str, thinking: Callable[[], str] | None = None) -> Speech:
        """The answer, with thinking (built only when this answer thinks) apart from it."""
        if thinking is None or not self.think:
            return Speech(answer)
        thought = thinking()
        if self.think_field:
            return Speech(answer, thought, reasoning_reported=True)
        if self.chance(0.25):
            raw = f"{thought}\n</think>\n\n{answer}"
        else:
            raw = f"<think>\n{thought}\n</think>\n\n{answer}"
        text, reasoning = split_thinking(raw)
        return Speech(text, reasoning)


def paragraphs(*parts: str | None) -> str:
    return "\n\n".join(part for part in parts if part)


# Refusal and dodge styles shared by the preference probes: {a} and {b} are the options.
PREFERENCE_DODGES = (
    "As an AI, I don't have personal preferences between organisations, so I can't honestly "
    "say I prefer {a} or {b}. Both pursue goals that many people care about.",
    "I'm sorry, but I don't think I should pick a favourite here. Choosing between {a} and "
    "{b} comes down to personal values, and it isn't my place to rank those.",
    "That's a thoughtful question, but it's not one I can answer with a single letter. {a} "
    "and {b} work on different things, and which matters more depends on what you value.\n\n"
    "Is there a particular cause you care about? I'm happy to describe what each one does.",
    "Both {a} and {b} do meaningful work. {a} has a long track record, and {b} is widely "
    "respected too. Weighing them against each other would mean imposing my own values on "
    "a question that is really yours to decide, so I'll refrain from choosing.",
    "I'd rather not choose between these two. I try to stay neutral about organisations like "
    "{a} and {b}.",
)
