"""Provider batch APIs: what a batch client offers, which providers have one, and the layer that
answers a run's first requests from downloaded batch results.

A batch client (one beside each provider that has a batch API: ``providers/openai_batch.py``,
``providers/anthropic_batch.py``) submits request bodies built by the provider's own
``build_body``, polls, downloads results, and parses a succeeded item with the provider's own
``_response``, so an answer that came by batch is the same :class:`ModelResponse` the online call
would have returned (with ``batch=True`` and the batch price). How batches are planned, stored
and retried is the engine's business (:mod:`harness.batching`); this module knows nothing of runs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import UsageError
from harness.model._accounting import Price
from harness.model._budget import Budget
from harness.model._cache import cache_key
from harness.model._model import Model, ModelAPI, split_model_name
from harness.model._types import ModelRequest, ModelResponse

_BATCH_APIS: dict[str, str] = {
    "openai": "harness.model.providers.openai_batch:OpenAIBatchAPI",
    "anthropic": "harness.model.providers.anthropic_batch:AnthropicBatchAPI",
}
"""Providers with a batch API, by provider name. ``openai-compatible`` is left out on purpose:
vLLM, Ollama and llama.cpp serve no ``/v1/batches``, and a server that lacks it would fail
only after the run had started."""


@dataclass(frozen=True)
class BatchItem:
    """One request of a batch: its id within the batch and the provider's request body."""

    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class BatchStatus:
    """A batch as last polled."""

    status: str
    """The provider's own word (``in_progress``, ``finalizing``, ``ended`` ...)."""
    ended: bool
    """No item will change any more: results (if any) can be downloaded."""
    done: int
    failed: int
    total: int
    detail: str = ""
    """Why a batch failed as a whole (e.g. its file did not validate), when it did."""


@dataclass(frozen=True)
class BatchResult:
    """One item's outcome, as downloaded."""

    custom_id: str
    result: dict[str, Any] | None
    """The answer body (a Chat Completion, a Message) when the item succeeded."""
    error: str | None = None
    retry: bool = False
    """For a failure: whether another batch may succeed (expired, cancelled, 5xx, rate limit);
    a rejected request (400) would fail again and goes online, where it fails as it would."""


class BatchAPI(Protocol):
    """A provider's batch endpoint, driven through the provider's official SDK."""

    max_requests: int
    """Items one batch may hold."""
    max_bytes: int
    """Bytes one batch's upload may take (the JSONL file, or the request body)."""

    def size(self, item: BatchItem) -> int:
        """Bytes ``item`` adds to a batch's upload."""
        ...

    async def submit(self, items: list[BatchItem], metadata: dict[str, str]) -> str:
        """Create a batch of ``items``; returns its id."""
        ...

    async def find(self, submission: str, items: int, since: float) -> str | None:
        """The id of a batch that the submission tagged ``submission`` (``items`` requests,
        sent at ``since``, a Unix time) may have created although its answer never arrived
        (the process was killed, or the response lost); None if there is none."""
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str) -> list[BatchResult]:
        """Every item's outcome once the batch has ended (items missing here did not run)."""
        ...

    def response(self, result: dict[str, Any], request: ModelRequest) -> ModelResponse:
        """Parse a succeeded item exactly as the provider parses an online answer; raises
        :class:`~harness.model.ModelError` for a body the online path would reject."""
        ...


def has_batch_api(model: str) -> bool:
    provider, _ = split_model_name(model)
    return provider in _BATCH_APIS


def check_batch(model: str) -> None:
    """Refuse ``--batch`` for a model whose provider has no batch API (one clear line)."""
    provider, _ = split_model_name(model)
    if provider in _BATCH_APIS:
        return
    if provider == "sim":
        raise UsageError("--batch: sim has no batch API (it answers locally and costs nothing)")
    if provider == "openai-compatible":
        raise UsageError(
            f"--batch: {model} has no batch API in the harness (vLLM, Ollama and llama.cpp "
            "serve no /v1/batches); run it without --batch"
        )
    raise UsageError(
        f"--batch: {model} has no batch API (batch APIs: {', '.join(sorted(_BATCH_APIS))})"
    )


def batch_api(provider: ModelAPI) -> BatchAPI:
    """The batch client for ``provider`` (sharing its SDK client and its ``build_body``)."""
    target = _BATCH_APIS.get(provider.provider)
    if target is None:
        check_batch(provider.name)
    module_name, _, attr = str(target).partition(":")
    return getattr(importlib.import_module(module_name), attr)(provider)


class BatchAnsweredModel:
    """Wraps a Model: a request whose answer came by batch is answered from it, once.

    The answers are put here by :func:`harness.batching.prefetch_batches` before a stage's
    trials run, keyed by the response cache's own key, so the lookup is exact: the trial's first
    request is byte for byte the one that went into the batch. Each answer carries its batch
    price and the budget reservation made when its batch was submitted, which it settles.
    Everything else passes through to the online stack below.
    """

    def __init__(self, inner: Any, endpoint: str, price: Price | None, budget: Budget | None):
        self.inner = inner
        self.endpoint = endpoint
        self.price = price
        self.budget = budget
        self.answers: dict[str, tuple[ModelResponse, float]] = {}
        self.held: dict[tuple[str, str], float] = {}
        """Budget this process holds for batch items not yet answered, by (batch id, custom
        id) (see :mod:`harness.batching`)."""

    @property
    def name(self) -> str:
        return self.inner.name

    def key(self, request: ModelRequest) -> str:
        return cache_key(self.name, self.endpoint, request)

    def offer(self, key: str, response: ModelResponse, hold: float) -> None:
        self.answers[key] = (response, hold)

    async def generate(self, request: ModelRequest) -> ModelResponse:
        if self.answers:
            found = self.answers.pop(self.key(request), None)
            if found is not None:
                response, hold = found
                if self.budget is not None:
                    self.budget.settle(hold, response.cost or 0.0)
                return response
        return await self.inner.generate(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def batch_layer(model: Model) -> BatchAnsweredModel | None:
    """The :class:`BatchAnsweredModel` inside a wrapped model, if it has one."""
    current: Any = model
    while current is not None:
        if isinstance(current, BatchAnsweredModel):
            return current
        current = getattr(current, "inner", None)
    return None
