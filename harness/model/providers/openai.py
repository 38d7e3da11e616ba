"""OpenAI Chat Completions providers: ``openai`` and ``openai-compatible`` (vLLM, Ollama, ...)."""

from __future__ import annotations

import json
import os
import time
from typing import Any, ClassVar

import httpx2
import openai
from openai.types.chat import ChatCompletion

from harness.errors import UsageError
from harness.model._errors import (
    UnsupportedFeature,
)
from harness.model._model import ModelAPI, ProviderOptions
from harness.model._reasoning import join_reasoning, split_thinking
from harness.model._types import (
    ChatMessage,
    GenerateConfig,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolCall,
    ToolSpec,
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

_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "stop",
    "length": "max_tokens",
    "tool_calls": "tool_calls",
    # Deprecated single-function form; some compatible servers still send it.
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}

_REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

_OPENAI_ARGS: dict[str, ArgSpec] = {
    "max_tokens": ArgSpec(positive_int),
    "temperature": ArgSpec(number),
    "top_p": ArgSpec(number),
    "seed": ArgSpec(integer),
    "reasoning_effort": ArgSpec(choice(*_REASONING_EFFORTS)),
}

PREFILL_CONTINUE = "continue_final_message"


class OpenAIModel(ModelAPI):
    """OpenAI's Chat Completions API through the official ``openai`` SDK.

    Environment: ``OPENAI_API_KEY`` (required), ``OPENAI_BASE_URL`` (optional; an explicit
    base URL wins). The SDK's own retries are off: :class:`~harness.model.RetryingModel`
    is the only retry layer, so backoff and Retry-After handling live in one place.

    Model args (``-M key=value``); a request's :class:`~harness.model.GenerateConfig`
    overrides them, they override the API's defaults:

    ``max_tokens``
        Output token cap, sent as ``max_completion_tokens`` (reasoning models reject the
        older ``max_tokens`` field).
    ``temperature``, ``top_p``
        Sampling parameters (floats).
    ``seed``
        Best-effort determinism (integer).
    ``reasoning_effort``
        One of none, minimal, low, medium, high, xhigh, max (reasoning models only).
        Reasoning models (o-series, gpt-5) accept only the default sampling: with any
        effort but ``none``, ``temperature`` and ``top_p`` are not sent when they are 1
        (the run's default) and refused before the run starts otherwise. Reasoning tokens
        count against ``max_tokens``: a small cap can leave no room for the answer.

    The reasoning is recorded apart from the answer: ``usage.reasoning_tokens`` from
    ``completion_tokens_details``; the thinking text when the server returns it, in a
    ``reasoning_content`` or ``reasoning`` message field (DeepSeek, vLLM, Ollama,
    llama.cpp, OpenRouter) or inline in ``<think>`` tags (servers without a reasoning
    parser), which are removed from the answer text. OpenAI's own Chat Completions API
    returns no reasoning text. Reasoning is never sent back in later turns (DeepSeek
    rejects it there).

    Assistant prefill is not supported: the API has no way to continue a partial assistant
    turn, and faking it with an instruction would change what is being measured.
    """

    provider: ClassVar[str] = "openai"
    api_key_env: ClassVar[str | None] = "OPENAI_API_KEY"
    accepted_args: ClassVar[dict[str, ArgSpec]] = _OPENAI_ARGS
    max_tokens_field: ClassVar[str] = "max_completion_tokens"

    def __init__(self, options: ProviderOptions, *, http_client: httpx2.AsyncClient | None = None):
        super().__init__(options)
        self.settings = parse_model_args(self.name, self.args, self.accepted_args)
        # Any effort but none asks a reasoning model to reason, with its sampling constraints.
        self.reasoning_on = self.settings.get("reasoning_effort", "none") != "none"
        self._api_key = self._resolve_api_key()
        self.client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self._resolve_base_url(),
            max_retries=0,
            timeout=options.timeout,
            http_client=http_client or openai.DefaultAsyncHttpxClient(limits=POOL_LIMITS),
        )

    # -- construction hooks, overridden by the compatible provider ----------------------

    def _resolve_api_key(self) -> str:
        # Raised here, not on the first call, so the CLI fails before any work is done.
        return self.require_env("OPENAI_API_KEY")

    def _resolve_base_url(self) -> str | None:
        # None lets the SDK use its default endpoint.
        return self.options.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def _prefill_body(self, request: ModelRequest) -> dict[str, Any]:
        """Extra body fields that make the server continue the prefill. OpenAI's API has
        no such fields, so a prefill is refused rather than silently answered afresh."""
        raise UnsupportedFeature(
            f"{self.name} does not support assistant prefill: the Chat Completions API cannot "
            "continue a partial assistant message; use a model with native prefill"
        )

    # -- request ------------------------------------------------------------------------

    def _sampling(self, config: GenerateConfig) -> dict[str, float | None]:
        return {
            "temperature": first_set(config.temperature, self.settings.get("temperature")),
            "top_p": first_set(config.top_p, self.settings.get("top_p")),
        }

    def config_problem(self, config: GenerateConfig) -> str | None:
        if not self.reasoning_on:
            return None
        # Reasoning models answer a 400 ("Only the default (1) value is supported") to any
        # other value; gpt-5.1 and later take sampling parameters only at effort none.
        changed = {k: v for k, v in self._sampling(config).items() if v not in (None, 1.0)}
        if not changed:
            return None
        settings = ", ".join(f"{key}={value:g}" for key, value in changed.items())
        return (
            f"{self.name} with reasoning_effort={self.settings['reasoning_effort']} accepts "
            f"only the default sampling (temperature and top_p 1), not {settings}: pass "
            "--temperature 1, or -M reasoning_effort=none on models that allow it"
        )

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The Chat Completions JSON body for ``request`` (``request.metadata`` never goes out)."""
        problem = self.config_problem(request.config)
        if problem is not None:
            raise UnsupportedFeature(problem)
        extra: dict[str, Any] = {}
        if request.prefill is not None:
            extra = self._prefill_body(request)
        messages: list[dict[str, Any]] = []
        if request.system is not None:
            messages.append({"role": "system", "content": request.system})
        messages.extend(_message(message) for message in request.messages)
        if request.prefill is not None:
            messages.append({"role": "assistant", "content": request.prefill})
        body: dict[str, Any] = {"model": self.options.model, "messages": messages}
        if request.tools:
            body["tools"] = [_tool(tool) for tool in request.tools]
        config = request.config
        sampling = {
            self.max_tokens_field: first_set(config.max_tokens, self.settings.get("max_tokens")),
            # For a reasoning request these can only be the default 1 (config_problem), which
            # is not sent: some reasoning models reject the parameters outright.
            **({} if self.reasoning_on else self._sampling(config)),
            "seed": first_set(config.seed, self.settings.get("seed")),
            "reasoning_effort": self.settings.get("reasoning_effort"),
        }
        body.update({key: value for key, value in sampling.items() if value is not None})
        if config.stop:
            body["stop"] = list(config.stop)
        body.update(extra)
        return body

    # -- call -----------------------------------------------------------------------------

    async def generate(self, request: ModelRequest) -> ModelResponse:
        body = self.build_body(request)
        start = time.perf_counter()
        try:
            # A plain POST of the finished body rather than ``chat.completions.create``: the
            # typed method re-walks every parameter against its TypedDict annotations, about
            # a quarter of the client's CPU per call, which capped throughput on a small
            # machine (docs/benchmarks.md). Auth, errors and response parsing are the same.
            completion = await self.client.post(
                "/chat/completions", body=body, cast_to=ChatCompletion
            )
        except (openai.OpenAIError, ValueError) as error:
            raise sdk_error(
                self.name,
                error,
                openai,
                timeout=self.options.timeout,
                key_env=self.api_key_env,
                secrets=[self._api_key],
            ) from None
        latency = time.perf_counter() - start
        return self._response(completion, request, latency)

    # -- response -------------------------------------------------------------------------

    def _response(self, completion: object, request: ModelRequest, latency: float) -> ModelResponse:
        # The SDK builds its models leniently (no strict validation), and hands back plain
        # str/list for bodies that are not JSON objects, so every field is checked here.
        if not isinstance(completion, ChatCompletion):
            raise malformed(self.name, f"body is a {type(completion).__name__}")
        if not isinstance(completion.choices, list) or not completion.choices:
            raise malformed(self.name, "no choices")
        choice_ = completion.choices[0]
        message = getattr(choice_, "message", None)
        if message is None:
            raise malformed(self.name, "choice without a message")
        content = message.content
        refusal = getattr(message, "refusal", None)
        if content is not None and not isinstance(content, str):
            raise malformed(self.name, "message content is not a string")
        if refusal is not None and not isinstance(refusal, str):
            raise malformed(self.name, "refusal is not a string")

        tool_calls = self._tool_calls(message.tool_calls)
        stop_reason: StopReason = _FINISH_REASONS.get(str(choice_.finish_reason), "unknown")
        inline: str | None = None
        if refusal is not None:
            text, stop_reason = refusal, "refusal"
        else:
            text = content or ""
            if request.prefill is not None:
                # The server returns only the continuation; the response carries the whole turn.
                text = request.prefill + text
            text, inline = split_thinking(text)
        usage = completion.usage
        details = getattr(usage, "completion_tokens_details", None)
        return ModelResponse(
            text=text,
            reasoning=join_reasoning(*_reasoning_fields(message), inline),
            tool_calls=tool_calls,
            stop_reason=stop_reason,
            usage=Usage(
                input_tokens=token_count(getattr(usage, "prompt_tokens", 0)),
                output_tokens=token_count(getattr(usage, "completion_tokens", 0)),
                reasoning_tokens=token_count(getattr(details, "reasoning_tokens", 0)),
            ),
            latency=latency,
            model=completion.model if isinstance(completion.model, str) else self.options.model,
        )

    def _tool_calls(self, raw_calls: object) -> list[ToolCall]:
        if raw_calls is None:
            return []
        if not isinstance(raw_calls, list):
            raise malformed(self.name, "tool_calls is not a list")
        calls: list[ToolCall] = []
        for index, raw in enumerate(raw_calls):
            function = getattr(raw, "function", None)
            name = getattr(function, "name", None)
            if not isinstance(name, str):
                raise malformed(self.name, "tool call without a function name")
            arguments, parse_error = parse_tool_arguments(getattr(function, "arguments", None))
            call_id = getattr(raw, "id", None)
            calls.append(
                ToolCall(
                    # Some compatible servers omit ids; the next turn must still reference one.
                    id=call_id if isinstance(call_id, str) and call_id else f"call_{index}",
                    name=name,
                    arguments=arguments,
                    parse_error=parse_error,
                )
            )
        return calls

    async def aclose(self) -> None:
        await self.client.close()


class OpenAICompatibleModel(OpenAIModel):
    """Any server speaking OpenAI's Chat Completions API: vLLM, Ollama, llama.cpp, OpenRouter.

    Needs a base URL (``--base-url`` or the environment variable ``HARNESS_BASE_URL``, e.g.
    ``http://localhost:8000/v1``). The API key is optional: ``OPENAI_COMPATIBLE_API_KEY``,
    else the placeholder ``EMPTY`` that local servers accept.

    Model args: ``max_tokens`` (sent as ``max_tokens``, which every compatible server
    understands), ``temperature``, ``top_p``, ``seed``, ``reasoning_effort`` as for
    ``openai``, plus:

    ``prefill=continue_final_message``
        Enables assistant prefill for servers with vLLM's extension: the prefill is sent as
        a final assistant message with ``continue_final_message: true`` and
        ``add_generation_prompt: false``, and the server continues it. Without this arg a
        request with a prefill is refused, because a server lacking the extension would
        silently answer a fresh turn instead.
    """

    provider: ClassVar[str] = "openai-compatible"
    api_key_env: ClassVar[str | None] = "OPENAI_COMPATIBLE_API_KEY"
    accepted_args: ClassVar[dict[str, ArgSpec]] = {
        **_OPENAI_ARGS,
        "prefill": ArgSpec(choice(PREFILL_CONTINUE)),
    }
    max_tokens_field: ClassVar[str] = "max_tokens"

    def __init__(self, options: ProviderOptions, *, http_client: httpx2.AsyncClient | None = None):
        super().__init__(options, http_client=http_client)
        # Per instance: the same provider class serves servers with and without prefill.
        self.supports_prefill = self.settings.get("prefill") == PREFILL_CONTINUE  # type: ignore[misc]

    def _resolve_api_key(self) -> str:
        return os.environ.get("OPENAI_COMPATIBLE_API_KEY", "").strip() or "EMPTY"

    def _resolve_base_url(self) -> str:
        base_url = self.options.base_url or os.environ.get("HARNESS_BASE_URL", "").strip()
        if not base_url:
            raise UsageError(
                f"{self.name} needs the server's URL: pass --base-url or set HARNESS_BASE_URL "
                "(for example http://localhost:8000/v1)"
            )
        return base_url

    def _prefill_body(self, request: ModelRequest) -> dict[str, Any]:
        if not self.supports_prefill:
            raise UnsupportedFeature(
                f"{self.name} does not support assistant prefill unless the server continues "
                "the final assistant message: pass -M prefill=continue_final_message for vLLM "
                "and servers with the same extension"
            )
        return {"continue_final_message": True, "add_generation_prompt": False}


# -- translation helpers ------------------------------------------------------------------


def _reasoning_fields(message: object) -> list[str]:
    """The thinking a compatible server returned beside the answer. DeepSeek and llama.cpp
    call the field ``reasoning_content``; vLLM renamed it to ``reasoning`` (sending both for
    a while), as Ollama and OpenRouter call it. The SDK keeps unknown fields as attributes."""
    found: list[str] = []
    for field in ("reasoning_content", "reasoning"):
        value = getattr(message, field, None)
        if isinstance(value, str) and value.strip() and value not in found:
            found.append(value)
    return found


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        # Chat Completions has no error flag for tool results; the text carries it.
        return {
            "role": "tool",
            "tool_call_id": message.tool_call_id or "",
            "content": message.content,
        }
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            # The API wants null, not "", for a pure tool-call turn.
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
