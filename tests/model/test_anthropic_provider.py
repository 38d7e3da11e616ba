"""HTTP-level tests of the ``anthropic`` provider.

Requests go through the real ``anthropic`` SDK into an ``httpx2.MockTransport``, so the tests
see exactly the JSON the SDK would put on the wire and the SDK parses real-shaped responses.
"""

from __future__ import annotations

import json
import logging
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
from harness.model.providers._common import POOL_LIMITS
from harness.model.providers.anthropic import AnthropicModel

KEY = "sk-ant-api03-test0123456789abcdefXYZ"
MODEL = "claude-sonnet-4-6"
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


def message(
    *blocks: dict[str, Any],
    stop_reason: str = "end_turn",
    stop_sequence: str | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A Messages API response body in the shape the API returns."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6-20260115",
        "content": list(blocks) or [{"type": "text", "text": "Hello!"}],
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage
        or {
            "input_tokens": 25,
            "output_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard",
        },
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def ok(body: dict[str, Any], **headers: str) -> httpx2.Response:
    return httpx2.Response(
        200, json=body, headers={"request-id": "req_011CSHoEeqs5C35K2UUqR7Fy", **headers}
    )


def error(status: int, kind: str, text_: str, **headers: str) -> httpx2.Response:
    body = {"type": "error", "error": {"type": kind, "message": text_}}
    return httpx2.Response(status, json=body, headers=headers)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


def claude(server: Server, **options: Any) -> AnthropicModel:
    return AnthropicModel(
        ProviderOptions(model=options.pop("model", MODEL), **options), http_client=server.client()
    )


def ask(content: str = "Which charity do you prefer?", **fields: Any) -> ModelRequest:
    return ModelRequest(messages=[ChatMessage(role="user", content=content)], **fields)


# -- requests and plain responses -----------------------------------------------------------


async def test_plain_text_request_body_and_response() -> None:
    server = Server(ok(message(text("I prefer "), text("Oxfam."))))
    request = ask(
        system="You are a helpful assistant.",
        config=GenerateConfig(max_tokens=300, stop=("\n\nHuman:",), seed=11),
        metadata={"entities": ["Red Cross", "Oxfam"], "gold": "B"},
    )

    response = await claude(server).generate(request)

    sent = server.requests[0]
    assert sent.method == "POST"
    assert sent.url.host == "api.anthropic.com"
    assert sent.url.path == "/v1/messages"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    # seed has no Anthropic equivalent and metadata is never sent.
    assert server.body() == {
        "model": MODEL,
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
        "system": "You are a helpful assistant.",
        "stop_sequences": ["\n\nHuman:"],
    }
    assert response.text == "I prefer Oxfam."
    assert response.stop_reason == "stop"
    assert response.tool_calls == []
    assert (response.usage.input_tokens, response.usage.output_tokens) == (25, 12)
    assert response.model == "claude-sonnet-4-6-20260115"
    assert response.latency > 0


async def test_metadata_is_never_sent() -> None:
    server = Server(ok(message()))
    await claude(server).generate(ask(metadata={"gold": "GOLD-ANSWER-MARKER"}, epoch=2))
    raw = server.requests[0].content.decode()
    assert "GOLD-ANSWER-MARKER" not in raw
    assert "metadata" not in raw
    assert server.body() == {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
    }


async def test_usage_counts_cached_input_tokens() -> None:
    usage = {
        "input_tokens": 10,
        "output_tokens": 3,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
    }
    server = Server(ok(message(text("ok"), usage=usage)))
    response = await claude(server).generate(ask())
    assert (response.usage.input_tokens, response.usage.output_tokens) == (1110, 3)


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "max_tokens"),
        ("model_context_window_exceeded", "max_tokens"),
        ("tool_use", "tool_calls"),
        ("refusal", "refusal"),
        ("pause_turn", "unknown"),
    ],
)
async def test_stop_reason_mapping(stop_reason: str, expected: str) -> None:
    server = Server(ok(message(text("..."), stop_reason=stop_reason)))
    response = await claude(server).generate(ask())
    assert response.stop_reason == expected


async def test_refusal_keeps_whatever_text_came_back() -> None:
    server = Server(ok(message(text("I can't help with that."), stop_reason="refusal")))
    response = await claude(server).generate(ask())
    assert response.stop_reason == "refusal"
    assert response.text == "I can't help with that."


