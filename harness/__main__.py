"""``python -m harness``: the same as the ``harness`` command."""

from harness.cli._main import entry

entry()
