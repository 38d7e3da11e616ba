"""Build and cache the harness base image and task images, tagged by a hash of their inputs.

The base image (``harness-base:<hash>``, also tagged ``harness-base:latest``) has Python 3,
bash, coreutils, procps and a non-root ``agent`` user (uid 1000) with ``/workspace`` as its
working directory.  It comes from ``python:3.11-slim`` (``HARNESS_BASE_FROM`` names another)
when a registry answers; otherwise it is bootstrapped from Debian packages with
``debootstrap`` (needs root; fetched from the mirror and signature-checked when the host
lacks the package), imported, and finished with the same small Dockerfile.

Task images are built from a directory whose Dockerfile starts ``FROM harness-base`` (or
``ARG BASE_IMAGE`` / ``FROM ${BASE_IMAGE}``); the actual base tag is substituted.  Every
image is rebuilt only when the hash of its inputs changes.

Entry points for ``harness envs build``: :func:`ensure_base_image` and :func:`build_image`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors

from envs._client import docker_client
from envs._debootstrap import find_debootstrap
from envs._sandbox import ImageBuildError

Progress = Callable[[str], None]

BASE_REPO = "harness-base"
REGISTRY_BASE = "python:3.11-slim"
DEBIAN_SUITE = "bookworm"
# minbase already has bash, coreutils and grep; procps gives ps/pkill for agents and tests.
DEBIAN_PACKAGES = ("python3", "procps")
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# A reachable registry answers within seconds; an unreachable one must not stall a build.
PULL_TIMEOUT_S = 30.0
# Bumped by hand when the recipe changes in a way the text below does not show.
RECIPE_VERSION = "1"

# Shared by both origins: the slim image lacks procps and the Debian root lacks a
# `python` alias; each RUN is a no-op where the piece is already present.
BASE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
USER root
RUN command -v ps >/dev/null || (apt-get update \\
    && apt-get install -y --no-install-recommends procps && rm -rf /var/lib/apt/lists/*)
RUN command -v python >/dev/null || ln -s "$(command -v python3)" /usr/local/bin/python
RUN groupadd --gid 1000 agent \\
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash agent \\
    && mkdir -p /workspace && chown agent:agent /workspace
ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /workspace
USER agent
CMD ["sleep", "infinity"]
"""

_ROOTFS_CHANGES = [
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["/bin/bash"]',
]
# Paths dropped from the bootstrapped root: package caches and docs nobody in a sandbox reads.
_ROOTFS_PRUNE = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man")
_FROM_HARNESS_BASE = re.compile(r"^(\s*FROM\s+)harness-base(?::latest)?(?=\s|$)", re.I | re.M)
_PER_PACKAGE = re.compile(
    r"^(Retrieving|Validating|Extracting|Unpacking|Configuring) (?!Release|InRelease|Packages)\S"
)
_STAGES = {
    "Retrieving": "downloading",
    "Validating": "downloading",
    "Extracting": "extracting",
    "Unpacking": "unpacking",
    "Configuring": "configuring",
}
_SKIP_IN_CONTEXT = {".git", "__pycache__", ".pytest_cache", ".ruff_cache"}


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def base_image_tag() -> str:
    """The tag the base image has for the current recipe (whether or not it exists yet)."""
    recipe = {
        "version": RECIPE_VERSION,
        "dockerfile": BASE_DOCKERFILE,
        "registry": registry_base(),
        "suite": DEBIAN_SUITE,
        "packages": sorted(DEBIAN_PACKAGES),
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"{BASE_REPO}:{digest[:12]}"


def image_exists(tag: str, client: docker.DockerClient | None = None) -> bool:
    """True if the local engine has an image with this tag."""
    client = client or docker_client()
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    # Two processes on one host building at once (test sessions, CLI calls, a cluster
    # node's workers) would both build the same image; the second should wait and then find
    # it ready.
    path = Path(tempfile.gettempdir()) / "harness-image-build.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_base_image(
    progress: Progress | None = None, *, client: docker.DockerClient | None = None
) -> str:
    """Return the base image tag, building it first if this engine does not have it.

    Tries ``python:3.11-slim`` (or ``HARNESS_BASE_FROM``) from a registry, unless
    ``HARNESS_NO_PULL=1``; else bootstraps Debian ``bookworm`` locally, fetching
    debootstrap itself if the host lacks it; ``HARNESS_DEBIAN_MIRROR`` overrides the mirror.
    Raises :class:`ImageBuildError` with the fix when neither route works.
    """
    progress = progress or _stderr_progress
    client = client or docker_client()
    tag = base_image_tag()
    if image_exists(tag, client):
        return tag
    with _build_lock():
        if image_exists(tag, client):
            return tag
        started = time.monotonic()
        origin = _pull_registry_base(client, progress)
        source = "registry"
        if origin is None:
            origin = _import_debian_rootfs(client, progress, tag)
            source = "debootstrap"
        progress(f"adding the agent user on top of {origin}...")
        context = _tar_context({"Dockerfile": BASE_DOCKERFILE.encode()})
        _run_build(
            client,
            context,
            tag=tag,
            buildargs={"BASE_IMAGE": origin},
            labels={"harness.image": "base", "harness.base.source": source},
            progress=progress,
        )
        client.images.get(tag).tag(BASE_REPO, "latest")
        progress(f"base image {tag} ready ({source}, {time.monotonic() - started:.0f} s)")
        return tag


