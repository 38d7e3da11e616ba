"""What the workers of a Ray execution share: one connection limit per endpoint and one
spending budget per run (and per study), held by one actor on the driver's node, and the
client-side pieces the model layer calls through (:class:`ClusterLimits`,
:class:`ClusterBudget`).

A permit that is never given back (its worker died holding it) is taken back once it is older
than a call can last: the request timeout, plus a margin. A budget refuses as
:class:`~harness.model.Budget` does, because it is one: the actor holds the real objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.model import Budget, BudgetExhausted, ConcurrencyLimits

LEASE_MARGIN = 30.0
"""Seconds a permit outlives the request timeout before it is presumed lost with its worker."""


@dataclass
class _Endpoint:
    held: dict[int, float] = field(default_factory=dict)
    """Lease id -> when it expires."""
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    peak: int = 0
    reclaimed: int = 0


class Leases:
    """At most ``limit`` permits per endpoint at once, handed out as numbered leases; a lease
    not released within ``ttl`` seconds is taken back (its holder is gone)."""

    def __init__(self, limit: int, ttl: float, clock: Callable[[], float] = time.monotonic):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.ttl = ttl
        self.clock = clock
        self._ids = itertools.count(1)
        self._endpoints: dict[str, _Endpoint] = {}

    def _slot(self, endpoint: str) -> _Endpoint:
        if endpoint not in self._endpoints:
            self._endpoints[endpoint] = _Endpoint()
        return self._endpoints[endpoint]

    async def acquire(self, endpoint: str) -> int:
        slot = self._slot(endpoint)
        async with slot.changed:
            while True:
                now = self.clock()
                for lease, expires in list(slot.held.items()):
                    if expires <= now:
                        del slot.held[lease]
                        slot.reclaimed += 1
                if len(slot.held) < self.limit:
                    lease = next(self._ids)
                    slot.held[lease] = now + self.ttl
                    slot.peak = max(slot.peak, len(slot.held))
                    return lease
                # Woken by a release, or when the oldest lease expires.
                wait = max(0.0, min(slot.held.values()) - now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot.changed.wait(), wait)

    async def release(self, endpoint: str, lease: int) -> None:
        slot = self._slot(endpoint)
        async with slot.changed:
            if slot.held.pop(lease, None) is not None:
                slot.changed.notify()

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            name: {"held": len(s.held), "peak": s.peak, "reclaimed": s.reclaimed}
            for name, s in self._endpoints.items()
        }


class Coordinator:
    """The actor (``ray.remote(Coordinator)``): permits, budgets and stop flags for every
    run of one driver. All methods are coroutines, so they run in the actor's one event loop
    and need no locks."""

    def __init__(self, max_connections: int, lease_seconds: float):
        self.leases = Leases(max_connections, lease_seconds)
        self.budgets: dict[str, Budget] = {}
        self.stops: dict[str, tuple[str, str]] = {}

    async def acquire(self, endpoint: str) -> int:
        return await self.leases.acquire(endpoint)

    async def release(self, endpoint: str, lease: int) -> None:
        await self.leases.release(endpoint, lease)

    async def stats(self) -> dict[str, dict[str, int]]:
        return self.leases.stats()

    async def register_budget(
        self, key: str, cap: float | None, spent: float, label: str, parent: str | None
    ) -> None:
        if key not in self.budgets:
            self.budgets[key] = Budget(
                cap, spent=spent, parent=self.budgets.get(parent) if parent else None, label=label
            )

    async def hold(self, key: str, amount: float) -> None:
        self.budgets[key].hold(amount)

    async def reserve(self, key: str, amount: float) -> str | None:
        """None if the call may go ahead (its reservation held), else why not."""
        try:
            self.budgets[key].reserve(amount)
        except BudgetExhausted as refusal:
            return str(refusal)
        return None

    async def settle(self, key: str, reserved: float, cost: float) -> None:
        self.budgets[key].settle(reserved, cost)

    async def spent(self, key: str) -> float:
        return self.budgets[key].spent

    async def stop(self, run_id: str, status: str, reason: str) -> None:
        self.stops.setdefault(run_id, (status, reason))

    async def stopped(self, run_id: str) -> tuple[str, str] | None:
        return self.stops.get(run_id)


async def call(method: Any, *args: Any) -> Any:
    """Await an actor method's result without blocking the event loop."""
    return await asyncio.wrap_future(method.remote(*args).future())


