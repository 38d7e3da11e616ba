"""Helpers every task grader imports as ``gradelib``: safe workspace reads, inputs, and the verdict line.

This file is copied into the root-only grader directory next to each task's grade.py and
runs there as root, after every process of the agent user has been killed.  It must use
only the Python standard library of the sandbox image (Python 3.11).

A grader is a function returning ``(passed, score, details)``; ``run(grader)`` prints the
one JSON verdict line the harness reads.  Raise :class:`Fail` for anything the agent
caused (a missing or malformed output file): it becomes a plain failing verdict.  Any
other exception is a grader bug: it is left to crash, and the harness reports an error.
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

GRADER_DIR = Path(__file__).resolve().parent
#: The agent's workspace; the local provider points this at its temporary directory.
WORKSPACE = Path(os.environ.get("HARNESS_WORKSPACE", "/workspace"))
#: Prefix of the line an agent check prints its JSON result after.
CHECK_MARKER = "@@HARNESS-CHECK@@"
DEFAULT_READ_LIMIT = 8 * 1024 * 1024


class Fail(Exception):
    """The agent's work is missing or malformed; the message becomes the verdict's details."""


def submission() -> str | None:
    """The text the agent submitted (None when it submitted nothing)."""
    data = json.loads((GRADER_DIR / "submission.json").read_text(encoding="utf-8"))
    value = data.get("submission")
    return value if isinstance(value, str) else None


def require_submission() -> str:
    """The submission with surrounding whitespace (and a trailing period) removed; Fail if empty."""
    value = submission()
    if value is None or not value.strip():
        raise Fail("nothing was submitted")
    return value.strip().rstrip(".").strip()


def expected(name: str = "expected.json") -> Any:
    """A JSON file shipped in the grader folder (never visible to the agent)."""
    return json.loads((GRADER_DIR / name).read_text(encoding="utf-8"))


def read_workspace(rel: str, limit: int = DEFAULT_READ_LIMIT) -> bytes:
    """Bytes of a regular file under the workspace, refusing symlinks anywhere on the path.

    A symlink could point the root grader at its own answers (``out.json -> /grader/...``),
    so every component is checked with lstat and the file is opened with O_NOFOLLOW.
    """
    current = WORKSPACE
    parts = [part for part in Path(rel).parts if part not in ("", ".")]
    if not parts or ".." in parts or Path(rel).is_absolute():
        raise ValueError(f"grader bug: {rel!r} is not a relative workspace path")
    for index, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            raise Fail(f"{rel} does not exist in the workspace") from None
        except OSError as exc:
            raise Fail(f"cannot inspect {rel}: {exc.strerror}") from None
        if stat.S_ISLNK(info.st_mode):
            raise Fail(f"{rel} goes through a symbolic link ({part}); graders read only real files")
        last = index == len(parts) - 1
        if not last and not stat.S_ISDIR(info.st_mode):
            raise Fail(f"{rel}: {part} is not a directory")
        if last and not stat.S_ISREG(info.st_mode):
            raise Fail(f"{rel} is not a regular file")
        if last and info.st_size > limit:
            raise Fail(f"{rel} is {info.st_size} bytes, over the limit of {limit}")
    try:
        fd = os.open(current, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise Fail(f"cannot open {rel}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise Fail(f"{rel} is over the limit of {limit} bytes")
    return data


def read_workspace_text(rel: str, limit: int = DEFAULT_READ_LIMIT) -> str:
    """A workspace file as UTF-8 text; Fail when it is not valid UTF-8."""
    try:
        return read_workspace(rel, limit).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Fail(f"{rel} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_workspace_json(rel: str, limit: int = DEFAULT_READ_LIMIT) -> Any:
    """A workspace file parsed as JSON; Fail when it does not parse."""
    text = read_workspace_text(rel, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Fail(f"{rel} is not valid JSON: {exc.msg} (line {exc.lineno})") from None


def agent_check() -> dict[str, Any]:
    """What grader/agent_check.py did when run as the agent user: exit code, output, timing."""
    path = GRADER_DIR / "agent_check.json"
    if not path.is_file():
        raise RuntimeError("grader bug: this task has no agent check result")
    return json.loads(path.read_text(encoding="utf-8"))


def check_payload() -> Any:
    """The JSON the agent check printed after CHECK_MARKER (its last such line).

    Everything else the agent's code printed is ignored: that output is untrusted, and
    only values compared against answers it never saw decide the grade.
    """
    result = agent_check()
    if result.get("timed_out"):
        raise Fail("the check of the agent's work timed out")
    for line in reversed(str(result.get("stdout", "")).splitlines()):
        if line.startswith(CHECK_MARKER):
            try:
                return json.loads(line[len(CHECK_MARKER) :])
            except json.JSONDecodeError:
                raise Fail("the check of the agent's work printed a garbled result") from None
    tail = str(result.get("stderr", ""))[-600:].strip()
    raise Fail(
        f"the check of the agent's work gave no result (exit code {result.get('exit_code')})"
        + (f": {tail}" if tail else "")
    )


def parse_number(text: str) -> float:
    """A number from a submission, tolerating thousands separators and a leading currency sign."""
    cleaned = text.strip().replace(",", "").replace("_", "").lstrip("€$£").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise Fail(f"submission {text[:80]!r} is not a number") from None
    if not math.isfinite(value):
        raise Fail(f"submission {text[:80]!r} is not a finite number")
    return value


def same(actual: Any, wanted: Any, tol: float = 1e-9) -> bool:
    """Deep equality of JSON values where numbers may differ by ``tol`` (relative or absolute)."""
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return actual is wanted
    if isinstance(wanted, int | float) and isinstance(actual, int | float):
        return math.isclose(actual, wanted, rel_tol=tol, abs_tol=tol)
    if isinstance(wanted, list) and isinstance(actual, list):
        return len(actual) == len(wanted) and all(
            same(a, w, tol) for a, w in zip(actual, wanted, strict=True)
        )
    if isinstance(wanted, dict) and isinstance(actual, dict):
        return actual.keys() == wanted.keys() and all(
            same(actual[k], wanted[k], tol) for k in wanted
        )
    return type(actual) is type(wanted) and actual == wanted


def score_cases(results: list[tuple[str, bool]], *, show: int = 5) -> tuple[bool, float, str]:
    """Verdict for named pass/fail cases: all must pass; details name the first failures."""
    if not results:
        raise RuntimeError("grader bug: no cases")
    failed = [name for name, ok in results if not ok]
    score = (len(results) - len(failed)) / len(results)
    if not failed:
        return True, 1.0, f"all {len(results)} checks passed"
    named = ", ".join(failed[:show]) + (" ..." if len(failed) > show else "")
    return False, score, f"{len(failed)} of {len(results)} checks failed: {named}"


def emit(passed: bool, score: float, details: str) -> None:
    """Print the verdict: one JSON line on stdout, the only line the harness reads."""
    score = min(1.0, max(0.0, float(score)))
    line = {"passed": bool(passed), "score": score, "details": str(details)[:2000]}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def run(grader: Callable[[], tuple[bool, float, str]]) -> None:
    """Run a grader function and print its verdict; Fail becomes a failing verdict."""
    try:
        passed, score, details = grader()
    except Fail as exc:
        emit(False, 0.0, str(exc))
        return
    emit(passed, score, details)
