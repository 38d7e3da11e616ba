"""Helpers the HTTP providers share: model-arg parsing, error translation and Retry-After."""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from harness.errors import UsageError
from harness.model._errors import ModelError, PermanentModelError, TransientModelError

POOL_LIMITS = httpx2.Limits(max_connections=1024, max_keepalive_connections=1024)
"""Connection pool of the SDK clients we build. ``ConcurrencyLimits`` is the real cap on
in-flight calls; the pool must never be the tighter bound, or calls queue inside httpx2
(and eventually fail with a pool timeout) while the semaphore thinks they are running.
Keep-alive equals the maximum so a burst above the SDK default of 100 idle connections
does not close and re-open sockets on every call."""

RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""4xx statuses worth retrying: request timeout, conflict (OpenAI uses it for transient
lock contention) and rate limit. Every 5xx (including Anthropic's 529 overloaded) is too."""

_MAX_MESSAGE = 300


def one_line(text: str, *, secrets: Iterable[str] = (), limit: int = _MAX_MESSAGE) -> str:
    """Collapse whitespace, remove secrets and cut ``text`` to ``limit`` characters.

    Server error bodies are arbitrary (HTML error pages, multi-line JSON) and some echo
    the credential back; the CLI prints model errors on one line and logs them, so both
    problems are fixed here, once, for every provider.
    """
    for secret in secrets:
        # Very short "keys" (e.g. "EMPTY" for local servers) are not secret, and removing
        # them would mangle ordinary words in the message.
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text


def retry_after_seconds(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """How long the server asked us to wait, from ``retry-after-ms`` or ``retry-after``.

    ``retry-after-ms`` (OpenAI, Anthropic) is more precise, so it wins. ``retry-after`` is
    either delta-seconds or an HTTP-date (RFC 9110). Unparseable or absent values give
    ``None`` so the retry policy falls back to its own backoff; a date in the past gives 0.
    """
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        current = time.time() if now is None else now
        return max(0.0, when.timestamp() - current)
    return value if math.isfinite(value) and value >= 0 else None


def error_detail(body: object) -> str:
    """The human part of an API error body (OpenAI and Anthropic both nest it in ``error``)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return body["message"]
        return json.dumps(body, default=str)
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return "" if body is None else str(body)


def status_error(
    name: str,
    status: int,
    headers: Mapping[str, str] | None,
    body: object,
    *,
    key_env: str | None,
    secrets: Iterable[str] = (),
) -> ModelError:
    """Translate an HTTP error status into the retry layer's vocabulary."""
    if status in (401, 403):
        # The server's text is dropped on purpose: OpenAI echoes a masked form of the key
        # and proxies sometimes echo it whole. Naming the variable is what the user needs.
        where = f"check the API key in {key_env}" if key_env else "check the server's credentials"
        return PermanentModelError(
            f"{name}: authentication failed (HTTP {status}): {where}", status=status
        )
    detail = one_line(error_detail(body), secrets=secrets)
    message = f"{name}: HTTP {status}" + (f": {detail}" if detail else "")
    if status in RETRYABLE_STATUSES or status >= 500:
        return TransientModelError(message, retry_after=retry_after_seconds(headers), status=status)
    return PermanentModelError(message, status=status)


def first_set(*values: Any) -> Any:
    """The first value that is not ``None`` (request config, then model arg, then default)."""
    return next((value for value in values if value is not None), None)


def token_count(value: object) -> int:
    """A usage field as an int; servers that omit usage or send junk count as 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def malformed(name: str, what: str) -> TransientModelError:
    """A 2xx whose body we cannot use. Retried: truncated or garbled bodies are usually
    a proxy or load-balancer hiccup, and a permanent failure would lose the sample."""
    return TransientModelError(f"{name}: malformed response from the API ({what})")


def parse_tool_arguments(raw: object) -> tuple[dict[str, Any], str | None]:
    """Parse a tool call's JSON arguments; on failure return ``({}, reason)``."""
    if isinstance(raw, Mapping):
        return dict(raw), None
    if raw is None or raw == "":
        # Some servers send an empty string for a call without arguments.
        return {}, None
    if not isinstance(raw, str):
        return {}, f"arguments are a {type(raw).__name__}, not a JSON object"
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        return {}, f"arguments are not valid JSON: {error.msg} at position {error.pos}"
    if not isinstance(value, dict):
        return {}, f"arguments are JSON {type(value).__name__}, not an object"
    return value, None


# ----------------------------------------------------------------------------- model args


@dataclass(frozen=True)
class ArgSpec:
    """One accepted ``-M key=value`` model argument."""

    convert: Callable[[str, object], Any]


def integer(key: str, value: object) -> int:
    # bool is an int subclass, but "-M seed=true" is a mistake, not the number 1.
    if isinstance(value, bool):
        raise UsageError(f"model arg {key}={value} is not an integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise UsageError(f"model arg {key}={value} is not an integer") from None


def positive_int(key: str, value: object) -> int:
    result = integer(key, value)
    if result < 1:
        raise UsageError(f"model arg {key}={value} must be at least 1")
    return result


def number(key: str, value: object) -> float:
    if isinstance(value, bool):
        raise UsageError(f"model arg {key}={value} is not a number")
    try:
        result = float(value) if isinstance(value, int | float) else float(str(value).strip())
    except ValueError:
        raise UsageError(f"model arg {key}={value} is not a number") from None
    if not math.isfinite(result):
        raise UsageError(f"model arg {key}={value} is not a finite number")
    return result


def choice(*allowed: str) -> Callable[[str, object], str]:
    """A converter accepting only the given strings."""

    def convert(key: str, value: object) -> str:
        text = str(value).strip()
        if text not in allowed:
            raise UsageError(f"model arg {key}={value} is not one of: {', '.join(allowed)}")
        return text

    return convert


def parse_model_args(
    name: str, args: Mapping[str, Any], spec: Mapping[str, ArgSpec]
) -> dict[str, Any]:
    """Validate and convert ``args`` against ``spec``; unknown keys are a usage error."""
    parsed: dict[str, Any] = {}
    for key, value in args.items():
        if key not in spec:
            accepted = ", ".join(sorted(spec)) or "none"
            raise UsageError(f"{name} does not accept model arg '{key}' (accepted: {accepted})")
        parsed[key] = spec[key].convert(key, value)
    return parsed


def sdk_error(
    name: str,
    error: BaseException,
    sdk: Any,
    *,
    timeout: float,
    key_env: str | None,
    secrets: list[str],
) -> ModelError:
    """Translate an exception from the openai or anthropic SDK (passed as ``sdk``; both name
    their error classes alike) into our transient/permanent split, without the API key."""
    describe = lambda e: one_line(f"{type(e).__name__}: {e}", secrets=secrets)  # noqa: E731
    if isinstance(error, sdk.APIStatusError):
        return status_error(
            name,
            error.status_code,
            error.response.headers,
            error.body,
            key_env=key_env,
            secrets=secrets,
        )
    # The timeout error subclasses the connection error, so it is checked first.
    if isinstance(error, sdk.APITimeoutError):
        return TransientModelError(f"{name}: request timed out after {timeout:g}s")
    if isinstance(error, sdk.APIConnectionError):
        return TransientModelError(
            f"{name}: connection error: {describe(error.__cause__ or error)}"
        )
    if isinstance(error, sdk.APIResponseValidationError | ValueError):
        # ValueError covers json.JSONDecodeError from a 2xx with a garbled body.
        return malformed(name, type(error).__name__)
    return PermanentModelError(f"{name}: {describe(error)}")
