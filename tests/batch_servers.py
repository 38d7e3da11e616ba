"""A loopback server implementing OpenAI's Files + Batch API and Anthropic's Message Batches API
(and both online chat endpoints), driven in the tests through the real SDKs.

It keeps everything it receives (uploaded files, batch creations, polls, result downloads,
online requests) so tests can assert the exact JSONL and bodies, and it answers each item
with the same bodies :class:`~tests.conftest.ChatServer` answers online (``chat_completion``,
``anthropic_message``), so a batch run and an online run of the same ``reply`` give the same
samples.

A batch is ``validating`` (OpenAI) on its first poll, then ``in_progress`` for
``progress_polls`` polls with its counts rising, then (unless held: ``hold()`` keeps every batch
in progress until ``release()``) ``finalizing`` and ``completed`` / ``ended``. ``hold_creates()``
registers a created batch but keeps its creation's answer back until ``release_creates()``, as a
provider whose answer is lost or whose client is killed mid-call. Both list endpoints answer
newest first. ``outcome`` decides
each item's fate from its custom id, body and how many batches it has been in: ``"ok"``,
``"server_error"`` (500), ``"invalid"`` (400), ``"expired"``.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.conftest import LoopbackServer, anthropic_message, chat_completion

Outcome = Callable[[str, dict, int], str]


def _ok(custom_id: str, body: dict, attempt: int) -> str:
    return "ok"


class BatchServer(LoopbackServer):
    def __init__(
        self,
        reply: Callable[[dict], str] | str = "A",
        *,
        outcome: Outcome = _ok,
        progress_polls: int = 2,
        prompt_tokens: int = 11,
    ):
        self.reply = reply
        self.outcome = outcome
        self.progress_polls = progress_polls
        self.prompt_tokens = prompt_tokens
        self.files: dict[str, dict[str, Any]] = {}
        self.uploads: list[dict[str, Any]] = []
        """Every file upload: purpose, filename, content type and the bytes."""
        self.creates: list[dict[str, Any]] = []
        """Every batch creation request body (OpenAI's and Anthropic's)."""
        self.batches: dict[str, dict[str, Any]] = {}
        self.polls: list[str] = []
        self.downloads: list[str] = []
        self.online: list[dict] = []
        """Bodies of online (non-batch) chat requests."""
        self.headers: list[dict[str, str]] = []
        self.seen: dict[str, int] = {}
        self._held = threading.Event()
        self._creates_open = threading.Event()
        self._creates_open.set()
        self.lose_creates = 0
        """Creations to register but answer with a 502, as if the answer were lost."""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._handle(self, "POST")

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def log_message(self, *args: object) -> None:
                pass

        self._serve(Handler)

    # -- control ------------------------------------------------------------------------------
    def hold(self) -> None:
        """Keep every batch in progress (counts frozen below the total) until :meth:`release`."""
        self._held.set()

    def release(self) -> None:
        self._held.clear()

    def hold_creates(self) -> None:
        self._creates_open.clear()

    def release_creates(self) -> None:
        self._creates_open.set()

    def items(self, kind: str) -> list[tuple[str, dict]]:
        """(custom id, body) of every item submitted in batches of ``kind``, in order."""
        return [
            item
            for batch in self.batches.values()
            if batch["kind"] == kind
            for item in batch["items"]
        ]

    # -- dispatch -----------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        path = handler.path.split("?")[0]
        with self._lock:
            self.headers.append({k.lower(): v for k, v in handler.headers.items()})
            status, payload, ctype = self._route(method, path, raw, handler.headers)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if method == "POST" and path in ("/v1/batches", "/v1/messages/batches"):
            self._creates_open.wait(60)
            if self.lose_creates:
                self.lose_creates -= 1
                status, data = 502, b'{"error": {"message": "bad gateway"}}'

        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client was killed while waiting

    def _route(self, method: str, path: str, raw: bytes, headers: Any) -> tuple[int, Any, str]:
        json_type = "application/json"
        if method == "POST" and path == "/v1/chat/completions":
            body = json.loads(raw)
            self.online.append(body)
            return 200, chat_completion(body, self._text(body), self.prompt_tokens), json_type
        if method == "POST" and path == "/v1/messages":
            body = json.loads(raw)
            self.online.append(body)
            return 200, anthropic_message(body, self._text(body), self.prompt_tokens), json_type
        if method == "POST" and path == "/v1/files":
            return 200, self._upload(raw, headers["Content-Type"]), json_type
        if method == "POST" and path == "/v1/batches":
            return 200, self._create_openai(json.loads(raw)), json_type
        if method == "GET" and path == "/v1/batches":
            listed = [self._openai_object(b, b["phase"]) for b in self._newest("openai")]
            return 200, {"object": "list", "data": listed, "has_more": False}, json_type
        if method == "GET" and path == "/v1/messages/batches":
            listed = [self._anthropic_object(b, b["phase"]) for b in self._newest("anthropic")]
            return 200, {"data": listed, "has_more": False}, json_type
        if method == "GET" and path.startswith("/v1/batches/"):
            return 200, self._openai_batch(path.rsplit("/", 1)[1]), json_type
        if method == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            file_id = path.split("/")[3]
            self.downloads.append(file_id)
            return 200, self.files[file_id]["content"], "application/octet-stream"
        if method == "POST" and path == "/v1/messages/batches":
            return 200, self._create_anthropic(json.loads(raw)), json_type
        if method == "GET" and path.startswith("/v1/messages/batches/"):
            parts = path.split("/")
            if parts[-1] == "results":
                self.downloads.append(parts[-2])
                return 200, self._anthropic_results(parts[-2]), "application/binary"
            return 200, self._anthropic_batch(parts[-1]), json_type
        return 404, {"error": {"message": f"no route {method} {path}"}}, json_type

    def _newest(self, kind: str) -> list[dict]:
        return [b for b in reversed(self.batches.values()) if b["kind"] == kind]

    def _text(self, body: dict) -> str:
        return self.reply(body) if callable(self.reply) else self.reply

    # -- shared batch progress -----------------------------------------------------------------
    def _new_batch(self, kind: str, items: list[tuple[str, dict]], extra: dict) -> dict:
        batch_id = f"{'batch' if kind == 'openai' else 'msgbatch'}_{next(self._ids):04d}"
        outcomes = {}
        for custom_id, body in items:
            self.seen[custom_id] = self.seen.get(custom_id, 0) + 1
            outcomes[custom_id] = self.outcome(custom_id, body, self.seen[custom_id])
        batch = {
            "id": batch_id,
            "kind": kind,
            "items": items,
            "outcomes": outcomes,
            "polls": 0,
            "phase": "validating" if kind == "openai" else "in_progress",
            "created": datetime.now(UTC),
        }
        batch.update(extra)
        self.batches[batch_id] = batch
        return batch

    def _advance(self, batch: dict) -> str:
        """One poll: the batch's phase afterwards (validating, in_progress, finalizing, ended)."""
        batch["phase"] = self._next_phase(batch)
        return batch["phase"]

    def _next_phase(self, batch: dict) -> str:
        self.polls.append(batch["id"])
        batch["polls"] += 1
        if batch.get("ended"):
            return "ended"
        openai = batch["kind"] == "openai"
        if openai and batch["polls"] == 1:
            return "validating"
        first = 2 if openai else 1
        if batch["polls"] < first + self.progress_polls or self._held.is_set():
            return "in_progress"
        if openai and not batch.get("finalizing"):
            batch["finalizing"] = True
            return "finalizing"
        batch["ended"] = True
        return "ended"

    def _progress(self, batch: dict, phase: str) -> int:
        total = len(batch["items"])
        if phase in ("ended", "finalizing"):
            return total
        if phase == "validating":
            return 0
        # Rising but never complete while in progress.
        return min(total - 1, (total * (batch["polls"] - 1)) // (self.progress_polls + 2))

    # -- OpenAI -------------------------------------------------------------------------------
    def _upload(self, raw: bytes, content_type: str) -> dict:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
        )
        fields: dict[str, Any] = {}
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            fields[name] = part
        file_part = fields["file"]
        upload = {
            "purpose": fields["purpose"].get_payload(decode=True).decode(),
            "filename": file_part.get_filename(),
            "content_type": file_part.get_content_type(),
            "content": file_part.get_payload(decode=True),
        }
        self.uploads.append(upload)
        file_id = f"file-{next(self._ids):04d}"
        self.files[file_id] = upload
        return self._file_object(file_id, upload)

    def _file_object(self, file_id: str, upload: dict) -> dict:
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(upload["content"]),
            "created_at": 1_700_000_000,
            "filename": upload["filename"],
            "purpose": upload["purpose"],
            "status": "processed",
        }

    def _create_openai(self, body: dict) -> dict:
        self.creates.append(body)
        lines = [
            json.loads(line) for line in self.files[body["input_file_id"]]["content"].splitlines()
        ]
        for line in lines:
            assert set(line) == {"custom_id", "method", "url", "body"}, line
            assert line["method"] == "POST" and line["url"] == body["endpoint"], line
        items = [(line["custom_id"], line["body"]) for line in lines]
        batch = self._new_batch("openai", items, {"request": body})
        return self._openai_object(batch, "validating")

    def _openai_batch(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        phase = self._advance(batch)
        if phase == "ended" and "status" not in batch:
            self._finish_openai(batch)
        return self._openai_object(batch, phase)

    def _finish_openai(self, batch: dict) -> None:
        output, errors = [], []
        for n, (custom_id, body) in enumerate(batch["items"]):
            fate = batch["outcomes"][custom_id]
            line: dict[str, Any] = {"id": f"batch_req_{n}", "custom_id": custom_id}
            if fate == "ok":
                answer = chat_completion(body, self._text(body), self.prompt_tokens)
                line.update(
                    response={"status_code": 200, "request_id": f"req_{n}", "body": answer},
                    error=None,
                )
                output.append(line)
            elif fate in ("server_error", "invalid"):
                status = 500 if fate == "server_error" else 400
                message = "The server had an error" if status == 500 else "Invalid 'messages'"
                line.update(
                    response={
                        "status_code": status,
                        "request_id": f"req_{n}",
                        "body": {"error": {"message": message, "type": "server_error"}},
                    },
                    error=None,
                )
                errors.append(line)
            elif fate == "expired":
                line.update(
                    response=None,
                    error={
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired.",
                    },
                )
                errors.append(line)
        expired = any(f == "expired" for f in batch["outcomes"].values())
        batch["status"] = "expired" if expired else "completed"
        batch["completed"] = len(output)
        batch["failed"] = len(errors)
        for kind, lines in (("output_file_id", output), ("error_file_id", errors)):
            if lines:
                file_id = f"file-{next(self._ids):04d}"
                content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
                self.files[file_id] = {
                    "purpose": "batch_output",
                    "filename": f"{kind}.jsonl",
                    "content_type": "application/jsonl",
                    "content": content,
                }
                batch[kind] = file_id

    def _openai_object(self, batch: dict, phase: str) -> dict:
        total = len(batch["items"])
        status = batch["status"] if phase == "ended" else phase
        done = batch.get("completed", self._progress(batch, phase))
        return {
            "id": batch["id"],
            "object": "batch",
            "endpoint": batch["request"]["endpoint"],
            "input_file_id": batch["request"]["input_file_id"],
            "completion_window": batch["request"]["completion_window"],
            "metadata": batch["request"].get("metadata"),
            "status": status,
            "created_at": int(batch["created"].timestamp()),
            "output_file_id": batch.get("output_file_id"),
            "error_file_id": batch.get("error_file_id"),
            "request_counts": {"total": total, "completed": done, "failed": batch.get("failed", 0)},
        }

    # -- Anthropic ----------------------------------------------------------------------------
    def _create_anthropic(self, body: dict) -> dict:
        self.creates.append(body)
        items = []
        for request in body["requests"]:
            assert set(request) == {"custom_id", "params"}, request
            items.append((request["custom_id"], request["params"]))
        batch = self._new_batch("anthropic", items, {})
        return self._anthropic_object(batch, "in_progress")

    def _anthropic_batch(self, batch_id: str) -> dict:
        batch = self.batches[batch_id]
        return self._anthropic_object(batch, self._advance(batch))

    def _anthropic_object(self, batch: dict, phase: str) -> dict:
        total = len(batch["items"])
        created = batch["created"]
        counts = {"processing": total, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        ended = phase == "ended"
        if ended:
            counts["processing"] = 0
            for fate in batch["outcomes"].values():
                key = {"ok": "succeeded", "expired": "expired"}.get(fate, "errored")
                counts[key] += 1
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": created.isoformat(),
            "expires_at": (created + timedelta(hours=24)).isoformat(),
            "ended_at": (created + timedelta(hours=1)).isoformat() if ended else None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": f"{self.root}/v1/messages/batches/{batch['id']}/results"
            if ended
            else None,
        }

    def _anthropic_results(self, batch_id: str) -> bytes:
        batch = self.batches[batch_id]
        lines = []
        # Results come in no particular order: reversed, so nothing may rely on it.
        for custom_id, params in reversed(batch["items"]):
            fate = batch["outcomes"][custom_id]
            if fate == "ok":
                result = {
                    "type": "succeeded",
                    "message": anthropic_message(params, self._text(params), self.prompt_tokens),
                }
            elif fate == "expired":
                result = {"type": "expired"}
            else:
                kind = "api_error" if fate == "server_error" else "invalid_request_error"
                result = {
                    "type": "errored",
                    "error": {
                        "type": "error",
                        "error": {"type": kind, "message": f"{kind} for this request"},
                    },
                }
            lines.append(json.dumps({"custom_id": custom_id, "result": result}).encode() + b"\n")
        return b"".join(lines)
