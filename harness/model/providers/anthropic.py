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
from harness.model._errors import UnsupportedFeature
from harness.model._model import ModelAPI, ProviderOptions
from harness.model._reasoning import join_reasoning
from harness.model._types import (
    ChatMessage,
    GenerateConfig,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolCall,
    Usage,
)
from harness.model.providers._common import (
    POOL_LIMITS,
    ArgSpec,
    choice,
    first_set,
    integer,
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

ADAPTIVE_DEFAULT_MAX_TOKENS = 16_000
"""Default cap with adaptive thinking, whose thinking counts against ``max_tokens``: room to
think and answer, below the 21,333 above which the API requires streaming."""

MIN_THINKING_BUDGET = 1024
"""The smallest ``budget_tokens`` the API accepts."""

THINKING_TOP_P = (0.95, 1.0)
"""With thinking on, the API takes no temperature but 1 and only this range of top_p."""

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


def _thinking_budget(key: str, value: object) -> int:
    budget = integer(key, value)
    if budget < MIN_THINKING_BUDGET:
        raise UsageError(
            f"model arg {key}={value} is below the API's minimum thinking budget of "
            f"{MIN_THINKING_BUDGET} tokens"
        )
    return budget


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
    ``thinking_budget``
        Extended thinking with this many tokens (at least 1024):
        ``"thinking": {"type": "enabled", "budget_tokens": N}``. The thinking counts
        against ``max_tokens``, which must be larger: without a ``max_tokens`` it is
        N + 1024, so the answer keeps its usual room; a ``max_tokens`` of N or less is
        refused before the run starts. (Claude 4.7 and later take only adaptive thinking.)
    ``thinking``
        ``adaptive`` (Claude decides how much to think; ``max_tokens`` defaults to 16000)
        or ``disabled`` (for models that think by default).
    ``thinking_display``
        ``summarized`` or ``omitted``: whether thinking text is returned (the default
        depends on the model); sent only when given.

    With thinking on, the API allows no prefill (``--prefill`` is refused), no temperature
    but 1 and top_p only in [0.95, 1] (checked when sampling is sent at all, see above).

    Thinking is recorded, never parsed: the text of ``thinking`` blocks becomes
    ``ModelResponse.reasoning`` and ``usage.reasoning_tokens`` comes from
    ``output_tokens_details.thinking_tokens`` (``output_tokens`` already includes the
    thinking). The ``thinking`` and ``redacted_thinking`` blocks themselves, signatures
    intact, are kept as ``reasoning_blocks`` and sent back unchanged at the head of that
    assistant turn, which a tool-use loop with thinking requires.

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
        "thinking_budget": ArgSpec(_thinking_budget),
        "thinking": ArgSpec(choice("adaptive", "disabled")),
        "thinking_display": ArgSpec(choice("summarized", "omitted")),
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
        self.thinking = self._thinking_config()
        self.thinks = self.thinking is not None and self.thinking["type"] != "disabled"
        if self.thinks:
            self.supports_prefill = False  # type: ignore[misc]
            self.prefill_refusal = (
                f"{self.name} cannot take --prefill with thinking on: the Messages API does "
                "not allow prefilling the answer of a model that thinks first"
            )
        self.client = anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=options.base_url or os.environ.get("ANTHROPIC_BASE_URL") or None,
            max_retries=0,
            timeout=options.timeout,
            default_headers={"anthropic-version": api_version} if api_version else None,
            http_client=http_client or anthropic.DefaultAsyncHttpxClient(limits=POOL_LIMITS),
        )

    def _thinking_config(self) -> dict[str, Any] | None:
        budget = self.settings.get("thinking_budget")
        mode = self.settings.get("thinking")
        display = self.settings.get("thinking_display")
        if budget is not None and mode is not None:
            raise UsageError(
                f"{self.name}: -M thinking_budget sets extended thinking, which cannot be "
                f"combined with -M thinking={mode}"
            )
        config: dict[str, Any] | None = None
        if budget is not None:
            config = {"type": "enabled", "budget_tokens": budget}
        elif mode is not None:
            config = {"type": mode}
        if display is not None:
            if config is None or config["type"] == "disabled":
                raise UsageError(
                    f"{self.name}: -M thinking_display needs thinking on "
                    "(-M thinking_budget=N or -M thinking=adaptive)"
                )
            config["display"] = display
        return config

    # -- request ------------------------------------------------------------------------

    def _max_tokens(self, config: GenerateConfig) -> int:
        chosen = first_set(config.max_tokens, self.settings.get("max_tokens"))
        if chosen is not None:
            return chosen
        if self.thinking is not None and self.thinking["type"] == "enabled":
            return self.thinking["budget_tokens"] + DEFAULT_MAX_TOKENS
        if self.thinks:
            return ADAPTIVE_DEFAULT_MAX_TOKENS
        return DEFAULT_MAX_TOKENS

    def _sampling(self, config: GenerateConfig) -> dict[str, float]:
        return {
            key: value
            for key, value in (
                ("temperature", first_set(config.temperature, self.settings.get("temperature"))),
                ("top_p", first_set(config.top_p, self.settings.get("top_p"))),
            )
            if value is not None
        }

    def config_problem(self, config: GenerateConfig) -> str | None:
        if self.thinking is not None and self.thinking["type"] == "enabled":
            budget = self.thinking["budget_tokens"]
            max_tokens = self._max_tokens(config)
            if max_tokens <= budget:
                return (
                    f"{self.name}: max_tokens {max_tokens} must be larger than thinking_budget "
                    f"{budget}, since the thinking counts against it: raise --max-tokens "
                    f"(to {budget + DEFAULT_MAX_TOKENS} for {DEFAULT_MAX_TOKENS} answer tokens) "
                    "or lower the budget"
                )
        if self.thinks and self.sends_sampling:
            sampling = self._sampling(config)
            temperature, top_p = sampling.get("temperature"), sampling.get("top_p")
            low, high = THINKING_TOP_P
            if temperature not in (None, 1.0) or (top_p is not None and not low <= top_p <= high):
                return (
                    f"{self.name}: with thinking on, the Messages API accepts only temperature "
                    f"1 and top_p between {low} and {high}, not "
                    + ", ".join(f"{k}={v:g}" for k, v in sampling.items())
                )
        return None

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The Messages API JSON body for ``request`` (``request.metadata`` never goes out)."""
        config = request.config
        problem = self.config_problem(config)
        if problem is None and self.thinks and request.prefill is not None:
            problem = self.prefill_refusal
        if problem is not None:
            raise UnsupportedFeature(problem)
        messages = _messages(request.messages)
        prefill = _sent_prefill(request.prefill)
        if prefill:
            messages.append({"role": "assistant", "content": prefill})
        body: dict[str, Any] = {
            "model": self.options.model,
            "max_tokens": self._max_tokens(config),
            "messages": messages,
        }
        if self.thinking is not None:
            body["thinking"] = dict(self.thinking)
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
        sampling = self._sampling(config)
        if self.thinks and sampling.get("temperature") == 1.0:
            # The only temperature thinking allows is the default: not sent at all.
            del sampling["temperature"]
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
        thinking: list[str] = []
        reasoning_blocks: list[dict[str, Any]] = []
        for block in message.content:
            kind = getattr(block, "type", None)
            if kind in ("thinking", "redacted_thinking"):
                # Kept as received (fields the SDK does not know included): the API checks
                # the signature and rejects a block that comes back altered.
                reasoning_blocks.append(block.to_dict())
                value = getattr(block, "thinking", None)
                if kind == "thinking" and not isinstance(value, str):
                    raise malformed(self.name, "thinking block without thinking")
                thinking.append(value or "")
            elif kind == "text":
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
            # Server-tool blocks are not part of the answer.
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
        details = getattr(usage, "output_tokens_details", None)
        return ModelResponse(
            text=response_text,
            reasoning=join_reasoning(*thinking),
            reasoning_blocks=reasoning_blocks,
            tool_calls=calls,
            stop_reason=_STOP_REASONS.get(str(message.stop_reason), "unknown"),
            usage=Usage(
                input_tokens=input_tokens,
                output_tokens=token_count(getattr(usage, "output_tokens", 0)),
                reasoning_tokens=token_count(getattr(details, "thinking_tokens", 0)),
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
        elif message.tool_calls or message.reasoning_blocks:
            # Thinking blocks come back first and unchanged, as the model wrote them.
            blocks: list[dict[str, Any]] = [dict(block) for block in message.reasoning_blocks]
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
