"""Shared fixtures: an isolated log/cache directory, a loopback OpenAI-compatible server, and
the Docker support every sandbox test uses.

Docker: tests marked ``docker`` (or asking for ``docker_available``) skip, with the reason
shown, when no daemon answers, except under CI (``CI`` set), where that is a failure: CI
always has Docker.  A session-wide leak check fails the session if a harness-managed
container (or network) that *this* session created is still there at its end; containers
of other sessions on the same daemon are never counted, nor removed.  A container is this
session's when

* its ``harness.run`` label is under :data:`SESSION_RUN_PREFIX` (what the ``run_id`` fixture
  hands out, so child processes given that id are covered too), or
* this process constructed the :class:`~envs.docker.DockerSandbox` that named it, which covers
  in-process CLI runs that pick their own run ids (``harness run``, ``harness debug``).

So a test that makes sandboxes in a child process must pass it a ``run_id`` from the fixture.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import docker
import docker.errors
import pytest

from envs.docker import MANAGED_LABEL, RUN_LABEL, DockerSandbox


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch) -> None:
    """Runs and the response cache go to the test's own folder, never the user's."""
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HARNESS_LOG_DIR", str(tmp_path / "runs"))
    for name in (
        "HARNESS_MODEL",
        "HARNESS_SUITE",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "HARNESS_BASE_URL",
        "HARNESS_EXECUTOR",
        "RAY_ADDRESS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def chat_completion(
    body: dict, text: str | dict, prompt_tokens: int, usage: dict[str, Any] | None = None
) -> dict:
    """A Chat Completions answer to ``body`` with ``text`` (or a whole assistant message);
    ``usage`` adds or replaces usage fields."""
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls"
                if isinstance(text, dict) and text.get("tool_calls")
                else "stop",
                "message": text
                if isinstance(text, dict)
                else {"role": "assistant", "content": text},
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 1,
            "total_tokens": prompt_tokens + 1,
            **(usage or {}),
        },
    }


def anthropic_message(body: dict, text: str, prompt_tokens: int) -> dict:
    """A Messages API answer to ``body`` with ``text``."""
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": 3},
    }


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1, serving from ``__enter__`` to ``__exit__``; its
    address is ``root`` (``url`` is ``root + "/v1"``)."""

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.root = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self.url = f"{self.root}/v1"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class ChatServer(LoopbackServer):
    """A loopback server answering OpenAI Chat Completions (``/v1/chat/completions``) and
    Anthropic Messages (``/v1/messages``) with ``reply`` (a string, or a function of the request
    body); records every request body and its headers.

    For Chat Completions the function may also return a whole assistant message (a dict,
    e.g. with ``tool_calls``; its finish reason is then ``tool_calls``). Every answer reports
    ``prompt_tokens`` input tokens; ``usage`` adds or replaces Chat Completions usage fields
    (e.g. ``completion_tokens_details`` of a reasoning model).
    """

    def __init__(
        self,
        reply: str | Callable[[dict], str | dict] = "A",
        prompt_tokens: int = 11,
        usage: dict[str, Any] | None = None,
    ):
        self.reply = reply
        self.prompt_tokens = prompt_tokens
        self.usage = usage or {}
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                text = server.reply(body) if callable(server.reply) else server.reply
                if self.path.endswith("/messages"):
                    answer = anthropic_message(body, text, server.prompt_tokens)  # type: ignore[arg-type]
                else:
                    answer = chat_completion(body, text, server.prompt_tokens, server.usage)
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self._serve(Handler)


@pytest.fixture
def kill_mid_run() -> Callable[..., None]:
    """``kill(args, log_dir, threshold, probe=None, stores="*/run.sqlite", timeout=60)``: start
    ``harness run ARGS --log-dir LOG_DIR`` in a child process and ``kill -9`` it once the run
    stores matching ``stores`` under ``log_dir`` hold ``threshold`` samples (of ``probe``, or
    of every probe). Fails if the run finished before it could be killed."""

    def kill(
        args: list[str],
        log_dir: Path,
        threshold: int,
        *,
        probe: str | None = None,
        stores: str = "*/run.sqlite",
        timeout: float = 60.0,
    ) -> None:
        query = "SELECT COUNT(*) FROM samples" + (" WHERE probe=?" if probe else "")
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness", "run", *args, "--log-dir", str(log_dir)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None:
            stored = 0
            for path in log_dir.glob(stores):
                try:
                    with sqlite3.connect(path) as db:
                        stored += db.execute(query, (probe,) if probe else ()).fetchone()[0]
                except sqlite3.OperationalError:
                    pass  # created but not yet initialised, or busy
            if stored >= threshold:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    return kill


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    with ChatServer() as server:
        yield server


# -- Docker ------------------------------------------------------------------------------

#: Every run id the ``run_id`` fixture hands out starts with this (then ``-``), so the
#: containers of this session can be told apart from other sessions' on the same daemon.
SESSION_RUN_PREFIX = f"pytest-{uuid.uuid4().hex[:8]}"


