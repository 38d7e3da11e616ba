"""Retry with exponential backoff and full jitter, honouring ``Retry-After``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harness.model._errors import TransientModelError
from harness.model._types import ModelRequest, ModelResponse


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried.

    The n-th retry waits a uniformly random time in ``[0, min(max_wait, initial * 2**n)]``
    (full jitter, so many clients hitting one rate limit spread out), or the server's
    ``Retry-After`` when it gave one (capped at ``max_wait``).
    """

    max_retries: int = 6
    initial_wait: float = 1.0
    max_wait: float = 60.0

    def wait_for(self, retry: int, error: TransientModelError, rng: random.Random) -> float:
        if error.retry_after is not None and error.retry_after >= 0:
            return min(error.retry_after, self.max_wait)
        return rng.uniform(0, min(self.max_wait, self.initial_wait * 2**retry))


class RetryingModel:
    """Wraps a Model; retries :class:`TransientModelError` according to a :class:`RetryPolicy`."""

    def __init__(
        self,
        inner,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        self.inner = inner
        self.policy = policy
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        retry = 0
        while True:
            try:
                response = await self.inner.generate(request)
            except TransientModelError as error:
                if retry >= self.policy.max_retries:
                    raise
                await self._sleep(self.policy.wait_for(retry, error, self._rng))
                retry += 1
                continue
            if retry:
                response = response.model_copy(update={"attempts": response.attempts + retry})
            return response

    async def aclose(self) -> None:
        await self.inner.aclose()
