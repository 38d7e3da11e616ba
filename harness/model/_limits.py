"""Per-provider concurrency limits, shared by every model of a run that uses one endpoint."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager

from harness.model._types import ModelRequest, ModelResponse


class ConcurrencyLimits:
    """Owns one semaphore per endpoint (provider and base URL).

    A run makes one of these and hands it to every model it builds (subject, simulated
    user, judge), so two roles on the same endpoint share the endpoint's connection budget.
    """

    def __init__(self, max_connections: int):
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_connections = max_connections
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    def semaphore(self, endpoint: str) -> AbstractAsyncContextManager[object]:
        """What a call to ``endpoint`` holds while it is in flight: here a semaphore of this
        process; an executor spread over machines hands out permits of one limit for all."""
        if endpoint not in self._semaphores:
            self._semaphores[endpoint] = asyncio.Semaphore(self.max_connections)
        return self._semaphores[endpoint]


class LimitedModel:
    """Wraps a Model so at most N calls to its endpoint are in flight at once."""

    def __init__(self, inner, semaphore: AbstractAsyncContextManager[object]):
        self.inner = inner
        self._semaphore = semaphore

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        async with self._semaphore:
            return await self.inner.generate(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
