"""Sandboxes for agentic tasks: one Sandbox interface with docker and local providers, plus image building."""
