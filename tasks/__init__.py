"""The offline agentic task suite: one folder per task, with a loader that turns a folder into a task spec.

Everything another module needs is re-exported here; see tasks/README.md for the task
format and how grading is kept out of the agent's reach.
"""

from __future__ import annotations

from tasks._grading import (
    GRADER_DIR,
    Grade,
    grade,
    parse_verdict,
    sandbox_spec,
    service_images,
    setup_workspace,
    task_image,
)
from tasks._reference import (
    answer_from_output,
    reference_commands,
    run_attempt,
    run_commands,
    wrong_attempt_commands,
)
from tasks._spec import (
    CATEGORIES,
    SUITE_ROOT,
    SandboxOverrides,
    TaskLimits,
    TaskService,
    TaskSpec,
    content_hash,
    load_task,
    load_tasks,
    suite_root,
)
from tasks._validate import CheckOutcome, ValidationResult, validate_all, validate_task

__all__ = [
    "CATEGORIES",
    "GRADER_DIR",
    "SUITE_ROOT",
    "CheckOutcome",
    "Grade",
    "SandboxOverrides",
    "TaskLimits",
    "TaskService",
    "TaskSpec",
    "ValidationResult",
    "answer_from_output",
    "content_hash",
    "grade",
    "load_task",
    "load_tasks",
    "parse_verdict",
    "reference_commands",
    "run_attempt",
    "run_commands",
    "sandbox_spec",
    "service_images",
    "setup_workspace",
    "suite_root",
    "task_image",
    "validate_all",
    "validate_task",
    "wrong_attempt_commands",
]