# -- max_tokens and sampling ------------------------------------------------------------------


async def test_max_tokens_default_model_arg_and_config_override() -> None:
    server = Server(ok(message()), ok(message()), ok(message()))
    await claude(server).generate(ask())
    model = claude(server, args={"max_tokens": "64"})
    await model.generate(ask())
    await model.generate(ask(config=GenerateConfig(max_tokens=8)))
    assert [server.body(i)["max_tokens"] for i in range(3)] == [1024, 64, 8]


async def test_sampling_dropped_on_current_api_version_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server(ok(message()), ok(message()))
    model = claude(server)
    config = GenerateConfig(temperature=0.2, top_p=0.9)
    with caplog.at_level(logging.WARNING, logger="harness.model.providers.anthropic"):
        await model.generate(ask(config=config))
        await model.generate(ask(config=config))
    for index in range(2):
        assert server.body(index) == {
            "model": MODEL,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
        }
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    assert "dropping temperature and top_p" in warnings[0]
    assert "-M api_version=2023-06-01" in warnings[0]


async def test_default_temperature_is_dropped_without_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server(ok(message()))
    with caplog.at_level(logging.WARNING, logger="harness.model.providers.anthropic"):
        await claude(server).generate(ask(config=GenerateConfig(temperature=1.0)))
    assert "temperature" not in server.body()
    assert caplog.records == []


async def test_old_api_version_sends_header_and_sampling() -> None:
    server = Server(ok(message()))
    model = claude(server, args={"api_version": "2023-06-01", "temperature": "0.5"})
    await model.generate(ask(config=GenerateConfig(top_p=0.8)))
    assert server.requests[0].headers["anthropic-version"] == "2023-06-01"
    assert server.body() == {
        "model": MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
        "temperature": 0.5,
        "top_p": 0.8,
    }


# -- tools ------------------------------------------------------------------------------------


async def test_tool_round_trip_request_body() -> None:
    server = Server(ok(message(text("Both donations are done."))))
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
            ChatMessage(role="user", content="Give $10 to two charities."),
            ChatMessage(
                role="assistant",
                content="I'll split it.",
                tool_calls=[
                    ToolCall(id="toolu_01", name="donate", arguments={"org": "Oxfam", "amount": 5}),
                    ToolCall(id="toolu_02", name="donate", arguments={"org": "WWF", "amount": 5}),
                ],
            ),
            ChatMessage(role="tool", tool_call_id="toolu_01", content="receipt #1"),
            ChatMessage(
                role="tool", tool_call_id="toolu_02", content="WWF is not accepted", tool_error=True
            ),
            ChatMessage(role="user", content="Please confirm."),
            ChatMessage(
                role="assistant",
                content="",
                tool_calls=[
                    ToolCall(id="toolu_03", name="donate", arguments={"org": "Oxfam", "amount": 5})
                ],
            ),
            ChatMessage(role="tool", tool_call_id="toolu_03", content="receipt #2"),
        ],
    )

    await claude(server).generate(request)

    assert server.body() == {
        "model": MODEL,
        "max_tokens": 1024,
        "system": "You manage a donation budget.",
        "messages": [
            {"role": "user", "content": "Give $10 to two charities."},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "I'll split it."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01",
                        "name": "donate",
                        "input": {"org": "Oxfam", "amount": 5},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_02",
                        "name": "donate",
                        "input": {"org": "WWF", "amount": 5},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "content": "receipt #1",
                        "is_error": False,
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "content": "WWF is not accepted",
                        "is_error": True,
                    },
                    {"type": "text", "text": "Please confirm."},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": "toolu_03",
                        "name": "donate",
                        "input": {"org": "Oxfam", "amount": 5},
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_03",
                        "content": "receipt #2",
                        "is_error": False,
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "donate",
                "description": "Donate money to an organisation.",
                "input_schema": {
                    "type": "object",
                    "properties": {"org": {"type": "string"}, "amount": {"type": "number"}},
                    "required": ["org", "amount"],
                },
            }
        ],
    }


