"""Fixtures for the sandbox tests: Docker availability, the base image, and a leak check.

Docker tests skip (with the reason shown) when no daemon answers, except under CI
(``CI`` set), where a missing daemon is a failure: CI always has Docker.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import docker
import docker.errors
import pytest

from envs import Sandbox, SandboxSpec, sandbox_provider
from envs.docker import MANAGED_LABEL
from envs.images import ensure_base_image

# Every run id a test uses starts with this, so leftovers are easy to attribute.
SESSION_RUN_PREFIX = f"pytest-{uuid.uuid4().hex[:8]}"
# Small read cap so the cap test stays cheap; the default output cap (1 MiB) is kept.
TEST_READ_CAP = 1024 * 1024


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


def _managed_container_ids() -> set[str] | None:
    if _PROBLEM is not None:
        return None
    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"{MANAGED_LABEL}=1"})
        return {container.id for container in found}
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


@pytest.fixture(scope="session")
def base_image(docker_available: None) -> str:
    """The harness base image tag, built on first use (a minute or two from Debian)."""

    def progress(message: str) -> None:
        # Straight to the terminal: pytest's capture would hide a long first build.
        print(message, file=sys.__stderr__, flush=True)

    return ensure_base_image(progress)


@pytest.fixture(scope="session", autouse=True)
def no_container_survives() -> Iterator[None]:
    """Fail the session if a harness-managed container created during it is still there."""
    before = _managed_container_ids()
    yield
    if before is None:
        return
    after = _managed_container_ids() or set()
    leaked = after - before
    if leaked:
        client = docker.from_env()
        for container_id in leaked:
            # Remove them so one failure does not poison the next session too.
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(container_id, force=True)
        client.close()
        pytest.fail(f"{len(leaked)} harness-managed container(s) survived the test session")


@pytest.fixture
def run_id(request: pytest.FixtureRequest) -> str:
    """A run id unique to this test, under the session prefix."""
    return f"{SESSION_RUN_PREFIX}-{uuid.uuid4().hex[:6]}"


SpecFactory = Callable[..., SandboxSpec]


@pytest.fixture
def make_spec(request: pytest.FixtureRequest) -> SpecFactory:
    """Builds a spec for a provider; the docker one uses (building if needed) the base image."""

    def make(provider: str, **overrides: object) -> SandboxSpec:
        image = request.getfixturevalue("base_image") if provider == "docker" else "local"
        values: dict[str, object] = {"image": image, "max_read_bytes": TEST_READ_CAP}
        values.update(overrides)
        return SandboxSpec.model_validate(values)

    return make


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def provider(request: pytest.FixtureRequest) -> str:
    """Each conformance test runs once per provider."""
    if request.param == "docker":
        request.getfixturevalue("docker_available")
    return str(request.param)


@pytest.fixture
async def sandbox(
    provider: str, make_spec: SpecFactory, request: pytest.FixtureRequest, run_id: str
) -> AsyncIterator[Sandbox]:
    """A started sandbox of the parametrised provider, removed after the test."""
    spec = make_spec(provider, env={"SPEC_VAR": "from-spec"})
    factory = sandbox_provider(provider)
    async with factory(spec, run_id=run_id, sample_id=request.node.name) as box:
        yield box
