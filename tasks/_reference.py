"""Reference and wrong attempts as agent commands, for validation and for the simulated agent.

``solution/solve.sh`` (the reference) and ``solution/wrong.sh`` (a plausible but wrong or
incomplete attempt) are bash scripts run as the agent user in the workspace.  A script
may be cut into steps with lines starting ``#@step``: everything before the first such
line (the shebang aside) is a header, e.g. ``set -euo pipefail``, put in front of every
step, so each step is a self-contained command.  For ``submission`` tasks the last
non-empty stdout line of the last step is what gets submitted.
"""

from __future__ import annotations

from pathlib import Path

from envs import ExecResult, Sandbox
from tasks._spec import TaskSpec

STEP_MARKER = "#@step"


def script_commands(path: Path) -> list[str]:
    """The bash commands (one per ``#@step`` section, or the whole script) of a solution file."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    header: list[str] = []
    steps: list[list[str]] = []
    for line in lines:
        if line.startswith(STEP_MARKER):
            steps.append([line])
        elif steps:
            steps[-1].append(line)
        else:
            header.append(line)
    if not steps:
        return ["\n".join(header).strip() + "\n"]
    return ["\n".join(header + step).strip() + "\n" for step in steps]


def reference_commands(task: TaskSpec) -> list[str]:
    """The reference solution as bash commands to issue one by one (``bash -c`` each)."""
    return script_commands(task.solution_dir / "solve.sh")


def wrong_attempt_commands(task: TaskSpec) -> list[str]:
    """A plausible but wrong attempt as bash commands; the grader must fail it."""
    return script_commands(task.solution_dir / "wrong.sh")


def answer_from_output(stdout: str) -> str | None:
    """What to submit after a solution's last command: its last non-empty stdout line."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    return lines[-1] if lines else None


async def run_commands(sandbox: Sandbox, task: TaskSpec, commands: list[str]) -> list[ExecResult]:
    """Run commands in order as the sandbox user in its workdir; stops at the first failure."""
    results: list[ExecResult] = []
    for command in commands:
        result = await sandbox.exec(["bash", "-c", command], timeout=task.limits.command_timeout)
        results.append(result)
        if not result.ok:
            break
    return results


async def run_attempt(sandbox: Sandbox, task: TaskSpec, commands: list[str]) -> str | None:
    """Run an attempt's commands and return what it would submit (None for workspace tasks).

    Raises RuntimeError when a command fails, since reference and wrong attempts are
    expected to run cleanly (a wrong attempt is wrong in its result, not broken).
    """
    results = await run_commands(sandbox, task, commands)
    last = results[-1]
    if not last.ok:
        raise RuntimeError(
            f"step {len(results)} of {len(commands)} exited {last.exit_code}"
            f"{' (timed out)' if last.timed_out else ''}: {last.stderr.strip()[-300:]}"
        )
    return answer_from_output(last.stdout) if task.answer == "submission" else None
