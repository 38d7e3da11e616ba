"""A real Ray cluster for the tests marked ``ray``: a head and a worker node started with
``ray start`` in processes of their own, with separate resources (only the worker advertises
``sandbox`` slots), on this machine's loopback.

Tests marked ``ray`` skip, with the reason, where Ray is not installed, except under CI (``CI``
set), where that is a failure: CI installs the ``ray`` extra. The cluster is shared by one
test module and ended when it is done; the module fails if any of its processes survives.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.executors.localcluster import LocalRayCluster


@pytest.fixture(scope="session")
def ray_available() -> None:
    try:
        import ray  # noqa: F401
    except ImportError as error:
        problem = f"Ray is not installed ({error}); pip install -e '.[ray]'"
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI is set, and CI must run the Ray tests", pytrace=False)
        pytest.skip(problem)


@pytest.fixture(autouse=True)
def _ray_marker_needs_ray(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("ray") is not None:
        request.getfixturevalue("ray_available")


@pytest.fixture(scope="module")
def ray_cluster(
    ray_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRayCluster]:
    """Head (1 CPU, no sandbox) and one worker node (1 CPU, 2 sandbox slots)."""
    cluster = LocalRayCluster(
        ray=str(Path(sys.executable).with_name("ray")),
        env={
            # The workers' own caches, and no API key a test did not give them.
            "HARNESS_CACHE_DIR": str(tmp_path_factory.mktemp("ray-cache")),
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
            "OPENAI_COMPATIBLE_API_KEY": "",
        },
    )
    try:
        cluster.start(cpus=1)
        cluster.add_node("worker", cpus=1, resources={"sandbox": 2})
        yield cluster
    finally:
        survivors = cluster.stop()
    if survivors:
        pytest.fail(f"Ray processes survived the cluster: {survivors}", pytrace=False)