def registry_base() -> str:
    """The image the base is built on when a registry has it (``HARNESS_BASE_FROM``)."""
    return os.environ.get("HARNESS_BASE_FROM") or REGISTRY_BASE


def _pull_registry_base(client: docker.DockerClient, progress: Progress) -> str | None:
    """Pull the registry base; None (within ``PULL_TIMEOUT_S``) when no registry answers."""
    if os.environ.get("HARNESS_NO_PULL") == "1":
        return None
    reference = registry_base()
    if image_exists(reference, client):
        return reference
    progress(f"trying to pull {reference}...")
    repository, tag = _split_reference(reference)
    events: queue.Queue[dict[str, object] | BaseException | None] = queue.Queue()

    def pull() -> None:
        # The SDK gives a pull no read timeout, so it streams in a thread and we wait on
        # its events: a registry that answers keeps them coming, a black hole does not.
        try:
            for event in client.api.pull(repository, tag=tag, stream=True, decode=True):
                events.put(event)
        except docker.errors.APIError as exc:
            events.put(RuntimeError(exc.explanation or str(exc)))
        except BaseException as exc:  # reported to the waiting side, not swallowed
            events.put(exc)
        events.put(None)

    threading.Thread(target=pull, name="harness-pull", daemon=True).start()
    failure: str | None = None
    layers_done = 0
    while True:
        try:
            event = events.get(timeout=PULL_TIMEOUT_S)
        except queue.Empty:
            failure = f"no answer in {PULL_TIMEOUT_S:.0f} s"
            break
        if event is None:
            break
        if isinstance(event, BaseException):
            failure = str(event) or type(event).__name__
            break
        if "error" in event:
            failure = str(event["error"])
            break
        if event.get("status") == "Pull complete":
            layers_done += 1
            progress(f"  layer {layers_done} pulled")
    if failure is not None or not image_exists(reference, client):
        first_line = (failure or "pull produced no image").splitlines()[0]
        progress(f"no registry ({first_line[:160]}); building locally instead")
        return None
    return reference


def _split_reference(reference: str) -> tuple[str, str]:
    """``host:port/name:tag`` -> (``host:port/name``, ``tag``); the tag defaults to latest."""
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:
        return reference, "latest"
    return name, tag


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building the base image with debootstrap needs root (it creates a Debian "
            "root file system): run `sudo harness envs build` once, then use the harness "
            "as any user in the docker group"
        )


def _import_debian_rootfs(client: docker.DockerClient, progress: Progress, base_tag: str) -> str:
    """Bootstrap Debian into a temp dir, import it as an image and return its tag."""
    rootfs_tag = "harness-rootfs:" + base_tag.partition(":")[2]
    if image_exists(rootfs_tag, client):
        return rootfs_tag
    mirror = os.environ.get("HARNESS_DEBIAN_MIRROR", DEFAULT_MIRROR)
    _require_root()
    debootstrap = find_debootstrap(mirror, DEBIAN_SUITE, progress)
    progress(
        f"building base image from Debian packages (first time only, ~2 minutes): "
        f"debootstrap {DEBIAN_SUITE} from {mirror}..."
    )
    workdir = Path(tempfile.mkdtemp(prefix="harness-rootfs-"))
    try:
        root = workdir / "root"
        cmd = [
            debootstrap.command,
            "--variant=minbase",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            DEBIAN_SUITE,
            str(root),
            mirror,
        ]
        _run_logged(cmd, progress, "debootstrap", env=debootstrap.env)
        for rel in _ROOTFS_PRUNE:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir(parents=True)
        progress("packing the root file system...")
        archive = workdir / "rootfs.tar"
        _run_logged(
            ["tar", "--numeric-owner", "-C", str(root), "-cf", str(archive), "."], progress, "tar"
        )
        progress(f"importing it as {rootfs_tag}...")
        repository, _, tag = rootfs_tag.partition(":")
        client.api.import_image_from_file(
            str(archive), repository=repository, tag=tag, changes=_ROOTFS_CHANGES
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not image_exists(rootfs_tag, client):
        raise ImageBuildError(f"docker import did not produce {rootfs_tag}")
    return rootfs_tag


def _run_logged(
    cmd: list[str], progress: Progress, what: str, env: dict[str, str] | None = None
) -> None:
    """Run a build step, passing its info lines to ``progress``; raise with its log tail."""
    tail: list[str] = []
    with subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env={**os.environ, **env} if env else None,
    ) as proc:
        assert proc.stdout is not None
        stage = ""
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-19:], line]
            # debootstrap's "I:" lines are its progress; the rest is detail for failures.
            if not line.startswith("I: "):
                continue
            # One line per stage, not one per package (a minimal Debian has about 100).
            verb = _PER_PACKAGE.match(line[3:])
            if verb is None:
                progress(f"  {line[3:]}")
            elif _STAGES[verb.group(1)] != stage:
                stage = _STAGES[verb.group(1)]
                progress(f"  {stage} packages...")
        code = proc.wait()
    if code != 0:
        log = "\n".join(tail)
        raise ImageBuildError(f"{what} failed with exit code {code}:\n{log}")


