"""The agentic commands (debug, sandbox cleanup, tasks list/validate) on a group of their own,
as the main CLI registers them."""

from __future__ import annotations

import asyncio
from typing import Any

import click
import docker
import pytest
from click.testing import CliRunner

import tasks
from envs import SandboxSpec, sandbox_provider
from harness.cli import _agentic
from harness.errors import UsageError


@pytest.fixture
def group() -> click.Group:
    cli = click.Group("harness")
    _agentic.register(cli)
    return cli


def invoke(group: click.Group, *args: str) -> Any:
    return CliRunner().invoke(group, list(args), catch_exceptions=True)


def test_register_adds_the_commands(group) -> None:
    assert sorted(group.commands) == ["debug", "envs", "sandbox", "tasks"]
    assert sorted(group.commands["tasks"].commands) == ["list", "validate"]  # type: ignore[attr-defined]


def test_tasks_list_shows_the_suite(group) -> None:
    result = invoke(group, "tasks", "list")
    assert result.exit_code == 0, result.output
    for task in tasks.load_tasks():
        assert task.id in result.output


def test_tasks_validate_passes_the_exit_code_on(group, monkeypatch) -> None:
    seen: list[Any] = []

    def validate(console: Any, ids: list[str] | None, provider: str) -> int:
        seen.append((ids, provider))
        return 1

    monkeypatch.setattr(
        _agentic, "_task_cli", lambda name: validate if name == "validate_tasks" else None
    )
    result = invoke(group, "tasks", "validate", "a", "b", "--provider", "local")
    assert result.exit_code == 1 and "task validation failed" in result.output
    assert seen == [(["a", "b"], "local")]
    monkeypatch.setattr(_agentic, "_task_cli", lambda name: None)
    result = invoke(group, "tasks", "validate")
    assert isinstance(result.exception, UsageError)


def test_debug_refuses_an_unknown_task(group) -> None:
    result = invoke(group, "debug", "no-such-task", "--exec", "true")
    assert isinstance(result.exception, UsageError)
    assert "no agentic task 'no-such-task'" in str(result.exception)


def leftovers(**labels: str) -> list[str]:
    client = docker.from_env()
    try:
        wanted = ["harness.managed=1", *(f"harness.{k}={v}" for k, v in labels.items())]
        return [c.name for c in client.containers.list(all=True, filters={"label": wanted})]
    finally:
        client.close()


@pytest.mark.docker
def test_debug_exec_and_grade(group, session_sandboxes) -> None:
    result = invoke(
        group,
        "debug",
        "data-sales-total",
        "--entity",
        "AMF",
        "--exec",
        "head -n 1 orders.csv; id -un",
        "--grade",
        "--submission",
        "12.00",
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "You are working on behalf of Against Malaria Foundation." in out
    assert "/workspace/orders.csv is an export" in out  # the task's own prompt, framed
    assert "order_id,order_date,region" in out and "agent\n" in out  # ran as the agent
    assert "grade: passed=False" in out and "removed" in out
    # `debug` labels its sandbox run "debug" whoever runs it: look at this session's only.
    assert session_sandboxes.containers(run="debug", sample="data-sales-total") == []


@pytest.mark.docker
def test_sandbox_cleanup_removes_a_runs_leftovers(group, base_image, run_id) -> None:
    async def leave_one_behind() -> Any:
        box = sandbox_provider("docker")(SandboxSpec(image=base_image), run_id=run_id)
        await box.start()
        return box

    box = asyncio.run(leave_one_behind())
    assert len(leftovers(run=run_id)) == 1
    result = invoke(group, "sandbox", "cleanup", "--run", run_id)
    assert result.exit_code == 0 and "removed 1 container(s)" in result.output
    assert leftovers(run=run_id) == []
    asyncio.run(box.close())  # closing what cleanup removed is harmless


@pytest.mark.docker
def test_sandbox_cleanup_keeps_the_sandboxes_of_a_live_run(
    group, base_image, run_id, tmp_path
) -> None:
    from harness.store import RunStore

    live, dead = f"{run_id}-live", f"{run_id}-dead"
    holder = RunStore.create(tmp_path / live, {"run_id": live})
    holder.claim()  # as the process running it does

    async def start(run: str) -> Any:
        box = sandbox_provider("docker")(SandboxSpec(image=base_image), run_id=run)
        await box.start()
        return box

    boxes = [asyncio.run(start(live)), asyncio.run(start(dead))]
    try:
        logs = ("--log-dir", str(tmp_path))
        result = invoke(group, "sandbox", "cleanup", "--run", live, *logs)
        assert result.exit_code == 0, result.output
        assert (
            "removed 0 container(s)" in result.output and f"still going ({live})" in result.output
        )
        assert len(leftovers(run=live)) == 1
        result = invoke(group, "sandbox", "cleanup", "--run", dead, *logs)
        assert "removed 1 container(s)" in result.output and leftovers(run=dead) == []
        result = invoke(group, "sandbox", "cleanup", "--run", live, "--force", *logs)
        assert "removed 1 container(s)" in result.output and leftovers(run=live) == []
    finally:
        holder.close()
        for box in boxes:
            asyncio.run(box.close())


@pytest.mark.docker
def test_envs_build_reports_each_image(group) -> None:
    result = invoke(group, "envs", "build", "--tasks", "data-sales-total")
    assert result.exit_code == 0, result.output
    assert "base image: harness-base:" in result.output
    assert "data-sales-total: harness-base:" in result.output  # no Dockerfile: the base image
