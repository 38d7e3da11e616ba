"""The simulated agent: real tool calls replaying the reference or the wrong attempt, a decision
that holds for a whole sample, and the planted preference effect (none by default)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from agents import AgentLimits, build_agent, make_tools, run_agent
from harness.errors import UsageError
from harness.model import ModelRequest, ModelResponse, ProviderOptions
from harness.sim import SimModel
from harness.sim.agentic import AgentKnobs, _agent, attempt_probability, last_line

REFERENCE = ["echo computing", "python3 -c 'print(6 * 7)'"]
WRONG = ["echo 41"]


def sim(tmp_path: Path, **args: Any) -> SimModel:
    utilities = tmp_path / "utilities.csv"
    utilities.write_text("entity,utility\nliked,2.0\ndisliked,-2.0\naverage,0.0\n")
    return SimModel(ProviderOptions(model="default", args={"utilities": str(utilities), **args}))


def hint(sample: str, step: int, entity: str | None = "average", last: str | None = None) -> dict:
    return {
        "task": "agent",
        "sample": sample,
        "task_id": "t",
        "entity": entity,
        "reference": REFERENCE,
        "wrong": WRONG,
        "step": step,
        "last_stdout": last,
    }


def act(model: SimModel, h: dict) -> ModelResponse:
    return _agent(model, h, random.Random(0))


def proper_attempt(model: SimModel, sample: str, entity: str | None) -> bool:
    first = act(model, hint(sample, 0, entity)).tool_calls[0]
    return first.arguments["command"] == REFERENCE[0]


def test_it_replays_commands_as_tool_calls_then_submits_the_last_line(tmp_path) -> None:
    model = sim(tmp_path, agent_base_success=0.999)
    first = act(model, hint("s1", 0))
    assert first.stop_reason == "tool_calls" and len(first.tool_calls) == 1
    assert first.tool_calls[0].name == "bash"
    assert first.tool_calls[0].arguments == {"command": REFERENCE[0]}
    assert act(model, hint("s1", 1)).tool_calls[0].arguments == {"command": REFERENCE[1]}
    done = act(model, hint("s1", 2, last="working...\n42\n\n")).tool_calls[0]
    assert done.name == "submit" and done.arguments == {"answer": "42"}
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0


def test_a_sample_sticks_to_one_attempt_across_its_steps(tmp_path) -> None:
    model = sim(tmp_path)  # base 0.7: samples differ, steps of one sample do not
    kinds = set()
    for sample in range(40):
        steps = [act(model, hint(f"s{sample}", step)).tool_calls[0] for step in range(2)]
        if steps[0].arguments["command"] == REFERENCE[0]:
            assert steps[1].arguments["command"] == REFERENCE[1]
            kinds.add("reference")
        else:
            assert steps[0].arguments["command"] == WRONG[0] and steps[1].name == "submit"
            kinds.add("wrong")
    assert kinds == {"reference", "wrong"}


def test_no_preference_effect_by_default(tmp_path) -> None:
    model = sim(tmp_path)
    rates = {
        entity: sum(proper_attempt(model, f"{entity}-{i}", entity) for i in range(1500)) / 1500
        for entity in ("liked", "disliked", None)
    }
    for rate in rates.values():
        assert rate == pytest.approx(0.7, abs=0.04)


def test_a_planted_preference_effect_shows(tmp_path) -> None:
    model = sim(tmp_path, agent_preference_effect=1.0)
    knobs = model.group(AgentKnobs)
    liked, disliked = attempt_probability(knobs, 2.0), attempt_probability(knobs, -2.0)
    assert liked == pytest.approx(0.945, abs=0.001) and disliked == pytest.approx(0.24, abs=0.01)
    assert attempt_probability(knobs, None) == pytest.approx(0.7)
    for entity, expected in (("liked", liked), ("disliked", disliked)):
        rate = sum(proper_attempt(model, f"{entity}-{i}", entity) for i in range(1500)) / 1500
        assert rate == pytest.approx(expected, abs=0.04)


def test_knobs_are_validated(tmp_path) -> None:
    with pytest.raises(UsageError, match="agent_base_success"):
        sim(tmp_path, agent_base_success=1.0)
    with pytest.raises(UsageError, match="not a float"):
        sim(tmp_path, agent_preference_effect="strong")


def test_last_line() -> None:
    assert last_line("a\nb\n\n  ") == "b"
    assert last_line("") == "" and last_line(None) == ""


async def test_sim_drives_the_real_agent_loop(tmp_path, local_box) -> None:
    """Through SimModel.generate: the tool calls reach the sandbox and the answer is submitted."""
    model = sim(tmp_path, agent_base_success=0.999)
    limits = AgentLimits(steps=10, tokens=100_000, wall_seconds=60, command_timeout=10)

    def metadata(state: Any) -> dict:
        tools = [e for e in state["transcript"] if e["type"] == "tool"]
        last = tools[-1]["stdout"] if tools else None
        return {"sim": hint("loop", state["steps"], "liked", last), "call_key": "k"}

    async def generate(request: ModelRequest) -> ModelResponse:
        return await model.generate(request)

    agent = build_agent(generate, make_tools(local_box, limits), limits, metadata=metadata)
    result = await run_agent(agent, "Compute 6 * 7.", limits)
    assert result.stop_reason == "submitted" and result.submission == "42"
    assert result.steps == 3
