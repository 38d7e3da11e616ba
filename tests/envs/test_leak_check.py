"""The session leak check (tests/conftest.py) counts only this session's containers: those
labelled with a run id under the session prefix, or named by a sandbox this process built.
Other sessions' sandboxes on the same daemon are neither leaks of ours nor ours to remove."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import docker
import docker.errors
import pytest

from envs import SandboxSpec
from envs.docker import MANAGED_LABEL, RUN_LABEL, SAMPLE_LABEL, DockerSandbox


def labels(run: str) -> dict[str, str]:
    return {MANAGED_LABEL: "1", RUN_LABEL: run, SAMPLE_LABEL: "s1"}


def test_run_ids_are_under_the_session_prefix(session_sandboxes: Any, run_id: str) -> None:
    assert run_id.startswith(f"{session_sandboxes.prefix}-")
    assert session_sandboxes.owns("harness-x-s1-0123abcd", labels(run_id))


def test_a_foreign_container_is_not_ours(session_sandboxes: Any) -> None:
    prefix = session_sandboxes.prefix
    # Another session's sandbox, a CLI run of someone else, and a look-alike prefix.
    for run in ("pytest-0badc0de-123456", "20260101-120000-agentic-sim-ab12", "debug", prefix):
        assert not session_sandboxes.owns(f"harness-{run}-s1-0123abcd", labels(run)), run
    assert not session_sandboxes.owns("harness-x", labels(f"{prefix}x-123456"))
    # Under our prefix but not harness-managed: not a sandbox at all.
    assert not session_sandboxes.owns("harness-x", {RUN_LABEL: f"{prefix}-123456"})


def test_a_sandbox_built_in_process_is_ours_whatever_its_run_id(session_sandboxes: Any) -> None:
    # As `harness debug` and `harness run` build them: run ids the tests do not choose.
    # Constructing creates nothing in Docker; the name is fixed (and recorded) already.
    box = DockerSandbox(SandboxSpec(image="harness-no-such-image:0"), run_id="debug")
    assert session_sandboxes.owns(box.container_name, labels("debug"))
    # The same run id under another name (another session's `harness debug`) is not.
    assert not session_sandboxes.owns("harness-debug-s1-0123abcd", labels("debug"))


@pytest.mark.docker
def test_survivors_are_only_this_sessions(session_sandboxes: Any, base_image: str) -> None:
    """A ledger with a prefix of its own removes its container and leaves a foreign one.
    Both are created, never started, and removed at the end whatever happens."""
    prefix = f"{session_sandboxes.prefix}-ledger{uuid.uuid4().hex[:6]}"
    ledger = type(session_sandboxes)(prefix)
    client = docker.from_env()
    made = []
    try:
        for run in (f"{prefix}-1", f"foreign-{uuid.uuid4().hex[:8]}"):
            made.append(client.containers.create(base_image, ["true"], labels=labels(run)))
        ours, foreign = made
        assert ledger.containers() == [ours.name]
        assert ledger.remove_survivors() == [f"container {ours.name}"]
        assert ledger.containers() == []
        foreign.reload()  # still there
    finally:
        for container in made:
            with contextlib.suppress(docker.errors.NotFound):
                client.api.remove_container(container.id, force=True)
        client.close()
