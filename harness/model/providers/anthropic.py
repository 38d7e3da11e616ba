"""Anthropic Messages API provider (``anthropic``), with native assistant prefill."""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, ClassVar

import anthropic
import httpx2
from anthropic.types import Message

from harness.errors import UsageError
from harness.model._model import ModelAPI, ProviderOptions
from harness.model._types import (
    ChatMessage,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolCall,
    Usage,
)
from harness.model.providers._common import (
    POOL_LIMITS,
    ArgSpec,
    first_set,
    malformed,
    number,
    parse_model_args,
    parse_tool_arguments,
    positive_int,
    sdk_error,
    token_count,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS = 1024

SAMPLING_FREE_API_VERSION = "2026-10-21"
"""From this ``anthropic-version`` on, the Messages API rejects ``temperature``, ``top_p``
and ``top_k`` with a 400 on every model, even at their default values. The SDK 2.x sends
this version (and has dropped the parameters from its signatures)."""

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "max_tokens",
    # The conversation hit the context window: a length stop from the caller's view.
    "model_context_window_exceeded": "max_tokens",
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


def _api_version(key: str, value: object) -> str:
    # The version is compared as a string with SAMPLING_FREE_API_VERSION, which is only
    # meaningful for ISO dates, and the API knows no other form.
    version = str(value).strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version):
        raise UsageError(f"model arg {key}={value} is not an API version date like 2023-06-01")
    return version


