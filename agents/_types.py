"""Data the agent loop works with: limits, graph state, tools and the finished result."""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from typing_extensions import TypedDict

from harness.model import ChatMessage, ModelRequest, ModelResponse, ToolSpec

AgentStop = Literal[
    "submitted", "step_limit", "token_limit", "time_limit", "model_stopped", "error"
]
"""Why a sample ended. Every sample ends with exactly one of these."""

STOP_REASONS: tuple[AgentStop, ...] = (
    "submitted",
    "step_limit",
    "token_limit",
    "time_limit",
    "model_stopped",
    "error",
)

Generate = Callable[[ModelRequest], Awaitable[ModelResponse]]
"""One model call; a probe passes ``TrialContext.generate`` so every call is recorded."""


@dataclass(frozen=True)
class AgentLimits:
    """Budgets for one sample. Reaching any of them ends the sample with its reason.

    * ``steps``: model calls (the no-tool nudge's retry counts as one).
    * ``tokens``: input plus output tokens over all model calls, as the provider reports
      them. The call that crosses the budget ends the sample and its tool calls are not run.
    * ``wall_seconds``: time from the first node; model calls and commands are cut short
      when it runs out.
    * ``command_timeout``: seconds per command (``bash``, ``python`` and the file tools);
      a command that runs over is killed and the model is told.
    * ``output_chars``: each tool result shown to the model (and stored) is cut to this.
    """

    steps: int = 30
    tokens: int = 500_000
    wall_seconds: float = 1800.0
    command_timeout: float = 120.0
    output_chars: int = 16_000

    def __post_init__(self) -> None:
        for name in ("steps", "tokens", "wall_seconds", "command_timeout", "output_chars"):
            if not getattr(self, name) > 0:
                raise ValueError(f"agent limit {name} must be positive, got {getattr(self, name)}")

    @classmethod
    def from_task(cls, limits: Any, **overrides: Any) -> AgentLimits:
        """From a task's ``limits`` (anything with steps/tokens/wall_seconds/command_timeout)."""
        values = {
            name: getattr(limits, name)
            for name in ("steps", "tokens", "wall_seconds", "command_timeout")
            if getattr(limits, name, None) is not None
        }
        return cls(**{**values, **overrides})

    @property
    def recursion_limit(self) -> int:
        """LangGraph super-steps the loop can need: the start node, then at most a model and
        a tools node per step, then the model node that notices the step limit. Set
        explicitly because LangGraph's default (about 10,000) would never stop a loop."""
        return 2 * self.steps + 4


class AgentState(TypedDict):
    """Everything the loop knows; nodes return partial updates of it.

    ``messages`` and ``transcript`` only grow (their reducer appends); the rest is replaced.
    """

    messages: Annotated[list[ChatMessage], operator.add]
    transcript: Annotated[list[dict[str, Any]], operator.add]
    """JSON-ready entries: one per model call, tool call, nudge, and the final stop."""
    steps: int
    """Model calls made so far."""
    input_tokens: int
    output_tokens: int
    started: float
    """``time.monotonic()`` when the start node ran; limits and entry times count from it."""
    submission: str | None
    stop_reason: AgentStop | None
    error: str | None
    nudged: bool
    """True after a reply without tool calls was answered with a nudge."""
    protected: Annotated[list[dict[str, Any]], operator.add]
    """Tool calls whose arguments named a protected path (grader, solution)."""


RequestMetadata = Callable[[AgentState], dict[str, Any]]
"""Builds a model request's ``metadata`` from the state (the sim subject's hints)."""


@dataclass(frozen=True)
class ToolOutput:
    """What one tool call produced: the text the model sees plus details for the transcript."""

    content: str
    error: bool = False
    submission: str | None = None
    """Set by ``submit``: the answer, which ends the sample."""
    details: dict[str, Any] = field(default_factory=dict)


class ToolRunner(Protocol):
    async def __call__(self, arguments: dict[str, Any], *, timeout: float) -> ToolOutput: ...


@dataclass(frozen=True)
class Tool:
    """A tool the model may call: its schema and the coroutine that runs it.

    ``run`` gets arguments already checked against the schema, and the seconds the call may
    take (the command timeout, or less when the sample's wall time is nearly spent).
    """

    spec: ToolSpec
    run: ToolRunner

    @property
    def name(self) -> str:
        return self.spec.name


class ToolError(Exception):
    """A tool call the model got wrong (bad arguments, missing file): reported back to it."""


@dataclass
class AgentResult:
    """A finished sample: how it ended and the whole transcript, ready for storage."""

    stop_reason: AgentStop
    submission: str | None
    steps: int
    input_tokens: int
    output_tokens: int
    duration: float
    error: str | None
    messages: list[ChatMessage]
    transcript: list[dict[str, Any]]
    protected: list[dict[str, Any]]

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens
