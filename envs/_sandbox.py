"""The provider-neutral sandbox contract: spec, exec result, errors and the abstract Sandbox.

Every provider (``docker``, ``local``) implements :class:`Sandbox`, and the conformance
suite in ``tests/envs`` holds them all to the same behaviour.  Conventions shared by all
providers:

* Paths given to ``exec(cwd=...)``, ``read_file`` and ``write_file`` are sandbox paths:
  absolute ones are taken as is, relative ones are relative to ``spec.workdir``.
* A command that runs past its timeout is *not* an exception: it comes back as an
  :class:`ExecResult` with ``timed_out=True`` and ``exit_code=124`` (the coreutils
  ``timeout`` convention), after its whole process tree has been killed.
* Output beyond ``spec.max_output_bytes`` per stream is dropped while it streams (so a
  command printing gigabytes cannot exhaust host memory) and ``truncated`` is set.
* ``read_file`` raises :class:`FileNotFoundError`, :class:`IsADirectoryError`, or
  :class:`OutputTooLarge` when the file is bigger than ``spec.max_read_bytes``.
* ``close()`` may be called any number of times; using a closed sandbox raises
  :class:`SandboxClosed`.
"""

from __future__ import annotations

import abc
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.errors import HarnessError

MiB = 1024 * 1024

#: Exit code reported for a command that hit its timeout (same as coreutils ``timeout``).
TIMEOUT_EXIT_CODE = 124

#: Environment variable set on every exec'd command; its unique value lets a provider find
#: and kill the whole process tree, including children that left the process group.
EXEC_MARKER_VAR = "HARNESS_EXEC_ID"


class SandboxError(Exception):
    """A sandbox operation failed for a reason other than the command's own failure."""


class SandboxClosed(SandboxError):
    """The sandbox was used after ``close()`` (or before it was started)."""


class SandboxUnavailable(SandboxError, HarnessError):
    """The provider cannot run here (e.g. no Docker daemon): the user must fix the machine."""


class ImageBuildError(SandboxError, HarnessError):
    """Building the base image or a task image failed; the message says why and what to do."""