@functools.cache
def _docker_problem() -> str | None:
    """Why Docker tests cannot run here, or None when the daemon answers a ping (asked once)."""
    try:
        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure to reach the daemon means "no Docker"
        return f"Docker daemon not reachable ({type(exc).__name__}: {exc})"
    return None


class SessionSandboxes:
    """Which harness-managed Docker resources belong to this test session (see the module
    docstring): labelled with a run id under ``prefix``, or named by a sandbox this process
    constructed."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        #: Container and network names of every DockerSandbox constructed in this process.
        self.names: set[str] = set()
        #: Whether this session has used Docker at all (so the leak check needs to look).
        self.used_docker = False

    def new_run_id(self) -> str:
        return f"{self.prefix}-{uuid.uuid4().hex[:6]}"

    def owns(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether the container or network ``name`` with these labels is this session's."""
        if labels.get(MANAGED_LABEL) != "1":
            return False
        run = labels.get(RUN_LABEL, "")
        return run.startswith(f"{self.prefix}-") or name in self.names

    def record(self, box: DockerSandbox) -> None:
        self.used_docker = True
        self.names.add(box.container_name)
        if box.network_name is not None:
            self.names.add(box.network_name)

    def containers(self, **labels: str) -> list[str]:
        """Names of this session's harness containers that exist now; ``labels`` narrows
        them (``run="debug"`` means ``harness.run=debug``)."""
        wanted = [f"{MANAGED_LABEL}=1", *(f"harness.{k}={v}" for k, v in labels.items())]
        return [name for name, _ in self._find("containers", wanted)]

    def _find(self, kind: str, wanted: list[str]) -> list[tuple[str, str]]:
        """(name, id) of this session's ``kind`` ("containers" or "networks") with all the
        ``wanted`` labels.  Listed, not inspected: others' may vanish meanwhile."""
        client = docker.from_env()
        try:
            if kind == "containers":
                found = client.api.containers(all=True, filters={"label": wanted})
                named = [(item["Names"][0].lstrip("/"), item) for item in found]
            else:
                found = client.api.networks(filters={"label": wanted})
                named = [(item["Name"], item) for item in found]
        finally:
            client.close()
        return [(name, item["Id"]) for name, item in named if self.owns(name, item["Labels"] or {})]

    def remove_survivors(self) -> list[str]:
        """Force-remove this session's harness containers and networks still there; returns
        what was removed (``container <name>`` / ``network <name>``)."""
        containers = self._find("containers", [f"{MANAGED_LABEL}=1"])
        networks = self._find("networks", [f"{MANAGED_LABEL}=1"])
        client = docker.from_env()
        try:
            for _, container_id in containers:
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(container_id, force=True, v=True)
            for _, network_id in networks:
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_network(network_id)
        finally:
            client.close()
        return [f"container {n}" for n, _ in containers] + [f"network {n}" for n, _ in networks]


@pytest.fixture(scope="session", autouse=True)
def session_sandboxes() -> Iterator[SessionSandboxes]:
    """This session's ledger of Docker sandboxes: records every DockerSandbox constructed in
    this process (names are fixed at construction, before anything is created)."""
    ledger = SessionSandboxes(SESSION_RUN_PREFIX)
    original = DockerSandbox.__init__

    @functools.wraps(original)
    def recording_init(self: DockerSandbox, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        ledger.record(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DockerSandbox, "__init__", recording_init)
        yield ledger


@pytest.fixture(scope="session", autouse=True)
def no_container_survives(session_sandboxes: SessionSandboxes) -> Iterator[None]:
    """Fail the session if a harness container or network this session created is still there
    at its end (removing them, so one failure does not poison the next session too)."""
    yield
    if not session_sandboxes.used_docker or _docker_problem() is not None:
        return
    survivors = session_sandboxes.remove_survivors()
    if survivors:
        pytest.fail(
            f"{len(survivors)} harness-managed resource(s) of this session survived it "
            f"(now removed): {', '.join(sorted(survivors))}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def docker_available(session_sandboxes: SessionSandboxes) -> None:
    """Skip (or, under CI, fail) the requesting test when Docker is absent."""
    problem = _docker_problem()
    if problem is None:
        session_sandboxes.used_docker = True
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem}; CI is set, and CI must run the Docker tests", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(autouse=True)
def _docker_marker_needs_docker(request: pytest.FixtureRequest) -> None:
    """Any test marked ``docker`` skips (or fails under CI) without a daemon."""
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_available")


@pytest.fixture
def run_id(session_sandboxes: SessionSandboxes) -> str:
    """A run id unique to this test, under the session prefix."""
    return session_sandboxes.new_run_id()


@pytest.fixture(scope="session")
def build_progress() -> Callable[[str], None]:
    """Image build output straight to the terminal: pytest's capture would hide a long build."""

    def progress(message: str) -> None:
        print(message, file=sys.__stderr__, flush=True)

    return progress


@pytest.fixture(scope="session")
def base_image(docker_available: None, build_progress: Callable[[str], None]) -> str:
    """The harness base image tag, built on first use (a minute or two from Debian)."""
    from envs.images import ensure_base_image

    return ensure_base_image(build_progress)
