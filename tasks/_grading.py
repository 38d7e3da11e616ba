"""Running a task in a sandbox: its image and spec, workspace setup, and tamper-proof grading.

Grading happens after the agent has stopped, in this order (docker provider):

1. **Stop the agent.**  Every process of the agent user is frozen (SIGSTOP, so nothing
   can fork) and killed, repeatedly, by a script running *as the agent user*: the docker
   sandbox drops every capability, so root inside it may not signal other users'
   processes, but a user may always kill its own.  Root then lists the processes
   independently.  If the sweep could not run (a fork bomb can exhaust the pids limit)
   or left anything, a docker sandbox is restarted, which ends every process but keeps
   the files; grading stops with an error if agent processes survive even that.
2. **Run the agent check** (only tasks with ``grader/agent_check.py``): code that must
   execute the agent's work (import its package, start a service with its config) runs
   as the agent user with a timeout, its source fed on stdin so it never lands on disk.
   It sees test inputs but never the expected answers.  Then step 1 is repeated, so
   nothing it started survives.
3. **Install the grader.**  Only now is grader/ copied, as root, into ``/grader``
   (mode 0700, owned by root), with the submission and the check's output as JSON files.
   No process of the agent user exists at this point, and none could read the folder.
4. **Judge.**  ``python3 /grader/grade.py`` runs as root with a timeout and must print one
   JSON line ``{"passed", "score", "details"}``; anything else is a grading error.

Root inside the sandbox has no capabilities either (no CAP_DAC_OVERRIDE, CAP_KILL,
CAP_SETUID), which is why steps 1 and 2 run as the agent user; root keeps the one
property grading needs: files it creates mode 0700 are unreadable to everyone else.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from envs import Sandbox, SandboxError, SandboxSpec
from tasks._spec import GRADELIB_PATH, TaskSpec, task_files

Progress = Callable[[str], None]

#: Where the grader is installed inside the sandbox (root-only).
GRADER_DIR = "/grader"
#: Seconds grade.py may run, and the agent check.
GRADER_TIMEOUT_S = 60.0
CHECK_TIMEOUT_S = 60.0
# Seconds for the small stop/verify/install helper commands.
_HELPER_TIMEOUT_S = 30.0
# Only this much of the check's stderr reaches the grader: it is for failure messages.
_CHECK_STDERR_KEEP = 4000

# Runs as the agent user: SIGSTOP then SIGKILL every process of this uid, except PID 1,
# the container's own main process, this script and its ancestors, until none is left.
# Stopping first matters: a fork loop cannot outrun a sweep that freezes before killing.
_PROC_HELPERS = r"""
import os, sys
def stat_of(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])
def uids_of(pid):
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return {int(x) for x in line.split()[1:]}
    except OSError:
        return None
    return None
def pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]
def main_process():
    # With Docker's init as PID 1, the container command is its earliest-started child;
    # every process the agent started began later.
    try:
        with open("/proc/1/cmdline", "rb") as handle:
            argv0 = handle.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return None
    if os.path.basename(argv0) not in ("docker-init", "tini"):
        return None
    children = [(info[2], pid) for pid in pids() if (info := stat_of(pid)) and info[1] == 1]
    return min(children)[1] if children else None
def protected():
    keep = {1, os.getpid()}
    pid = os.getpid()
    while pid > 1:
        info = stat_of(pid)
        if info is None:
            break
        pid = info[1]
        keep.add(pid)
    main = main_process()
    if main is not None:
        keep.add(main)
    return keep
def agent_processes(uid, keep):
    found = []
    for pid in pids():
        if pid in keep:
            continue
        info = stat_of(pid)
        owners = uids_of(pid)
        if info is None or owners is None or info[0] in ("Z", "X"):
            continue
        if uid in owners:
            found.append(pid)
    return found
"""

_STOP_SCRIPT = (
    _PROC_HELPERS
    + r"""
import signal, time
uid = os.getuid()
keep = protected()
for attempt in range(200):
    targets = agent_processes(uid, keep)
    if not targets:
        print("stopped")
        sys.exit(0)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in targets:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    time.sleep(min(0.005 * (attempt + 1), 0.1))
