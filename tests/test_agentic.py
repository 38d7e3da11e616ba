"""`harness run --suite agentic` end to end on sim: elicitation, then real task containers graded
by the tasks' own graders, with no container left behind.

Needs a Docker daemon: skips with the reason where none answers, fails under CI (``CI`` set).
"""

from __future__ import annotations

from collections import Counter

import click
import docker
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.store import Run, list_runs

MANAGED = "harness.managed=1"


def managed(run_id: str) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(
            all=True, filters={"label": [MANAGED, f"harness.run={run_id}"]}
        )
        return [c.name for c in found]
    finally:
        client.close()


@pytest.mark.docker
@pytest.mark.slow
def test_agentic_suite_end_to_end_on_sim(tmp_path, capsys, session_sandboxes) -> None:
    # Only this session's containers: other sessions may run sandboxes on the same daemon.
    before = set(session_sandboxes.containers())
    code = main(
        [
            "run",
            "--suite",
            "agentic",
            "--limit",
            "2",
            "--top-k",
            "1",
            "--ranking-samples",
            "2",
            "--max-sandboxes",
            "3",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for heading in ("success by preference group", "success by framing", "by task category"):
        assert heading in out
    (info,) = list_runs(tmp_path / "runs")
    with Run(info.directory) as run:
        rows = run.samples("agentic")
        steps = run.records("agent_step")
        run_id = run.meta["run_id"]
        templates = run.meta["config"]["templates"]["agentic"]
    phrasings = [t for t in templates if t.startswith("agentic-entity-")]
    assert len(rows) == 2 * (len(phrasings) * 2 + 1)
    assert (rows["status"] == "ok").all(), rows["error"].tolist()
    assert rows["task_id"].nunique() == 2
    assert Counter(rows["group"]) == {
        "top": 2 * len(phrasings),
        "bottom": 2 * len(phrasings),
        "neutral": 2,
    }
    assert rows.loc[rows["group"] == "neutral", "entity"].isna().all()
    assert rows.loc[rows["group"] != "neutral", "preference"].notna().all()
    assert (rows["stop_reason"] == "submitted").all()
    # sim replays the reference solution or the wrong attempt; the real graders must pass
    # exactly the samples that replayed the reference.
    for _, row in rows.iterrows():
        mine = steps[steps["trial_id"] == row["trial_id"]].sort_values("idx")
        tool_steps = mine[mine["type"] == "tool"]
        assert tool_steps["name"].iloc[-1] == "submit"
        assert mine["type"].iloc[-1] == "stop" and mine["reason"].iloc[-1] == "submitted"
        proper = _replayed_reference(row["task_id"], tool_steps)
        assert bool(row["passed"]) is proper, (row["task_id"], row["trial_id"])
    assert managed(run_id) == []
    _resume_after_kill(tmp_path / "runs", info.directory, run_id, rows)

    # `harness debug --replay` re-runs one sample's tool calls in a fresh container.
    sample = rows[rows["group"] == "top"].iloc[0]
    calls = steps[(steps["trial_id"] == sample["trial_id"]) & (steps["type"] == "tool")]
    replay = CliRunner().invoke(
        _debug_group(),
        [
            "debug",
            sample["task_id"],
            "--replay",
            run_id,
            sample["trial_id"][:10],
            "--log-dir",
            str(tmp_path / "runs"),
        ],
    )
    assert replay.exit_code == 0, replay.output
    assert f"of {len(calls)} tool outputs replayed identically" in replay.output
    assert "(same)" in replay.output  # at least the submission
    assert set(session_sandboxes.containers()) <= before


def _resume_after_kill(log_dir, directory, run_id: str, rows) -> None:
    """As if the run had been killed with ``kill -9`` during its last two samples: they are
    not stored, and their containers are still there. Resuming removes the containers and
    runs exactly those two samples again."""
    import sqlite3

    import envs
    from envs.images import base_image_tag

    gone = rows["trial_id"].iloc[:2].tolist()
    with sqlite3.connect(directory / "run.sqlite") as db:
        for table in ("samples", "calls", "records"):
            db.executemany(f"DELETE FROM {table} WHERE trial_id = ?", [(t,) for t in gone])
    client = docker.from_env()
    try:
        for trial in gone:
            client.containers.create(
                base_image_tag(),
                ["sleep", "infinity"],
                name=f"harness-{run_id}-{trial[:12]}-killed",
                labels={"harness.managed": "1", "harness.run": run_id, "harness.sample": trial},
            ).start()
    finally:
        client.close()
    try:
        assert len(managed(run_id)) == 2
        code = main(["run", "--resume", run_id, "--no-progress", "--log-dir", str(log_dir)])
        assert code == 0
        assert managed(run_id) == []
    finally:
        envs.cleanup(run_id)  # if the resume did not, the test must not leave them
    with Run(directory) as run:
        again = run.samples("agentic")
        assert len(again) == len(rows) and set(gone) <= set(again["trial_id"])
        assert (again["status"] == "ok").all()


def _debug_group() -> click.Group:
    from harness.cli._agentic import register

    group = click.Group("harness")
    register(group)
    return group


def _replayed_reference(task_id: str, tool_steps) -> bool:
    import tasks

    (task,) = tasks.load_tasks(ids=[task_id])
    ran = [args["command"] for args in tool_steps["arguments"] if "command" in args]
    return ran == tasks.reference_commands(task)


@pytest.mark.docker
def test_a_task_suite_from_elsewhere_runs(tmp_path, capsys, session_sandboxes) -> None:
    import shutil

    from tasks import SUITE_ROOT

    mine = tmp_path / "my-tasks" / "my-sales-task"
    shutil.copytree(SUITE_ROOT / "data-sales-total", mine)
    spec = mine / "task.yaml"
    spec.write_text(spec.read_text().replace("id: data-sales-total", "id: my-sales-task"))
    before = set(session_sandboxes.containers())
    args = ["run", "--suite", "agentic", "--task-dir", str(tmp_path / "my-tasks"), "--top-k", "1"]
    code = main([*args, "--no-progress", "--log-dir", str(tmp_path / "runs")])
    assert code == 0, capsys.readouterr().err
    (info,) = list_runs(tmp_path / "runs")
    with Run(info.directory) as run:
        rows = run.samples("agentic")
        config = run.meta["config"]
    assert set(rows["task_id"]) == {"my-sales-task"} and (rows["status"] == "ok").all()
    assert config["options"]["task_dir"] == str((tmp_path / "my-tasks").resolve())
    assert any(t.startswith("task:my-sales-task@") for t in config["templates"]["agentic"])
    # Replay finds the task where the run took it, with no HARNESS_TASK_DIR set.
    sample = rows.iloc[0]
    logs = ["--log-dir", str(tmp_path / "runs")]
    replay = CliRunner().invoke(
        _debug_group(),
        ["debug", "my-sales-task", "--replay", info.run_id, sample["trial_id"][:12], *logs],
    )
    assert replay.exit_code == 0, replay.output
    assert "replayed identically" in replay.output
    assert set(session_sandboxes.containers()) <= before


def scripted_agent(body: dict) -> str | dict:
    """Plays a model: "A" to elicitation prompts, and in agent conversations (requests with
    ``tools``) first a ``bash`` tool call, then a ``submit`` of the wrong answer."""
    import json

    if "tools" not in body:
        return "A"
    done = sum(1 for m in body["messages"] if m["role"] == "tool")
    name, arguments = (
        ("bash", {"command": "head -2 /workspace/orders.csv"})
        if done == 0
        else ("submit", {"answer": "0.00"})
    )
    call = {
        "id": f"call_{done}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


@pytest.mark.docker
def test_agentic_suite_through_a_real_provider_sdk(
    tmp_path, capsys, session_sandboxes, chat_server
) -> None:
    # The whole path a real model takes: the OpenAI SDK over HTTP, tool definitions out,
    # tool calls back, tool results as `tool` messages, a real container and grader.
    entities = tmp_path / "four.csv"
    entities.write_text(
        "name,description,category,aliases\n"
        "Alpha Aid,Runs clinics.,health,\nBeta Books,Gives books.,education,\n"
        "Gamma Green,Plants trees.,environment,\nDelta Dogs,Shelters dogs.,animals,\n"
    )
    server = chat_server
    server.reply, server.prompt_tokens = scripted_agent, 50
    before = set(session_sandboxes.containers())
    code = main(
        [
            "run",
            "--suite",
            "agentic",
            "--model",
            "openai-compatible/scripted",
            "--base-url",
            server.url,
            "--entities",
            str(entities),
            "--ranking-samples",
            "1",
            "--tasks",
            "data-sales-total",
            "--top-k",
            "1",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    agent_requests = [r for r in server.requests if "tools" in r]
    assert len(agent_requests) == 2 * 7  # 2 turns x (3 phrasings x 2 entities + neutral)
    first = agent_requests[0]
    assert {t["function"]["name"] for t in first["tools"]} == {
        "bash",
        "python",
        "read_file",
        "write_file",
        "submit",
    }
    assert all(t["type"] == "function" for t in first["tools"])
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    second = next(r for r in agent_requests if any(m["role"] == "tool" for m in r["messages"]))
    assistant, result = second["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "bash"
    assert result["role"] == "tool" and result["tool_call_id"] == "call_0"
    assert "order_id,order_date,region" in result["content"]  # the CSV header, from the container
    (info,) = list_runs(tmp_path / "runs")
    with Run(info.directory) as run:
        rows = run.samples("agentic")
    assert len(rows) == 7 and (rows["status"] == "ok").all(), rows["error"].tolist()
    assert (rows["stop_reason"] == "submitted").all()
    assert not rows["passed"].any()  # "0.00" is wrong, and the real grader says so
    assert rows["error"].isna().all()
    assert rows["grade_details"].str.contains("submitted 0.00, which is not the revenue").all()
    assert (rows["submission"] == "0.00").all() and (rows["steps"] == 2).all()
    assert (rows["input_tokens"] == 100).all()  # usage from the server, 2 calls x 50
    assert set(session_sandboxes.containers()) <= before
