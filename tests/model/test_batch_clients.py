"""The OpenAI and Anthropic batch clients on the wire: the real SDKs against a loopback server
that implements the Files, Batch and Message Batches endpoints.

Asserted: the exact JSONL lines and request bodies the SDKs send (each item's body is the
provider's own online body), the polling states, every result type (succeeded, server error,
rejected request, expired) and that a batch answer parses to the same response as the online
answer to the same request.
"""

from __future__ import annotations

import json

import pytest

from harness.errors import UsageError
from harness.model import (
    BatchItem,
    ChatMessage,
    GenerateConfig,
    ModelError,
    ModelRequest,
    ProviderOptions,
    batch_api,
    check_batch,
)
from harness.model.providers.anthropic import AnthropicModel
from harness.model.providers.openai import OpenAIModel
from tests.batch_servers import BatchServer

OPENAI_KEY = "sk-test-batch-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-batch-0123456789abcdef"
FATES = {"a" * 64: "ok", "b" * 64: "server_error", "c" * 64: "invalid", "d" * 64: "expired"}


def fate(custom_id: str, body: dict, attempt: int) -> str:
    return FATES[custom_id]


def requests() -> list[ModelRequest]:
    return [
        ModelRequest(
            messages=[ChatMessage(role="user", content=f"Question {n}: A or B? Médecins — ✓")],
            system="Answer briefly.",
            config=GenerateConfig(temperature=1.0, max_tokens=16, seed=100 + n),
        )
        for n in range(len(FATES))
    ]


def reply(body: dict) -> str:
    return f"B, for question {json.dumps(body['messages'][-1]['content'])[10:11]}"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    with BatchServer(reply, outcome=fate, progress_polls=2) as running:
        yield running


async def test_openai_batch_on_the_wire(server) -> None:
    provider = OpenAIModel(ProviderOptions(model="gpt-4o", base_url=server.url))
    api = batch_api(provider)
    items = [
        BatchItem(custom_id, provider.build_body(request))
        for custom_id, request in zip(FATES, requests(), strict=True)
    ]
    batch_id = await api.submit(items, {"harness_run": "run-1", "harness_stage": "pairwise"})

    (upload,) = server.uploads
    assert upload["purpose"] == "batch" and upload["filename"].endswith(".jsonl")
    lines = [json.loads(line) for line in upload["content"].splitlines()]
    assert lines == [
        {
            "custom_id": item.custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": provider.build_body(request),
        }
        for item, request in zip(items, requests(), strict=True)
    ]
    assert lines[0]["body"] == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Question 0: A or B? Médecins — ✓"},
        ],
        "max_completion_tokens": 16,
        "temperature": 1.0,
        "seed": 100,
    }
    (create,) = server.creates
    assert create == {
        "input_file_id": next(iter(server.files)),
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"harness_run": "run-1", "harness_stage": "pairwise"},
    }
    assert server.headers[0]["authorization"] == f"Bearer {OPENAI_KEY}"

    seen = []
    while True:
        status = await api.status(batch_id)
        seen.append((status.status, status.done, status.ended))
        if status.ended:
            break
    assert [s for s, _, _ in seen] == [
        "validating",
        "in_progress",
        "in_progress",
        "finalizing",
        "expired",  # one item expired, so the whole batch did; the rest still answered
    ]
    assert seen[1][1] < seen[2][1] < 4 and seen[-1][1] == 4

    results = {r.custom_id: r for r in await api.results(batch_id)}
    assert set(results) == set(FATES)
    ok, server_error, invalid, expired = (results[c] for c in FATES)
    assert ok.error is None and ok.result is not None
    assert server_error.result is None and server_error.retry and "HTTP 500" in server_error.error
    assert invalid.result is None and not invalid.retry and "HTTP 400" in invalid.error
    assert expired.retry and "batch_expired" in expired.error

    # Parsed exactly as the online answer to the same request.
    answer = api.response(ok.result, requests()[0])
    online = await provider.generate(requests()[0])
    assert answer.batch and not online.batch
    assert answer.model_dump(exclude={"batch", "latency"}) == online.model_dump(
        exclude={"batch", "latency"}
    )
    assert (
        answer.text == reply(provider.build_body(requests()[0])) and answer.usage.input_tokens == 11
    )
    await provider.aclose()


