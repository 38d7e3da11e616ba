"""Task validation: the grader fails an untouched workspace and a wrong attempt, and passes the reference.

Each check runs in its own fresh sandbox, exactly as an agent's attempt would: workspace
set up, commands run as the agent user, then :func:`tasks.grade`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from envs import SandboxError, sandbox_provider
from tasks._grading import Grade, Progress, grade, sandbox_spec, setup_workspace, task_image
from tasks._reference import reference_commands, run_attempt, wrong_attempt_commands
from tasks._spec import TaskSpec

#: How many tasks validate at once by default (each uses one sandbox at a time).
DEFAULT_CONCURRENCY = 4

# (check name, whether the grader must pass it), in the order they run.
CHECKS: tuple[tuple[str, bool], ...] = (("untouched", False), ("reference", True), ("wrong", False))


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """One validation check: what grading said and whether that is what it should say."""

    name: str
    expect_pass: bool
    grade: Grade | None
    problem: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """Validation of one task on one provider; ``skipped`` says why it did not run."""

    task_id: str
    provider: str
    checks: list[CheckOutcome] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        """True when every check behaved as required (a skipped task is not ok)."""
        return (
            self.skipped is None
            and self.error is None
            and len(self.checks) == len(CHECKS)
            and all(check.ok for check in self.checks)
        )

    @property
    def problems(self) -> list[str]:
        """One line per thing that went wrong, for reports."""
        found = [f"error: {self.error}"] if self.error else []
        found += [f"{check.name}: {check.problem}" for check in self.checks if check.problem]
        return found


async def _run_check(
    task: TaskSpec, provider: str, image: str, run_id: str, name: str, expect_pass: bool
) -> CheckOutcome:
    started = time.monotonic()
    factory = sandbox_provider(provider)
    try:
        async with factory(
            sandbox_spec(task, image), run_id=run_id, sample_id=f"{task.id}-{name}"
        ) as sandbox:
            await setup_workspace(sandbox, task)
            submission: str | None = None
            if name == "reference":
                submission = await run_attempt(sandbox, task, reference_commands(task))
            elif name == "wrong":
                submission = await run_attempt(sandbox, task, wrong_attempt_commands(task))
            verdict = await grade(sandbox, task, submission)
    except Exception as exc:  # report, don't crash: the other tasks still get validated
        detail = str(exc) if isinstance(exc, SandboxError | RuntimeError) else repr(exc)
        return CheckOutcome(name, expect_pass, None, f"{name} attempt: {detail}", _since(started))
    problem = None
    if verdict.error is not None:
        problem = f"grading error: {verdict.error}"
    elif verdict.passed != expect_pass:
        should = "pass" if expect_pass else "fail"
        problem = f"should {should} but got passed={verdict.passed} ({verdict.details[:300]})"
    return CheckOutcome(name, expect_pass, verdict, problem, _since(started))


def _since(started: float) -> float:
    return time.monotonic() - started


async def validate_task(
    task: TaskSpec,
    provider: str = "docker",
    *,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> ValidationResult:
    """Check in fresh sandboxes that the grader fails an untouched workspace (and no
    submission), passes the reference solution and fails the wrong attempt.

    ``progress`` receives image build log lines (see :func:`tasks.task_image`);
    ``run_id`` labels the sandboxes (default: a fresh ``validate-<hex>``).
    """
    started = time.monotonic()
    if provider == "local" and task.needs_docker:
        return ValidationResult(
            task.id, provider, skipped="has a Dockerfile, so it needs the docker provider"
        )
    run_id = run_id or f"validate-{uuid.uuid4().hex[:8]}"
    try:
        image = await task_image(task, progress) if provider == "docker" else "local"
    except Exception as exc:  # build failures of any kind are this task's validation error
        return ValidationResult(task.id, provider, seconds=_since(started), error=str(exc))
    checks = [
        await _run_check(task, provider, image, run_id, name, expect_pass)
        for name, expect_pass in CHECKS
    ]
    return ValidationResult(task.id, provider, checks=checks, seconds=_since(started))


async def validate_all(
    tasks: list[TaskSpec],
    provider: str = "docker",
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_result: Callable[[ValidationResult], None] | None = None,
    progress: Progress | None = None,
    run_id: str | None = None,
) -> list[ValidationResult]:
    """Validate tasks, at most ``concurrency`` at once; results come back in input order.

    ``on_result`` is called as each task finishes (for progress output); ``progress``
    receives image build log lines; ``run_id`` labels every sandbox (default: one fresh
    ``validate-<hex>`` for the whole call).
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    run_id = run_id or f"validate-{uuid.uuid4().hex[:8]}"

    async def one(task: TaskSpec) -> ValidationResult:
        async with gate:
            result = await validate_task(task, provider, progress=progress, run_id=run_id)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(one(task) for task in tasks)))
