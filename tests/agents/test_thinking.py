"""The agent loop with Anthropic extended thinking, through the real SDK on a mock transport:
each tool-use turn's thinking blocks go back on the next request exactly as they came."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from agents import AgentLimits, build_agent, make_tools, run_agent
from harness.model import ProviderOptions
from harness.model.providers.anthropic import AnthropicModel

SIGNATURES = ("ErUBCkYIBxgCIkB0vfA9XqkZ1", "EpwCCkYIBxgCIkCxF2Yp0Qw3")


def turn(step: int, tool: str, **arguments: Any) -> dict[str, Any]:
    """A Messages API response: thinking (with its signature), then one tool call."""
    return {
        "id": f"msg_0{step}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6-20260115",
        "content": [
            {
                "type": "thinking",
                "thinking": f"Step {step}: I will call {tool}.",
                "signature": SIGNATURES[step],
            },
            {"type": "tool_use", "id": f"toolu_0{step}", "name": tool, "input": arguments},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 300,
            "output_tokens": 90,
            "output_tokens_details": {"thinking_tokens": 60},
        },
    }


@pytest.fixture
def anthropic_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")


async def test_thinking_blocks_of_a_tool_turn_are_sent_back_verbatim(
    anthropic_key: None, local_box: Any
) -> None:
    replies = [turn(0, "bash", command="echo 41"), turn(1, "submit", answer="41")]
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, json=replies[len(bodies) - 1])

    model = AnthropicModel(
        ProviderOptions(model="claude-sonnet-4-6", args={"thinking_budget": "1024"}),
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler)),
    )
    limits = AgentLimits(steps=5, tokens=10_000, wall_seconds=60, command_timeout=10)
    agent = build_agent(model, make_tools(local_box, limits), limits)

    result = await run_agent(agent, "Print 41 and submit it.", limits)

    assert result.stop_reason == "submitted" and result.submission == "41"
    assert len(bodies) == 2
    assert bodies[0]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    user, assistant, results = bodies[1]["messages"]
    assert user == {"role": "user", "content": "Print 41 and submit it."}
    # The whole first turn, thinking first, signature intact: what the API requires.
    assert assistant == {"role": "assistant", "content": replies[0]["content"]}
    assert assistant["content"][0]["signature"] == SIGNATURES[0]
    assert results["content"][0]["type"] == "tool_result"
    assert results["content"][0]["content"] == "41"
    # The transcript keeps the thinking apart from the text the model wrote.
    steps = [entry for entry in result.transcript if entry["type"] == "model"]
    assert [entry["reasoning"] for entry in steps] == [
        "Step 0: I will call bash.",
        "Step 1: I will call submit.",
    ]
    assert all(entry["text"] == "" and entry["reasoning_tokens"] == 60 for entry in steps)
    assert result.output_tokens == 180  # thinking included, as the API bills it