async def test_anthropic_message_batch_on_the_wire(server) -> None:
    provider = AnthropicModel(ProviderOptions(model="claude-sonnet-4-5", base_url=server.root))
    api = batch_api(provider)
    items = [
        BatchItem(custom_id, provider.build_body(request))
        for custom_id, request in zip(FATES, requests(), strict=True)
    ]
    batch_id = await api.submit(items, {"harness_run": "run-1"})

    (create,) = server.creates
    assert create == {
        "requests": [
            {"custom_id": item.custom_id, "params": provider.build_body(request)}
            for item, request in zip(items, requests(), strict=True)
        ]
    }
    assert create["requests"][0]["params"] == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Question 0: A or B? Médecins — ✓"}],
        "system": "Answer briefly.",
    }
    assert server.headers[0]["authorization"] == f"Bearer {ANTHROPIC_KEY}"
    assert server.uploads == []  # no file: the requests go in the body

    seen = []
    while True:
        status = await api.status(batch_id)
        seen.append(status)
        if status.ended:
            break
    assert [s.status for s in seen] == ["in_progress", "in_progress", "ended"]
    assert seen[0].done == 0 and seen[-1].done == 4 and seen[-1].failed == 3

    results = {r.custom_id: r for r in await api.results(batch_id)}
    assert set(results) == set(FATES)  # matched by custom id: the server sends them reversed
    ok, server_error, invalid, expired = (results[c] for c in FATES)
    assert ok.result is not None
    assert server_error.retry and "api_error" in server_error.error
    assert not invalid.retry and "invalid_request_error" in invalid.error
    assert expired.retry and "expired" in expired.error

    answer = api.response(ok.result, requests()[0])
    online = await provider.generate(requests()[0])
    assert answer.model_dump(exclude={"batch", "latency"}) == online.model_dump(
        exclude={"batch", "latency"}
    )
    assert answer.batch and answer.usage.input_tokens == 11
    await provider.aclose()


async def test_a_malformed_batch_answer_is_rejected_like_an_online_one(server) -> None:
    provider = OpenAIModel(ProviderOptions(model="gpt-4o", base_url=server.url))
    api = batch_api(provider)
    with pytest.raises(ModelError, match="malformed response"):
        api.response({"id": "x", "object": "chat.completion", "choices": []}, requests()[0])
    with pytest.raises(ModelError, match="malformed response"):
        api.response("not an object", requests()[0])  # type: ignore[arg-type]
    await provider.aclose()


async def test_a_rejected_submission_names_the_variable_not_the_key(monkeypatch) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Refuse(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            payload = json.dumps({"error": {"message": f"bad key {OPENAI_KEY}"}}).encode()
            self.send_response(401)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    provider = OpenAIModel(
        ProviderOptions(model="gpt-4o", base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    )
    try:
        with pytest.raises(ModelError) as failure:
            await batch_api(provider).submit([BatchItem("a" * 64, {"model": "gpt-4o"})], {})
        assert "OPENAI_API_KEY" in str(failure.value) and OPENAI_KEY not in str(failure.value)
    finally:
        await provider.aclose()
        httpd.shutdown()
        httpd.server_close()


def test_providers_without_a_batch_api_are_refused_in_one_line() -> None:
    check_batch("openai/gpt-4o")
    check_batch("anthropic/claude-sonnet-4-5")
    with pytest.raises(UsageError, match="sim has no batch API"):
        check_batch("sim")
    with pytest.raises(UsageError, match=r"openai-compatible/llama3 has no batch API.*/v1/batches"):
        check_batch("openai-compatible/llama3")


async def test_an_unconfirmed_submission_is_found_by_tag_or_not_guessed(server) -> None:
    import time

    since = time.time()
    openai_provider = OpenAIModel(ProviderOptions(model="gpt-4o", base_url=server.url))
    openai_api = batch_api(openai_provider)
    item = [BatchItem("a" * 64, {"model": "gpt-4o", "messages": []})]
    first = await openai_api.submit(item, {"harness_submission": "harness-1"})
    second = await openai_api.submit(item, {"harness_submission": "harness-2"})
    assert await openai_api.find("harness-1", 1, since) == first
    assert await openai_api.find("harness-2", 1, since) == second
    assert await openai_api.find("harness-3", 1, since) is None

    anthropic_provider = AnthropicModel(
        ProviderOptions(model="claude-sonnet-4-5", base_url=server.root)
    )
    anthropic_api = batch_api(anthropic_provider)
    params = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": []}
    one = await anthropic_api.submit([BatchItem("a" * 64, params)], {})
    # Told by size and time: the only batch of one request made since then is that one ...
    assert await anthropic_api.find("harness-x", 1, since) == one
    assert await anthropic_api.find("harness-x", 2, since) is None
    assert await anthropic_api.find("harness-x", 1, since + 3600) is None
    # ... and with two that fit, it does not guess.
    await anthropic_api.submit([BatchItem("b" * 64, params)], {})
    assert await anthropic_api.find("harness-x", 1, since) is None
    await openai_provider.aclose()
    await anthropic_provider.aclose()