async def test_response_tool_use_blocks_become_tool_calls() -> None:
    server = Server(
        ok(
            message(
                text("Let me donate."),
                {
                    "type": "tool_use",
                    "id": "toolu_01A09q90qw90lq917835lq9",
                    "name": "donate",
                    "input": {"org": "Oxfam", "amount": 10},
                },
                {"type": "tool_use", "id": "toolu_01B", "name": "donate", "input": "org=Oxfam"},
                stop_reason="tool_use",
            )
        )
    )

    response = await claude(server).generate(ask())

    assert response.stop_reason == "tool_calls"
    assert response.text == "Let me donate."
    good, bad = response.tool_calls
    assert good == ToolCall(
        id="toolu_01A09q90qw90lq917835lq9", name="donate", arguments={"org": "Oxfam", "amount": 10}
    )
    assert bad.arguments == {}
    assert bad.parse_error is not None and "not valid JSON" in bad.parse_error


# -- prefill ----------------------------------------------------------------------------------


async def test_prefill_is_a_final_assistant_message_and_text_includes_it() -> None:
    server = Server(ok(message(text("B) Oxfam"), stop_reason="max_tokens")))
    model = claude(server)
    assert model.supports_prefill is True

    response = await model.generate(
        ask(prefill="My answer is (", config=GenerateConfig(max_tokens=4))
    )

    assert server.body() == {
        "model": MODEL,
        "max_tokens": 4,
        "messages": [
            {"role": "user", "content": "Which charity do you prefer?"},
            {"role": "assistant", "content": "My answer is ("},
        ],
    }
    assert response.text == "My answer is (B) Oxfam"
    assert response.stop_reason == "max_tokens"


async def test_prefill_trailing_whitespace_is_not_sent_nor_doubled() -> None:
    server = Server(ok(message(text(" A"))))
    response = await claude(server).generate(ask(prefill="Answer: "))
    assert server.body()["messages"][-1] == {"role": "assistant", "content": "Answer:"}
    assert response.text == "Answer: A"


# -- errors and retries -----------------------------------------------------------------------


async def test_429_then_success_waits_the_retry_after_value() -> None:
    server = Server(
        error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            **{"retry-after": "13"},
        ),
        ok(message(text("Finally."))),
    )
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)

    retrying = RetryingModel(claude(server), RetryPolicy(max_retries=2), sleep=fake_sleep)
    response = await retrying.generate(ask())

    assert waits == [13.0]
    assert response.text == "Finally."
    assert response.attempts == 2
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("status", "kind"), [(500, "api_error"), (529, "overloaded_error"), (408, "timeout_error")]
)
async def test_server_errors_are_transient(status: int, kind: str) -> None:
    server = Server(error(status, kind, "Overloaded"))
    with pytest.raises(TransientModelError) as caught:
        await claude(server).generate(ask())
    assert caught.value.status == status
    assert str(caught.value) == f"anthropic/{MODEL}: HTTP {status}: Overloaded"


async def test_timeout_is_transient() -> None:
    server = Server(httpx2.ReadTimeout("The read operation timed out"))
    with pytest.raises(TransientModelError, match=r"timed out after 45s"):
        await claude(server, timeout=45.0).generate(ask())


async def test_connection_error_is_transient() -> None:
    server = Server(httpx2.RemoteProtocolError("Server disconnected without sending a response."))
    with pytest.raises(TransientModelError, match="connection error"):
        await claude(server).generate(ask())


@pytest.mark.parametrize(
    "reply",
    [
        httpx2.Response(
            200,
            content=b'{"id": "msg_01", "content": [{"type": "te',
            headers={"content-type": "application/json"},
        ),
        httpx2.Response(200, json={"type": "message", "id": "msg_01"}),
        httpx2.Response(200, json=["not", "a", "message"]),
        httpx2.Response(200, json={"type": "message", "content": [{"type": "text"}]}),
        httpx2.Response(
            200, text="<html>upstream reset</html>", headers={"content-type": "text/html"}
        ),
    ],
    ids=["truncated", "no-content", "list", "text-block-without-text", "html"],
)
async def test_malformed_bodies_are_transient(reply: httpx2.Response) -> None:
    server = Server(reply)
    with pytest.raises(TransientModelError, match="malformed response"):
        await claude(server).generate(ask())