print("still running:", agent_processes(uid, keep))
sys.exit(1)
"""
)

# Runs as root: report (as JSON) every live process of the agent user but PID 1 and the
# container's main process.  Root cannot kill them, but it can see them all.
_VERIFY_SCRIPT = (
    _PROC_HELPERS
    + r"""
import json, pwd
user = sys.argv[1]
uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
left = agent_processes(uid, {1, main_process()} | {os.getpid()})
described = []
for pid in left:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmd = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmd = "?"
    described.append(f"{pid}:{cmd[:80]}")
print(json.dumps(described))
"""
)

# Runs as root: create the grader folder (failing if it exists: grade() runs once per
# sandbox) and unpack the grader archive from stdin into it, owned by root, mode 0700.
_INSTALL_SCRIPT = (
    f"set -eu; umask 077; mkdir {GRADER_DIR}; "
    f"tar -x --no-same-owner -f - -C {GRADER_DIR}; chmod -R go-rwx {GRADER_DIR}"
)


@dataclass(frozen=True, slots=True)
class Grade:
    """The verdict on one attempt.

    ``error`` is set when grading itself failed (grader crash, bad output, sandbox gone):
    ``passed`` is then False, but the attempt was not judged.
    """

    passed: bool
    score: float
    details: str
    error: str | None = None
    duration: float = 0.0

    @classmethod
    def failure(cls, error: str, duration: float = 0.0) -> Grade:
        return cls(passed=False, score=0.0, details="", error=error, duration=duration)


# -- images and specs --------------------------------------------------------------------

_image_lock = threading.Lock()
_image_cache: dict[str, str] = {}
# "<id>:<content hash>" -> {service name: image tag}, filled by task_image().
_service_cache: dict[str, dict[str, str]] = {}


def _build_context(task: TaskSpec, parent: Path) -> Path:
    """A copy of the task folder without grader/, solution/ and workspace/, to build from.

    The grader must never reach an image; leaving it out of the build context makes
    that true whatever the Dockerfile says, and keeps grader edits from forcing rebuilds.
    The copy is named after the task so the image tag is ``harness-task-<id>:<hash>``.
    """
    context = parent / task.id
    context.mkdir()
    for rel in task_files(task.directory):
        # services/ has its own images: its files are no business of the sandbox image.
        skipped = ("grader", "solution", "workspace", "services")
        if rel.parts[0] in skipped or rel.as_posix() == "task.yaml":
            continue
        target = context / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(task.directory / rel, target)
    return context


def _task_image_sync(task: TaskSpec, progress: Progress | None) -> str:
    from envs.images import build_image, ensure_base_image

    key = f"{task.id}:{task.content_hash}"
    # One build at a time: concurrent validations must not build the same image twice,
    # and parallel builds on a small machine are slower than serial ones.
    with _image_lock:
        if key in _image_cache:
            return _image_cache[key]
        base = ensure_base_image(progress)
        services: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix="harness-task-ctx-") as tmp:
            tag = base
            if task.dockerfile is not None:
                tag = build_image(_build_context(task, Path(tmp)), base, progress=progress)
            for service in task.services:
                # Only services/<name>/ is the context, copied under a name that makes
                # the tag harness-task-<id>-svc-<name>:<hash>.
                context = Path(tmp) / f"{task.id}-svc-{service.name}"
                shutil.copytree(task.service_dir(service.name), context)
                services[service.name] = build_image(context, base, progress=progress)
        _service_cache[key] = services
        _image_cache[key] = tag
        return tag


async def task_image(task: TaskSpec, progress: Progress | None = None) -> str:
    """The image tag to run ``task`` in: the base image, or its own image built on it.

    Builds the images of the task's services too (see :func:`sandbox_spec`).
    Task images are tagged by a hash of their build inputs, so an unchanged task is never
    rebuilt; results are also cached for the life of the process.  ``progress`` receives
    build log lines (default: printed to stderr, as envs.images does).
    """
    return await asyncio.to_thread(_task_image_sync, task, progress)


def service_images(task: TaskSpec) -> dict[str, str]:
    """Image tag of each of the task's services, as built by :func:`task_image`.

    A service whose image has not been built (task_image not called in this process, or
    the local provider) gets an ``:unbuilt`` tag that no image has, so a docker sandbox
    fails to start with a clear "not found" error rather than running something else.
    """
    built = _service_cache.get(f"{task.id}:{task.content_hash}", {})
    return {
        service.name: built.get(service.name, f"harness-task-{task.id}-svc-{service.name}:unbuilt")
        for service in task.services
    }


def sandbox_spec(task: TaskSpec, image: str) -> SandboxSpec:
    """The sandbox spec for ``task`` in ``image``: defaults plus the task's overrides.

    A task with ``network``/``services`` gets its internal network and its service
    containers (their images come from :func:`service_images`: call :func:`task_image`
    first, as every caller does anyway).
    """
    values: dict[str, object] = {"image": image, "labels": {"task": task.id}}
    for name, value in task.sandbox.model_dump().items():
        if value is not None:
            values[name] = value
    if task.network is not None:
        values["network"] = task.network
    images = service_images(task)
    values["services"] = [
        {
            "image": images[service.name],
            **{key: value for key, value in service.model_dump().items() if value is not None},
        }
        for service in task.services
    ]
    return SandboxSpec.model_validate(values)


# -- workspace ---------------------------------------------------------------------------


def _workspace_archive(task: TaskSpec) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        root = task.workspace_dir
        for rel in task_files(root):
            path = root / rel
            info = tarfile.TarInfo(rel.as_posix())
            data = path.read_bytes()
            info.size = len(data)
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.mtime = int(path.stat().st_mtime)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


async def setup_workspace(sandbox: Sandbox, task: TaskSpec) -> None:
    """Copy the task's workspace/ into the sandbox's working directory, owned by its user."""
    archive = _workspace_archive(task)
    # Unpacked by the sandbox user itself, so every file and folder belongs to it.
    result = await sandbox.exec(
        ["tar", "-x", "--no-same-owner", "-f", "-", "-C", "."],
        input=archive,
        timeout=_HELPER_TIMEOUT_S,
    )
    if not result.ok:
        raise SandboxError(f"could not set up the workspace of {task.id}: {result.stderr.strip()}")


# -- grading -----------------------------------------------------------------------------


def _local_root(sandbox: Sandbox) -> Path | None:
    """The host folder standing for the workspace when ``sandbox`` is a LocalSandbox."""
    from envs.local import LocalSandbox

    if isinstance(sandbox, LocalSandbox):
        return sandbox.host_path(sandbox.spec.workdir)
    return None


async def _surviving_agent_processes(sandbox: Sandbox) -> list[str]:
    """Root's own list of live agent-user processes (PID 1 and the main process aside)."""
    user = sandbox.spec.user
    verify = await sandbox.exec(
        ["python3", "-I", "-c", _VERIFY_SCRIPT, user], user="root", timeout=_HELPER_TIMEOUT_S
    )
    try:
        return list(json.loads(verify.stdout.strip().splitlines()[-1]))
    except (json.JSONDecodeError, IndexError, TypeError):
        raise SandboxError(
            f"could not list the agent's processes: {verify.stderr.strip()[:300]}"
        ) from None


