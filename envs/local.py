"""LocalSandbox: a temporary directory plus host subprocesses, for development without Docker.

It offers NO isolation: commands run as the current user with full network and file
access.  It exists so the harness and its tests run where Docker is absent, and it obeys
the same contract as the docker provider (timeouts, output caps, file errors).

Sandbox paths are mapped into the temporary directory: ``/workspace/x`` becomes
``<tmp>/workspace/x`` and relative paths land under ``<tmp>/<workdir>``.  Commands see
host paths, so a command that names ``/workspace`` itself will not find it; use relative
paths (commands start in the mapped working directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

from envs._sandbox import (
    EXEC_MARKER_VAR,
    TIMEOUT_EXIT_CODE,
    CappedBuffer,
    ExecResult,
    OutputTooLarge,
    Sandbox,
    SandboxClosed,
    SandboxError,
    SandboxSpec,
    as_bytes,
    check_exec_args,
    decode,
    resolve_path,
)

# Seconds to wait for output pipes to close after the process tree has been killed.
_DRAIN_AFTER_KILL_S = 2.0
_CHUNK = 64 * 1024


class LocalSandbox(Sandbox):
    """Runs commands as host subprocesses in a private temporary directory (no isolation).

    ``spec.image``, the resource limits and ``network`` are ignored; ``user`` must be
    left at None (commands always run as the current user).  ``spec.services`` cannot
    run here: start() raises SandboxError.
    """

    def __init__(
        self,
        spec: SandboxSpec,
        *,
        run_id: str = "adhoc",
        sample_id: str | None = None,
    ):
        self.spec = spec
        self.run_id = run_id
        self.sample_id = sample_id or uuid.uuid4().hex[:12]
        # Every exec's marker starts with this, so close() can find every process any
        # exec left behind, even ones that started their own session.
        self._token = uuid.uuid4().hex
        self._root: Path | None = None
        self._closed = False

    @property
    def root(self) -> Path:
        """The host directory that stands for the sandbox's ``/``."""
        if self._root is None or self._closed:
            raise SandboxClosed("sandbox is not running (not started, or closed)")
        return self._root

    async def start(self) -> None:
        if self._closed:
            raise SandboxClosed("sandbox was closed before it started")
        if self.spec.services:
            names = ", ".join(service.name for service in self.spec.services)
            raise SandboxError(
                f"services need the docker sandbox: the local provider cannot run {names}"
            )
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="harness-local-"))
            self.host_path(self.spec.workdir).mkdir(parents=True, exist_ok=True)
            self.host_path("/home").mkdir(exist_ok=True)

    def host_path(self, path: str) -> Path:
        """Where a sandbox path lives on the host (``..`` cannot leave the sandbox root)."""
        return self.root / resolve_path(self.spec.workdir, path).lstrip("/")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        _kill_marked(f"{self._token}-", prefix=True)
        root, self._root = self._root, None
        if root is not None:
            await asyncio.to_thread(_remove_tree, root)

    async def exec(
        self,
        cmd: list[str],
        *,
        timeout: float,
        cwd: str | None = None,
        env: Mapping[str, str] | None = None,
        input: bytes | None = None,
        user: str | None = None,
    ) -> ExecResult:
        check_exec_args(cmd, timeout)
        if user is not None:
            raise SandboxError("LocalSandbox cannot switch users; leave user=None")
        workdir = self.host_path(cwd or self.spec.workdir)
        marker = f"{self._token}-{uuid.uuid4().hex}"
        # Not the host environment: API keys and the like must not leak into commands.
        environment = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(self.host_path("/home")),
            "LANG": "C.UTF-8",
            **self.spec.env,
            **(env or {}),
            EXEC_MARKER_VAR: marker,
        }
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd,
                cwd=workdir,
                env=environment,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                # Own process group, so a timeout can kill the command's whole tree.
                start_new_session=True,
            )
        except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
            if not workdir.is_dir():
                raise SandboxError(f"working directory does not exist: {cwd}") from exc
            # Same codes a shell (and the docker provider) gives for these failures.
            code = 126 if isinstance(exc, PermissionError) else 127
            return ExecResult("", f"{cmd[0]}: {exc.strerror}\n", code, time.monotonic() - started)

        out = CappedBuffer(self.spec.max_output_bytes)
        err = CappedBuffer(self.spec.max_output_bytes)
        assert proc.stdout is not None and proc.stderr is not None
        parts = [_pump(proc.stdout, out), _pump(proc.stderr, err), proc.wait()]
        if input is not None:
            assert proc.stdin is not None
            parts.append(_feed(proc.stdin, input))
        everything = asyncio.ensure_future(asyncio.gather(*parts))
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.shield(everything), timeout)
        except TimeoutError:
            timed_out = True
            _kill_tree(proc.pid, marker)
            # If pipes stay open even so, wait_for cancels the readers: stop waiting.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(everything, _DRAIN_AFTER_KILL_S)
        except asyncio.CancelledError:
            _kill_tree(proc.pid, marker)
            everything.cancel()
            raise
        returncode = proc.returncode if proc.returncode is not None else -signal.SIGKILL
        return ExecResult(
            stdout=decode(out.getvalue()),
            stderr=decode(err.getvalue()),
            # Killed by a signal: report 128+N as a shell and docker exec do.
            exit_code=TIMEOUT_EXIT_CODE
            if timed_out
            else (returncode if returncode >= 0 else 128 - returncode),
            duration=time.monotonic() - started,
            timed_out=timed_out,
            truncated=out.truncated or err.truncated,
        )

    async def read_file(self, path: str) -> bytes:
        host = self.host_path(path)
        limit = self.spec.max_read_bytes
        if host.is_dir():
            raise IsADirectoryError(f"is a directory in sandbox: {path}")
        try:
            size = host.stat().st_size
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"no such file in sandbox: {path}") from exc
        if size > limit:
            raise OutputTooLarge(path, size, limit)
        with host.open("rb") as handle:
            data = handle.read(limit + 1)  # the file may have grown since stat()
        if len(data) > limit:
            raise OutputTooLarge(path, len(data), limit)
        return data

    async def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        host = self.host_path(path)
        if host == self.root:
            raise IsADirectoryError("cannot write to /")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(as_bytes(data))
        host.chmod(mode)


async def _pump(stream: asyncio.StreamReader, sink: CappedBuffer) -> None:
    # Read everything (so the writer never blocks on a full pipe) but keep only the cap.
    while chunk := await stream.read(_CHUNK):
        sink.feed(chunk)


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the command exited without reading all its input: not an error
    finally:
        stdin.close()


def _kill_tree(pid: int, marker: str) -> None:
    """Kill the command's process group, then anything else carrying its marker."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    _kill_marked(marker)


def _kill_marked(marker: str, *, prefix: bool = False) -> None:
    """SIGKILL every process whose environment has the marker (Linux only; best effort)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    needle = f"{EXEC_MARKER_VAR}={marker}".encode()
    me = os.getpid()
    for _ in range(5):  # repeat: a process may fork while we sweep
        found = False
        for entry in proc.iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(item == needle or (prefix and item.startswith(needle)) for item in environ):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    found = True
        if not found:
            return


def _remove_tree(root: Path) -> None:
    # A command may have left directories without write permission; restore it first.
    for dirpath, dirnames, _ in os.walk(root):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), stat.S_IRWXU)
    with contextlib.suppress(OSError):
        os.chmod(root, stat.S_IRWXU)
    shutil.rmtree(root, ignore_errors=True)
