"""A Ray cluster on this machine made of separate ``ray start`` processes, one per node, each
with its own resources, ports and temporary folder: what the tests and benchmarks of the Ray
executor run against.

A process belongs to the cluster when it is in the process group of a node's ``ray start``,
carries the cluster's token in its environment (``HARNESS_RAY_CLUSTER``), or has a file open
under a node's temporary folder (Ray's workers leave their process group, and a long process
title overwrites the environment it was started with, but every one logs there). So
:meth:`LocalRayCluster.stop` ends exactly this cluster's processes, by pid, and
:meth:`LocalRayCluster.survivors` can tell whether any is left. It never runs ``ray stop``,
which would end every Ray process of the user on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_VARIABLE = "HARNESS_RAY_CLUSTER"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _open_paths(pid: int) -> list[str]:
    """Where a process's working directory and open files are (deleted ones too)."""
    paths = []
    with contextlib.suppress(OSError):
        paths.append(os.readlink(f"/proc/{pid}/cwd"))
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return paths


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return ""
    return stat[stat.rindex(")") + 2 :].split()[0]


@dataclass
class Node:
    name: str
    resources: dict[str, float]
    cpus: int
    temp_dir: Path
    group: int
    """Process group of the node's processes (the ``ray start`` process's pid)."""


@dataclass
class LocalRayCluster:
    """Start with :meth:`start`; always :meth:`stop` (a context manager does both)."""

    ray: str = field(default_factory=lambda: str(Path(sys.executable).with_name("ray")))
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    port: int = 0
    nodes: list[Node] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every node (and so every worker process)."""
    _groups: set[int] = field(default_factory=set)
    _folders: list[str] = field(default_factory=list)
    """Every node's, including nodes removed since: their processes may outlive them."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, name: str, args: list[str], cpus: int, resources: dict[str, float]) -> Node:
        temp_dir = Path(tempfile.mkdtemp(prefix="hray-", dir="/tmp"))  # sockets need short paths
        self._folders.append(f"{temp_dir}/")
        env = {
            **os.environ,
            **self.env,
            TOKEN_VARIABLE: self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        command = [
            self.ray,
            "start",
            *args,
            "--num-cpus",
            str(cpus),
            "--resources",
            json.dumps(resources),
            # Ray replaces a loopback address by the machine's own, which the kernel still
            # routes over the loopback device: nothing leaves the machine.
            "--node-ip-address",
            "127.0.0.1",
            "--temp-dir",
            str(temp_dir),
            "--disable-usage-stats",
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
        ]
        process = subprocess.Popen(
            command,
            env=env,
            start_new_session=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._groups.add(process.pid)
        output, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            raise RuntimeError(f"ray start ({name}) failed:\n{output.decode(errors='replace')}")
        node = Node(name, resources, cpus, temp_dir, process.pid)
        self.nodes.append(node)
        return node

    def start(self, *, cpus: int = 1, resources: dict[str, float] | None = None) -> Node:
        """Start the head node."""
        self.port = free_port()
        return self._start(
            "head",
            [
                "--head",
                "--port",
                str(self.port),
                "--include-dashboard=false",
                "--dashboard-port",
                str(free_port()),
                "--ray-client-server-port",
                str(free_port()),
            ],
            cpus,
            resources or {},
        )

    def add_node(
        self, name: str, *, cpus: int = 1, resources: dict[str, float] | None = None
    ) -> Node:
        """Start a worker node joining the head."""
        return self._start(name, ["--address", self.address], cpus, resources or {})

    def processes(self, node: Node | None = None) -> list[int]:
        """Pids of this cluster's live processes (of one node: those in its process group
        or with a file open in its folder)."""
        marker = f"{TOKEN_VARIABLE}={self.token}".encode()
        groups = {node.group} if node is not None else self._groups
        folders = [f"{node.temp_dir}/"] if node is not None else self._folders
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or entry == str(os.getpid()):
                continue
            pid = int(entry)
            if _state(pid) in ("", "Z"):
                continue
            try:
                group = os.getpgid(pid)
            except OSError:
                continue
            if (
                group in groups
                or (node is None and marker in _environ(pid).split(b"\0"))
                or any(path.startswith(tuple(folders)) for path in _open_paths(pid))
            ):
                found.append(pid)
        return found

    def raylet(self, node: Node) -> int:
        for pid in self.processes(node):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() == "raylet":
                    return pid
        raise RuntimeError(f"node {node.name} has no raylet")

    def kill_raylet(self, node: Node) -> None:
        """Kill the node's raylet outright, as a machine failure would."""
        os.kill(self.raylet(node), signal.SIGKILL)

    def remove_node(self, node: Node) -> None:
        """End every process of one node (what is left of it after a kill, say)."""
        for pid in self.processes(node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.nodes.remove(node)
        shutil.rmtree(node.temp_dir, ignore_errors=True)

    def survivors(self) -> list[str]:
        """``pid command`` of every process of this cluster still running."""
        out = []
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            out.append(f"{pid} {command[:120]}")
        return out

    def stop(self, timeout: float = 20.0) -> list[str]:
        """End every process of the cluster; returns those that would not die (empty)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.processes()
            if not pids or time.monotonic() > deadline:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        for node in self.nodes:
            shutil.rmtree(node.temp_dir, ignore_errors=True)
        self.nodes.clear()
        return self.survivors()

    def __enter__(self) -> LocalRayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
