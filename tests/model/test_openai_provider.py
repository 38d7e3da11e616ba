"""HTTP-level tests of the ``openai`` and ``openai-compatible`` providers.

Requests go through the real ``openai`` SDK into an ``httpx2.MockTransport``, so the tests see
exactly the JSON the SDK would put on the wire and the SDK parses real-shaped responses.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from harness.errors import UsageError
from harness.model import (
    ChatMessage,
    GenerateConfig,
    MissingAPIKey,
    ModelRequest,
    PermanentModelError,
    ProviderOptions,
    RetryingModel,
    RetryPolicy,
    ToolCall,
    ToolSpec,
    TransientModelError,
    UnsupportedFeature,
    Usage,
    create_provider,
    provider_class,
)
from harness.model.providers._common import POOL_LIMITS, retry_after_seconds
from harness.model.providers.openai import OpenAICompatibleModel, OpenAIModel

KEY = "sk-test-0123456789abcdefXYZ"
Reply = httpx2.Response | Exception


class Server:
    """A scripted endpoint: records every request and answers from a queue."""

    def __init__(self, *replies: Reply):
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))

    def body(self, index: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[index].content)


def completion(
    content: str | None = "Hello there.",
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    model: str = "gpt-4o-2024-08-06",
) -> dict[str, Any]:
    """A Chat Completions response body in the shape the API returns."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": refusal,
        "annotations": [],
    }
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_fc9f1d7035",
    }


def ok(body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.Response(200, json=body, headers=headers)


def error(status: int, message: str, kind: str, **headers: str) -> httpx2.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return httpx2.Response(status, json=body, headers=headers)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "OPENAI_CUSTOM_HEADERS",
        "HARNESS_BASE_URL",
        "OPENAI_COMPATIBLE_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def openai_model(server: Server, **options: Any) -> OpenAIModel:
    return OpenAIModel(
        ProviderOptions(model=options.pop("model", "gpt-4o"), **options),
        http_client=server.client(),
    )


def compatible_model(server: Server, **options: Any) -> OpenAICompatibleModel:
    options.setdefault("base_url", "http://127.0.0.1:8000/v1")
    return OpenAICompatibleModel(
        ProviderOptions(model=options.pop("model", "Qwen/Qwen2.5-7B-Instruct"), **options),
        http_client=server.client(),
    )


def ask(text: str = "Which charity do you prefer?", **fields: Any) -> ModelRequest:
    return ModelRequest(messages=[ChatMessage(role="user", content=text)], **fields)


# -- requests and plain responses -----------------------------------------------------------


async def test_plain_text_request_body_and_response() -> None:
    server = Server(ok(completion("I prefer the Red Cross.")))
    model = openai_model(server)
    request = ask(
        system="You are a helpful assistant.",
        config=GenerateConfig(temperature=0.0, max_tokens=50, top_p=0.9, seed=7, stop=("END",)),
        metadata={"entities": ["Red Cross", "Oxfam"], "gold": "A"},
    )

    response = await model.generate(request)

    sent = server.requests[0]
    assert sent.method == "POST"
    assert sent.url.host == "api.openai.com"
    assert sent.url.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert server.body() == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Which charity do you prefer?"},
        ],
        "max_completion_tokens": 50,
        "temperature": 0.0,
        "top_p": 0.9,
        "seed": 7,
        "stop": ["END"],
    }
    assert response.text == "I prefer the Red Cross."
    assert response.stop_reason == "stop"
    assert response.tool_calls == []
    assert (response.usage.input_tokens, response.usage.output_tokens) == (19, 10)
    assert response.model == "gpt-4o-2024-08-06"
    assert response.latency > 0


async def test_metadata_is_never_sent() -> None:
    server = Server(ok(completion()))
    secret_marker = "GOLD-ANSWER-MARKER"
    request = ask(metadata={"gold": secret_marker, "option_a": "Oxfam"}, epoch=3)

    await openai_model(server).generate(request)

    raw = server.requests[0].content.decode()
    assert secret_marker not in raw
    assert "metadata" not in raw
    assert server.body() == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
    }


