"""The agent loop for agentic tasks, built on LangGraph over the project model layer."""