class AnthropicModel(ModelAPI):
    """Claude through the official ``anthropic`` SDK's Messages API.

    Environment: ``ANTHROPIC_API_KEY`` (required), ``ANTHROPIC_BASE_URL`` (optional; an
    explicit base URL wins). The SDK's own retries are off (see ``RetryingModel``).

    Model args (``-M key=value``); a request's config overrides them:

    ``max_tokens``
        Output token cap. The API requires one; the default is 1024.
    ``api_version``
        The ``anthropic-version`` header, e.g. ``2023-06-01``. Default: the SDK's own
        (``2026-10-21`` for SDK 2.x).
    ``temperature``, ``top_p``
        Sampling parameters. They are only sent when ``api_version`` is older than
        2026-10-21, since newer API versions reject them with a 400 on every model; with
        the default version they are dropped, with a warning logged once per model unless
        the only value dropped is ``temperature=1.0``, the API's own default.

    ``seed`` in a request config is dropped silently: the Messages API has no seed.

    Prefill is native: the prefill becomes a final assistant message and the response text
    is the prefill followed by the continuation. The API rejects a final assistant message
    ending in whitespace, so trailing whitespace is stripped before sending and removed from
    the start of the continuation (``"Answer: "`` + ``" A"`` gives ``"Answer: A"``).
    """

    provider: ClassVar[str] = "anthropic"
    supports_prefill: ClassVar[bool] = True
    api_key_env: ClassVar[str | None] = "ANTHROPIC_API_KEY"
    accepted_args: ClassVar[dict[str, ArgSpec]] = {
        "max_tokens": ArgSpec(positive_int),
        "temperature": ArgSpec(number),
        "top_p": ArgSpec(number),
        "api_version": ArgSpec(_api_version),
    }

    def __init__(self, options: ProviderOptions, *, http_client: httpx2.AsyncClient | None = None):
        super().__init__(options)
        self.settings = parse_model_args(self.name, self.args, self.accepted_args)
        # Raised here, not on the first call, so the CLI fails before any work is done.
        self._api_key = self.require_env("ANTHROPIC_API_KEY")
        api_version: str | None = self.settings.get("api_version")
        # ISO dates compare correctly as strings.
        self.sends_sampling = api_version is not None and api_version < SAMPLING_FREE_API_VERSION
        self._warned_sampling = False
        self.client = anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=options.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=0,
            timeout=options.timeout,
            default_headers={"anthropic-version": api_version} if api_version else None,
            http_client=http_client or anthropic.DefaultAsyncHttpxClient(limits=POOL_LIMITS),
        )

    # -- request ------------------------------------------------------------------------

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The Messages API JSON body for ``request`` (``request.metadata`` never goes out)."""
        config = request.config
        messages = _messages(request.messages)
        prefill = _sent_prefill(request.prefill)
        if prefill:
            messages.append({"role": "assistant", "content": prefill})
        body: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": first_set(
                config.max_tokens, self.settings.get("max_tokens"), DEFAULT_MAX_TOKENS
            ),
            "messages": messages,
        }
        if request.system is not None:
            body["system"] = request.system
        if request.tools:
            body["tools"] = [
                {
                    "name": tool.name,
                    "description": tool.description,
                    "input_schema": tool.parameters,
                }
                for tool in request.tools
            ]
        if config.stop:
            body["stop_sequences"] = list(config.stop)
        sampling = {
            key: value
            for key, value in (
                ("temperature", first_set(config.temperature, self.settings.get("temperature"))),
                ("top_p", first_set(config.top_p, self.settings.get("top_p"))),
            )
            if value is not None
        }
        if sampling and self.sends_sampling:
            body.update(sampling)
        elif sampling and sampling != {"temperature": 1.0} and not self._warned_sampling:
            # temperature=1.0 alone is the API's own default, so dropping it changes
            # nothing and is not worth a warning (the run config defaults to it).
            self._warned_sampling = True
            logger.warning(
                "%s: dropping %s: the Messages API rejects sampling parameters from "
                "anthropic-version %s on; pass -M api_version=2023-06-01 to send them to a "
                "model that still honours them",
                self.name,
                " and ".join(sorted(sampling)),
                SAMPLING_FREE_API_VERSION,
            )
        return body

    # -- call -----------------------------------------------------------------------------

    async def generate(self, request: ModelRequest) -> ModelResponse:
        body = self.build_body(request)
        start = time.perf_counter()
        try:
            # A plain POST of the finished body rather than ``messages.create``: the typed
            # method re-walks every parameter against its TypedDict annotations (costly in
            # CPU, see the OpenAI provider) and no longer accepts temperature/top_p, which
            # older API versions still take. Auth, errors and response parsing are the same.
            message = await self.client.post("/v1/messages", body=body, cast_to=Message)
        except (anthropic.AnthropicError, ValueError) as error:
            raise sdk_error(
                self.name,
                error,
                anthropic,
                timeout=self.options.timeout,
                key_env=self.api_key_env,
                secrets=[self._api_key],
            ) from None
        latency = time.perf_counter() - start
        return self._response(message, request, latency)

    # -- response -------------------------------------------------------------------------

    def _response(self, message: object, request: ModelRequest, latency: float) -> ModelResponse:
        # The SDK constructs models leniently and returns plain str/list for bodies that are
        # not JSON objects, so the shape is checked here rather than trusted.
        if not isinstance(message, Message):
            raise malformed(self.name, f"body is a {type(message).__name__}")
        if not isinstance(message.content, list):
            raise malformed(self.name, "no content blocks")
        parts: list[str] = []
        calls: list[ToolCall] = []
        for block in message.content:
            kind = getattr(block, "type", None)
            if kind == "text":
                value = getattr(block, "text", None)
                if not isinstance(value, str):
                    raise malformed(self.name, "text block without text")
                parts.append(value)
            elif kind == "tool_use":
                name = getattr(block, "name", None)
                call_id = getattr(block, "id", None)
                if not isinstance(name, str) or not isinstance(call_id, str):
                    raise malformed(self.name, "tool_use block without id or name")
                arguments, parse_error = parse_tool_arguments(getattr(block, "input", None))
                calls.append(
                    ToolCall(id=call_id, name=name, arguments=arguments, parse_error=parse_error)
                )
            # Thinking and server-tool blocks are not part of the answer.
        continuation = "".join(parts)
        response_text = continuation
        if request.prefill is not None:
            sent = _sent_prefill(request.prefill)
            trailing = request.prefill[len(sent) :]
            response_text = request.prefill + continuation.removeprefix(trailing)
        usage = message.usage
        input_tokens = sum(
            token_count(getattr(usage, field, 0))
            for field in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
        )
        return ModelResponse(
            text=response_text,
            tool_calls=calls,
            stop_reason=_STOP_REASONS.get(str(message.stop_reason), "unknown"),
            usage=Usage(
                input_tokens=input_tokens,
                output_tokens=token_count(getattr(usage, "output_tokens", 0)),
            ),
            latency=latency,
            model=message.model if isinstance(message.model, str) else self.options.model,
        )

    async def aclose(self) -> None:
        await self.client.close()


# -- translation helpers ------------------------------------------------------------------


def _sent_prefill(prefill: str | None) -> str:
    """The prefill as sent: the API rejects a final assistant turn ending in whitespace."""
    return (prefill or "").rstrip()


def _messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Translate the conversation.

    Tool results become ``tool_result`` blocks in a user turn. Every result answering one
    assistant turn must sit in the single user message that follows it, so consecutive tool
    messages (and a user message right after them) are merged into one turn.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "tool":
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content,
                "is_error": message.tool_error,
            }
            if _is_tool_result_turn(out):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif message.role == "user":
            if _is_tool_result_turn(out):
                out[-1]["content"].append({"type": "text", "text": message.content})
            else:
                out.append({"role": "user", "content": message.content})
        elif message.tool_calls:
            blocks: list[dict[str, Any]] = []
            if message.content:
                # Empty text blocks are a 400, so a pure tool-call turn has none.
                blocks.append({"type": "text", "text": message.content})
            blocks.extend(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            )
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": "assistant", "content": message.content})
    return out


def _is_tool_result_turn(out: list[dict[str, Any]]) -> bool:
    if not out or out[-1]["role"] != "user" or not isinstance(out[-1]["content"], list):
        return False
    return any(block.get("type") == "tool_result" for block in out[-1]["content"])
