"""OpenAI's Batch API for the ``openai`` provider, through the official SDK.

A batch is a JSONL file uploaded with ``purpose="batch"``, one line per request::

    {"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}

where ``body`` is exactly what :meth:`OpenAIModel.build_body` sends online. The batch is created
with ``completion_window="24h"`` and polled through ``validating``, ``in_progress`` and
``finalizing`` until ``completed``, ``failed``, ``expired`` or ``cancelled``. Answers are in the
output file (``response.status_code`` 200, ``response.body`` a Chat Completion); failures in the
error file (a non-200 ``response``, or ``error.code`` such as ``batch_expired``). An expired or
cancelled batch still delivers the answers it finished.
"""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from harness.model._batch import BatchItem, BatchResult, BatchStatus
from harness.model._errors import ModelError, TransientModelError
from harness.model._types import ModelRequest, ModelResponse
from harness.model.providers._common import sdk_error, status_error
from harness.model.providers.openai import OpenAIModel

ENDPOINT = "/v1/chat/completions"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
LOOKBACK = 3600
"""Seconds before a submission that a lookup of its batch still reads back through."""


class OpenAIBatchAPI:
    """Files and batches endpoints of the provider's own ``AsyncOpenAI`` client."""

    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024
    """The Batch API's limits on one input file."""

    def __init__(self, provider: OpenAIModel):
        self.provider = provider
        self.client = provider.client

    def line(self, item: BatchItem) -> bytes:
        record = {"custom_id": item.custom_id, "method": "POST", "url": ENDPOINT, "body": item.body}
        return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"

    def size(self, item: BatchItem) -> int:
        return len(self.line(item))

    async def submit(self, items: list[BatchItem], metadata: dict[str, str]) -> str:
        data = b"".join(self.line(item) for item in items)
        try:
            upload = await self.client.files.create(
                file=("harness-batch.jsonl", data, "application/jsonl"), purpose="batch"
            )
            batch = await self.client.batches.create(
                input_file_id=upload.id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata=metadata,
            )
        except (openai.OpenAIError, ValueError) as error:
            raise self._error(error) from None
        return batch.id

    async def find(self, submission: str, items: int, since: float) -> str | None:
        # The submission's tag is in the batch's metadata; the list is newest first.
        try:
            async for batch in self.client.batches.list(limit=100):
                if (batch.metadata or {}).get("harness_submission") == submission:
                    return batch.id
                if batch.created_at < since - LOOKBACK:
                    break
        except (openai.OpenAIError, ValueError) as error:
            raise self._error(error) from None
        return None

    async def status(self, batch_id: str) -> BatchStatus:
        try:
            batch = await self.client.batches.retrieve(batch_id)
        except (openai.OpenAIError, ValueError) as error:
            raise self._error(error) from None
        counts = batch.request_counts
        done = getattr(counts, "completed", 0) or 0
        failed = getattr(counts, "failed", 0) or 0
        total = getattr(counts, "total", 0) or 0
        errors = getattr(batch.errors, "data", None) or []
        detail = "; ".join(
            f"{getattr(e, 'code', None) or 'error'}: {getattr(e, 'message', None) or ''}".strip()
            for e in errors
        )
        return BatchStatus(
            batch.status, batch.status in ENDED, done + failed, failed, total, detail[:300]
        )

    async def results(self, batch_id: str) -> list[BatchResult]:
        try:
            batch = await self.client.batches.retrieve(batch_id)
            files = [f for f in (batch.output_file_id, batch.error_file_id) if f]
            contents = [(await self.client.files.content(f)).content for f in files]
        except (openai.OpenAIError, ValueError) as error:
            raise self._error(error) from None
        results = []
        for content in contents:
            for raw in content.splitlines():
                if raw.strip():
                    results.append(self._result(raw))
        return results

    def _result(self, raw: bytes) -> BatchResult:
        try:
            line = json.loads(raw)
            custom_id = str(line["custom_id"])
        except (ValueError, KeyError, TypeError):
            raise TransientModelError(
                f"{self.provider.name}: malformed line in a batch result file"
            ) from None
        response = line.get("response") or {}
        error = line.get("error") or {}
        status = response.get("status_code")
        if status == 200 and not error:
            return BatchResult(custom_id, response.get("body"))
        if status is not None and status != 200:
            failure: ModelError = status_error(
                self.provider.name,
                int(status),
                None,
                response.get("body"),
                key_env=self.provider.api_key_env,
                secrets=[self.provider._api_key],
            )
            return BatchResult(
                custom_id, None, str(failure), isinstance(failure, TransientModelError)
            )
        # A failure that is not an HTTP answer: batch_expired, batch_cancelled, request_timeout.
        code = error.get("code") or "error"
        message = error.get("message") or "no message"
        return BatchResult(custom_id, None, f"{self.provider.name}: {code}: {message}", True)

    def response(self, result: dict[str, Any], request: ModelRequest) -> ModelResponse:
        # Built leniently, as the SDK builds an online answer, so _response checks it the same.
        completion = (
            ChatCompletion.model_construct(**result) if isinstance(result, dict) else result
        )
        return self.provider._response(completion, request, 0.0).model_copy(update={"batch": True})

    def _error(self, error: BaseException) -> ModelError:
        return sdk_error(
            self.provider.name,
            error,
            openai,
            timeout=self.provider.options.timeout,
            key_env=self.provider.api_key_env,
            secrets=[self.provider._api_key],
        )
