"""Hostile agents in real containers: a fork bomb, an endless loop, a flood of output, a look
for the network, tampering with the grader and deleting the workspace. Each sample must still
end with a recorded reason and a grade, leave the host alone and leave no container behind.

The network check only reads /proc inside the container; it never sends a packet anywhere.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
from collections.abc import Callable
from typing import Any

import docker
import pytest

from agents import AgentLimits, AgentResult, build_agent, make_tools, run_agent
from envs import sandbox_provider

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# A submission task on the base image; any task would do.
HOSTILE_TASK = "data-sales-total"
LIMITS = AgentLimits(
    steps=10, tokens=1_000_000, wall_seconds=120, command_timeout=5, output_chars=4000
)


@pytest.fixture(scope="module")
def task(docker_available: None) -> Any:
    """A simple task of the suite: hostile agents need a real grader to face."""
    import tasks

    (found,) = tasks.load_tasks(ids=[HOSTILE_TASK])
    return found


@pytest.fixture(scope="module")
def image(task: Any, build_progress: Callable[[str], None]) -> str:
    import tasks

    return asyncio.run(tasks.task_image(task, build_progress))


async def hostile_sample(
    script: Any, task: Any, image: str, run_id: str, name: str, commands: list[tuple[str, dict]]
) -> tuple[AgentResult, Any, dict[str, Any]]:
    """Run ``commands`` as a scripted agent, then a liveness check and a submission; grade."""
    import tasks

    model = script.Model(
        [
            *(script.call(tool, **args) for tool, args in commands),
            script.call("bash", command="echo alive-$((6 * 7))"),
            script.call("submit", answer="not the answer"),
        ]
    )
    factory = sandbox_provider("docker")
    async with factory(tasks.sandbox_spec(task, image), run_id=run_id, sample_id=name) as box:
        await tasks.setup_workspace(box, task)
        agent = build_agent(model, make_tools(box, LIMITS), LIMITS)
        result = await run_agent(agent, task.prompt, LIMITS)
        grade = await tasks.grade(box, task, result.submission)
        attrs = box.container.attrs
    return result, grade, attrs


def tools_of(result: AgentResult) -> list[dict[str, Any]]:
    return [e for e in result.transcript if e["type"] == "tool"]


def assert_ended_well(
    result: AgentResult, grade: Any, *, alive: bool = True, refusal: str | None = None
) -> None:
    """A recorded reason, a real grade that did not pass, and (unless the agent itself made
    the container unusable) a liveness check that answered. ``refusal``: a grading error
    the grader may give instead of a verdict, when it would not judge a tampered sandbox."""
    assert result.stop_reason == "submitted", result.transcript[-3:]
    assert result.transcript[-1]["type"] == "stop"
    assert result.transcript[-1]["reason"] == "submitted"
    if alive:
        check = tools_of(result)[-2]
        assert check["output"] == "alive-42", check
    assert grade.passed is False, grade
    if refusal is not None and grade.error is not None:
        assert refusal in grade.error, grade
        return
    # Judged by the real grader (no grading error), and rightly failed.
    assert grade.error is None and grade.details, grade


@pytest.fixture
def leftovers(run_id: str) -> Callable[[], list[str]]:
    def find() -> list[str]:
        client = docker.from_env()
        try:
            found = client.containers.list(
                all=True, filters={"label": ["harness.managed=1", f"harness.run={run_id}"]}
            )
            return [c.name for c in found]
        finally:
            client.close()

    return find


async def test_fork_bomb(script, task, image, run_id, leftovers) -> None:
    result, grade, attrs = await hostile_sample(
        script, task, image, run_id, "fork-bomb", [("bash", {"command": "b(){ b|b& };b"})]
    )
    # The bomb's processes outlive its command (background jobs do), so the container may stay
    # saturated: later commands then fail, and that goes back to the model as a tool error.
    # Grading may refuse (rather than judge) when the bomb outlives its stop sweep or leaves
    # no pid free for its helpers; it must never pass the sample.
    assert_ended_well(result, grade, alive=False, refusal="grading failed")
    bomb, check = tools_of(result)[:2]
    assert "Resource temporarily unavailable" in bomb["output"]  # the pids limit bit
    assert check["output"] == "alive-42" or (
        check["error"] and ("fork" in check["output"] or "could not start" in check["output"])
    ), check
    assert attrs["HostConfig"]["PidsLimit"] == task_spec_pids(task, image)
    # The host can still start processes.
    assert subprocess.run(["true"], check=False).returncode == 0
    assert leftovers() == []


def task_spec_pids(task: Any, image: str) -> int:
    import tasks

    return tasks.sandbox_spec(task, image).pids_limit


async def test_endless_loop_hits_the_command_timeout(
    script, task, image, run_id, leftovers
) -> None:
    result, grade, _ = await hostile_sample(
        script, task, image, run_id, "loop", [("bash", {"command": "while :; do :; done"})]
    )
    assert_ended_well(result, grade)
    loop = tools_of(result)[0]
    assert loop["timed_out"] is True and "timed out after 5 s" in loop["output"]
    assert LIMITS.command_timeout <= loop["duration"] < LIMITS.command_timeout + 10
    assert leftovers() == []


async def test_a_flood_of_output_is_capped(script, task, image, run_id, leftovers) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    flood = "head -c 3000000000 /dev/zero | tr '\\0' x; echo; echo THE-END"
    result, grade, _ = await hostile_sample(
        script, task, image, run_id, "flood", [("bash", {"command": flood})]
    )
    assert_ended_well(result, grade)
    entry = tools_of(result)[0]
    assert entry["truncated"] is True
    assert len(entry["output"]) <= LIMITS.output_chars + 100
    assert "characters omitted" in entry["output"]
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 300 * 1024  # far below the gigabytes printed
    assert leftovers() == []


async def test_there_is_no_network_but_loopback(script, task, image, run_id, leftovers) -> None:
    look = [
        ("bash", {"command": "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '"}),
        ("bash", {"command": "tail -n +2 /proc/net/route | wc -l"}),
    ]
    result, grade, attrs = await hostile_sample(script, task, image, run_id, "network", look)
    assert_ended_well(result, grade)
    interfaces, routes = (e["output"] for e in tools_of(result)[:2])
    assert interfaces.split() == ["lo"]
    assert routes.strip() == "0"
    assert attrs["HostConfig"]["NetworkMode"] == "none"
    assert leftovers() == []


async def test_tampering_with_grader_paths_is_recorded_and_harmless(
    script, task, image, run_id, leftovers
) -> None:
    tamper = [
        ("bash", {"command": "mkdir -p /grader && echo 'print(1)' > /grader/grade.py"}),
        ("write_file", {"path": "/grader/grade.py", "content": "import sys; sys.exit(0)\n"}),
        ("bash", {"command": "cp /bin/true /usr/local/bin/python3"}),
        ("read_file", {"path": "../solution/solve.sh"}),
    ]
    result, grade, _ = await hostile_sample(script, task, image, run_id, "tamper", tamper)
    assert_ended_well(result, grade)
    attempts = tools_of(result)[:4]
    assert all(e["error"] for e in attempts), attempts
    labels = [p["labels"] for p in result.protected]
    assert labels == [["grader", "grade.py"], ["grader", "grade.py"], ["solution"]]
    assert leftovers() == []


async def test_deleting_the_workspace(script, task, image, run_id, leftovers) -> None:
    wipe = [
        ("bash", {"command": "rm -rf /workspace/* /workspace/.[!.]* ; rmdir /workspace"}),
        ("bash", {"command": "ls -A /workspace | wc -l"}),
    ]
    result, grade, _ = await hostile_sample(script, task, image, run_id, "wipe", wipe)
    assert_ended_well(result, grade)
    removed, count = tools_of(result)[:2]
    assert (
        "Permission denied" in removed["output"] or "Device or resource busy" in removed["output"]
    )
    assert count["output"] == "0"
    assert leftovers() == []
