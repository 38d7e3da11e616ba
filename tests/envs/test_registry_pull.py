"""The registry route for the base image: a real pull by the daemon, from a registry on 127.0.0.1.

The registry is a minimal Docker Registry v2 server in this process serving a one-layer
image; the Docker daemon treats 127.0.0.0/8 registries as insecure (plain HTTP) by default.
The black-hole case uses a server that accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import platform
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docker
import docker.errors
import pytest

from envs import images as images_module
from envs._client import docker_client
from envs.images import base_image_tag, registry_base

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tiny_image() -> tuple[bytes, dict[str, bytes]]:
    """A manifest and its blobs (config, one gzipped layer holding /hello.txt)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        body = b"pulled from the test registry\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    layer = gzip.compress(raw.getvalue(), mtime=0)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    config = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/hello.txt"]},
            "rootfs": {"type": "layers", "diff_ids": [_digest(raw.getvalue())]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": _digest(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": _digest(layer),
                }
            ],
        }
    ).encode()
    return manifest, {_digest(config): config, _digest(layer): layer}


@pytest.fixture
def registry() -> Iterator[tuple[str, list[str]]]:
    """A registry on 127.0.0.1 with ``harness-test/tiny:1``; yields its address and log."""
    manifest, blobs = _tiny_image()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, send_body: bool) -> None:
            requests.append(f"{self.command} {self.path}")
            if self.path == "/v2/":
                body, kind, digest = b"{}", "application/json", None
            elif self.path == "/v2/harness-test/tiny/manifests/1" or self.path.endswith(
                f"/manifests/{_digest(manifest)}"
            ):
                body, kind, digest = manifest, MANIFEST_TYPE, _digest(manifest)
            elif self.path.startswith("/v2/harness-test/tiny/blobs/"):
                digest = self.path.rsplit("/", 1)[1]
                if digest not in blobs:
                    self.send_error(404)
                    return
                body, kind = blobs[digest], "application/octet-stream"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            if digest:
                self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if send_body:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.docker
def test_base_origin_is_pulled_from_a_reachable_registry(
    registry: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    address, requests = registry
    reference = f"{address}/harness-test/tiny:1"
    monkeypatch.setenv("HARNESS_BASE_FROM", reference)
    monkeypatch.delenv("HARNESS_NO_PULL", raising=False)
    client = docker_client()
    messages: list[str] = []
    try:
        assert images_module._pull_registry_base(client, messages.append) == reference
        image = client.images.get(reference)
        assert image.attrs["Config"]["Cmd"] == ["/hello.txt"]
        assert any(line.startswith("GET /v2/harness-test/tiny/blobs/") for line in requests)
        assert messages[0] == f"trying to pull {reference}..."
        assert not any("building locally" in message for message in messages)
        # Once present, the origin is reused without asking the registry again.
        asked = len(requests)
        assert images_module._pull_registry_base(client, messages.append) == reference
        assert len(requests) == asked
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(reference, force=True)


def test_the_origin_is_part_of_the_base_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_BASE_FROM", raising=False)
    default = base_image_tag()
    assert registry_base() == "python:3.11-slim"
    monkeypatch.setenv("HARNESS_BASE_FROM", "registry.example.org:5000/python:3.12-slim")
    assert base_image_tag() != default


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("python:3.11-slim", ("python", "3.11-slim")),
        ("python", ("python", "latest")),
        ("127.0.0.1:5000/team/python", ("127.0.0.1:5000/team/python", "latest")),
        ("127.0.0.1:5000/team/python:3.11", ("127.0.0.1:5000/team/python", "3.11")),
    ],
)
def test_references_split_into_repository_and_tag(
    reference: str, expected: tuple[str, str]
) -> None:
    assert images_module._split_reference(reference) == expected


@pytest.mark.docker
def test_unreachable_registry_falls_back_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on this loopback port: the daemon's pull fails at once.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HARNESS_BASE_FROM", f"127.0.0.1:{port}/nothing/here:1")
    messages: list[str] = []
    assert images_module._pull_registry_base(docker_client(), messages.append) is None
    assert messages[-1].startswith("no registry (") and "building locally" in messages[-1]
    assert "http+docker" not in messages[-1]  # the daemon's reason, not the SDK's URL


@pytest.mark.docker
def test_silent_registry_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # Accepts connections and never answers: a black hole must not stall the build.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        monkeypatch.setenv("HARNESS_BASE_FROM", f"127.0.0.1:{silent.getsockname()[1]}/x/y:1")
        monkeypatch.setattr(images_module, "PULL_TIMEOUT_S", 1.0)
        messages: list[str] = []
        assert images_module._pull_registry_base(docker_client(), messages.append) is None
        assert "no answer in 1 s" in messages[-1]
    finally:
        silent.close()


def test_no_pull_skips_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_NO_PULL", "1")
    messages: list[str] = []
    assert images_module._pull_registry_base(None, messages.append) is None  # type: ignore[arg-type]
    assert messages == []
