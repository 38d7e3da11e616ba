"""Fixtures for the agent tests: a scripted model and a local sandbox.

Docker availability, the base image, run ids and the leak check are in ``tests/conftest.py``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from envs import SandboxSpec
from envs.local import LocalSandbox
from harness.model import ModelRequest, ModelResponse, ToolCall, Usage

Step = ModelResponse | Callable[[ModelRequest], ModelResponse]


class ScriptedModel:
    """A Model that answers with queued responses (or functions of the request), recording
    every request; running out of script is a test bug, so it raises."""

    name = "scripted/test"

    def __init__(self, steps: list[Step] | None = None, *, repeat: Step | None = None):
        self.steps = list(steps or [])
        self.repeat = repeat
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if self.steps:
            step = self.steps.pop(0)
        elif self.repeat is not None:
            step = self.repeat
        else:
            raise AssertionError("the scripted model ran out of responses")
        return step(request) if callable(step) else step

    async def aclose(self) -> None:
        pass


_ids = itertools.count(1)


def call(name: str, tokens: int = 15, **arguments: Any) -> ModelResponse:
    """A response making one tool call."""
    return calls([(name, arguments)], tokens=tokens)


def calls(
    items: list[tuple[str, dict[str, Any]]], tokens: int = 15, text: str = ""
) -> ModelResponse:
    """A response making several tool calls in one turn."""
    return ModelResponse(
        text=text,
        tool_calls=[ToolCall(id=f"call_{next(_ids)}", name=n, arguments=a) for n, a in items],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=tokens - tokens // 3, output_tokens=tokens // 3),
    )


def say(text: str, tokens: int = 15) -> ModelResponse:
    """A response with no tool call."""
    return ModelResponse(
        text=text, usage=Usage(input_tokens=tokens - tokens // 3, output_tokens=tokens // 3)
    )


class Script:
    """What the agent tests script models with (conftest helpers cannot be imported)."""

    Model = ScriptedModel
    call = staticmethod(call)
    calls = staticmethod(calls)
    say = staticmethod(say)


@pytest.fixture
def script() -> type[Script]:
    return Script


@pytest.fixture
async def local_box() -> AsyncIterator[LocalSandbox]:
    """A started local sandbox (no isolation: host subprocesses in a temporary directory)."""
    async with LocalSandbox(SandboxSpec(image="local"), run_id="pytest-agents") as box:
        yield box
