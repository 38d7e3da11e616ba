"""User-facing error types: anything the CLI reports as one clear line instead of a traceback."""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix (bad input, missing key, broken file).

    The CLI prints ``str(error)`` on one line and exits with :attr:`exit_code`.
    """

    exit_code: int = 1


class UsageError(HarnessError):
    """Bad command-line usage (unknown suite, model or option value): exit code 2."""

    exit_code = 2


class ConfigError(HarnessError):
    """A configuration or data file is missing or malformed."""

    exit_code = 2
