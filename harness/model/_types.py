"""Typed data that crosses the model-layer boundary: requests, responses, tools and usage."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["user", "assistant", "tool"]

StopReason = Literal["stop", "max_tokens", "tool_calls", "content_filter", "refusal", "unknown"]
"""Why generation ended. ``content_filter`` and ``refusal`` are the provider's own refusal
signals (OpenAI ``finish_reason="content_filter"`` or a ``refusal`` message field;
Anthropic ``stop_reason="refusal"``); text-level refusals are classified by the probes."""


class ToolCall(BaseModel):
    """One tool invocation requested by the model."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    parse_error: str | None = None
    """Set when the provider returned arguments that are not a JSON object."""


class ChatMessage(BaseModel):
    """One conversation turn. The system prompt is not a message: see ``ModelRequest.system``."""

    role: Role
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    """For ``role="tool"``: the id of the call this message answers."""
    tool_error: bool = False
    reasoning_blocks: list[dict[str, Any]] = Field(default_factory=list)
    """For an assistant turn: the provider's reasoning blocks from
    :attr:`ModelResponse.reasoning_blocks`, sent back verbatim with the turn (Anthropic
    requires the thinking blocks of a tool-use turn, signatures intact, on the next request).
    Other providers ignore them."""


class ToolSpec(BaseModel):
    """A tool the model may call, described by a JSON schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}, "required": []}
    )


class GenerateConfig(BaseModel):
    """Sampling parameters. ``None`` means the provider's default."""

    model_config = ConfigDict(frozen=True)

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None


class ModelRequest(BaseModel):
    """Everything one generation needs.

    ``metadata`` carries structured hints for the simulated subject (which entities, which
    option is A, the gold answer). Real providers never send it anywhere and it is not part
    of the cache key.
    """

    messages: list[ChatMessage]
    system: str | None = None
    tools: list[ToolSpec] = Field(default_factory=list)
    config: GenerateConfig = Field(default_factory=GenerateConfig)
    prefill: str | None = None
    """Start of the assistant's answer. Providers without native prefill refuse the request
    with :class:`~harness.model.UnsupportedFeature` rather than faking it."""
    epoch: int = 0
    """Part of the cache key, so repeated epochs get fresh samples."""
    metadata: dict[str, Any] = Field(default_factory=dict)


class Usage(BaseModel):
    """Token counts for one call (or a sum of calls)."""

    input_tokens: int = 0
    output_tokens: int = 0
    """Every generated token, reasoning included: what the provider bills as output."""
    reasoning_tokens: int = 0
    """The part of ``output_tokens`` spent on reasoning, when the provider reports it
    (OpenAI ``completion_tokens_details.reasoning_tokens``, Anthropic
    ``output_tokens_details.thinking_tokens``); 0 when it does not, e.g. for thinking a
    server returned inline in ``<think>`` tags. Never added to ``output_tokens`` again."""

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
        )


class ModelResponse(BaseModel):
    """What a provider returned, normalised.

    ``text`` is the whole assistant turn: when a prefill was sent, it starts with the prefill
    followed by the continuation, so parsers always see the complete answer. It never holds
    the model's reasoning: thinking blocks, ``reasoning_content`` fields and inline
    ``<think>`` sections go to ``reasoning``, so no parser reads thinking as the answer.
    """

    text: str = ""
    reasoning: str | None = None
    """The model's thinking, apart from the answer (``None`` when there was none or the
    provider does not return it). Recorded with the call; never parsed."""
    reasoning_blocks: list[dict[str, Any]] = Field(default_factory=list)
    """Opaque provider state that must go back with this turn in a continued conversation
    (Anthropic ``thinking`` and ``redacted_thinking`` blocks, as received)."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    stop_reason: StopReason = "stop"
    usage: Usage = Field(default_factory=Usage)
    latency: float = 0.0
    """Seconds spent in the provider call (0 for cache hits)."""
    model: str = ""
    """The model name the provider reported, or the requested one."""
    cached: bool = False
    attempts: int = 1
    """How many HTTP attempts the retry layer needed."""
    batch: bool = False
    """Answered through a provider's batch API (billed at its batch discount)."""
    cost: float | None = None
    """US dollars this call cost, from the reported usage and the price table (None when the
    model has no price; 0 for cache hits)."""