async def _stop_agent(sandbox: Sandbox) -> None:
    """Kill every process of the agent user, then confirm as root that none is left.

    If that fails (a fork bomb can exhaust the pids limit so that no command starts at
    all), a docker sandbox is restarted instead: that ends every process in it and keeps
    its files.  Grading stops with an error if agent processes survive even so.
    """
    problem = ""
    try:
        stop = await sandbox.exec(
            ["python3", "-I", "-c", _STOP_SCRIPT], user=sandbox.spec.user, timeout=_HELPER_TIMEOUT_S
        )
        left = await _surviving_agent_processes(sandbox)
        if not left:
            return
        problem = f"{stop.stdout.strip()[:200]}: {', '.join(left)[:300]}"
    except SandboxError as exc:
        problem = str(exc)
    # DockerSandbox.restart also re-applies the network lockdown (default route removal).
    restart = getattr(sandbox, "restart", None)
    if restart is None:
        raise SandboxError(f"agent processes could not be stopped ({problem})")
    await asyncio.to_thread(restart)
    left = await _surviving_agent_processes(sandbox)
    if left:
        raise SandboxError(f"agent processes survived a restart: {', '.join(left)[:300]}")


async def _run_agent_check(sandbox: Sandbox, task: TaskSpec, local: bool) -> dict[str, object]:
    source = (task.grader_dir / "agent_check.py").read_bytes()
    result = await sandbox.exec(
        ["python3", "-I", "-"],
        input=source,
        user=None if local else sandbox.spec.user,
        timeout=CHECK_TIMEOUT_S,
    )
    return {
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "truncated": result.truncated,
        "duration": round(result.duration, 3),
        "stdout": result.stdout,
        "stderr": result.stderr[-_CHECK_STDERR_KEEP:],
    }