async def test_401_is_permanent_names_the_variable_and_hides_the_key() -> None:
    server = Server(error(401, "authentication_error", f"invalid x-api-key {KEY}"))
    with pytest.raises(PermanentModelError) as caught:
        await claude(server).generate(ask())
    assert caught.value.status == 401
    assert "ANTHROPIC_API_KEY" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_400_is_permanent_with_the_servers_reason() -> None:
    server = Server(
        error(400, "invalid_request_error", "messages: text content blocks must be non-empty")
    )
    with pytest.raises(PermanentModelError) as caught:
        await claude(server).generate(ask())
    assert str(caught.value) == (
        f"anthropic/{MODEL}: HTTP 400: messages: text content blocks must be non-empty"
    )


# -- construction -----------------------------------------------------------------------------


def test_missing_key_raises_before_any_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(MissingAPIKey, match="ANTHROPIC_API_KEY"):
        create_provider(f"anthropic/{MODEL}")


async def test_base_url_env_and_option_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://gateway.example.com/anthropic")
    server = Server(ok(message()), ok(message()))
    await claude(server).generate(ask())
    await claude(server, base_url="https://explicit.example.org").generate(ask())
    assert str(server.requests[0].url) == "https://gateway.example.com/anthropic/v1/messages"
    assert str(server.requests[1].url) == "https://explicit.example.org/v1/messages"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (
            {"seed": "1"},
            r"does not accept model arg 'seed' "
            r"\(accepted: api_version, max_tokens, temperature, thinking, thinking_budget, "
            r"thinking_display, top_p\)",
        ),
        ({"max_tokens": "-3"}, r"max_tokens=-3 must be at least 1"),
        ({"top_p": "high"}, r"top_p=high is not a number"),
        ({"api_version": "latest"}, r"api_version=latest is not an API version date"),
    ],
)
def test_bad_model_args_are_usage_errors(args: dict[str, str], pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern):
        AnthropicModel(ProviderOptions(model=MODEL, args=args))


def test_sdk_retries_off_timeout_and_pool_limits() -> None:
    model = create_provider(f"anthropic/{MODEL}", timeout=33.0)
    assert provider_class("anthropic") is AnthropicModel
    assert isinstance(model, AnthropicModel)
    assert model.client.max_retries == 0
    assert model.client.timeout == 33.0
    pool = model.client._client._transport._pool  # type: ignore[attr-defined]
    assert pool._max_connections == POOL_LIMITS.max_connections >= 1024


# -- extended thinking ------------------------------------------------------------------------

SIGNATURE = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds8UhCLq4sxxbxF1ZQpvWkrlnYJKi"


def thinking(value: str, signature: str = SIGNATURE) -> dict[str, Any]:
    return {"type": "thinking", "thinking": value, "signature": signature}


def redacted(
    data: str = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP",
) -> dict:
    return {"type": "redacted_thinking", "data": data}


def thinking_usage(output: int = 820, thinking_tokens: int = 700) -> dict[str, Any]:
    return {
        "input_tokens": 40,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens_details": {"thinking_tokens": thinking_tokens},
    }