def _tar_context(files: dict[str, bytes], modes: dict[str, int] | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = (modes or {}).get(name, 0o644)
            info.mtime = 0  # a stable archive keeps the build cache useful
            tar.addfile(info, io.BytesIO(files[name]))
    buf.seek(0)
    return buf


def _run_build(
    client: docker.DockerClient,
    context: io.BytesIO,
    *,
    tag: str,
    buildargs: dict[str, str],
    labels: dict[str, str],
    progress: Progress,
) -> None:
    """Run ``docker build`` on an in-memory context, streaming its log to ``progress``."""
    tail: list[str] = []
    try:
        stream = client.api.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            buildargs=buildargs,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                log = "\n".join(tail)
                raise ImageBuildError(f"building {tag} failed: {chunk['error'].strip()}\n{log}")
            text = chunk.get("stream", "").rstrip()
            if text:
                tail = [*tail[-19:], text]
                progress(f"  {text}")
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"building {tag} failed: {exc}") from exc


def _context_files(context_dir: Path, base: str) -> tuple[dict[str, bytes], dict[str, int]]:
    """Read a build context, with ``FROM harness-base`` in its Dockerfile pointed at ``base``."""
    if not (context_dir / "Dockerfile").is_file():
        raise ImageBuildError(f"{context_dir} has no Dockerfile")
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    for path in sorted(context_dir.rglob("*")):
        rel = path.relative_to(context_dir)
        if any(part in _SKIP_IN_CONTEXT for part in rel.parts) or not path.is_file():
            continue
        files[rel.as_posix()] = path.read_bytes()
        # Only the executable bit matters to a build; other bits vary between checkouts.
        modes[rel.as_posix()] = 0o755 if os.access(path, os.X_OK) else 0o644
    dockerfile = files["Dockerfile"].decode("utf-8", errors="replace")
    files["Dockerfile"] = _FROM_HARNESS_BASE.sub(lambda m: m.group(1) + base, dockerfile).encode()
    return files, modes


def task_image_tag(context_dir: Path, base: str, client: docker.DockerClient | None = None) -> str:
    """The tag :func:`build_image` gives this context on this base (built or not)."""
    client = client or docker_client()
    files, modes = _context_files(Path(context_dir), base)
    return _task_tag(Path(context_dir), files, modes, _image_id(client, base))


def _image_id(client: docker.DockerClient, tag: str) -> str:
    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound as exc:
        raise ImageBuildError(f"base image {tag} does not exist; build it first") from exc


def _task_tag(
    context_dir: Path, files: dict[str, bytes], modes: dict[str, int], base_id: str
) -> str:
    digest = hashlib.sha256()
    digest.update(f"harness-task-image {RECIPE_VERSION}\0{base_id}\0".encode())
    for name in sorted(files):
        digest.update(f"{name}\0{modes[name]:o}\0{len(files[name])}\0".encode())
        digest.update(files[name])
    name = re.sub(r"[^a-z0-9_.-]+", "-", context_dir.resolve().name.lower()).strip("-._")
    return f"harness-task-{name or 'image'}:{digest.hexdigest()[:12]}"


def build_image(
    context_dir: Path,
    base: str,
    *,
    progress: Progress | None = None,
    client: docker.DockerClient | None = None,
) -> str:
    """Build the task image in ``context_dir`` on top of ``base`` and return its tag.

    The Dockerfile may say ``FROM harness-base`` (rewritten to ``base``) or use the build
    arg ``BASE_IMAGE``.  The tag hashes the base image id and every context file (except
    ``.git`` and caches), so an unchanged task is never rebuilt.
    """
    progress = progress or _stderr_progress
    client = client or docker_client()
    context_dir = Path(context_dir)
    files, modes = _context_files(context_dir, base)
    tag = _task_tag(context_dir, files, modes, _image_id(client, base))
    if image_exists(tag, client):
        return tag
    # Several processes on one host (workers of a cluster node) may want the same image at
    # once: one builds it, the others wait and find it built.
    with _build_lock():
        if image_exists(tag, client):
            return tag
        progress(f"building task image {tag} from {context_dir}...")
        _run_build(
            client,
            _tar_context(files, modes),
            tag=tag,
            buildargs={"BASE_IMAGE": base},
            labels={"harness.image": "task"},
            progress=progress,
        )
    return tag