class OutputTooLarge(SandboxError):
    """``read_file`` refused a file larger than ``spec.max_read_bytes``."""

    def __init__(self, path: str, size: int, limit: int):
        super().__init__(f"{path} is {size} bytes, over the read limit of {limit} bytes")
        self.path = path
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one command did: decoded output (invalid UTF-8 replaced), exit code and timing."""

    stdout: str
    stderr: str
    exit_code: int
    duration: float
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        """True when the command exited 0 within its timeout."""
        return self.exit_code == 0 and not self.timed_out


_MEM_RE = re.compile(r"^\d+[bkmg]?$", re.IGNORECASE)
_NETWORK_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$")
# A service name is its hostname on the sandbox network: one short DNS label.
_SERVICE_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$|^[a-z]$")
#: The main container's hostname, so no service may take it.
MAIN_HOSTNAME = "sandbox"


class ServiceSpec(BaseModel):
    """A helper container next to the sandbox (a database, an HTTP API) on its network.

    It runs ``image`` (its default command, or ``command``) as ``user`` with the same
    lockdown as the sandbox itself (no capabilities, ``no-new-privileges``, limits) and
    is reachable from the sandbox by ``name``.  The default user is the unprivileged
    ``agent`` of the harness images: a service listening on a port above 1024 needs no
    root, and root would gain nothing anyway with every capability dropped.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    image: str = Field(min_length=1)
    command: tuple[str, ...] | None = None
    user: str = "agent"
    env: Mapping[str, str] = Field(default_factory=dict)
    mem_limit: str = "256m"
    cpus: float = Field(default=0.5, gt=0)
    pids_limit: int = Field(default=64, ge=16)

    @field_validator("name")
    @classmethod
    def _service_name(cls, value: str) -> str:
        if not _SERVICE_RE.match(value):
            raise ValueError(
                "service name must be 1-32 characters of a-z, 0-9 and '-' "
                "(a hostname: starting with a letter, not ending with '-')"
            )
        if value == MAIN_HOSTNAME:
            raise ValueError(f"service name {MAIN_HOSTNAME!r} is the sandbox's own hostname")
        return value

    @field_validator("command")
    @classmethod
    def _command_argv(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("command must be a non-empty list of strings (or left out)")
        return value

    @field_validator("mem_limit")
    @classmethod
    def _memory_format(cls, value: str) -> str:
        if not _MEM_RE.match(value):
            raise ValueError("mem_limit must look like 256m, 1g or a byte count")
        return value.lower()

    @field_validator("env")
    @classmethod
    def _plain_env(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        return dict(value)


class SandboxSpec(BaseModel):
    """How to make one sandbox: image, user, resource limits, network and I/O caps.

    ``network`` is ``"none"`` (no interface but loopback: the default, and the only fully
    isolated choice) or a name: the docker provider then creates a fresh *internal* bridge
    network named ``harness-<network>-<token>`` for this sandbox and removes it on close.
    The engine drops traffic from an internal network to anywhere else, but the container
    gets a default route that the docker provider deletes (see envs.docker).

    ``services`` are extra containers on that network (see :class:`ServiceSpec`), so they
    need ``network`` to be a name; only the docker provider can run them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = Field(min_length=1)
    workdir: str = "/workspace"
    user: str = "agent"
    mem_limit: str = "512m"
    cpus: float = Field(default=1.0, gt=0)
    pids_limit: int = Field(default=256, ge=16)
    network: str = "none"
    labels: Mapping[str, str] = Field(default_factory=dict)
    env: Mapping[str, str] = Field(default_factory=dict)
    max_output_bytes: int = Field(default=1 * MiB, ge=1)
    max_read_bytes: int = Field(default=16 * MiB, ge=1)
    services: tuple[ServiceSpec, ...] = ()

    @field_validator("workdir")
    @classmethod
    def _absolute_workdir(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("workdir must be an absolute path")
        return posixpath.normpath(value)

    @field_validator("mem_limit")
    @classmethod
    def _memory_format(cls, value: str) -> str:
        if not _MEM_RE.match(value):
            raise ValueError("mem_limit must look like 512m, 2g or a byte count")
        return value.lower()

    @field_validator("network")
    @classmethod
    def _network_name(cls, value: str) -> str:
        if value != "none" and not _NETWORK_RE.match(value):
            raise ValueError("network must be 'none' or a short name of [A-Za-z0-9_.-]")
        if value in {"host", "bridge", "default"}:
            # These would join a network with a route to the outside world.
            raise ValueError(f"network {value!r} is not isolated; use 'none' or a new name")
        return value

    @field_validator("labels")
    @classmethod
    def _no_reserved_labels(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        # The harness.* labels drive cleanup(); letting a task set them could hide leaks.
        bad = [key for key in value if key.startswith("harness.")]
        if bad:
            raise ValueError(f"labels starting with 'harness.' are reserved: {bad}")
        return dict(value)

    @model_validator(mode="after")
    def _services_need_a_network(self) -> SandboxSpec:
        if self.services and self.network == "none":
            names = ", ".join(service.name for service in self.services)
            raise ValueError(
                f"services ({names}) need a sandbox network: set network to a name, "
                "not 'none', so the sandbox and its services can reach each other"
            )
        names = [service.name for service in self.services]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"service names must be unique: {', '.join(duplicated)}")
        return self


def resolve_path(workdir: str, path: str) -> str:
    """Turn a sandbox path (absolute, or relative to ``workdir``) into a normal absolute one."""
    if not path:
        raise ValueError("empty path")
    joined = path if path.startswith("/") else posixpath.join(workdir, path)
    # normpath("/..") is "/", so ".." can never climb above the sandbox root.
    normal = posixpath.normpath(joined)
    # POSIX keeps a leading "//"; collapse it so every provider sees the same path.
    return "/" + normal.lstrip("/")


class Sandbox(abc.ABC):
    """One isolated place to run an agent's commands and read and write its files.

    Use as ``async with provider(spec, run_id=..., sample_id=...) as sandbox:``; leaving
    the block (normally, by exception, or by task cancellation) removes the sandbox.
    """

    spec: SandboxSpec

    async def start(self) -> None:  # noqa: B027 - providers without setup need no override
        """Create the underlying resources; ``async with`` calls this for you."""

    @abc.abstractmethod
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
        """Run ``cmd`` (argv, no shell) and wait for it, at most ``timeout`` seconds."""

    @abc.abstractmethod
    async def read_file(self, path: str) -> bytes:
        """Return a file's bytes; raises FileNotFoundError, IsADirectoryError, OutputTooLarge."""

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        """Write a file (str as UTF-8), creating parent directories, owned by the sandbox user."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Remove the sandbox and everything in it; safe to call more than once."""

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            # start() may have half-built things before failing or being cancelled.
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def check_exec_args(cmd: list[str], timeout: float) -> None:
    """Reject arguments every provider would mishandle, with the same message everywhere."""
    if not cmd or not all(isinstance(part, str) for part in cmd):
        raise ValueError("cmd must be a non-empty list of strings")
    if not timeout > 0:
        raise ValueError("timeout must be positive")


def as_bytes(data: bytes | str) -> bytes:
    """Encode text as UTF-8 and pass bytes through, so write_file accepts both."""
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def decode(data: bytes) -> str:
    """Decode command output; invalid or cut-off UTF-8 becomes U+FFFD instead of failing."""
    return data.decode("utf-8", errors="replace")


class CappedBuffer:
    """Keeps the first ``limit`` bytes of a stream and remembers whether more arrived."""

    __slots__ = ("_buf", "_limit", "truncated")

    def __init__(self, limit: int):
        self._buf = bytearray()
        self._limit = limit
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        room = self._limit - len(self._buf)
        if len(chunk) > room:
            self.truncated = True
            if room > 0:
                self._buf += chunk[:room]
        else:
            self._buf += chunk

    def getvalue(self) -> bytes:
        return bytes(self._buf)