def _grader_files(
    task: TaskSpec, submission: str | None, check: dict[str, object] | None
) -> dict[str, bytes]:
    files = {
        rel.as_posix(): (task.grader_dir / rel).read_bytes() for rel in task_files(task.grader_dir)
    }
    files["gradelib.py"] = GRADELIB_PATH.read_bytes()
    files["submission.json"] = json.dumps({"submission": submission}).encode()
    if check is not None:
        files["agent_check.json"] = json.dumps(check).encode()
    return files


def _grader_archive(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(files[name]))
    return buf.getvalue()


def parse_verdict(stdout: str) -> tuple[bool, float, str]:
    """The verdict from grade.py's output: its last line must be the JSON verdict object."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("the grader printed nothing")
    try:
        verdict = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise ValueError(f"the grader's last line is not JSON: {lines[-1][:200]!r}") from None
    if not isinstance(verdict, dict):
        raise ValueError("the grader's verdict is not a JSON object")
    passed, score, details = verdict.get("passed"), verdict.get("score"), verdict.get("details")
    if not isinstance(passed, bool):
        raise ValueError("the grader's verdict has no boolean 'passed'")
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        raise ValueError("the grader's verdict has no 'score' between 0 and 1")
    if not isinstance(details, str):
        raise ValueError("the grader's verdict has no string 'details'")
    return passed, float(score), details


async def grade(sandbox: Sandbox, task: TaskSpec, submission: str | None) -> Grade:
    """Judge the attempt in ``sandbox`` after the agent has stopped (see the module docstring).

    Call once per sandbox, as its last use: the agent's processes are killed and the
    grader is installed into it.  Never raises for the attempt's own faults; problems
    with grading come back as ``Grade(passed=False, error=...)``.
    """
    started = time.monotonic()
    try:
        host_workspace = _local_root(sandbox)
        local = host_workspace is not None
        if not local:
            await _stop_agent(sandbox)
        check = None
        if task.has_agent_check:
            check = await _run_agent_check(sandbox, task, local)
            if not local:
                await _stop_agent(sandbox)
        files = _grader_files(task, submission, check)
        env: dict[str, str] = {}
        if local:
            # No users to separate: the local provider is for development only.
            for name, data in files.items():
                await sandbox.write_file(f"{GRADER_DIR}/{name}", data, mode=0o600)
            env["HARNESS_WORKSPACE"] = str(host_workspace)
            cmd = ["python3", "-E", "-s", "-B", "grade.py"]
        else:
            install = await sandbox.exec(
                ["sh", "-c", _INSTALL_SCRIPT],
                input=_grader_archive(files),
                user="root",
                timeout=_HELPER_TIMEOUT_S,
            )
            if not install.ok:
                raise SandboxError(f"could not install the grader: {install.stderr.strip()[:300]}")
            # -E -s: no PYTHON* variables, no user site; the script's own folder (root-only)
            # stays on sys.path so grade.py can import gradelib.
            cmd = ["python3", "-E", "-s", "-B", f"{GRADER_DIR}/grade.py"]
        result = await sandbox.exec(
            cmd, user=None if local else "root", cwd=GRADER_DIR, env=env, timeout=GRADER_TIMEOUT_S
        )
    except (SandboxError, OSError) as exc:
        return Grade.failure(f"grading failed: {exc}", time.monotonic() - started)
    duration = time.monotonic() - started
    if result.timed_out:
        return Grade.failure(f"the grader timed out after {GRADER_TIMEOUT_S:.0f} s", duration)
    if result.exit_code != 0:
        tail = result.stderr.strip().splitlines()[-3:]
        return Grade.failure(
            f"the grader exited with code {result.exit_code}: {' | '.join(tail)[:500]}", duration
        )
    try:
        passed, score, details = parse_verdict(result.stdout)
    except ValueError as exc:
        return Grade.failure(str(exc), duration)
    return Grade(passed=passed, score=score, details=details, duration=duration)