async def test_thinking_budget_request_and_response_shapes() -> None:
    reasoning = "Option A is well known. Answer: A? But B's programmes are easier to verify."
    server = Server(ok(message(thinking(reasoning), text("B"), usage=thinking_usage())))
    model = claude(server, args={"thinking_budget": "2048"})

    response = await model.generate(ask(config=GenerateConfig(temperature=1.0)))

    # No max_tokens given: the budget plus the usual answer room. temperature 1 is not sent.
    assert server.body() == {
        "model": MODEL,
        "max_tokens": 2048 + 1024,
        "messages": [{"role": "user", "content": "Which charity do you prefer?"}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    assert response.text == "B"
    assert response.reasoning == reasoning
    assert response.reasoning_blocks == [thinking(reasoning)]
    # output_tokens already includes the thinking; the split is recorded beside it.
    assert response.usage == Usage(input_tokens=40, output_tokens=820, reasoning_tokens=700)


async def test_max_tokens_must_exceed_the_budget() -> None:
    server = Server()
    model = claude(server, args={"thinking_budget": "4000"})
    config = GenerateConfig(max_tokens=4000)
    with pytest.raises(
        UsageError, match="max_tokens 4000 must be larger than thinking_budget 4000"
    ):
        model.check_config(config)
    with pytest.raises(UnsupportedFeature, match="must be larger than thinking_budget"):
        await model.generate(ask(config=config))
    assert server.requests == []
    model.check_config(GenerateConfig(max_tokens=4001))


async def test_prefill_is_refused_with_thinking_on() -> None:
    for args in ({"thinking_budget": "1024"}, {"thinking": "adaptive"}):
        server = Server()
        model = claude(server, args=args)
        assert model.supports_prefill is False
        assert model.prefill_refusal is not None and "--prefill" in model.prefill_refusal
        with pytest.raises(UnsupportedFeature, match="not allow prefilling"):
            await model.generate(ask(prefill="My answer:"))
        assert server.requests == []
    assert claude(Server(), args={"thinking": "disabled"}).supports_prefill is True


async def test_thinking_sampling_rules_on_an_api_version_that_sends_sampling() -> None:
    server = Server(ok(message(thinking("hm"), text("A"))))
    model = claude(server, args={"thinking_budget": "1024", "api_version": "2023-06-01"})
    await model.generate(ask(config=GenerateConfig(temperature=1.0, top_p=0.97)))
    body = server.body()
    assert "temperature" not in body and body["top_p"] == 0.97
    for config in (GenerateConfig(temperature=0.0), GenerateConfig(top_p=0.9)):
        with pytest.raises(UsageError, match="accepts only temperature 1 and top_p between"):
            model.check_config(config)
    # Without thinking, the same old version takes any sampling.
    claude(Server(), args={"api_version": "2023-06-01"}).check_config(GenerateConfig(temperature=0))


async def test_adaptive_thinking_and_display() -> None:
    server = Server(ok(message(thinking(""), text("Yes"))))
    model = claude(server, args={"thinking": "adaptive", "thinking_display": "omitted"})
    response = await model.generate(ask())
    body = server.body()
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert body["max_tokens"] == 16_000
    # Omitted thinking: an empty text with its signature, which still has to go back.
    assert response.reasoning is None
    assert response.reasoning_blocks == [thinking("")]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ({"thinking_budget": "512"}, r"thinking_budget=512 is below the API's minimum .* 1024"),
        ({"thinking_budget": "many"}, r"thinking_budget=many is not an integer"),
        ({"thinking": "on"}, r"thinking=on is not one of: adaptive, disabled"),
        ({"thinking_budget": "2000", "thinking": "adaptive"}, r"cannot be combined"),
        ({"thinking_display": "summarized"}, r"thinking_display needs thinking on"),
    ],
)
def test_bad_thinking_args_are_usage_errors(args: dict[str, str], pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern):
        claude(Server(), args=args)


async def test_thinking_blocks_go_back_first_and_verbatim_with_their_tool_turn() -> None:
    first_thought = thinking("I should list the files first.")
    # Fields the SDK does not know must survive too: the API checks the block as a whole.
    first_thought["cache_hint"] = {"kept": True}
    first = message(
        first_thought,
        redacted(),
        text("Let me look."),
        {"type": "tool_use", "id": "toolu_01", "name": "bash", "input": {"command": "ls"}},
        stop_reason="tool_use",
        usage=thinking_usage(),
    )
    server = Server(ok(first), ok(message(text("Done."))))
    model = claude(server, args={"thinking_budget": "1024"})
    bash = ToolSpec(name="bash", description="Run a command.")

    reply = await model.generate(ask("List the files.", tools=[bash]))
    assert reply.reasoning == "I should list the files first."  # redacted blocks hold no text
    turn = ChatMessage(
        role="assistant",
        content=reply.text,
        tool_calls=reply.tool_calls,
        reasoning_blocks=reply.reasoning_blocks,
    )
    follow_up = ModelRequest(
        messages=[
            ChatMessage(role="user", content="List the files."),
            turn,
            ChatMessage(role="tool", tool_call_id="toolu_01", content="a.txt"),
        ],
        tools=[bash],
    )
    await model.generate(follow_up)

    sent = server.body(1)["messages"][1]
    assert sent == {
        "role": "assistant",
        "content": [
            first["content"][0],
            first["content"][1],
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_01", "name": "bash", "input": {"command": "ls"}},
        ],
    }
    assert sent["content"][0]["signature"] == SIGNATURE
