"""DockerSandbox: one locked-down, throwaway container per sample, driven through the docker SDK.

Each sandbox is a fresh container running ``sleep infinity`` under Docker's init (as
``nobody``; commands run as the non-root agent user), with every capability dropped,
``no-new-privileges``, memory/CPU/pids limits and no network (or a fresh internal network).  Commands run through ``docker
exec``; files move with ``put_archive``/``get_archive``.  Every container and network
carries the labels ``harness.managed=1``, ``harness.run=<run id>`` and
``harness.sample=<sample id>`` so :func:`cleanup` can always find leftovers, and
``harness.owner`` naming the process that made it (host, boot, pid and start time), so that
:func:`remove_orphans` can tell the containers of a process that died from those of one still
running: several processes may run one run's sandboxes on one daemon (workers of a cluster).

With a named network, the sandbox may have *services* (``spec.services``): containers
started on the same internal network before the sandbox, reachable by their name (a
network alias), locked down the same way and labelled ``harness.service=<name>`` too.
Docker (before 26) still gives containers on an internal network a default route via
the bridge; the engine drops what it would forward, but the sandbox and its services
should not have a way out at all, so a short-lived helper (same image, root with only
``CAP_NET_ADMIN``, sharing the target's network namespace and nothing else) deletes the
default routes right after each container starts, and again after every restart.
What stays is the route to the sandbox subnet itself.

The SDK is blocking, so every call runs in a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import io
import os
import posixpath
import re
import socket
import struct
import tarfile
import threading
import time
import uuid
from collections.abc import Collection, Mapping

import docker
import docker.errors
from docker.models.containers import Container

from envs._client import docker_client
from envs._sandbox import (
    EXEC_MARKER_VAR,
    MAIN_HOSTNAME,
    TIMEOUT_EXIT_CODE,
    CappedBuffer,
    ExecResult,
    MiB,
    OutputTooLarge,
    Sandbox,
    SandboxClosed,
    SandboxError,
    SandboxSpec,
    ServiceSpec,
    as_bytes,
    check_exec_args,
    decode,
    resolve_path,
)

MANAGED_LABEL = "harness.managed"
RUN_LABEL = "harness.run"
SAMPLE_LABEL = "harness.sample"
SERVICE_LABEL = "harness.service"
ROLE_LABEL = "harness.role"
OWNER_LABEL = "harness.owner"
# uid:gid of the container's idle main process (Debian's nobody:nogroup).
IDLE_USER = "65534:65534"

# Seconds the in-container `timeout` waits after SIGTERM before SIGKILL.
_KILL_AFTER_S = 2
# Seconds past the timeout before the host-side watchdog kills the process tree itself;
# normally the in-container `timeout` has ended it by then.
_WATCHDOG_GRACE_S = 1.0
# Seconds to wait for the output stream to close after the watchdog has killed everything.
_DRAIN_AFTER_KILL_S = 5.0
# How often a blocked read wakes up to notice cancellation.
_POLL_S = 0.25
# Linux FileMode bits in Docker's archive stat header (Go's os.FileMode).
_MODE_DIR = 1 << 31
_MODE_SYMLINK = 1 << 27

# Kills every process whose environment holds the exec's marker, repeating while any is
# found so that children forked mid-sweep are caught too.  Uses only sh, grep and kill.
_KILL_SCRIPT = r"""
for round in 1 2 3 4 5; do
  found=0
  for d in /proc/[0-9]*; do
    if grep -qzxF "$1" "$d/environ" 2>/dev/null; then
      kill -9 "${d#/proc/}" 2>/dev/null && found=1
    fi
  done
  [ "$found" = 0 ] && exit 0
