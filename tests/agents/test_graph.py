"""The agent graph with a scripted model on the local sandbox: how samples end, what the model
is told when it errs, and what the transcript holds."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from agents import AgentLimits, AgentState, build_agent, make_tools, run_agent
from envs import SandboxError, SandboxSpec
from envs.local import LocalSandbox
from harness.model import ModelRequest, ModelResponse, ToolCall, TransientModelError, Usage


async def run(
    model: Any, box: Any, limits: AgentLimits | None = None, prompt: str = "Do the task.", **kw: Any
):
    limits = limits or AgentLimits(steps=10, tokens=10_000, wall_seconds=60, command_timeout=10)
    agent = build_agent(model, make_tools(box, limits), limits, **kw)
    return await run_agent(agent, prompt, limits)


def tool_messages(request: ModelRequest) -> list[Any]:
    return [m for m in request.messages if m.role == "tool"]


async def test_submit_ends_the_loop_and_the_work_is_in_the_sandbox(script, local_box) -> None:
    model = script.Model(
        [
            script.call("bash", command="echo 41 > out.txt && cat out.txt"),
            script.call("submit", answer="42"),
        ]
    )
    result = await run(model, local_box, system="You are an agent.")
    assert result.stop_reason == "submitted"
    assert result.submission == "42"
    assert result.steps == 2 and len(model.requests) == 2
    assert (await local_box.read_file("out.txt")) == b"41\n"
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    # The second request carried the command's output back, with every tool offered.
    second = model.requests[1]
    assert tool_messages(second)[0].content == "41"
    assert second.system == "You are an agent."
    assert [t.name for t in second.tools] == ["bash", "python", "read_file", "write_file", "submit"]
    assert result.error is None


async def test_step_limit_ends_gracefully(script, local_box) -> None:
    model = script.Model(repeat=script.call("bash", command="echo again"))
    limits = AgentLimits(steps=3, tokens=10_000, wall_seconds=60, command_timeout=10)
    agent = build_agent(model, make_tools(local_box, limits), limits)
    assert agent.config["recursion_limit"] == limits.recursion_limit == 10
    result = await run_agent(agent, "Loop forever.", limits)
    assert result.stop_reason == "step_limit"
    assert result.steps == 3 and len(model.requests) == 3
    assert [e["type"] for e in result.transcript].count("tool") == 3
    assert result.transcript[-1]["type"] == "stop"
    assert result.transcript[-1]["reason"] == "step_limit"


async def test_token_limit_stops_before_the_overspending_turn_acts(script, local_box) -> None:
    model = script.Model(repeat=lambda request: script.call("bash", tokens=100, command="echo x"))
    limits = AgentLimits(steps=50, tokens=250, wall_seconds=60, command_timeout=10)
    result = await run(model, local_box, limits)
    assert result.stop_reason == "token_limit"
    # Calls 1 and 2 (200 tokens) act; call 3 crosses 250, so its command never runs.
    assert result.steps == 3 and result.tokens == 300
    assert [e["type"] for e in result.transcript].count("tool") == 2


async def test_time_limit_cuts_a_long_command_short(script, local_box) -> None:
    model = script.Model([script.call("bash", command="sleep 20; echo late")])
    limits = AgentLimits(steps=10, tokens=10_000, wall_seconds=1.5, command_timeout=30)
    started = time.monotonic()
    result = await run(model, local_box, limits)
    assert time.monotonic() - started < 10
    assert result.stop_reason == "time_limit"
    tool = next(e for e in result.transcript if e["type"] == "tool")
    assert tool["timed_out"] is True and "late" not in tool["output"]


async def test_time_limit_cuts_a_slow_model_call_short(script, local_box) -> None:
    class Slow(script.Model):
        async def generate(self, request: ModelRequest) -> ModelResponse:
            await asyncio.sleep(30)
            raise AssertionError("not reached")

    limits = AgentLimits(steps=10, tokens=10_000, wall_seconds=0.5, command_timeout=30)
    started = time.monotonic()
    result = await run(Slow(), local_box, limits)
    assert time.monotonic() - started < 5
    assert result.stop_reason == "time_limit" and result.steps == 0


async def test_command_timeout_goes_back_to_the_model(script, local_box) -> None:
    model = script.Model(
        [script.call("bash", command="sleep 20"), script.call("submit", answer="gave up")]
    )
    limits = AgentLimits(steps=10, tokens=10_000, wall_seconds=60, command_timeout=0.5)
    result = await run(model, local_box, limits)
    assert result.stop_reason == "submitted"
    told = tool_messages(model.requests[1])[0]
    assert told.tool_error and "timed out after 0.5 s" in told.content
    tool = next(e for e in result.transcript if e["type"] == "tool")
    assert tool["timed_out"] is True and tool["exit_code"] == 124


async def test_tool_errors_and_bad_calls_go_back_to_the_model(script, local_box) -> None:
    broken = ModelResponse(
        tool_calls=[
            ToolCall(id="bad", name="bash", arguments={}, parse_error="Expecting value: line 1")
        ],
        stop_reason="tool_calls",
        usage=Usage(input_tokens=5, output_tokens=5),
    )
    model = script.Model(
        [
            script.calls(
                [
                    ("bash", {"command": "echo oops >&2; exit 3"}),
                    ("read_file", {"path": "missing.txt"}),
                    ("browse", {"url": "x"}),
                    ("bash", {}),
                    ("bash", {"command": ["ls"]}),
                    ("bash", {"command": "ls", "timeout": "5"}),
                ]
            ),
            broken,
            script.call("submit", answer="done"),
        ]
    )
    result = await run(model, local_box)
    assert result.stop_reason == "submitted"
    told = [m.content for m in tool_messages(model.requests[1])]
    assert all(m.tool_error for m in tool_messages(model.requests[1]))
    assert told[0] == "[stderr]\noops\n[exit code 3]"
    assert "missing.txt" in told[1] and "No such file" in told[1]
    assert "no tool named 'browse'" in told[2] and "submit" in told[2]
    assert "needs the argument(s) command" in told[3]
    assert "command must be a string" in told[4]
    assert "does not take timeout" in told[5]
    parse = tool_messages(model.requests[2])[-1]
    assert parse.tool_call_id == "bad" and "not a valid JSON object" in parse.content
    assert parse.tool_error


async def test_protected_paths_are_recorded(script, local_box) -> None:
    model = script.Model(
        [
            script.call("bash", command="cat /grader/grade.py"),
            script.call("read_file", path="../solution/solve.sh"),
            script.call("bash", command="ls -la"),
            script.call("submit", answer="x"),
        ]
    )
    result = await run(model, local_box)
    assert [(p["step"], p["tool"], p["labels"]) for p in result.protected] == [
        (1, "bash", ["grader", "grade.py"]),
        (2, "read_file", ["solution"]),
    ]
    tools = [e for e in result.transcript if e["type"] == "tool"]
    assert tools[0]["protected"] == ["grader", "grade.py"] and "protected" not in tools[2]


async def test_a_reply_without_tool_calls_is_nudged_once_then_stops(script, local_box) -> None:
    model = script.Model([script.say("I think I'm done."), script.say("Really done.")])
    result = await run(model, local_box, nudge="Use the tools.")
    assert result.stop_reason == "model_stopped" and result.steps == 2
    assert model.requests[1].messages[-1].role == "user"
    assert model.requests[1].messages[-1].content == "Use the tools."
    assert [e["type"] for e in result.transcript] == ["model", "nudge", "model", "stop"]


async def test_the_nudge_resets_after_a_tool_call(script, local_box) -> None:
    model = script.Model(
        [
            script.say("hmm"),
            script.call("bash", command="true"),
            script.say("hmm again"),
            script.call("submit", answer="ok"),
        ]
    )
    result = await run(model, local_box)
    assert result.stop_reason == "submitted" and result.steps == 4
    assert [e["type"] for e in result.transcript].count("nudge") == 2


async def test_calls_after_submit_are_answered_but_not_run(script, local_box) -> None:
    model = script.Model(
        [
            script.calls(
                [
                    ("bash", {"command": "echo first > a.txt"}),
                    ("submit", {"answer": "A"}),
                    ("bash", {"command": "echo never > b.txt"}),
                ]
            )
        ]
    )
    result = await run(model, local_box)
    assert result.stop_reason == "submitted" and result.submission == "A"
    assert (await local_box.read_file("a.txt")) == b"first\n"
    with pytest.raises(FileNotFoundError):
        await local_box.read_file("b.txt")
    tools = [e for e in result.transcript if e["type"] == "tool"]
    assert tools[2]["skipped"] is True
    # Every call has its answer in the conversation.
    assert [m.tool_call_id for m in result.messages if m.role == "tool"] == [
        c.id for c in result.messages[1].tool_calls
    ]


async def test_sandbox_failure_fails_the_sample_with_the_error(script) -> None:
    box = LocalSandbox(SandboxSpec(image="local"))
    async with box:
        pass  # closed: every exec now raises SandboxClosed
    model = script.Model([script.call("bash", command="ls")])
    result = await run(model, box)
    assert result.stop_reason == "error"
    assert result.error is not None and result.error.startswith("SandboxClosed")
    assert result.transcript[-1]["reason"] == "error"


async def test_other_sandbox_errors_also_fail_the_sample(script) -> None:
    class Broken(LocalSandbox):
        async def exec(self, cmd: list[str], **kw: Any) -> Any:
            raise SandboxError("docker exec failed: container vanished")

    async with Broken(SandboxSpec(image="local")) as box:
        result = await run(script.Model([script.call("python", code="print(1)")]), box)
    assert result.stop_reason == "error" and "container vanished" in (result.error or "")


async def test_a_command_the_runtime_cannot_start_goes_back_to_the_model(script) -> None:
    class Exhausted(LocalSandbox):
        async def exec(self, cmd: list[str], **kw: Any) -> Any:
            # What the docker provider raises when a fork bomb has filled the pids limit.
            raise SandboxError(
                "OCI runtime exec failed: exec failed: unable to start container process: "
                "read init-p: connection reset by peer: unknown"
            )

    model = script.Model([script.call("bash", command="ls"), script.call("submit", answer="x")])
    async with Exhausted(SandboxSpec(image="local")) as box:
        result = await run(model, box)
    assert result.stop_reason == "submitted" and result.error is None
    told = tool_messages(model.requests[1])[0]
    assert told.tool_error and "could not start the command" in told.content


async def test_model_error_ends_the_sample_with_an_error(script, local_box) -> None:
    class Failing(script.Model):
        async def generate(self, request: ModelRequest) -> ModelResponse:
            raise TransientModelError("rate limited after 6 retries")

    result = await run(Failing(), local_box)
    assert result.stop_reason == "error" and "rate limited" in (result.error or "")


async def test_tool_output_is_capped(script, local_box) -> None:
    model = script.Model(
        [
            script.call("python", code="print('a' * 50_000 + 'END')"),
            script.call("submit", answer="x"),
        ]
    )
    limits = AgentLimits(steps=5, tokens=10_000, wall_seconds=60, output_chars=1000)
    result = await run(model, local_box, limits)
    told = tool_messages(model.requests[1])[0].content
    assert len(told) < 1100 and "characters omitted" in told and told.endswith("END")
    tool = next(e for e in result.transcript if e["type"] == "tool")
    assert len(tool["output"]) < 1100 and len(tool["stdout"]) < 1100


async def test_python_and_file_tools_round_trip(script, local_box) -> None:
    model = script.Model(
        [
            script.call("write_file", path="notes/a.txt", content="héllo\n"),
            script.call("read_file", path="notes/a.txt"),
            script.call("python", code="print(open('notes/a.txt').read().upper(), end='')"),
            script.call("submit", answer="HÉLLO"),
        ]
    )
    await run(model, local_box)
    outputs = [m.content for m in model.requests[-1].messages if m.role == "tool"]
    assert outputs == ["wrote 7 bytes to notes/a.txt", "héllo\n", "HÉLLO"]


async def test_metadata_is_built_from_the_state(script, local_box) -> None:
    seen: list[dict[str, Any]] = []

    def hint(state: AgentState) -> dict[str, Any]:
        last = [e for e in state["transcript"] if e["type"] == "tool"]
        meta = {"sim": {"step": state["steps"], "last": last[-1]["stdout"] if last else None}}
        seen.append(meta)
        return meta

    model = script.Model([script.call("bash", command="echo 7"), script.call("submit", answer="7")])
    await run(model, local_box, metadata=hint)
    assert [r.metadata for r in model.requests] == [
        {"sim": {"step": 0, "last": None}},
        {"sim": {"step": 1, "last": "7\n"}},
    ]


async def test_transcript_is_complete_and_json_ready(script, local_box) -> None:
    model = script.Model(
        [
            script.call("bash", tokens=30, command="echo hi"),
            script.say("thinking", tokens=30),
            script.call("submit", tokens=30, answer="hi"),
        ]
    )
    result = await run(model, local_box)
    json.dumps(result.transcript)
    kinds = [e["type"] for e in result.transcript]
    assert kinds == ["model", "tool", "model", "nudge", "model", "tool", "stop"]
    models = [e for e in result.transcript if e["type"] == "model"]
    assert [e["step"] for e in models] == [1, 2, 3]
    assert sum(e["input_tokens"] + e["output_tokens"] for e in models) == result.tokens == 90
    assert all(e["duration"] >= 0 and e["t"] >= 0 for e in result.transcript if "duration" in e)
    bash = result.transcript[1]
    assert bash["name"] == "bash" and bash["arguments"] == {"command": "echo hi"}
    assert bash["output"] == "hi" and bash["exit_code"] == 0 and bash["error"] is False
    assert result.transcript[-1]["reason"] == "submitted"
    assert result.duration > 0


def test_limits_are_validated_and_read_from_a_task() -> None:
    with pytest.raises(ValueError, match="steps"):
        AgentLimits(steps=0)

    class TaskLimits:
        steps, tokens, wall_seconds, command_timeout = 12, 9000, 300.0, 20.0

    limits = AgentLimits.from_task(TaskLimits(), output_chars=500)
    assert (limits.steps, limits.tokens, limits.wall_seconds, limits.command_timeout) == (
        12,
        9000,
        300.0,
        20.0,
    )
    assert limits.output_chars == 500 and limits.recursion_limit == 28


def test_an_agent_needs_a_submit_tool(local_box) -> None:
    limits = AgentLimits()
    tools = [t for t in make_tools(local_box, limits) if t.name != "submit"]
    with pytest.raises(ValueError, match="submit"):
        build_agent(lambda request: None, tools, limits)  # type: ignore[arg-type, return-value]
