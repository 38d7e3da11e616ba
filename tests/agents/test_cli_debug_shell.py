"""``harness debug TASK``'s interactive shell, used as a person would: the real CLI in a child
process whose controlling terminal is a pseudo-terminal, driven by typing into it.

Every test here ends its child in a ``finally`` (the whole process group, so the
``docker exec`` too) and removes the container by name if the harness left it behind.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import docker
import docker.errors
import pytest

import tasks
from harness.cli import _agentic
from tasks._spec import task_files

# Its workspace has nested files and its grader has every kind of file (agent_check too).
TASK_ID = "bugfix-intervals"
HARNESS = Path(sys.executable).with_name("harness")
# Generous: the machine is small and busy, and the first start may build an image.
START_TIMEOUT_S = 300.0
STEP_TIMEOUT_S = 90.0
EXIT_TIMEOUT_S = 180.0

# CSI and OSC sequences (colours, bracketed paste, window titles) and carriage returns.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[=>]|\r")


def _take_terminal() -> None:
    """In the child, after setsid: make the pty (its stdin) the controlling terminal, as a
    login shell's terminal is, so a hangup sends it SIGHUP."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``harness debug ARGS`` running on a fresh pty; the test keeps the master side."""

    def __init__(self, *args: str, cwd: Path):
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.initial_modes = termios.tcgetattr(self.slave)
        self.raw = b""
        self.container: str | None = None
        env = {**os.environ, "TERM": "xterm", "COLUMNS": "200", "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [str(HARNESS), "debug", *args],
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_take_terminal,
        )

    @property
    def text(self) -> str:
        return _ESCAPES.sub("", self.raw.decode("utf-8", "replace"))

    def _pump(self, wait: float) -> bool:
        """Read what the pty has within ``wait`` seconds; False when nothing came."""
        if self.master < 0:
            return False
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: nothing has the other side open any more
            return False
        self.raw += data
        return bool(data)

    def expect(self, pattern: str, timeout: float = STEP_TIMEOUT_S, start: int = 0) -> re.Match:
        """Wait for ``pattern`` in the (escape-free) output from offset ``start`` on."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.text, start)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} within {timeout:.0f} s; output:\n{self.text}")
            if not self._pump(0.5) and self.proc.poll() is not None:
                raise AssertionError(
                    f"harness exited ({self.proc.returncode}) before {pattern!r}; "
                    f"output:\n{self.text}"
                )

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def run(self, line: str) -> None:
        self.type(line + "\r")  # what the Enter key sends

    def open_shell(self) -> int:
        """Wait for the debug shell's prompt; returns where in the output it starts."""
        shell = self.expect(
            r"shell in (\S+); exit it to remove the container", timeout=START_TIMEOUT_S
        )
        self.container = shell.group(1)
        return self.expect(r"[$#] $", start=shell.end()).end()

    def wait(self, timeout: float = EXIT_TIMEOUT_S) -> int:
        """The harness's exit code, reading its output meanwhile (the pty buffer is small)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"harness still running after {timeout:.0f} s:\n{self.text}")
            self._pump(0.2)
        while self._pump(0.2):
            pass
        return self.proc.returncode

    def hang_up(self) -> None:
        """Close the terminal, as closing its window or losing the ssh connection does."""
        os.close(self.slave)
        os.close(self.master)
        self.slave = self.master = -1

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        finally:
            for fd in (self.slave, self.master):
                if fd >= 0:
                    os.close(fd)
            self.slave = self.master = -1
            if self.container:
                _remove(self.container)


def _leftovers(name: str) -> list[str]:
    """Harness-managed debug containers of this name (running or not)."""
    client = docker.from_env()
    try:
        wanted = ["harness.managed=1", "harness.run=debug", f"harness.sample={TASK_ID}"]
        found = client.containers.list(all=True, filters={"label": wanted, "name": name})
        return [c.name for c in found if c.name == name]
    finally:
        client.close()


def _remove(name: str) -> None:
    client = docker.from_env()
    try:
        client.containers.get(name).remove(force=True)
    except docker.errors.NotFound:
        pass
    finally:
        client.close()


@pytest.fixture
def terminal(tmp_path: Path):
    """Starts ``harness debug`` on a pty (call it with the arguments after ``debug``)."""
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        started.append(Terminal(*args, cwd=tmp_path))
        return started[-1]

    try:
        yield start
    finally:
        for term in started:
            term.close()


@pytest.mark.docker
def test_debug_shell_is_the_agents_view_and_exit_removes_the_container(terminal) -> None:
    task = tasks.load_task(tasks.SUITE_ROOT / TASK_ID)
    spec = tasks.sandbox_spec(task, "unused")
    term = terminal(TASK_ID)
    start = term.open_shell()

    term.run('echo "user=$(id -un) cwd=$(pwd)"')
    found = term.expect(r"user=(\w+) cwd=(/\S*)", start=start)
    assert found.groups() == (spec.user, spec.workdir)

    term.run('echo "files=[$(find . -type f | sort | paste -sd, -)]"')
    listed = term.expect(r"files=\[([^\]$]*)\]", start=start).group(1)
    assert listed.split(",") == [f"./{rel.as_posix()}" for rel in task_files(task.workspace_dir)]

    # Neither the grader (installed only when grading) nor the reference solution is anywhere
    # the agent can look, under any name the task folder uses for them.
    hidden = sorted(
        {rel.name for rel in task_files(task.grader_dir) + task_files(task.solution_dir)}
        | {"task.yaml"}
    )
    assert {"grade.py", "solve.sh"} <= set(hidden)
    names = " -o ".join(f"-name {name}" for name in hidden)
    term.run(
        f'echo "grader=$(test -e {tasks.GRADER_DIR} && echo present || echo absent) '
        f"hidden=[$(find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune "
        f'-o \\( {names} \\) -print 2>/dev/null | paste -sd, -)]"'
    )
    found = term.expect(r"grader=(\w+) hidden=\[([^\]$]*)\]", start=start)
    assert found.groups() == ("absent", "")

    # Ctrl-C reaches the command in the container, not the harness: the shell stays.
    term.run('echo "sleeping=$((20+22))"; sleep 600')
    term.expect(r"sleeping=42", start=start)
    time.sleep(1.0)
    term.type("\x03")
    term.run('echo "after-ctrl-c=$((6*7))"')
    term.expect(r"after-ctrl-c=42", start=start)
    assert term.proc.poll() is None

    term.run("exit")
    assert term.wait() == 0, term.text
    out = term.text
    system, user = _agentic._framed_prompt(task, None, None)
    assert "system prompt" in out and "task message" in out
    for line in (system + "\n" + user).splitlines():
        assert line.strip() in out, f"framed prompt line missing: {line!r}"
    assert f"container {term.container} removed" in out
    assert _leftovers(term.container) == []
    # docker exec -it made the terminal raw; it must have been put back as it was.
    modes = termios.tcgetattr(term.slave)
    assert modes[:4] == term.initial_modes[:4]  # iflag, oflag, cflag, lflag


@pytest.mark.docker
@pytest.mark.parametrize("how", ["hangup", "sigterm"])
def test_debug_shell_killed_abruptly_still_removes_the_container(terminal, how) -> None:
    term = terminal(TASK_ID)
    start = term.open_shell()
    term.run('echo "alive=$((40+2))"')
    term.expect(r"alive=42", start=start)
    assert term.container and _leftovers(term.container) == [term.container]

    if how == "hangup":
        term.hang_up()
        expected = 128 + signal.SIGHUP
    else:
        term.proc.send_signal(signal.SIGTERM)
        expected = 128 + signal.SIGTERM
    code = term.wait()
    # The container is gone by the time the harness has exited, not eventually.
    assert (code, _leftovers(term.container)) == (expected, []), term.text
    if how == "sigterm":  # the terminal lives on, so it must not be left raw
        assert termios.tcgetattr(term.slave)[:4] == term.initial_modes[:4]
