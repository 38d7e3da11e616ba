"""One shared, lazily created Docker SDK client for the sandbox and image modules."""

from __future__ import annotations

import threading

import docker
import docker.errors

from envs._sandbox import SandboxUnavailable

# Containers, execs and archive calls from several concurrent samples share one client;
# the default pool of 10 connections would make them queue behind each other.
_POOL_SIZE = 64

_lock = threading.Lock()
_client: docker.DockerClient | None = None


def docker_client() -> docker.DockerClient:
    """Return the process-wide Docker client, connecting (and pinging) on first use.

    Raises :class:`SandboxUnavailable` with a readable reason when no daemon answers.
    """
    global _client
    with _lock:
        if _client is None:
            try:
                client = docker.from_env(max_pool_size=_POOL_SIZE, timeout=120)
                client.ping()
            except docker.errors.DockerException as exc:
                raise SandboxUnavailable(
                    f"cannot reach the Docker daemon ({exc}); is Docker running and is "
                    "DOCKER_HOST (or /var/run/docker.sock) accessible to this user?"
                ) from exc
            _client = client
        return _client
