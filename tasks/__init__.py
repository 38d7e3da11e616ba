"""The offline agentic task suite: one folder per task, with a loader that turns a folder into a task spec."""
