"""The agent loop for agentic tasks, built on LangGraph over the project model layer.

``make_tools(sandbox, limits)`` builds one sample's tools over its sandbox;
``build_agent(model, tools, limits)`` compiles the loop; ``run_agent`` runs it to an
:class:`AgentResult` that always carries a stop reason and the whole transcript.
"""

from agents._graph import DEFAULT_NUDGE, build_agent, run_agent, run_tool_call
from agents._tools import (
    PROTECTED_PATTERNS,
    cap_text,
    check_arguments,
    describe_exec,
    make_tools,
    protected_hits,
    tool_specs,
)
from agents._types import (
    STOP_REASONS,
    AgentLimits,
    AgentResult,
    AgentState,
    AgentStop,
    Generate,
    RequestMetadata,
    Tool,
    ToolError,
    ToolOutput,
)

__all__ = [
    "DEFAULT_NUDGE",
    "PROTECTED_PATTERNS",
    "STOP_REASONS",
    "AgentLimits",
    "AgentResult",
    "AgentState",
    "AgentStop",
    "Generate",
    "RequestMetadata",
    "Tool",
    "ToolError",
    "ToolOutput",
    "build_agent",
    "cap_text",
    "check_arguments",
    "describe_exec",
    "make_tools",
    "protected_hits",
    "run_agent",
    "run_tool_call",
    "tool_specs",
]
