"""Fixtures for the task-suite tests: Docker availability, image build output, and a leak check.

Same policy as tests/envs: docker-marked tests skip (with the reason shown) when no
daemon answers, except under CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator

import docker
import docker.errors
import pytest

from envs.docker import MANAGED_LABEL, RUN_LABEL


def _docker_problem() -> str | None:
    """Why Docker tests cannot run here, or None when the daemon answers a ping."""
    try:
        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the daemon means "no Docker"
        return f"Docker daemon not reachable ({type(exc).__name__}: {exc})"
    return None


_PROBLEM = _docker_problem()
#: Every run id this session uses starts with this, so its containers can be told apart.
SESSION_RUN_PREFIX = f"pytest-tasks-{uuid.uuid4().hex[:8]}"


def _session_container_ids() -> set[str] | None:
    """Harness containers of this session (by run label), or None without Docker.

    Only this session's: other test sessions may be running their own sandboxes on the
    same daemon, and those are neither leaks of ours nor ours to remove.
    """
    if _PROBLEM is not None:
        return None
    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
        return {
            container.id
            for container in found
            if container.labels.get(RUN_LABEL, "").startswith(SESSION_RUN_PREFIX)
        }
    finally:
        client.close()


@pytest.fixture(scope="session")
def docker_available() -> None:
    """Skip (or, under CI, fail) the requesting test when Docker is absent."""
    if _PROBLEM is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{_PROBLEM}; CI is set, and CI must run the Docker tests", pytrace=False)
    pytest.skip(_PROBLEM)


@pytest.fixture(autouse=True)
def _docker_marker_needs_docker(request: pytest.FixtureRequest) -> None:
    """Any test marked ``docker`` skips (or fails under CI) without a daemon."""
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_available")


@pytest.fixture(scope="session", autouse=True)
def no_container_survives() -> Iterator[None]:
    """Fail the session if a harness-managed container it created is still there."""
    yield
    leaked = _session_container_ids()
    if leaked:
        client = docker.from_env()
        for container_id in leaked:
            # Remove them so one failure does not poison the next session too.
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(container_id, force=True)
        client.close()
        pytest.fail(f"{len(leaked)} harness-managed container(s) survived the test session")


@pytest.fixture(scope="session")
def build_progress() -> Callable[[str], None]:
    """Image build output straight to the terminal: pytest's capture would hide a long build."""

    def progress(message: str) -> None:
        print(message, file=sys.__stderr__, flush=True)

    return progress


@pytest.fixture
def run_id() -> str:
    """A run id unique to this test, under the session prefix."""
    return f"{SESSION_RUN_PREFIX}-{uuid.uuid4().hex[:6]}"
