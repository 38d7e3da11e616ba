"""Image building: base image contents, input-hash tags, task images and clear build errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from envs import ImageBuildError, SandboxSpec
from envs import images as images_module
from envs.docker import DockerSandbox
from envs.images import base_image_tag, build_image, ensure_base_image, task_image_tag


def test_base_tag_is_a_hash_of_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = base_image_tag()
    assert tag.startswith("harness-base:") and len(tag.split(":")[1]) == 12
    assert base_image_tag() == tag
    monkeypatch.setattr(images_module, "DEBIAN_PACKAGES", ("python3", "procps", "git"))
    assert base_image_tag() != tag


def test_debootstrap_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_module.os, "geteuid", lambda: 1000)
    with pytest.raises(ImageBuildError, match="needs root"):
        images_module._require_root()


def test_context_without_dockerfile_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImageBuildError, match="no Dockerfile"):
        images_module._context_files(tmp_path, "harness-base:x")


def test_from_harness_base_is_rewritten(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM harness-base\nRUN true\nFROM harness-base:latest\n")
    files, _ = images_module._context_files(tmp_path, "harness-base:abc123")
    assert files["Dockerfile"].decode() == (
        "FROM harness-base:abc123\nRUN true\nFROM harness-base:abc123\n"
    )


@pytest.mark.docker
def test_base_image_contents(base_image: str) -> None:
    client = docker.from_env()
    image = client.images.get(base_image)
    assert image.id == client.images.get("harness-base:latest").id
    assert image.labels["harness.image"] == "base"
    script = "id -u agent; id -un; pwd; python --version; python3 -c 'print(1+1)'; ps --version"
    output = client.containers.run(
        base_image, ["bash", "-c", script], remove=True, network_mode="none"
    ).decode()
    lines = output.splitlines()
    assert lines[:3] == ["1000", "agent", "/workspace"]
    assert lines[3].startswith("Python 3.") and lines[4] == "2" and "procps" in lines[5]


@pytest.mark.docker
def test_existing_base_image_is_reused(base_image: str) -> None:
    messages: list[str] = []
    assert ensure_base_image(messages.append) == base_image
    assert messages == []  # nothing pulled, bootstrapped or built


@pytest.fixture
def built_tags() -> Iterator[list[str]]:
    tags: list[str] = []
    yield tags
    client = docker.from_env()
    for tag in tags:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(tag, force=True)


@pytest.mark.docker
async def test_task_image_build_and_cache(
    base_image: str, tmp_path: Path, run_id: str, built_tags: list[str]
) -> None:
    context = tmp_path / "My Task"
    context.mkdir()
    (context / "Dockerfile").write_text(
        "FROM harness-base\nCOPY data.txt /opt/task/data.txt\nRUN cat /opt/task/data.txt\n"
    )
    (context / "data.txt").write_text("version one\n")
    log: list[str] = []
    tag = build_image(context, base_image, progress=log.append)
    built_tags.append(tag)
    assert tag.startswith("harness-task-my-task:")
    assert tag == task_image_tag(context, base_image)
    assert any("version one" in line for line in log)  # the RUN step really ran

    async with DockerSandbox(SandboxSpec(image=tag), run_id=run_id) as box:
        assert await box.read_file("/opt/task/data.txt") == b"version one\n"
        assert (await box.exec(["id", "-u"], timeout=20)).stdout == "1000\n"

    again: list[str] = []
    assert build_image(context, base_image, progress=again.append) == tag
    assert again == []  # unchanged inputs: no rebuild

    (context / "data.txt").write_text("version two\n")
    changed = build_image(context, base_image, progress=lambda _: None)
    built_tags.append(changed)
    assert changed != tag


@pytest.mark.docker
def test_task_image_with_base_image_arg(
    base_image: str, tmp_path: Path, built_tags: list[str]
) -> None:
    (tmp_path / "Dockerfile").write_text(
        "ARG BASE_IMAGE=harness-base\nFROM ${BASE_IMAGE}\nRUN touch /tmp/built-on-base\n"
    )
    tag = build_image(tmp_path, base_image, progress=lambda _: None)
    built_tags.append(tag)
    parent_layers = docker.from_env().images.get(base_image).attrs["RootFS"]["Layers"]
    layers = docker.from_env().images.get(tag).attrs["RootFS"]["Layers"]
    assert layers[: len(parent_layers)] == parent_layers


@pytest.mark.docker
def test_failing_build_reports_the_error(base_image: str, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM harness-base\nRUN echo about to fail && exit 7\n")
    with pytest.raises(ImageBuildError, match="returned a non-zero code: 7"):
        build_image(tmp_path, base_image, progress=lambda _: None)


@pytest.mark.docker
def test_unknown_base_is_a_clear_error(tmp_path: Path, base_image: str) -> None:
    (tmp_path / "Dockerfile").write_text("FROM harness-base\n")
    with pytest.raises(ImageBuildError, match="does not exist"):
        build_image(tmp_path, "harness-base:does-not-exist", progress=lambda _: None)


def test_debootstrap_progress_is_one_line_per_stage() -> None:
    log = "\n".join(
        [
            "I: Retrieving InRelease",
            "I: Valid Release signature (key id 4D64FEC119C2029067D6E791F8D2585B8783D481)",
            *(
                f"I: {verb} pkg{i} 1.{i}"
                for i in range(50)
                for verb in ("Retrieving", "Validating")
            ),
            *(f"I: Extracting pkg{i}..." for i in range(50)),
            "W: a warning that only a failure would show",
            *(f"I: {verb} pkg{i}..." for verb in ("Unpacking", "Configuring") for i in range(50)),
            "I: Base system installed successfully.",
        ]
    )
    messages: list[str] = []
    images_module._run_logged(["printf", "%s\n", log], messages.append, "debootstrap")
    assert messages == [
        "  Retrieving InRelease",
        "  Valid Release signature (key id 4D64FEC119C2029067D6E791F8D2585B8783D481)",
        "  downloading packages...",
        "  extracting packages...",
        "  unpacking packages...",
        "  configuring packages...",
        "  Base system installed successfully.",
    ]


def test_a_failed_build_step_shows_its_log_tail() -> None:
    with pytest.raises(
        ImageBuildError, match=r"debootstrap failed with exit code 3:\nE: no mirror"
    ):
        images_module._run_logged(
            ["sh", "-c", "echo 'E: no mirror'; exit 3"], lambda _: None, "debootstrap"
        )
