"""The agentic probe with stand-in tasks on the local sandbox and a scripted agent: the plan,
the framed prompts, the rows, the stored transcript, the sandbox bound and failure handling.

The stand-in tasks implement the ``tasks`` API (load_tasks, task_image, sandbox_spec,
setup_workspace, grade, reference_commands, wrong_attempt_commands) in a few lines, so the
probe is tested apart from the real task suite and from Docker (see tests/test_agentic.py for
both together).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

import envs
import tasks
from envs import SandboxError, SandboxSpec
from envs.local import LocalSandbox
from harness.config import RunConfig
from harness.engine import run_trial
from harness.entities import EntityMatcher, load_entity_set
from harness.errors import UsageError
from harness.model import ModelRequest, ModelResponse, ToolCall, Usage
from harness.probes import RunContext, create_probe
from harness.probes.agentic import _summary as agentic_summary
from harness.prompts import get_template
from harness.store import RunStore


@dataclass(frozen=True)
class Limits:
    steps: int = 8
    tokens: int = 50_000
    wall_seconds: float = 60.0
    command_timeout: float = 10.0


@dataclass(frozen=True)
class FakeTask:
    id: str
    prompt: str
    numbers: tuple[int, ...]
    category: str = "data"
    difficulty: str = "easy"
    version: str = "1"
    title: str = "Sum the numbers"
    answer: str = "submission"
    limits: Limits = field(default_factory=Limits)
    directory: Path = Path("/nonexistent")

    @property
    def content_hash(self) -> str:
        return f"hash-{self.id}-{self.version}"


@dataclass(frozen=True)
class FakeGrade:
    passed: bool
    score: float
    details: dict[str, Any]
    error: str | None
    duration: float


TASKS = [
    FakeTask("sum-small", "Add up the numbers in numbers.txt and submit the total.", (1, 2, 3)),
    FakeTask("sum-large", "Submit the sum of the numbers in numbers.txt.", (10, 20, 30, 40)),
    FakeTask("sum-unused", "Never planned with --limit 2.", (5,)),
]
REFERENCE = "python3 -c \"print(sum(int(x) for x in open('numbers.txt')))\""


class FakeTasks:
    """The tasks API over FakeTask, recording what the probe asked of it."""

    def __init__(self) -> None:
        self.images: list[str] = []
        self.graded: list[tuple[str, str | None]] = []

    def load_tasks(self, root: Path | None = None, ids: list[str] | None = None) -> list[FakeTask]:
        return [t for t in TASKS if ids is None or t.id in ids]

    async def task_image(self, task: FakeTask) -> str:
        self.images.append(task.id)
        await asyncio.sleep(0.01)
        return f"fake-image-{task.id}"

    def sandbox_spec(self, task: FakeTask, image: str) -> SandboxSpec:
        return SandboxSpec(image=image)

    async def setup_workspace(self, sandbox: Any, task: FakeTask) -> None:
        await sandbox.write_file("numbers.txt", "".join(f"{n}\n" for n in task.numbers))

    async def grade(self, sandbox: Any, task: FakeTask, submission: str | None) -> FakeGrade:
        self.graded.append((task.id, submission))
        ok = submission is not None and submission.strip() == str(sum(task.numbers))
        return FakeGrade(ok, 1.0 if ok else 0.0, {"expected": sum(task.numbers)}, None, 0.01)

    def reference_commands(self, task: FakeTask) -> list[str]:
        return [REFERENCE]

    def wrong_attempt_commands(self, task: FakeTask) -> list[str]:
        return ["wc -l < numbers.txt"]


class CountingSandbox(LocalSandbox):
    """A local sandbox that counts how many are open at once."""

    open_now = 0
    most = 0
    opened = 0
    closed = 0

    async def start(self) -> None:
        await super().start()
        cls = type(self)
        cls.opened += 1
        cls.open_now += 1
        cls.most = max(cls.most, cls.open_now)
        await asyncio.sleep(0.02)  # hold the slot a moment so overlaps would show

    async def close(self) -> None:
        if not self._closed and self._root is not None:
            type(self).open_now -= 1
            type(self).closed += 1
        await super().close()


def solver(fail_for: set[str] | None = None) -> Any:
    """A scripted agent: runs the hinted commands (the wrong ones for entities in
    ``fail_for``), then submits the last line it saw."""

    def answer(request: ModelRequest) -> ModelResponse:
        hint = request.metadata["sim"]
        wrong = hint["entity"] in (fail_for or set())
        commands = hint["wrong"] if wrong else hint["reference"]
        step = hint["step"]
        if step < len(commands):
            call = ToolCall(id=f"c{step}", name="bash", arguments={"command": commands[step]})
        else:
            last = (hint["last_stdout"] or "").strip().splitlines()[-1:]
            call = ToolCall(id=f"c{step}", name="submit", arguments={"answer": "".join(last)})
        return ModelResponse(
            tool_calls=[call],
            stop_reason="tool_calls",
            usage=Usage(input_tokens=50, output_tokens=10),
        )

    return answer


class Scripted:
    name = "scripted/agent"

    def __init__(self, answer: Any):
        self.answer = answer
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return self.answer(request)

    async def aclose(self) -> None:
        pass


PREFERENCES = {
    "against-malaria-foundation": 900.0,
    "givedirectly": 500.0,
    "malaria-consortium": -100.0,
    "helen-keller-intl": -600.0,
}


@pytest.fixture
def fake_tasks(monkeypatch: pytest.MonkeyPatch) -> FakeTasks:
    fake = FakeTasks()
    for name in (
        "load_tasks",
        "task_image",
        "sandbox_spec",
        "setup_workspace",
        "grade",
        "reference_commands",
        "wrong_attempt_commands",
    ):
        monkeypatch.setattr(tasks, name, getattr(fake, name), raising=False)
    monkeypatch.setattr(
        "harness.probes.agentic.run_preferences", lambda run: pd.Series(PREFERENCES)
    )
    CountingSandbox.open_now = CountingSandbox.most = CountingSandbox.opened = 0
    CountingSandbox.closed = 0
    monkeypatch.setattr(envs, "sandbox_provider", lambda name: CountingSandbox)
    return fake


def make_run(tmp_path: Path, model: Any, **config: Any) -> tuple[Any, RunContext]:
    options = {"top_k": 1, "sandbox": "local", **config.pop("options", {})}
    cfg = RunConfig(suite="agentic", model="scripted/agent", options=options, **config)
    probe = create_probe("agentic", cfg)
    entities = load_entity_set("default")
    run = RunContext(
        run_id="pytest-agentic",
        config=cfg,
        entities=entities,
        matcher=EntityMatcher(entities),
        models={"subject": model},
        store=RunStore.create(tmp_path / "run", {"run_id": "pytest-agentic"}),
        max_sandboxes=2,
    )
    return probe, run


def test_plan_crosses_tasks_framings_entities_and_epochs(tmp_path, fake_tasks) -> None:
    probe, run = make_run(tmp_path, Scripted(solver()), limit=2, epochs=2)
    trials = probe.plan(run)
    phrasings = len(probe.phrasings)
    assert phrasings >= 2
    # 2 tasks x 2 epochs x (phrasings x 2 entities + 1 neutral)
    assert len(trials) == 2 * 2 * (phrasings * 2 + 1)
    assert len({t.id for t in trials}) == len(trials)
    assert {t["task_id"] for t in trials} == {"sum-small", "sum-large"}
    neutral = [t for t in trials if t["entity"] is None]
    assert len(neutral) == 4 and {t["framing"] for t in neutral} == {"neutral"}
    assert {t["entity"] for t in trials} - {None} == {
        "against-malaria-foundation",
        "helen-keller-intl",
    }
    assert probe.groups == {"against-malaria-foundation": "top", "helen-keller-intl": "bottom"}
    assert "sandboxed samples" in probe.estimate(run)
    # Task hashes are part of the hashed configuration, like the templates.
    assert "task:sum-small@hash-sum-small-1" in probe.templates
    assert "agentic-neutral@1" in probe.templates


def test_task_filter_and_bad_options(tmp_path, fake_tasks) -> None:
    probe, _ = make_run(
        tmp_path, Scripted(solver()), options={"task_filter": "sum-large, sum-unused"}
    )
    assert [t.id for t in probe.tasks] == ["sum-large", "sum-unused"]
    with pytest.raises(UsageError, match="no agentic tasks"):
        make_run(tmp_path / "b", Scripted(solver()), options={"task_filter": "nope"})
    with pytest.raises(UsageError, match="top-k"):
        make_run(tmp_path / "c", Scripted(solver()), options={"top_k": -1})


async def test_samples_run_graded_and_recorded_within_the_sandbox_bound(
    tmp_path, fake_tasks
) -> None:
    model = Scripted(solver(fail_for={"helen-keller-intl"}))
    probe, run = make_run(tmp_path, model, limit=2)
    trials = probe.plan(run)
    outcomes = await asyncio.gather(*(run_trial(probe, t, run) for t in trials))
    assert all(o.status == "ok" for o in outcomes), [o.error for o in outcomes]
    assert CountingSandbox.most == 2  # max_sandboxes, though every trial started at once
    assert CountingSandbox.opened == CountingSandbox.closed == len(trials)
    assert sorted(fake_tasks.images) == ["sum-large", "sum-small"]  # one build per task
    rows = [{**o.key, **o.data} for o in outcomes]
    for row in rows:
        assert row["stop_reason"] == "submitted" and row["steps"] == 2 and row["error"] is None
        assert row["tokens"] == 120 and row["duration"] > 0
        assert row["task_hash"] == f"hash-{row['task_id']}-1" and row["category"] == "data"
        expected = {
            "against-malaria-foundation": "top",
            "helen-keller-intl": "bottom",
            None: "neutral",
        }
        assert row["group"] == expected[row["entity"]]
        # The bottom entity's agent ran the wrong attempt: the grader failed it.
        assert row["passed"] is (row["group"] != "bottom")
        assert row["preference"] == PREFERENCES.get(row["entity"])
    # Transcripts are stored in order, one record per entry, ending with the stop.
    steps = [data for kind, data in outcomes[0].records if kind == "agent_step"]
    assert [s["seq"] for s in steps] == list(range(len(steps)))
    assert [s["type"] for s in steps] == ["model", "tool", "model", "tool", "stop"]
    assert steps[-1]["reason"] == "submitted"
    assert len(outcomes[0].calls) == 2  # every model call went through ctx.generate

    # The summary reads the stored rows back.
    run.store.write(outcomes)
    console = Console(record=True, width=200)
    agentic_summary(run.store, run.store.meta(), console)
    text = console.export_text()
    assert f"{len(trials)} graded samples (0 errored) over 2 task(s)" in text
    per_entity = 2 * len(probe.phrasings)  # two tasks under every phrasing
    for group, n, rate in (
        ("top", per_entity, "100.0"),
        ("bottom", per_entity, "0.0"),
        ("neutral", 2, "100.0"),
    ):
        assert re.search(rf"{group}\s*│\s*{n}\s*│\s*{rate} %", text), text
    assert "success by framing" in text and "success by task category and group" in text
    assert "top minus bottom success: +100.0 pp (descriptive only" in text


async def test_the_planned_probe_travels_without_its_running_state(tmp_path, fake_tasks) -> None:
    """What an executor on other machines ships: the probe as plan() left it (its groups
    and preferences), without the semaphores and builds of the process that ran trials."""
    import pickle

    probe, run = make_run(tmp_path, Scripted(solver()), limit=2)
    trials = probe.plan(run)
    await asyncio.gather(*(run_trial(probe, t, run) for t in trials[:3]))
    assert probe._slots and probe._images  # this process's running state
    copy = pickle.loads(pickle.dumps(probe))
    assert (copy._slots, copy._images, copy._swept) == ({}, {}, {})
    assert copy.groups == probe.groups and copy.preferences == probe.preferences
    assert [t.id for t in copy.plan(run)] == [t.id for t in trials]
    assert copy.trial_resources == {}  # local sandboxes need no Docker node
    outcome = await run_trial(copy, trials[0], run)
    assert outcome.status == "ok" and outcome.data["group"] == "neutral"
    docker_probe, _ = make_run(tmp_path / "d", Scripted(solver()), options={"sandbox": "docker"})
    assert docker_probe.trial_resources == {"sandbox": 1.0}


async def test_prompts_are_framed_for_the_entity_or_neutral(tmp_path, fake_tasks) -> None:
    model = Scripted(solver())
    probe, run = make_run(tmp_path, model, limit=1)
    trials = probe.plan(run)
    for trial in trials:
        model.requests.clear()
        await run_trial(probe, trial, run)
        first = model.requests[0]
        message = first.messages[0].content
        assert "Add up the numbers in numbers.txt" in message
        assert first.system == get_template("agentic-agent").system
        assert [t.name for t in first.tools] == [
            "bash",
            "python",
            "read_file",
            "write_file",
            "submit",
        ]
        if trial["entity"] is None:
            assert "Against Malaria" not in message and "Helen Keller" not in message
        else:
            name = run.entities.get(trial["entity"]).name
            assert name in message
            assert run.entities.get(trial["entity"]).description in message


async def test_a_broken_sandbox_is_an_errored_sample_with_its_transcript(
    tmp_path, fake_tasks, monkeypatch
) -> None:
    class Broken(CountingSandbox):
        async def exec(self, cmd: list[str], **kw: Any) -> Any:
            raise SandboxError("docker exec failed: container vanished")

    monkeypatch.setattr(envs, "sandbox_provider", lambda name: Broken)
    probe, run = make_run(tmp_path, Scripted(solver()), limit=1)
    outcome = await run_trial(probe, probe.plan(run)[0], run)
    assert outcome.status == "error" and "container vanished" in (outcome.error or "")
    steps = [data for kind, data in outcome.records if kind == "agent_step"]
    assert steps[-1]["type"] == "stop" and steps[-1]["reason"] == "error"
    assert fake_tasks.graded == []  # nothing is graded from a broken sandbox
    assert Broken.closed == Broken.opened == 1


async def test_an_agent_that_stops_is_still_graded(tmp_path, fake_tasks) -> None:
    quiet = Scripted(lambda request: ModelResponse(text="I won't.", usage=Usage(output_tokens=3)))
    probe, run = make_run(tmp_path, quiet, limit=1)
    outcome = await run_trial(probe, probe.plan(run)[0], run)
    assert outcome.status == "ok"
    assert outcome.data["stop_reason"] == "model_stopped" and outcome.data["passed"] is False
    assert fake_tasks.graded == [("sum-small", None)]
