"""The agent loop as a LangGraph graph: a model node and a tool node, looping until submit or a limit.

Shape::

    START -> start -> model --(tool calls)--> tools --(not ended)--> model
                        |  \\--(no tool call, first time: nudge)--> model
                        \\--(ended: limit, model stopped, error)--> END
                                                     tools --(submitted, limit, error)--> END

The model node calls the project's model layer through a ``generate`` callable (the probe
passes ``TrialContext.generate``, so every call is recorded); no LangChain chat model is
involved. Limits are checked in the nodes, so a sample always ends with a reason instead
of an exception; the recursion limit is set from the step limit as a backstop.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.errors import GraphRecursionError
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agents._tools import PROTECTED_PATTERNS, cap_text, check_arguments, protected_hits
from agents._types import (
    AgentLimits,
    AgentResult,
    AgentState,
    AgentStop,
    Generate,
    RequestMetadata,
    Tool,
    ToolError,
    ToolOutput,
)
from envs import SandboxError
from harness.model import ChatMessage, GenerateConfig, Model, ModelError, ModelRequest, ToolCall

DEFAULT_NUDGE = (
    "You did not call a tool. Keep working on the task using the tools, and call submit "
    "with your answer when you are done."
)

# Seconds past the wall-time limit before run_agent stops waiting for the graph at all;
# nodes normally end the sample themselves well before that.
_BACKSTOP_GRACE_S = 30.0


def _clock(state: AgentState) -> float:
    """Seconds since the sample started."""
    return time.monotonic() - state["started"]


def _stop(state: AgentState, reason: AgentStop, error: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "stop", "reason": reason, "t": round(_clock(state), 3)}
    if error:
        entry["error"] = error
    return {"stop_reason": reason, "error": error, "transcript": [entry]}


def _call_json(call: ToolCall) -> dict[str, Any]:
    return call.model_dump(exclude_defaults=True)


def build_agent(
    model: Model | Generate,
    tools: Sequence[Tool],
    limits: AgentLimits,
    *,
    system: str | None = None,
    config: GenerateConfig | None = None,
    epoch: int = 0,
    metadata: RequestMetadata | None = None,
    nudge: str = DEFAULT_NUDGE,
    protected: Mapping[str, re.Pattern[str]] = PROTECTED_PATTERNS,
) -> CompiledStateGraph:
    """Compile the agent loop for one sample.

    Args:
        model: a :class:`~harness.model.Model` or a ``generate`` coroutine function.
        tools: this sample's tools (see :func:`agents.make_tools`); one must be ``submit``.
        limits: the sample's budgets; the graph's recursion limit is derived from them.
        system: the system prompt of every request.
        config: sampling parameters of every request.
        epoch: passed on in every request (part of the cache key).
        metadata: builds each request's metadata from the state (hints for ``sim``).
        nudge: the user message sent once after a reply without tool calls.
        protected: labelled patterns; tool arguments matching one are recorded.

    Invoke it with :func:`run_agent`, or directly with ``{"messages": [task message]}``.
    """
    generate: Generate = model.generate if isinstance(model, Model) else model
    by_name = {tool.name: tool for tool in tools}
    if len(by_name) != len(tools):
        raise ValueError("tool names must be unique")
    if "submit" not in by_name:
        raise ValueError("the agent needs a submit tool to be able to finish")
    specs = [tool.spec for tool in tools]
    settings = config or GenerateConfig()

    async def start(state: AgentState) -> dict[str, Any]:
        return {
            "started": time.monotonic(),
            "steps": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "submission": None,
            "stop_reason": None,
            "error": None,
            "nudged": False,
        }

    async def call_model(state: AgentState) -> dict[str, Any]:
        used = state["input_tokens"] + state["output_tokens"]
        if state["steps"] >= limits.steps:
            return _stop(state, "step_limit")
        if used >= limits.tokens:
            return _stop(state, "token_limit")
        remaining = limits.wall_seconds - _clock(state)
        if remaining <= 0:
            return _stop(state, "time_limit")
        request = ModelRequest(
            messages=list(state["messages"]),
            system=system,
            tools=specs,
            config=settings,
            epoch=epoch,
            metadata=metadata(state) if metadata else {},
        )
        began = _clock(state)
        try:
            async with asyncio.timeout(remaining):
                response = await generate(request)
        except TimeoutError:
            return _stop(state, "time_limit")
        except ModelError as error:
            return _stop(state, "error", f"{type(error).__name__}: {error}")
        steps = state["steps"] + 1
        input_tokens = state["input_tokens"] + response.usage.input_tokens
        output_tokens = state["output_tokens"] + response.usage.output_tokens
        # The reasoning blocks go back with the turn: Anthropic rejects a tool-use turn with
        # thinking on whose thinking blocks are missing or altered on the next request.
        reply = ChatMessage(
            role="assistant",
            content=response.text,
            tool_calls=response.tool_calls,
            reasoning_blocks=response.reasoning_blocks,
        )
        entry = {
            "type": "model",
            "step": steps,
            "t": round(began, 3),
            "duration": round(_clock(state) - began, 3),
            "text": response.text,
            "tool_calls": [_call_json(call) for call in response.tool_calls],
            "stop_reason": response.stop_reason,
            "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens,
            "cached": response.cached,
            "model": response.model,
        }
        if response.reasoning is not None:
            entry["reasoning"] = response.reasoning
        if response.usage.reasoning_tokens:
            entry["reasoning_tokens"] = response.usage.reasoning_tokens
        update: dict[str, Any] = {
            "messages": [reply],
            "transcript": [entry],
            "steps": steps,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
        if input_tokens + output_tokens > limits.tokens:
            # The turn that overspent the budget does not get to act.
            stop = _stop(state, "token_limit")
            return {**update, **stop, "transcript": [entry, *stop["transcript"]]}
        if response.tool_calls:
            return {**update, "nudged": False}
        if state["nudged"]:
            stop = _stop(state, "model_stopped")
            return {**update, **stop, "transcript": [entry, *stop["transcript"]]}
        nudge_entry = {"type": "nudge", "step": steps, "t": round(_clock(state), 3), "text": nudge}
        return {
            **update,
            "messages": [reply, ChatMessage(role="user", content=nudge)],
            "transcript": [entry, nudge_entry],
            "nudged": True,
        }

    async def run_tools(state: AgentState) -> dict[str, Any]:
        calls = state["messages"][-1].tool_calls
        messages: list[ChatMessage] = []
        entries: list[dict[str, Any]] = []
        touched: list[dict[str, Any]] = []
        submission: str | None = None
        stop: AgentStop | None = None
        error: str | None = None
        for call in calls:
            began = _clock(state)
            entry: dict[str, Any] = {
                "type": "tool",
                "step": state["steps"],
                "t": round(began, 3),
                "call_id": call.id,
                "name": call.name,
                "arguments": call.arguments,
            }
            if call.parse_error:
                entry["parse_error"] = call.parse_error
            hits = protected_hits(call.arguments, protected)
            if hits:
                entry["protected"] = hits
                touched.append(
                    {"step": state["steps"], "call_id": call.id, "tool": call.name, "labels": hits}
                )
            remaining = limits.wall_seconds - began
            if stop is None and submission is None and remaining <= 0:
                stop = "time_limit"
            if stop is not None or submission is not None:
                # Every call needs an answer in the conversation, even ones never run.
                output = ToolOutput("not run: the task had already ended", error=True)
                entry["skipped"] = True
            else:
                try:
                    output = await run_tool_call(
                        call, by_name, timeout=min(limits.command_timeout, remaining)
                    )
                except SandboxError as failure:
                    # The sandbox itself broke: nothing the model did can be trusted or graded.
                    error = f"{type(failure).__name__}: {failure}"
                    stop = "error"
                    output = ToolOutput(f"sandbox failure: {failure}", error=True)
                if output.submission is not None:
                    submission = output.submission
                elif stop is None and _clock(state) >= limits.wall_seconds:
                    stop = "time_limit"
            entry.update(
                output=cap_text(output.content, limits.output_chars),
                error=output.error,
                duration=round(_clock(state) - began, 3),
                **output.details,
            )
            if output.submission is not None:
                entry["submission"] = output.submission
            entries.append(entry)
            messages.append(
                ChatMessage(
                    role="tool",
                    tool_call_id=call.id,
                    content=entry["output"],
                    tool_error=output.error,
                )
            )
        update: dict[str, Any] = {"messages": messages, "transcript": entries, "protected": touched}
        if submission is not None:
            final = _stop(state, "submitted")
            return {
                **update,
                **final,
                "submission": submission,
                "transcript": entries + final["transcript"],
            }
        if stop is not None:
            final = _stop(state, stop, error)
            return {**update, **final, "transcript": entries + final["transcript"]}
        return update

    def after_model(state: AgentState) -> str:
        if state["stop_reason"] is not None:
            return END
        return "tools" if state["messages"][-1].tool_calls else "model"

    def after_tools(state: AgentState) -> str:
        return END if state["stop_reason"] is not None else "model"

    graph = StateGraph(AgentState)
    graph.add_node("start", start)
    graph.add_node("model", call_model)
    graph.add_node("tools", run_tools)
    graph.add_edge(START, "start")
    graph.add_edge("start", "model")
    graph.add_conditional_edges("model", after_model, ["tools", "model", END])
    graph.add_conditional_edges("tools", after_tools, ["model", END])
    return graph.compile(name="agent").with_config(recursion_limit=limits.recursion_limit)


async def run_tool_call(call: ToolCall, tools: Mapping[str, Tool], *, timeout: float) -> ToolOutput:
    """Run one tool call; mistakes the model made come back as error outputs, not exceptions."""
    if call.parse_error:
        return ToolOutput(
            f"the arguments of {call.name} were not a valid JSON object ({call.parse_error}); "
            "call it again with valid JSON arguments",
            error=True,
        )
    tool = tools.get(call.name)
    if tool is None:
        return ToolOutput(
            f"there is no tool named {call.name!r}; the tools are {', '.join(tools)}", error=True
        )
    try:
        arguments = check_arguments(tool.spec, call.arguments)
        return await tool.run(arguments, timeout=timeout)
    except ToolError as mistake:
        return ToolOutput(str(mistake), error=True)


async def run_agent(
    agent: CompiledStateGraph, prompt: str | Sequence[ChatMessage], limits: AgentLimits
) -> AgentResult:
    """Run a compiled agent on a task prompt until it ends; never raises for a limit.

    The state is followed as it streams, so even the backstop (the graph still running
    well past the wall-time limit) returns the transcript so far.
    """
    messages = (
        [ChatMessage(role="user", content=prompt)] if isinstance(prompt, str) else list(prompt)
    )
    began = time.monotonic()
    state: dict[str, Any] = {"messages": messages, "transcript": [], "protected": []}
    forced: tuple[AgentStop, str | None] | None = None
    try:
        async with asyncio.timeout(limits.wall_seconds + _BACKSTOP_GRACE_S):
            async for values in agent.astream(
                {"messages": messages, "transcript": [], "protected": []},
                {"recursion_limit": limits.recursion_limit},
                stream_mode="values",
            ):
                state = values
    except TimeoutError:
        forced = ("time_limit", None)
    except GraphRecursionError:
        # Cannot happen while the nodes count steps correctly; kept as a safety net.
        forced = ("step_limit", None)
    transcript = list(state.get("transcript", []))
    reason: AgentStop | None = state.get("stop_reason")
    error = state.get("error")
    if forced is not None and reason is None:
        reason, error = forced
        transcript.append(
            {"type": "stop", "reason": reason, "t": round(time.monotonic() - began, 3)}
        )
    assert reason is not None, "the agent graph ended without a stop reason"
    return AgentResult(
        stop_reason=reason,
        submission=state.get("submission"),
        steps=state.get("steps", 0),
        input_tokens=state.get("input_tokens", 0),
        output_tokens=state.get("output_tokens", 0),
        duration=time.monotonic() - began,
        error=error,
        messages=list(state.get("messages", [])),
        transcript=transcript,
        protected=list(state.get("protected", [])),
    )
