"""The ``harness`` command line: ``run``, ``runs``, ``models``, ``entities``, ``export``."""

from harness.cli._main import cli, main

__all__ = ["cli", "main"]
