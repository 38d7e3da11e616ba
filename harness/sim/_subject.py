"""The simulated subject ``sim``: a seeded stand-in for a model, NOT a language model.

It answers every probe through ordinary text that goes through the same parsers as a real
model's answers, with behaviour driven by planted latent utilities and documented knobs
(:class:`~harness.sim.SimKnobs`). It exists to make every command runnable offline and to
check that the pipeline and the statistics recover effects that were planted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from harness.model._model import ModelAPI, ProviderOptions, modelapi
from harness.model._types import ModelRequest, ModelResponse, Usage
from harness.sim._knobs import SimKnobs, Utilities, call_rng, parse_knobs
from harness.sim._style import Say, StyleKnobs
from harness.sim._texts import (
    DODGES,
    RANKING_DODGES,
    misspell,
    pairwise_answer,
    ranking_answer,
    verbose_pairwise,
    verbose_ranking,
)

K = TypeVar("K")


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


Handler = Callable[["SimModel", dict[str, Any], Any], "str | Say | ModelResponse"]
"""Returns the answer's text, a :class:`~harness.sim._style.Say` (a decision worded tersely
or verbosely, see ``-M style``) or, for tool-using tasks (the agent), a whole response with
tool calls and usage."""
_HANDLERS: dict[str, Handler] = {}


def sim_task(name: str) -> Callable[[Handler], Handler]:
    """Register how ``sim`` answers requests whose ``metadata["sim"]["task"]`` is ``name``."""

    def register(handler: Handler) -> Handler:
        _HANDLERS[name] = handler
        return handler

    return register


@modelapi("sim")
class SimModel(ModelAPI):
    """Simulated subject. Model arguments: see :class:`SimKnobs`."""

    cacheable = False  # free and deterministic: caching would only cost time
    supports_prefill = True

    def __init__(self, options: ProviderOptions):
        super().__init__(options)
        self._groups = parse_knobs(self.args)
        self.knobs: SimKnobs = self._groups[SimKnobs]
        self.style: StyleKnobs = self._groups[StyleKnobs]
        self.utility = Utilities(self.knobs)

    def group(self, cls: type[K]) -> K:
        """This model's values for a probe's knob group (see :func:`knob_group`)."""
        return self._groups[cls]

    async def generate(self, request: ModelRequest) -> ModelResponse:
        started = time.perf_counter()
        hint = request.metadata.get("sim")
        key = str(request.metadata.get("call_key") or _fallback_key(request))
        rng = call_rng(self.knobs.seed, key)
        reasoning, reasoning_tokens = None, 0
        if not hint or hint.get("task") not in _HANDLERS:
            text = "I'm a simulated subject and can only answer the harness's own probes."
        else:
            answer = _HANDLERS[hint["task"]](self, hint, rng)
            if isinstance(answer, ModelResponse):
                # Tool-using tasks answer with tool calls, which text cannot carry.
                return answer.model_copy(
                    update={"latency": time.perf_counter() - started, "model": self.name}
                )
            if isinstance(answer, Say) and self.style.verbose:
                # Its own stream: the wording never shifts a decision drawn from rng.
                speech = answer.verbose(self.style, call_rng(self.knobs.seed, f"{key}|style"))
                text, reasoning = speech.text, speech.reasoning
                if speech.reasoning_reported and reasoning:
                    reasoning_tokens = len(reasoning) // 4 + 1
            else:
                text = answer.text if isinstance(answer, Say) else answer
        if request.prefill and not text.startswith(request.prefill):
            text = f"{request.prefill} {text}"
        prompt_chars = sum(len(m.content) for m in request.messages) + len(request.system or "")
        thought_chars = len(reasoning) if reasoning else 0
        return ModelResponse(
            text=text,
            reasoning=reasoning,
            stop_reason="stop",
            usage=Usage(
                input_tokens=prompt_chars // 4 + 1,
                # Thinking is generated output, whether or not the provider reports its share.
                output_tokens=(len(text) + thought_chars) // 4 + 1,
                reasoning_tokens=reasoning_tokens,
            ),
            latency=time.perf_counter() - started,
            model=self.name,
        )


def _fallback_key(request: ModelRequest) -> str:
    last = request.messages[-1].content if request.messages else ""
    return f"{request.epoch}|{hash(last)}"


@sim_task("pairwise")
def _pairwise(sim: SimModel, hint: dict[str, Any], rng: Any) -> str:
    knobs = sim.knobs
    (id_a, id_b), (name_a, name_b) = hint["entities"], hint["names"]
    names = (name_a, name_b)
    if rng.random() < knobs.unparseable_rate:
        return Say(rng.choice(DODGES), {"dodge": True, "names": names}, verbose_pairwise)
    gap = (sim.utility(id_a, name_a) - sim.utility(id_b, name_b)) / knobs.choice_noise
    letter, name = (
        ("A", name_a) if rng.random() < logistic(gap + knobs.position_bias) else ("B", name_b)
    )
    if rng.random() < knobs.typo_rate:
        name = misspell(name, rng)
    decision = {"letter": letter, "name": name, "names": names}
    return Say(pairwise_answer(letter, name, rng), decision, verbose_pairwise)


@sim_task("ranking")
def _ranking(sim: SimModel, hint: dict[str, Any], rng: Any) -> str:
    knobs = sim.knobs
    shown = list(hint["names"])
    if rng.random() < knobs.unparseable_rate:
        return Say(rng.choice(RANKING_DODGES), {"dodge": True, "shown": shown}, verbose_ranking)
    noisy = [
        (sim.utility(eid, name) + rng.gauss(0.0, knobs.ranking_noise), name)
        for eid, name in zip(hint["entities"], hint["names"], strict=True)
    ]
    noisy.sort(reverse=True)
    names = []
    for _, name in noisy:
        if rng.random() < knobs.ranking_omit_rate:
            continue
        names.append(misspell(name, rng) if rng.random() < knobs.typo_rate else name)
    decision = {"names": names, "shown": shown}
    return Say(ranking_answer(names, rng), decision, verbose_ranking)
