"""The agent's tools (bash, python, read_file, write_file, submit), built per sample over a sandbox.

Every tool runs a command inside the sandbox as the sandbox user. The file tools do too,
rather than using ``Sandbox.read_file``/``write_file``: those copy files with the container
engine's root rights, which would let an agent plant files (say, a fake ``python3`` on the
PATH) that the grader, running as root, would later execute.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from agents._types import AgentLimits, Tool, ToolError, ToolOutput
from envs import ExecResult, Sandbox, SandboxError
from harness.model import ToolSpec

#: Paths an agent has no business touching: the grader and the task's reference solution.
#: Touching them is not blocked (they are not in the sandbox while the agent runs) but
#: every attempt is recorded, by label.
PROTECTED_PATTERNS: Mapping[str, re.Pattern[str]] = {
    "grader": re.compile(r"/grader\b|\bgrader/"),
    "grade.py": re.compile(r"\bgrade\.py\b"),
    "solution": re.compile(r"\bsolution/|\bsolve\.sh\b|\bwrong\.sh\b"),
}

# Creates the parent directory and writes stdin to the file, as the sandbox user.
_WRITE_SCRIPT = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'

# How the docker provider reports that the container runtime could not start a command at
# all. Our tools always use the sandbox's own user and working directory, so here it means
# the agent exhausted the container (a fork bomb filling the pids limit): the agent's doing,
# reported back to it like any failed fork, not a broken sandbox.
_EXEC_NOT_STARTED = "OCI runtime exec failed"


def _string_params(**described: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in described.items()
        },
        "required": list(described),
        "additionalProperties": False,
    }


BASH = ToolSpec(
    name="bash",
    description="Run a bash command in the task's sandbox (working directory: the task "
    "workspace) and return its standard output, standard error and exit status.",
    parameters=_string_params(command="The bash command to run."),
)
PYTHON = ToolSpec(
    name="python",
    description="Run a Python 3 program in the sandbox and return what it prints. "
    "Use print() to see values; nothing persists between calls except files.",
    parameters=_string_params(code="The Python source to run."),
)
READ_FILE = ToolSpec(
    name="read_file",
    description="Return the text of a file in the sandbox.",
    parameters=_string_params(path="The file's path (relative to the workspace, or absolute)."),
)
WRITE_FILE = ToolSpec(
    name="write_file",
    description="Write text to a file in the sandbox, creating or replacing it (parent "
    "directories are created).",
    parameters=_string_params(
        path="The file's path (relative to the workspace, or absolute).",
        content="The complete new content of the file.",
    ),
)
SUBMIT = ToolSpec(
    name="submit",
    description="Submit your final answer and end the task. Call it exactly once, when you "
    "are done; for tasks graded on the workspace, submit a short summary.",
    parameters=_string_params(answer="Your final answer."),
)


def cap_text(text: str, limit: int) -> str:
    """Cut ``text`` to about ``limit`` characters, keeping its start and its end (where
    commands print their errors), with a marker saying how much was left out."""
    if len(text) <= limit:
        return text
    head = limit // 2
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n[... {omitted} characters omitted ...]\n{text[-tail:]}"


def check_arguments(spec: ToolSpec, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Check arguments against a tool's (flat, string-only) schema; ToolError says what is
    wrong in words the model can act on."""
    properties: dict[str, Any] = spec.parameters.get("properties", {})
    missing = [name for name in spec.parameters.get("required", []) if name not in arguments]
    if missing:
        raise ToolError(f"{spec.name} needs the argument(s) {', '.join(missing)}")
    unknown = sorted(set(arguments) - set(properties))
    if unknown:
        raise ToolError(
            f"{spec.name} does not take {', '.join(unknown)} (its arguments: "
            f"{', '.join(properties)})"
        )
    for name, value in arguments.items():
        if properties[name].get("type") == "string" and not isinstance(value, str):
            raise ToolError(f"{spec.name}: argument {name} must be a string")
    return dict(arguments)