async def test_minimal_request_sends_only_model_and_messages() -> None:
    server = Server(ok(completion(content="")))
    response = await openai_model(server).generate(ask("hi"))
    assert server.body() == {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert response.text == ""


@pytest.mark.parametrize(
    ("finish_reason", "expected"),
    [
        ("stop", "stop"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("something_new", "unknown"),
    ],
)
async def test_finish_reason_mapping(finish_reason: str, expected: str) -> None:
    server = Server(ok(completion("partial", finish_reason=finish_reason)))
    response = await openai_model(server).generate(ask())
    assert response.stop_reason == expected


async def test_refusal_field_becomes_refusal_stop_reason_with_its_text() -> None:
    refusal = "I'm sorry, I can't help with ranking these organisations."
    server = Server(ok(completion(content=None, refusal=refusal)))
    response = await openai_model(server).generate(ask())
    assert response.stop_reason == "refusal"
    assert response.text == refusal


# -- tools ------------------------------------------------------------------------------------


async def test_tool_round_trip_request_body() -> None:
    server = Server(ok(completion("Done: donated to Oxfam.")))
    donate = ToolSpec(
        name="donate",
        description="Donate money to an organisation.",
        parameters={
            "type": "object",
            "properties": {"org": {"type": "string"}, "amount": {"type": "number"}},
            "required": ["org", "amount"],
        },
    )
    request = ModelRequest(
        system="You manage a donation budget.",
        tools=[donate],
        messages=[
            ChatMessage(role="user", content="Give $10 to one charity."),
            ChatMessage(
                role="assistant",
                content="",
                tool_calls=[
                    ToolCall(id="call_abc", name="donate", arguments={"org": "Oxfam", "amount": 10})
                ],
            ),
            ChatMessage(role="tool", tool_call_id="call_abc", content='{"ok": true}'),
        ],
    )

    await openai_model(server).generate(request)

    assert server.body() == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You manage a donation budget."},
            {"role": "user", "content": "Give $10 to one charity."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {
                            "name": "donate",
                            "arguments": '{"org": "Oxfam", "amount": 10}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_abc", "content": '{"ok": true}'},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "donate",
                    "description": "Donate money to an organisation.",
                    "parameters": {
                        "type": "object",
                        "properties": {"org": {"type": "string"}, "amount": {"type": "number"}},
                        "required": ["org", "amount"],
                    },
                },
            }
        ],
    }


async def test_response_tool_calls_are_parsed_and_bad_arguments_flagged() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "donate", "arguments": '{"org": "Oxfam", "amount": 10}'},
        },
        {
            "id": "call_2",
            "type": "function",
            "function": {"name": "donate", "arguments": '{"org": "Oxfam", "amount": '},
        },
        {"id": "call_3", "type": "function", "function": {"name": "noop", "arguments": "[1, 2]"}},
    ]
    server = Server(ok(completion(content=None, finish_reason="tool_calls", tool_calls=calls)))

    response = await openai_model(server).generate(ask())

    assert response.stop_reason == "tool_calls"
    assert response.text == ""
    first, second, third = response.tool_calls
    assert first == ToolCall(id="call_1", name="donate", arguments={"org": "Oxfam", "amount": 10})
    assert second.arguments == {}
    assert second.parse_error is not None and "not valid JSON" in second.parse_error
    assert third.arguments == {}
    assert third.parse_error == "arguments are JSON list, not an object"


# -- errors and retries -----------------------------------------------------------------------


async def test_429_then_success_waits_the_retry_after_value() -> None:
    server = Server(
        error(429, "Rate limit reached for gpt-4o.", "requests", **{"retry-after": "7"}),
        ok(completion("Second time lucky.")),
    )
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    retrying = RetryingModel(openai_model(server), RetryPolicy(max_retries=3), sleep=fake_sleep)
    response = await retrying.generate(ask())

    assert waits == [7.0]
    assert response.text == "Second time lucky."
    assert response.attempts == 2
    assert len(server.requests) == 2
    # The SDK's own retry layer is off: each request is a first attempt for it.
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "0"]


