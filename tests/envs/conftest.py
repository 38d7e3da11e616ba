"""Fixtures for the sandbox tests: specs per provider and a started sandbox of each.

Docker availability, the base image, run ids and the leak check are in ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from envs import Sandbox, SandboxSpec, sandbox_provider

# Small read cap so the cap test stays cheap; the default output cap (1 MiB) is kept.
TEST_READ_CAP = 1024 * 1024


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
