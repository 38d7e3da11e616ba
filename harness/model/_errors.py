"""Errors raised by the model layer, split by what the caller should do about them."""

from __future__ import annotations

from harness.errors import ConfigError, UsageError


class ModelError(Exception):
    """A model call failed. The message never contains an API key."""


class TransientModelError(ModelError):
    """Worth retrying: rate limits, 5xx, timeouts, dropped connections, garbled bodies."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status: int | None = None
    ):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class PermanentModelError(ModelError):
    """Not worth retrying (4xx other than 408/409/429, invalid request)."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class UnsupportedFeature(ModelError):
    """The request asks for something this provider cannot do (e.g. assistant prefill)."""


class MissingAPIKey(ConfigError):
    """A provider needs a key that is not set; the message names the variable."""


class UnknownModel(UsageError):
    """The ``provider/model`` name does not resolve to a registered provider."""