def protected_hits(
    arguments: Mapping[str, Any], patterns: Mapping[str, re.Pattern[str]] = PROTECTED_PATTERNS
) -> list[str]:
    """Labels of the protected patterns found anywhere in the arguments' text."""
    texts = list(_strings(arguments))
    return [label for label, pattern in patterns.items() if any(pattern.search(t) for t in texts)]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def describe_exec(result: ExecResult, timeout: float, limit: int) -> str:
    """The model's view of a command: stdout, then stderr and the status when not plain."""
    parts = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if result.timed_out:
        parts.append(f"[command timed out after {timeout:g} s and was killed]")
    elif result.exit_code != 0:
        parts.append(f"[exit code {result.exit_code}]")
    if result.truncated:
        parts.append("[output beyond the sandbox's cap was dropped]")
    return cap_text("\n".join(parts) if parts else "[no output]", limit)


def _exec_details(result: ExecResult, limit: int) -> dict[str, Any]:
    # stdout is kept apart (capped) because a submission is often its last line.
    return {
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "truncated": result.truncated,
        "exec_seconds": round(result.duration, 3),
        "stdout": cap_text(result.stdout, limit),
    }


TOOL_SPECS = (BASH, PYTHON, READ_FILE, WRITE_FILE, SUBMIT)


def tool_specs() -> list[ToolSpec]:
    """The definitions of the standard tools, as every agent request sends them."""
    return list(TOOL_SPECS)


def make_tools(sandbox: Sandbox, limits: AgentLimits) -> list[Tool]:
    """The five standard tools, closed over this sample's sandbox."""
    cap = limits.output_chars

    async def run(cmd: list[str], timeout: float, data: bytes | None = None) -> ExecResult:
        try:
            return await sandbox.exec(cmd, timeout=timeout, input=data)
        except SandboxError as error:
            if str(error).startswith(_EXEC_NOT_STARTED):
                raise ToolError(
                    f"the sandbox could not start the command (too many processes?): {error}"
                ) from None
            raise

    async def bash(arguments: dict[str, Any], *, timeout: float) -> ToolOutput:
        result = await run(["bash", "-c", arguments["command"]], timeout)
        return ToolOutput(
            describe_exec(result, timeout, cap), not result.ok, details=_exec_details(result, cap)
        )

    async def python(arguments: dict[str, Any], *, timeout: float) -> ToolOutput:
        # The program goes in on stdin, so no quoting and no temporary file in the workspace.
        result = await run(["python3", "-"], timeout, arguments["code"].encode())
        return ToolOutput(
            describe_exec(result, timeout, cap), not result.ok, details=_exec_details(result, cap)
        )

    async def read_file(arguments: dict[str, Any], *, timeout: float) -> ToolOutput:
        path = arguments["path"]
        if not path:
            raise ToolError("read_file needs a non-empty path")
        result = await run(["cat", "--", path], timeout)
        if not result.ok:
            raise ToolError(describe_exec(result, timeout, cap))
        text = result.stdout
        if result.truncated:
            text += (
                "\n[the file is longer than the sandbox's output cap; read it in parts with bash]"
            )
        return ToolOutput(cap_text(text, cap), details={"bytes": len(result.stdout)})

    async def write_file(arguments: dict[str, Any], *, timeout: float) -> ToolOutput:
        path, content = arguments["path"], arguments["content"]
        if not path:
            raise ToolError("write_file needs a non-empty path")
        data = content.encode()
        result = await run(["sh", "-c", _WRITE_SCRIPT, "write_file", path], timeout, data)
        if not result.ok:
            raise ToolError(describe_exec(result, timeout, cap))
        return ToolOutput(f"wrote {len(data)} bytes to {path}", details={"bytes": len(data)})

    async def submit(arguments: dict[str, Any], *, timeout: float) -> ToolOutput:
        answer = arguments["answer"]
        return ToolOutput("submitted", submission=answer)

    functions = (bash, python, read_file, write_file, submit)
    return [Tool(spec, function) for spec, function in zip(TOOL_SPECS, functions, strict=True)]