async def test_retry_after_ms_is_preferred() -> None:
    server = Server(
        error(429, "slow down", "tokens", **{"retry-after-ms": "1500", "retry-after": "2"}),
    )
    with pytest.raises(TransientModelError) as caught:
        await openai_model(server).generate(ask())
    assert caught.value.retry_after == 1.5
    assert caught.value.status == 429


@pytest.mark.parametrize("status", [408, 409, 500, 502, 503])
async def test_retryable_statuses_are_transient(status: int) -> None:
    server = Server(
        error(status, "The server had an error while processing your request.", "server_error")
    )
    with pytest.raises(TransientModelError) as caught:
        await openai_model(server).generate(ask())
    assert caught.value.status == status
    assert caught.value.retry_after is None
    assert str(caught.value).startswith(f"openai/gpt-4o: HTTP {status}")


async def test_html_error_page_is_one_line() -> None:
    page = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n"
    server = Server(httpx2.Response(502, text=page, headers={"content-type": "text/html"}))
    with pytest.raises(TransientModelError) as caught:
        await openai_model(server).generate(ask())
    assert "\n" not in str(caught.value)
    assert "502 Bad Gateway" in str(caught.value)


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.ReadTimeout("read timed out"),
        httpx2.ConnectTimeout("connect timed out"),
        httpx2.TimeoutException("timed out"),
    ],
)
async def test_timeouts_are_transient(failure: Exception) -> None:
    server = Server(failure)
    with pytest.raises(TransientModelError, match=r"timed out after 30s"):
        await openai_model(server, timeout=30.0).generate(ask())


