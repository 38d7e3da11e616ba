"""Sandboxes for agentic tasks: one Sandbox interface with docker and local providers, plus image building."""

from __future__ import annotations

from collections.abc import Callable, Collection

from envs._sandbox import (
    ExecResult,
    ImageBuildError,
    OutputTooLarge,
    Sandbox,
    SandboxClosed,
    SandboxError,
    SandboxSpec,
    SandboxUnavailable,
    ServiceSpec,
)
from harness.errors import UsageError

#: Builds an unstarted sandbox: ``factory(spec, run_id=..., sample_id=...)``; enter it with
#: ``async with`` to start it and to have it removed however the block ends.
SandboxFactory = Callable[..., Sandbox]

PROVIDERS = ("docker", "local")


def sandbox_provider(name: str) -> SandboxFactory:
    """Return the sandbox class registered as ``name`` ("docker" or "local").

    Imported lazily so that using the local provider never needs the Docker SDK to connect.
    """
    if name == "docker":
        from envs.docker import DockerSandbox

        return DockerSandbox
    if name == "local":
        from envs.local import LocalSandbox

        return LocalSandbox
    raise UsageError(f"unknown sandbox provider {name!r}; choose one of {', '.join(PROVIDERS)}")


def cleanup(run_id: str | None = None, *, keep_runs: Collection[str] = ()) -> int:
    """Remove leftover harness containers and networks (all, or one run's), except those of
    the runs in ``keep_runs``; returns the count."""
    from envs.docker import cleanup as docker_cleanup

    return docker_cleanup(run_id, keep_runs=keep_runs)


def remove_orphans(run_id: str) -> int:
    """Remove run ``run_id``'s containers and networks whose owner process has died; those of
    processes still running (other workers of the run) stay. Returns the count."""
    from envs.docker import remove_orphans as docker_remove_orphans

    return docker_remove_orphans(run_id)


def managed_runs() -> set[str]:
    """Run ids labelling the harness containers that exist now."""
    from envs.docker import managed_runs as docker_managed_runs

    return docker_managed_runs()


__all__ = [
    "PROVIDERS",
    "ExecResult",
    "ImageBuildError",
    "OutputTooLarge",
    "Sandbox",
    "SandboxClosed",
    "SandboxError",
    "SandboxFactory",
    "SandboxSpec",
    "SandboxUnavailable",
    "ServiceSpec",
    "cleanup",
    "managed_runs",
    "remove_orphans",
    "sandbox_provider",
]
