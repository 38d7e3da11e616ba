"""Anthropic's Message Batches API for the ``anthropic`` provider, through the official SDK.

A batch is created with ``requests: [{"custom_id": ..., "params": {...}}]``, where ``params`` is
exactly what :meth:`AnthropicModel.build_body` sends online (custom ids must match
``^[a-zA-Z0-9_-]{1,64}$``). It is polled while ``processing_status`` is ``in_progress`` or
``canceling``; once it is ``ended`` its results are a JSONL stream of
``{"custom_id", "result": {"type": "succeeded" | "errored" | "canceled" | "expired", ...}}``,
in no particular order.
"""

from __future__ import annotations

import json
import re
from typing import Any

import anthropic
from anthropic.types import Message

from harness.model._batch import BatchItem, BatchResult, BatchStatus
from harness.model._errors import ModelError
from harness.model._types import ModelRequest, ModelResponse
from harness.model.providers._common import one_line, sdk_error
from harness.model.providers.anthropic import AnthropicModel

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SKEW = 300
"""Seconds of clock difference allowed when a batch is looked up by its creation time."""
RETRYABLE_ERRORS = frozenset({"api_error", "overloaded_error", "rate_limit_error", "timeout_error"})
"""Error types of an errored item worth another batch; the others (invalid request,
authentication, permission, billing, not found) would fail again."""


class AnthropicBatchAPI:
    """``messages.batches`` of the provider's own ``AsyncAnthropic`` client."""

    max_requests = 100_000
    max_bytes = 256 * 1024 * 1024
    """The Message Batches API's limits on one batch."""

    def __init__(self, provider: AnthropicModel):
        self.provider = provider
        self.client = provider.client

    def size(self, item: BatchItem) -> int:
        request = {"custom_id": item.custom_id, "params": item.body}
        return len(json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()) + 1

    async def submit(self, items: list[BatchItem], metadata: dict[str, str]) -> str:
        # Message batches take no metadata; the run store is what ties a batch to its run.
        bad = [item.custom_id for item in items if not CUSTOM_ID.match(item.custom_id)]
        if bad:
            raise ValueError(f"custom_id {bad[0]!r} does not match {CUSTOM_ID.pattern}")
        try:
            batch = await self.client.messages.batches.create(
                requests=[{"custom_id": i.custom_id, "params": i.body} for i in items]  # type: ignore[misc]
            )
        except (anthropic.AnthropicError, ValueError) as error:
            raise self._error(error) from None
        return batch.id

    async def find(self, submission: str, items: int, since: float) -> str | None:
        # Message batches carry no metadata, so the batch is told by its size and creation
        # time (allowing for clock skew), and only when exactly one fits. A wrong guess costs
        # no wrong answer: results are matched by custom id, which is the request's own hash.
        found = []
        try:
            async for batch in self.client.messages.batches.list(limit=100):
                created = batch.created_at.timestamp()
                if created < since - SKEW:
                    break
                counts = batch.request_counts
                total = (
                    counts.processing
                    + counts.succeeded
                    + counts.errored
                    + counts.canceled
                    + counts.expired
                )
                if total == items and created <= since + SKEW:
                    found.append(batch.id)
        except (anthropic.AnthropicError, ValueError) as error:
            raise self._error(error) from None
        return found[0] if len(found) == 1 else None

    async def status(self, batch_id: str) -> BatchStatus:
        try:
            batch = await self.client.messages.batches.retrieve(batch_id)
        except (anthropic.AnthropicError, ValueError) as error:
            raise self._error(error) from None
        counts = batch.request_counts
        failed = counts.errored + counts.canceled + counts.expired
        done = counts.succeeded + failed
        return BatchStatus(
            batch.processing_status,
            batch.processing_status == "ended",
            done,
            failed,
            done + counts.processing,
        )

    async def results(self, batch_id: str) -> list[BatchResult]:
        results = []
        try:
            decoder = await self.client.messages.batches.results(batch_id)
            async for item in decoder:
                results.append(self._result(item))
        except (anthropic.AnthropicError, ValueError) as error:
            raise self._error(error) from None
        return results

    def _result(self, item: Any) -> BatchResult:
        result = item.result
        kind = getattr(result, "type", None)
        if kind == "succeeded":
            return BatchResult(item.custom_id, result.message.to_dict(mode="json"))
        if kind == "errored":
            error = getattr(getattr(result, "error", None), "error", None)
            error_type = getattr(error, "type", None) or "error"
            message = one_line(
                str(getattr(error, "message", "") or ""), secrets=[self.provider._api_key]
            )
            return BatchResult(
                item.custom_id,
                None,
                f"{self.provider.name}: {error_type}: {message or 'no message'}",
                error_type in RETRYABLE_ERRORS,
            )
        # canceled or expired: the request never ran, and may in another batch.
        return BatchResult(item.custom_id, None, f"{self.provider.name}: request {kind}", True)

    def response(self, result: dict[str, Any], request: ModelRequest) -> ModelResponse:
        # Built leniently, as the SDK builds an online answer, so _response checks it the same.
        message = Message.model_construct(**result) if isinstance(result, dict) else result
        return self.provider._response(message, request, 0.0).model_copy(update={"batch": True})

    def _error(self, error: BaseException) -> ModelError:
        return sdk_error(
            self.provider.name,
            error,
            anthropic,
            timeout=self.provider.options.timeout,
            key_env=self.provider.api_key_env,
            secrets=[self.provider._api_key],
        )