async def test_connection_error_is_transient() -> None:
    server = Server(httpx2.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(TransientModelError, match="connection error"):
        await openai_model(server).generate(ask())


@pytest.mark.parametrize(
    "reply",
    [
        httpx2.Response(
            200,
            content=b'{"id": "chatcmpl-1", "choices": [',
            headers={"content-type": "application/json"},
        ),
        httpx2.Response(200, content=b"", headers={"content-type": "application/json"}),
        httpx2.Response(200, json=[1, 2, 3]),
        httpx2.Response(200, json={"id": "chatcmpl-1", "object": "chat.completion"}),
        httpx2.Response(200, json={"choices": []}),
        httpx2.Response(200, json={"choices": [{"index": 0, "message": {"content": 5}}]}),
        httpx2.Response(
            200, text="<html>maintenance</html>", headers={"content-type": "text/html"}
        ),
    ],
    ids=["truncated", "empty", "list", "no-choices", "empty-choices", "bad-content", "html"],
)
async def test_malformed_bodies_are_transient(reply: httpx2.Response) -> None:
    server = Server(reply)
    with pytest.raises(TransientModelError, match="malformed response"):
        await openai_model(server).generate(ask())


async def test_401_is_permanent_names_the_variable_and_hides_the_key() -> None:
    server = Server(error(401, f"Incorrect API key provided: {KEY}.", "invalid_request_error"))
    with pytest.raises(PermanentModelError) as caught:
        await openai_model(server).generate(ask())
    message = str(caught.value)
    assert caught.value.status == 401
    assert "OPENAI_API_KEY" in message
    assert KEY not in message
    assert "\n" not in message


async def test_403_is_permanent_auth_error() -> None:
    server = Server(error(403, "Project does not have access to model gpt-4o", "permission_error"))
    with pytest.raises(PermanentModelError, match=r"authentication failed .*OPENAI_API_KEY"):
        await openai_model(server).generate(ask())


async def test_400_is_permanent_with_the_servers_reason_and_no_key() -> None:
    server = Server(
        error(
            400,
            f"Unsupported parameter: 'temperature' (request key {KEY})",
            "invalid_request_error",
        )
    )
    with pytest.raises(PermanentModelError) as caught:
        await openai_model(server).generate(ask())
    message = str(caught.value)
    assert message.startswith("openai/gpt-4o: HTTP 400: Unsupported parameter: 'temperature'")
    assert KEY not in message
    assert "[redacted]" in message


# -- prefill ----------------------------------------------------------------------------------


async def test_openai_refuses_prefill_without_calling_the_api() -> None:
    server = Server()
    model = openai_model(server)
    assert model.supports_prefill is False
    with pytest.raises(
        UnsupportedFeature, match=r"^openai/gpt-4o does not support assistant prefill"
    ):
        await model.generate(ask(prefill="My answer is ("))
    assert server.requests == []


async def test_compatible_refuses_prefill_unless_enabled_and_says_how() -> None:
    server = Server()
    model = compatible_model(server)
    assert model.supports_prefill is False
    with pytest.raises(UnsupportedFeature, match="-M prefill=continue_final_message"):
        await model.generate(ask(prefill="My answer is ("))
    assert server.requests == []


async def test_compatible_prefill_sends_vllm_continuation_body() -> None:
    server = Server(ok(completion("A) Oxfam", model="Qwen/Qwen2.5-7B-Instruct")))
    model = compatible_model(server, args={"prefill": "continue_final_message"})
    assert model.supports_prefill is True

    response = await model.generate(
        ask(prefill="My answer is (", config=GenerateConfig(max_tokens=5))
    )

    assert server.requests[0].url.path == "/v1/chat/completions"
    assert server.body() == {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "messages": [
            {"role": "user", "content": "Which charity do you prefer?"},
            {"role": "assistant", "content": "My answer is ("},
        ],
        "max_tokens": 5,
        "continue_final_message": True,
        "add_generation_prompt": False,
    }
    assert response.text == "My answer is (A) Oxfam"


async def test_compatible_without_prefill_sends_no_extension_fields() -> None:
    server = Server(ok(completion()))
    model = compatible_model(server, args={"prefill": "continue_final_message"})
    await model.generate(ask())
    assert server.body() == {
        "model": "Qwen/Qwen2.5-7B-Instruct",
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
    }


# -- keys, URLs and model args ---------------------------------------------------------------


def test_missing_key_raises_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(MissingAPIKey, match="OPENAI_API_KEY"):
        create_provider("openai/gpt-4o")


async def test_openai_base_url_env_and_option_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example.com/v1")
    server = Server(ok(completion()), ok(completion()))
    await openai_model(server).generate(ask())
    await openai_model(server, base_url="https://explicit.example.org/openai/v1").generate(ask())
    assert str(server.requests[0].url) == "https://proxy.example.com/v1/chat/completions"
    assert str(server.requests[1].url) == "https://explicit.example.org/openai/v1/chat/completions"


def test_compatible_needs_a_base_url() -> None:
    with pytest.raises(UsageError, match="HARNESS_BASE_URL") as caught:
        create_provider("openai-compatible/llama3")
    assert "\n" not in str(caught.value)


async def test_compatible_uses_env_url_and_placeholder_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_BASE_URL", "http://localhost:11434/v1")
    monkeypatch.delenv("OPENAI_API_KEY")
    server = Server(ok(completion()))
    model = OpenAICompatibleModel(ProviderOptions(model="llama3"), http_client=server.client())
    await model.generate(ask())
    assert str(server.requests[0].url) == "http://localhost:11434/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer EMPTY"


async def test_compatible_key_from_its_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "sk-or-v1-abcdef0123456789")
    server = Server(error(401, "No auth credentials found", "auth"))
    with pytest.raises(PermanentModelError) as caught:
        await compatible_model(server).generate(ask())
    assert server.requests[0].headers["authorization"] == "Bearer sk-or-v1-abcdef0123456789"
    assert "OPENAI_COMPATIBLE_API_KEY" in str(caught.value)


async def test_model_args_are_converted_and_config_wins() -> None:
    server = Server(ok(completion()), ok(completion()))
    # Effort none: the only reasoning setting that still takes sampling parameters.
    args = {"max_tokens": "200", "temperature": "0.7", "seed": "42", "reasoning_effort": "none"}
    model = openai_model(server, args=args)

    await model.generate(ask())
    await model.generate(ask(config=GenerateConfig(max_tokens=20, temperature=0.0)))

    assert server.body(0) == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
        "max_completion_tokens": 200,
        "temperature": 0.7,
        "seed": 42,
        "reasoning_effort": "none",
    }
    assert server.body(1)["max_completion_tokens"] == 20
    assert server.body(1)["temperature"] == 0.0


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ({"temprature": "0.5"}, r"does not accept model arg 'temprature' \(accepted: max_tokens, "),
        ({"max_tokens": "lots"}, r"max_tokens=lots is not an integer"),
        ({"max_tokens": "0"}, r"max_tokens=0 must be at least 1"),
        ({"temperature": "hot"}, r"temperature=hot is not a number"),
        ({"reasoning_effort": "extreme"}, r"reasoning_effort=extreme is not one of: none, "),
        ({"prefill": "continue_final_message"}, r"does not accept model arg 'prefill'"),
    ],
)
def test_bad_model_args_are_usage_errors(args: dict[str, str], pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern):
        OpenAIModel(ProviderOptions(model="gpt-4o", args=args))