class ClusterPermit:
    """An endpoint's connection limit as the model layer uses a semaphore (``async with``),
    but counted by the coordinator for every worker of the cluster together."""

    def __init__(self, coordinator: Any, endpoint: str):
        self.coordinator = coordinator
        self.endpoint = endpoint
        # One LimitedModel (so one permit object) serves every concurrent call: the lease of
        # each is kept by the task that made the call.
        self._leases: dict[asyncio.Task[Any] | None, list[int]] = {}

    async def __aenter__(self) -> None:
        ref = self.coordinator.acquire.remote(self.endpoint)
        try:
            lease = await asyncio.wrap_future(ref.future())
        except asyncio.CancelledError:
            # The permit may still be granted: give it back as soon as it is.
            ref.future().add_done_callback(self._give_back)
            raise
        self._leases.setdefault(asyncio.current_task(), []).append(lease)

    async def __aexit__(self, *exc: object) -> None:
        task = asyncio.current_task()
        held = self._leases[task]
        lease = held.pop()
        if not held:
            del self._leases[task]
        self.coordinator.release.remote(self.endpoint, lease)

    def _give_back(self, granted: Any) -> None:
        if not granted.cancelled() and granted.exception() is None:
            self.coordinator.release.remote(self.endpoint, granted.result())


class ClusterLimits(ConcurrencyLimits):
    """``--max-connections`` per endpoint for a whole cluster. ``sim`` answers inside each
    process and has no endpoint to protect: it keeps a semaphore per process."""

    def __init__(self, coordinator: Any, max_connections: int):
        super().__init__(max_connections)
        self.coordinator = coordinator
        self._permits: dict[str, ClusterPermit] = {}

    def semaphore(self, endpoint: str) -> Any:
        if endpoint.startswith("sim|"):
            return super().semaphore(endpoint)
        if endpoint not in self._permits:
            self._permits[endpoint] = ClusterPermit(self.coordinator, endpoint)
        return self._permits[endpoint]


class ClusterBudget(Budget):
    """A run's budget as every worker sees it: reservations and costs go to the coordinator,
    which holds the run's (and its study's) :class:`~harness.model.Budget`."""

    def __init__(self, coordinator: Any, key: str, *, capped: bool, label: str):
        super().__init__(None, label=label)
        self.coordinator = coordinator
        self.key = key
        self._capped = capped

    @property
    def capped(self) -> bool:
        return self._capped

    def reserve(self, amount: float) -> None:
        """Blocking: for the driver's batch submissions; model calls use :meth:`acquire`."""
        import ray

        self._refused(ray.get(self.coordinator.reserve.remote(self.key, amount)))

    async def acquire(self, amount: float) -> None:
        self._refused(await call(self.coordinator.reserve, self.key, amount))

    def _refused(self, refusal: str | None) -> None:
        if refusal is not None:
            self.exhausted = True
            raise BudgetExhausted(refusal)

    def hold(self, amount: float) -> None:
        """Blocking: the driver holds what batches of earlier sessions committed."""
        import ray

        ray.get(self.coordinator.hold.remote(self.key, amount))

    def settle(self, reserved: float, cost: float) -> None:
        # Not awaited: a settlement needs no answer, and it is sent only after its
        # reservation was granted, so it cannot overtake it.
        self.coordinator.settle.remote(self.key, reserved, cost)