done
exit 0
"""

# Deletes every default route (IPv4 and IPv6, main table) of the network namespace it
# runs in, through rtnetlink, so that it needs nothing but python3 in the image.  Runs as
# root with CAP_NET_ADMIN only, in a helper sharing the target's network namespace.
_UNROUTE_SCRIPT = r"""
import errno, socket, struct, sys
sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
sock.bind((0, 0))
seq = 0
for family in (socket.AF_INET, socket.AF_INET6):
    for _ in range(64):
        seq += 1
        # rtmsg: family, dst_len 0 (the default route), src_len, tos, table main (254),
        # any protocol, scope RT_SCOPE_NOWHERE (any), any type, flags.
        body = struct.pack("=BBBBBBBBI", family, 0, 0, 0, 254, 0, 255, 0, 0)
        # nlmsghdr: length, RTM_DELROUTE (25), NLM_F_REQUEST | NLM_F_ACK, seq, port.
        sock.send(struct.pack("=IHHII", 16 + len(body), 25, 0x1 | 0x4, seq, 0) + body)
        reply = sock.recv(65536)
        kind = struct.unpack("=H", reply[4:6])[0]
        code = -struct.unpack("=i", reply[16:20])[0] if kind == 2 else 0
        if code == 0:
            continue  # one deleted; look for another
        if code in (errno.ESRCH, errno.ENOENT) or (family == socket.AF_INET6 and code in (
            errno.EAFNOSUPPORT, errno.EOPNOTSUPP, errno.ENETUNREACH)):
            break  # none left (or no IPv6 here)
        sys.exit(f"deleting the default route (family {family}) failed: "
                 f"{errno.errorcode.get(code, code)}")
    else:
        sys.exit("default routes keep coming back")
with open("/proc/net/route") as table:
    if any(line.split()[1] == "00000000" for line in list(table)[1:]):
        sys.exit("a default route is still there")