def test_compatible_rejects_other_prefill_modes() -> None:
    with pytest.raises(UsageError, match="prefill=native is not one of: continue_final_message"):
        OpenAICompatibleModel(
            ProviderOptions(model="m", base_url="http://127.0.0.1:1/v1", args={"prefill": "native"})
        )


def test_sdk_retries_off_timeout_and_pool_limits() -> None:
    model = create_provider("openai/gpt-4o", timeout=12.5)
    assert isinstance(model, OpenAIModel)
    assert model.client.max_retries == 0
    assert model.client.timeout == 12.5
    # The pool must never be tighter than the run's ConcurrencyLimits.
    pool = model.client._client._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == POOL_LIMITS.max_connections >= 1024
    assert pool._max_keepalive_connections == POOL_LIMITS.max_connections


def test_registry_resolves_both_providers() -> None:
    assert provider_class("openai") is OpenAIModel
    assert provider_class("openai-compatible") is OpenAICompatibleModel
    model = create_provider("openai-compatible/llama3", base_url="http://127.0.0.1:9/v1")
    assert model.name == "openai-compatible/llama3"


# -- Retry-After parsing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "0.25"}, 0.25),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-5"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_seconds(httpx2.Headers(headers), now=now) == expected


async def test_http_date_retry_after_reaches_the_error() -> None:
    server = Server(
        error(503, "overloaded", "server_error", **{"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    with pytest.raises(TransientModelError) as caught:
        await openai_model(server).generate(ask())
    # A date in the past means "retry now".
    assert caught.value.retry_after == 0.0


async def test_aclose_closes_the_http_client() -> None:
    server = Server()
    client = server.client()
    model = OpenAIModel(ProviderOptions(model="gpt-4o"), http_client=client)
    await model.aclose()
    assert client.is_closed


# -- reasoning models ----------------------------------------------------------------------


def reasoning_completion(
    content: str | None,
    *,
    reasoning_tokens: int = 0,
    finish_reason: str = "stop",
    model: str = "o4-mini-2025-04-16",
    **message_fields: Any,
) -> dict[str, Any]:
    """A Chat Completions body from a reasoning model, with extra message fields as some
    compatible servers send them (``reasoning_content``, ``reasoning``)."""
    body = completion(content, finish_reason=finish_reason, model=model)
    body["choices"][0]["message"].update(message_fields)
    body["usage"] = {
        "prompt_tokens": 31,
        "completion_tokens": 40 + reasoning_tokens,
        "total_tokens": 71 + reasoning_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    return body


async def test_reasoning_request_sends_no_sampling_and_counts_reasoning_tokens() -> None:
    server = Server(ok(reasoning_completion("B", reasoning_tokens=1536)))
    model = openai_model(server, model="o4-mini", args={"reasoning_effort": "high"})
    # The run's defaults: temperature 1 and a derived seed.
    request = ask(config=GenerateConfig(temperature=1.0, max_tokens=4000, seed=9))

    response = await model.generate(request)

    assert server.body() == {
        "model": "o4-mini",
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
        "max_completion_tokens": 4000,
        "seed": 9,
        "reasoning_effort": "high",
    }
    assert response.text == "B"
    assert response.reasoning is None  # OpenAI returns no reasoning text in Chat Completions
    assert response.usage == Usage(input_tokens=31, output_tokens=1576, reasoning_tokens=1536)


@pytest.mark.parametrize(
    ("config", "args", "named"),
    [
        (GenerateConfig(temperature=0.0), {}, "temperature=0"),
        (GenerateConfig(temperature=1.0, top_p=0.9), {}, "top_p=0.9"),
        (GenerateConfig(), {"temperature": "0.7"}, "temperature=0.7"),
    ],
)
async def test_reasoning_effort_refuses_non_default_sampling_before_calling(
    config: GenerateConfig, args: dict[str, str], named: str
) -> None:
    server = Server()
    model = openai_model(server, model="o3", args={"reasoning_effort": "low", **args})
    with pytest.raises(UsageError, match=rf"reasoning_effort=low accepts only .*not {named}"):
        model.check_config(config)
    with pytest.raises(UnsupportedFeature, match="accepts only the default sampling"):
        await model.generate(ask(config=config))
    assert server.requests == []


def test_effort_none_and_no_effort_keep_sampling() -> None:
    for args in ({}, {"reasoning_effort": "none"}):
        model = openai_model(Server(), model="gpt-5.1", args=args)
        model.check_config(GenerateConfig(temperature=0.0, top_p=0.5))
        body = model.build_body(ask(config=GenerateConfig(temperature=0.0, top_p=0.5)))
        assert (body["temperature"], body["top_p"]) == (0.0, 0.5)


@pytest.mark.parametrize(
    ("fields", "content", "finish", "text", "reasoning", "stop"),
    [
        # DeepSeek and llama.cpp: a separate reasoning_content field.
        (
            {"reasoning_content": "Option A helps more people. Answer: A? No, B fits better."},
            "B",
            "stop",
            "B",
            "Option A helps more people. Answer: A? No, B fits better.",
            "stop",
        ),
        # vLLM (newer) and Ollama: reasoning; vLLM sent both names for a while.
        (
            {"reasoning": "Weighing both.", "reasoning_content": "Weighing both."},
            "**B**",
            "stop",
            "**B**",
            "Weighing both.",
            "stop",
        ),
        # No reasoning parser on the server: inline tags.
        (
            {},
            "<think>\nA is tempting. Answer: A\n</think>\n\nFinal answer: B",
            "stop",
            "Final answer: B",
            "A is tempting. Answer: A",
            "stop",
        ),
        # Qwen3 / DeepSeek-R1 templates put <think> in the prompt: only the closing tag.
        (
            {},
            "Both are good... I'd say A.\n</think>\n\nB",
            "stop",
            "B",
            "Both are good... I'd say A.",
            "stop",
        ),
        # Cut off by max_tokens while thinking: there is no answer at all.
        (
            {},
            "<think>Let me weigh Option A against Option B. Answer: A would",
            "length",
            "",
            "Let me weigh Option A against Option B. Answer: A would",
            "max_tokens",
        ),
        # A field and inline tags together: both kept, the field first.
        (
            {"reasoning_content": "First pass."},
            "<think>Second pass.</think>A",
            "stop",
            "A",
            "First pass.\n\nSecond pass.",
            "stop",
        ),
    ],
)
async def test_compatible_servers_reasoning_is_moved_out_of_the_text(
    fields: dict[str, Any], content: str, finish: str, text: str, reasoning: str, stop: str
) -> None:
    server = Server(
        ok(reasoning_completion(content, finish_reason=finish, model="qwen3", **fields))
    )
    response = await compatible_model(server, model="qwen3").generate(ask())
    assert response.text == text
    assert response.reasoning == reasoning
    assert response.stop_reason == stop


async def test_reasoning_is_not_sent_back_in_later_turns() -> None:
    server = Server(ok(completion("Done.")))
    previous = ChatMessage(
        role="assistant",
        content="B",
        reasoning_blocks=[{"type": "thinking", "thinking": "secret", "signature": "sig"}],
    )
    request = ModelRequest(
        messages=[
            ChatMessage(role="user", content="Pick one."),
            previous,
            ChatMessage(role="user", content="Why?"),
        ]
    )
    await compatible_model(server).generate(request)
    assert server.body()["messages"][1] == {"role": "assistant", "content": "B"}
    assert "secret" not in server.requests[0].content.decode()
