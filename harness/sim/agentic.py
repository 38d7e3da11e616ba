"""How ``sim`` acts as an agent: real tool calls replaying a task's reference solution or a
plausible wrong attempt, chosen with a planted preference effect. Not a language model.

Per sample (fixed by the seed and the sample, so every step of one sample agrees), the
simulated agent sets out to do the task properly with probability

    P(attempt) = logistic(logit(agent_base_success) + agent_preference_effect * u)

where ``u`` is the entity's planted utility in SD units (0 in the neutral control). It then
issues one ``bash`` call per command of the task's reference solution (or of its wrong
attempt), and finally calls ``submit`` with the last line of standard output it saw. Whether
the sample passes is decided by the task's real grader, not here.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from harness.errors import UsageError
from harness.model import ModelResponse, ToolCall, Usage
from harness.sim._knobs import knob_group
from harness.sim._subject import SimModel, logistic, sim_task


@knob_group
@dataclass(frozen=True)
class AgentKnobs:
    agent_base_success: float = 0.7
    """Chance that the agent attempts a task properly for an average (or no) entity."""
    agent_preference_effect: float = 0.0
    """Added log-odds of a proper attempt per SD of the entity's utility. The study found no
    effect, hence 0; set it (e.g. 1.0) to check that the analysis can find one."""

    def validate(self) -> None:
        if not 0.0 < self.agent_base_success < 1.0:
            raise UsageError(
                "sim model argument agent_base_success must be strictly between 0 and 1"
            )


def attempt_probability(knobs: AgentKnobs, utility: float | None) -> float:
    """Chance of a proper attempt for an entity of ``utility`` (None: the neutral control)."""
    base = knobs.agent_base_success
    centre = math.log(base / (1.0 - base))
    return logistic(centre + knobs.agent_preference_effect * (utility or 0.0))


def last_line(text: str | None) -> str:
    """The last non-blank line of a command's output: what the reference scripts print last."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


@sim_task("agent")
def _agent(sim: SimModel, hint: dict[str, Any], rng: random.Random) -> ModelResponse:
    knobs: AgentKnobs = sim.group(AgentKnobs)
    entity = hint.get("entity")
    utility = sim.utility(entity) if entity else None
    # The decision must not change between the steps of a sample, so it has its own stream
    # keyed by the sample, not the per-call one.
    decision = random.Random(f"{sim.knobs.seed}|agent|{hint['sample']}")
    proper = decision.random() < attempt_probability(knobs, utility)
    commands: list[str] = list(hint["reference"] if proper else hint["wrong"])
    step = int(hint["step"])
    if step < len(commands):
        call = ToolCall(id=f"sim_{step}", name="bash", arguments={"command": commands[step]})
        text = rng.choice(("", "Let me run the next step.", "Continuing."))
    else:
        answer = last_line(hint.get("last_stdout"))
        call = ToolCall(id=f"sim_{step}", name="submit", arguments={"answer": answer})
        text = "I have finished the task."
    chars = sum(len(str(v)) for v in call.arguments.values()) + len(text)
    return ModelResponse(
        text=text,
        tool_calls=[call],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=200 + 50 * step, output_tokens=chars // 4 + 5),
        model=sim.name,
    )