print("unrouted")
"""
# Seconds the route helper may take.
_UNROUTE_TIMEOUT_S = 60

# Containers this process created and has not removed yet; removed at interpreter exit as a
# last resort for code that forgot close() (``async with`` never needs this).  Keyed by
# the sandbox's main container name: (client, every container name, network name).
_live_lock = threading.Lock()
_live: dict[str, tuple[docker.DockerClient, tuple[str, ...], str | None]] = {}
# (image, user) -> (uid, gid), so ownership lookups happen once per image, not per sample.
_owner_cache: dict[tuple[str, str], tuple[int, int]] = {}


def _labels(spec: SandboxSpec, run_id: str, sample_id: str) -> dict[str, str]:
    return {
        **spec.labels,
        MANAGED_LABEL: "1",
        RUN_LABEL: run_id,
        SAMPLE_LABEL: sample_id,
        OWNER_LABEL: process_owner(),
    }


@functools.cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; the start time is the 20th
    # field after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def process_owner(pid: int | None = None) -> str:
    """``host/boot id/pid/start time`` of a process (this one by default): unique to it, even
    after its pid is reused or the machine reboots."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}/{_boot_id()}/{pid}/{_start_time(pid) or ''}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process an owner label names is still running, or None when it ran on
    another machine (sharing this daemon), which this process cannot check."""
    host, boot, pid, started = [*owner.split("/"), "", "", "", ""][:4]
    if host != socket.gethostname():
        return None
    if boot != _boot_id() or not pid.isdigit():
        return False  # this machine has rebooted since: no process of then still runs
    return bool(started) and _start_time(int(pid)) == started


def _safe_name(*parts: str) -> str:
    joined = "-".join(parts)
    return re.sub(r"[^a-zA-Z0-9_.-]+", "-", joined).strip("-.")


class DockerSandbox(Sandbox):
    """A sandbox backed by one Docker container; see the module docstring for the lockdown.

    ``run_id`` and ``sample_id`` only label resources (for cleanup and debugging).
    Construct, then ``async with sandbox:`` (or ``await start()`` ... ``await close()``).
    """

    def __init__(
        self,
        spec: SandboxSpec,
        *,
        run_id: str = "adhoc",
        sample_id: str | None = None,
        client: docker.DockerClient | None = None,
    ):
        self.spec = spec
        self.run_id = run_id
        self.sample_id = sample_id or uuid.uuid4().hex[:12]
        self._client = client
        token = uuid.uuid4().hex[:8]
        # Names are fixed before anything is created, so close() can remove by name even
        # if it runs while (or instead of) creation.
        # Ids are shortened so the random token (what makes the name unique) always fits.
        self.container_name = _safe_name("harness", run_id[:40], self.sample_id[:60], token)
        self.network_name: str | None = (
            None if spec.network == "none" else _safe_name("harness", spec.network, token)
        )
        #: Container name of each service, by service name.
        self.service_names: dict[str, str] = {
            service.name: f"{self.container_name}-svc-{service.name}" for service in spec.services
        }
        self._container: Container | None = None
        self._lifecycle = threading.Lock()
        self._closed = False

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = docker_client()
        return self._client

    @property
    def container(self) -> Container:
        """The running container (for inspection in tests and debugging)."""
        if self._container is None or self._closed:
            raise SandboxClosed("sandbox is not running (not started, or closed)")
        return self._container

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._start_sync)

    def _start_sync(self) -> None:
        spec = self.spec
        client = self.client
        labels = _labels(spec, self.run_id, self.sample_id)
        # The lock makes a concurrent close() wait until creation has finished, then remove
        # what was made: a cancelled start must not leave a container behind.
        with self._lifecycle:
            if self._closed:
                raise SandboxClosed("sandbox was closed before it started")
            if self._container is not None:
                return
            with _live_lock:
                _live[self.container_name] = (client, self._all_containers(), self.network_name)
            if self.network_name is not None:
                # internal=True: the bridge gets no route to anything outside the host.
                client.networks.create(
                    self.network_name, driver="bridge", internal=True, labels=labels
                )
            try:
                for service in spec.services:
                    self._start_service(service, labels)
                container = client.containers.create(
                    spec.image,
                    command=["sleep", "infinity"],
                    name=self.container_name,
                    hostname=MAIN_HOSTNAME,
                    # The idle main process belongs to neither the agent nor root: the agent
                    # cannot signal or ptrace it (no shared uid, no capabilities), so no agent
                    # code can hide in it and outlive the stop before grading. Every exec
                    # names its user (the agent by default), so this uid runs nothing else.
                    user=IDLE_USER,
                    working_dir=spec.workdir,
                    environment=dict(spec.env),
                    labels=labels,
                    network_mode="none" if self.network_name is None else self.network_name,
                    **_lockdown(spec.mem_limit, spec.cpus, spec.pids_limit),
                )
                container.start()
                if self.network_name is not None:
                    self._unroute(self.container_name, spec.image)
            except docker.errors.ImageNotFound as exc:
                raise SandboxError(
                    f"image {spec.image} not found; build it with `harness envs build`"
                ) from exc
            except docker.errors.APIError as exc:
                raise SandboxError(f"could not start sandbox container: {exc}") from exc
            self._container = container

    def _start_service(self, service: ServiceSpec, labels: dict[str, str]) -> None:
        """Create and start one service container on the sandbox network, alias = its name."""
        assert self.network_name is not None  # the spec guarantees it
        client = self.client
        try:
            container = client.containers.create(
                service.image,
                command=list(service.command) if service.command is not None else None,
                name=self.service_names[service.name],
                hostname=service.name,
                user=service.user,
                environment=dict(service.env),
                labels={**labels, SERVICE_LABEL: service.name},
                network=self.network_name,
                networking_config={
                    self.network_name: client.api.create_endpoint_config(aliases=[service.name])
                },
                **_lockdown(service.mem_limit, service.cpus, service.pids_limit),
            )
            container.start()
        except docker.errors.ImageNotFound as exc:
            raise SandboxError(
                f"image {service.image} of service {service.name!r} not found; build the "
                "task's images first (tasks.task_image / `harness envs build`)"
            ) from exc
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not start service {service.name!r}: {exc}") from exc
        self._unroute(self.service_names[service.name], service.image)

    def _unroute(self, target: str, image: str) -> None:
        """Delete the default routes of container ``target`` (see the module docstring)."""
        helper = f"{target}-unroute"
        labels = {**_labels(self.spec, self.run_id, self.sample_id), ROLE_LABEL: "unroute"}
        try:
            container = self.client.containers.create(
                image,
                # As the entrypoint, so an image's own entrypoint or command cannot interfere.
                entrypoint=["python3", "-I", "-c", _UNROUTE_SCRIPT],
                name=helper,
                user="0:0",
                labels=labels,
                network_mode=f"container:{target}",
                cap_drop=["ALL"],
                cap_add=["NET_ADMIN"],
                security_opt=["no-new-privileges"],
                mem_limit="64m",
                memswap_limit="64m",
                pids_limit=16,
                detach=True,
            )
            try:
                container.start()
                status = container.wait(timeout=_UNROUTE_TIMEOUT_S)
                if status.get("StatusCode") != 0:
                    log = container.logs().decode(errors="replace").strip()[-300:]
                    raise SandboxError(f"could not remove the default route of {target}: {log}")
            finally:
                _remove_container(self.client, helper)
        except docker.errors.APIError as exc:
            raise SandboxError(f"could not remove the default route of {target}: {exc}") from exc
        except OSError as exc:  # the wait timed out (requests raises a ConnectionError)
            raise SandboxError(f"removing the default route of {target} hung: {exc}") from exc

    def _all_containers(self) -> tuple[str, ...]:
        """Every container this sandbox may create, main container first, helpers too."""
        names = [self.container_name, *self.service_names.values()]
        if self.network_name is None:
            return tuple(names)
        return tuple(names + [f"{name}-unroute" for name in names])

    def restart(self) -> None:
        """Restart the main container (ends every process in it, keeps its files); blocking.

        A restart gives the container a fresh network endpoint, so the default route is
        deleted again before this returns.
        """
        self.client.api.restart(self.container_name, timeout=0)
        if self.network_name is not None:
            self._unroute(self.container_name, self.spec.image)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Shielded: a second cancellation must not abandon the removal half-way.  If the
        # awaiting task is cancelled anyway, the thread still finishes, and asyncio.run
        # waits for worker threads before the interpreter exits.
        await asyncio.shield(asyncio.to_thread(self._remove_sync))

    def _remove_sync(self) -> None:
        self._closed = True
        with self._lifecycle:
            _remove_all(self.client, self._all_containers(), self.network_name)
            with _live_lock:
                _live.pop(self.container_name, None)
            self._container = None

    # -- exec ----------------------------------------------------------------------------

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
        container = self.container
        workdir = resolve_path(self.spec.workdir, cwd or self.spec.workdir)
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(
                self._exec_sync,
                container.id,
                cmd,
                timeout,
                workdir,
                dict(env or {}),
                input,
                user or self.spec.user,
                cancel,
            )
        except asyncio.CancelledError:
            # The worker thread cannot be cancelled; tell it to kill the command and stop.
            cancel.set()
            raise

    def _exec_sync(
        self,
        container_id: str,
        cmd: list[str],
        timeout: float,
        workdir: str,
        env: dict[str, str],
        input: bytes | None,
        user: str,
        cancel: threading.Event,
    ) -> ExecResult:
        api = self.client.api
        marker = f"{EXEC_MARKER_VAR}={uuid.uuid4().hex}"
        environment = [f"{key}={value}" for key, value in env.items()] + [marker]
        # The in-container timeout ends the command even if this process dies; the
        # watchdog below covers what it cannot (children that left its process group).
        wrapped = ["timeout", "-k", str(_KILL_AFTER_S), f"{timeout:.3f}s", *cmd]
        out = CappedBuffer(self.spec.max_output_bytes)
        err = CappedBuffer(self.spec.max_output_bytes)
        started = time.monotonic()
        try:
            exec_id = api.exec_create(
                container_id,
                wrapped,
                stdin=input is not None,
                user=user,
                environment=environment,
                workdir=workdir,
            )["Id"]
            raw = api.exec_start(exec_id, socket=True)
        except docker.errors.APIError as exc:
            raise SandboxError(f"docker exec failed: {exc}") from exc
        sock: socket.socket = getattr(raw, "_sock", raw)
        watchdog_fired = False
        try:
            if input is not None:
                # A separate writer: a command that prints before reading all its input
                # would otherwise deadlock against a blocking sendall.
                threading.Thread(target=_send_input, args=(sock, input), daemon=True).start()
            frames = _FrameReader(out, err)
            deadline = started + timeout + _WATCHDOG_GRACE_S
            give_up_at: float | None = None
            while True:
                now = time.monotonic()
                if give_up_at is None and (cancel.is_set() or now >= deadline):
                    watchdog_fired = not cancel.is_set()
                    self._kill_marked(marker, user)
                    give_up_at = now + _DRAIN_AFTER_KILL_S
                if give_up_at is not None and now >= give_up_at:
                    break  # everything is killed; an open stream must not hang us
                sock.settimeout(_POLL_S)
                try:
                    chunk = sock.recv(256 * 1024)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                frames.feed(chunk)
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            with contextlib.suppress(Exception):
                raw.close()
        duration = time.monotonic() - started
        try:
            exit_code = self._exit_code(exec_id)
        except docker.errors.APIError as exc:
            raise SandboxError(f"sandbox went away during exec: {exc}") from exc
        timed_out = watchdog_fired or (
            exit_code in (TIMEOUT_EXIT_CODE, 128 + 9) and duration >= timeout
        )
        stdout = out.getvalue()
        if exit_code == 126 and stdout.startswith(b"OCI runtime exec failed"):
            # The runtime could not even start the command (missing cwd or user): that is
            # a harness problem, not the command's result.
            raise SandboxError(decode(stdout).strip())
        if timed_out and not watchdog_fired:
            # `timeout` killed its process group; children that escaped it may live on.
            self._kill_marked(marker, user)
        return ExecResult(
            stdout=decode(stdout),
            stderr=decode(err.getvalue()),
            exit_code=TIMEOUT_EXIT_CODE if timed_out else exit_code,
            duration=duration,
            timed_out=timed_out,
            truncated=out.truncated or err.truncated,
        )

    def _exit_code(self, exec_id: str) -> int:
        # The stream can close a moment before the daemon records the exit code.
        for _ in range(50):
            info = self.client.api.exec_inspect(exec_id)
            if not info.get("Running") and info.get("ExitCode") is not None:
                return int(info["ExitCode"])
            time.sleep(0.02)
        return -1

    def _kill_marked(self, marker: str, user: str) -> None:
        """Kill every process carrying ``marker``; restart the container if that fails."""
        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.container_name, ["sh", "-c", _KILL_SCRIPT, "kill", marker], user=user
            )["Id"]
            api.exec_start(exec_id)
            if self._exit_code(exec_id) == 0:
                return
        except docker.errors.APIError:
            pass
        # The sweep could not run (e.g. the pids limit is exhausted by a fork bomb):
        # restarting kills every process in the container but keeps its files.
        with contextlib.suppress(docker.errors.APIError):
            self.restart()

    # -- files ---------------------------------------------------------------------------

    async def read_file(self, path: str) -> bytes:
        container = self.container
        return await asyncio.to_thread(
            self._read_sync, container.id, resolve_path(self.spec.workdir, path)
        )

    def _read_sync(self, container_id: str, path: str) -> bytes:
        api = self.client.api
        limit = self.spec.max_read_bytes
        target = path
        for _ in range(10):  # follow at most this many symlinks
            try:
                stream, stat = api.get_archive(container_id, target)
            except docker.errors.NotFound as exc:
                raise FileNotFoundError(f"no such file in sandbox: {path}") from exc
            except docker.errors.APIError as exc:
                raise SandboxError(f"cannot read {path}: {exc}") from exc
            mode = int(stat.get("mode", 0))
            if mode & _MODE_SYMLINK and stat.get("linkTarget"):
                _close_stream(stream)
                target = resolve_path(posixpath.dirname(target), stat["linkTarget"])
                continue
            if mode & _MODE_DIR:
                _close_stream(stream)
                raise IsADirectoryError(f"is a directory in sandbox: {path}")
            size = int(stat.get("size", 0))
            if size > limit:
                _close_stream(stream)
                raise OutputTooLarge(path, size, limit)
            # Tar headers and padding add a little; stop early if the file grew meanwhile.
            budget = limit + 1 * MiB
            archive = bytearray()
            for chunk in stream:
                archive += chunk
                if len(archive) > budget:
                    _close_stream(stream)
                    raise OutputTooLarge(path, len(archive), limit)
            return _single_file(bytes(archive), path, limit)
        raise SandboxError(f"too many levels of symbolic links: {path}")

    async def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        container = self.container
        await asyncio.to_thread(
            self._write_sync,
            container.id,
            resolve_path(self.spec.workdir, path),
            as_bytes(data),
            mode,
        )

    def _write_sync(self, container_id: str, path: str, data: bytes, mode: int) -> None:
        if path == "/":
            raise IsADirectoryError("cannot write to /")
        api = self.client.api
        uid, gid = self._owner(container_id)
        parent, name = posixpath.split(path)
        # put_archive needs an existing target directory: try the parent, and on "not
        # found" climb one level and add the missing directories to the archive instead.
        missing: list[str] = []
        target = parent
        while True:
            archive = _file_archive([*missing, name], data, mode, uid, gid)
            try:
                api.put_archive(container_id, target, archive)
                return
            except docker.errors.NotFound:
                if target == "/":
                    raise
                target, leaf = posixpath.split(target)
                missing.insert(0, leaf)
            except docker.errors.APIError as exc:
                raise SandboxError(f"cannot write {path}: {exc}") from exc

    def _owner(self, container_id: str) -> tuple[int, int]:
        """uid and gid of the sandbox user, so written files belong to it, not root."""
        user = self.spec.user
        numeric = re.fullmatch(r"(\d+)(?::(\d+))?", user)
        if numeric:
            return int(numeric.group(1)), int(numeric.group(2) or numeric.group(1))
        key = (self.spec.image, user)
        if key not in _owner_cache:
            passwd = self._read_sync(container_id, "/etc/passwd").decode(errors="replace")
            for line in passwd.splitlines():
                fields = line.split(":")
                if len(fields) >= 4 and fields[0] == user:
                    _owner_cache[key] = (int(fields[2]), int(fields[3]))
                    break
            else:
                raise SandboxError(f"user {user!r} is not in the image's /etc/passwd")
        return _owner_cache[key]


class _FrameReader:
    """Splits Docker's multiplexed exec stream (8-byte header per frame) into two buffers.

    Payloads go straight into the capped buffers, so memory stays bounded however much
    the command prints.
    """

    def __init__(self, out: CappedBuffer, err: CappedBuffer):
        self._targets = {1: out, 2: err}
        self._header = bytearray()
        self._remaining = 0
        self._target: CappedBuffer | None = None

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._remaining == 0:
                need = 8 - len(self._header)
                self._header += view[:need]
                view = view[need:]
                if len(self._header) < 8:
                    return
                stream, size = struct.unpack(">BxxxL", self._header)
                self._header.clear()
                self._remaining = size
                self._target = self._targets.get(stream)
                continue
            part = view[: self._remaining]
            view = view[len(part) :]
            self._remaining -= len(part)
            if self._target is not None:
                self._target.feed(bytes(part))


def _send_input(sock: socket.socket, data: bytes) -> None:
    # Closing our write side is how the daemon learns the command's stdin has ended.
    with contextlib.suppress(OSError):
        sock.sendall(data)
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def _close_stream(stream: object) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


def _single_file(archive: bytes, path: str, limit: int) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
        for member in tar:
            if member.isfile():
                if member.size > limit:
                    raise OutputTooLarge(path, member.size, limit)
                handle = tar.extractfile(member)
                assert handle is not None
                return handle.read()
    raise SandboxError(f"not a regular file in sandbox: {path}")


def _file_archive(parts: list[str], data: bytes, mode: int, uid: int, gid: int) -> bytes:
    """A tar holding directories ``parts[:-1]`` (nested) and the file ``parts[-1]``."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for depth in range(1, len(parts)):
            info = tarfile.TarInfo("/".join(parts[:depth]))
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.uid, info.gid, info.mtime = uid, gid, now
            tar.addfile(info)
        info = tarfile.TarInfo("/".join(parts))
        info.size = len(data)
        info.mode = mode
        info.uid, info.gid, info.mtime = uid, gid, now
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _remove_container(client: docker.DockerClient, name: str) -> None:
    try:
        client.api.remove_container(name, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        # 409: another caller (cleanup, a concurrent close) is already removing it.
        if exc.status_code != 409:
            raise


def _remove_network(client: docker.DockerClient, name: str) -> None:
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_network(name)


def _remove_all(
    client: docker.DockerClient, containers: tuple[str, ...], network: str | None
) -> None:
    """Remove every container (trying all even if one fails), then the network."""
    failure: docker.errors.APIError | None = None
    for name in containers:
        try:
            _remove_container(client, name)
        except docker.errors.APIError as exc:
            failure = failure or exc
    # A network with containers still attached cannot go; removing it is still worth a try.
    if network is not None:
        try:
            _remove_network(client, network)
        except docker.errors.APIError as exc:
            failure = failure or exc
    if failure is not None:
        raise failure


def _lockdown(mem_limit: str, cpus: float, pids_limit: int) -> dict[str, object]:
    """The container options every sandbox and service shares: no privileges, hard limits."""
    return {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": mem_limit,
        "memswap_limit": mem_limit,  # equal to mem_limit: no swap on top
        "nano_cpus": int(cpus * 1e9),
        "pids_limit": pids_limit,
        "init": True,
        "detach": True,
    }


def cleanup(
    run_id: str | None = None,
    *,
    keep_runs: Collection[str] = (),
    client: docker.DockerClient | None = None,
) -> int:
    """Remove every harness-managed container and network (only one run's if ``run_id``),
    except those labelled with a run in ``keep_runs``.

    Returns how many containers and networks were removed.  Without ``run_id``, the
    sandboxes of runs still going are removed too unless their ids are in ``keep_runs``.
    """
    client = client or docker_client()
    wanted = [f"{MANAGED_LABEL}=1"]
    if run_id is not None:
        wanted.append(f"{RUN_LABEL}={run_id}")
    filters = {"label": wanted}
    keep = set(keep_runs)
    removed = 0
    # Services, route helpers and sandboxes alike: everything labelled, containers first
    # (a network cannot be removed while containers are attached).
    for container in client.containers.list(all=True, filters=filters, ignore_removed=True):
        if container.labels.get(RUN_LABEL) in keep:
            continue
        _remove_container(client, container.id)
        removed += 1
    for network in client.networks.list(filters=filters):
        if (network.attrs.get("Labels") or {}).get(RUN_LABEL) in keep:
            continue
        _remove_network(client, network.id)
        removed += 1
    return removed


def remove_orphans(run_id: str, *, client: docker.DockerClient | None = None) -> int:
    """Remove the containers and networks of run ``run_id`` whose owner process has died (or
    that carry no owner, from before owners were recorded); keep those of live processes and
    of processes on other machines. Returns how many were removed.

    What a run sweeps before its first sandbox: whichever process runs its samples, it then
    removes what a killed process of the run left on this daemon, and never a sandbox another
    worker of the run is using.
    """
    client = client or docker_client()
    filters = {"label": [f"{MANAGED_LABEL}=1", f"{RUN_LABEL}={run_id}"]}

    def orphaned(labels: Mapping[str, str] | None) -> bool:
        owner = (labels or {}).get(OWNER_LABEL)
        return owner is None or owner_alive(owner) is False

    removed = 0
    for container in client.containers.list(all=True, filters=filters, ignore_removed=True):
        if orphaned(container.labels):
            _remove_container(client, container.id)
            removed += 1
    for network in client.networks.list(filters=filters):
        if orphaned(network.attrs.get("Labels")):
            _remove_network(client, network.id)
            removed += 1
    return removed


def managed_runs(client: docker.DockerClient | None = None) -> set[str]:
    """Run ids on the labels of harness-managed containers that exist now."""
    client = client or docker_client()
    found = client.containers.list(
        all=True, filters={"label": f"{MANAGED_LABEL}=1"}, ignore_removed=True
    )
    return {c.labels[RUN_LABEL] for c in found if RUN_LABEL in c.labels}


@atexit.register
def _remove_leftovers() -> None:
    with _live_lock:
        leftovers = list(_live.items())
        _live.clear()
    for _, (client, containers, network) in leftovers:
        with contextlib.suppress(Exception):
            _remove_all(client, containers, network)
