"""Spending caps: every call's cost from its reported usage, and no new call past a budget.

A :class:`Budget` holds what has been spent (from the usage each response reports, priced by
the price table) and what calls in flight may still cost (a reservation made before each call:
its counted input tokens and its output cap at full price). A call is only issued when spent
plus reserved plus its own reservation stays within the cap, so the spend can exceed the cap
only by what calls in flight cost beyond their reservation (an answer longer than the output
cap assumed when ``--max-tokens`` is unset). A run's budget may have a parent (the study's),
and a call must fit both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.model._accounting import Price
from harness.model._tokens import token_counter
from harness.model._types import ModelRequest, ModelResponse, Usage

DEFAULT_OUTPUT_RESERVATION = 1024
"""Output tokens reserved for a call that sets no ``max_tokens`` (Anthropic's own default cap
in this harness; an OpenAI answer may run longer, which is why ``--max-tokens`` is advised with
``--max-cost``)."""


class BudgetExhausted(HarnessError):
    """A call was not issued because it could take spending past a cap.

    Not a model error: the trial is not stored as failed; the run stops taking new trials,
    ends as ``budget-exhausted`` and can be resumed with a higher cap.
    """

    exit_code = 3


class Budget:
    """A spending cap in US dollars (``cap=None``: no cap, spending is still counted)."""

    def __init__(
        self,
        cap: float | None,
        *,
        spent: float = 0.0,
        parent: Budget | None = None,
        label: str = "run",
    ):
        if cap is not None and cap < 0:
            raise ValueError("a budget cap cannot be negative")
        self.cap = cap
        self.spent = spent
        self.reserved = 0.0
        self.parent = parent
        self.label = label
        self.exhausted = False
        # Reservations come from the event loop, but a budget may be shared across threads
        # (several runs of one study settle into one parent).
        self._lock = threading.Lock()

    def _fits(self, amount: float) -> bool:
        return self.cap is None or self.spent + self.reserved + amount <= self.cap + 1e-12

    def reserve(self, amount: float) -> None:
        """Hold ``amount`` for a call about to be issued, or raise :class:`BudgetExhausted`."""
        chain = self._chain()
        for budget in chain:
            budget._lock.acquire()
        try:
            for budget in chain:
                if not budget._fits(amount):
                    budget.exhausted = True
                    raise BudgetExhausted(
                        f"{budget.label} budget of ${budget.cap:.2f} reached "
                        f"(spent ${budget.spent:.4f}, ${budget.reserved:.4f} in flight, next "
                        f"call up to ${amount:.4f}): resume with a higher --max-cost"
                    )
            for budget in chain:
                budget.reserved += amount
        finally:
            for budget in reversed(chain):
                budget._lock.release()

    async def acquire(self, amount: float) -> None:
        """:meth:`reserve`, awaitable: what :class:`MeteredModel` calls, so that a budget held
        elsewhere (one for a whole cluster of workers) can answer over the network."""
        self.reserve(amount)

    def hold(self, amount: float) -> None:
        """Hold ``amount`` for calls already issued, whatever the cap: a batch submitted in an
        earlier session is money committed, which new calls must see but cannot undo."""
        for budget in self._chain():
            with budget._lock:
                budget.reserved += amount

    def settle(self, reserved: float, cost: float) -> None:
        """A call finished: release its reservation and add what it actually cost."""
        for budget in self._chain():
            with budget._lock:
                budget.reserved = max(0.0, budget.reserved - reserved)
                budget.spent += cost

    def _chain(self) -> list[Budget]:
        chain: list[Budget] = []
        budget: Budget | None = self
        while budget is not None:
            chain.append(budget)
            budget = budget.parent
        return chain

    @property
    def capped(self) -> bool:
        """Whether this budget or one above it has a cap."""
        return any(budget.cap is not None for budget in self._chain())


@dataclass(frozen=True)
class Reservation:
    """What a call may cost at most, by its counted input and its output cap."""

    input_tokens: int
    output_tokens: int

    def cost(self, price: Price, *, batch: bool = False) -> float:
        return price.cost(
            Usage(input_tokens=self.input_tokens, output_tokens=self.output_tokens), batch=batch
        )


def reservation_for(model: str, request: ModelRequest, default_output: int) -> Reservation:
    output = request.config.max_tokens or default_output
    return Reservation(token_counter(model).count_request(request), output)


class MeteredModel:
    """Wraps a Model: prices every response from its reported usage and, with a budget,
    refuses to issue a call that could take spending past the cap.

    Sits just above the provider: inside the cache (a hit costs nothing and needs no
    reservation), inside the connection limit (only attempts holding a connection are in
    flight) and so below the retry layer (each attempt reserves; a failed one is not billed).
    """

    def __init__(
        self,
        inner,
        price: Price | None,
        budget: Budget | None = None,
        *,
        default_output: int = DEFAULT_OUTPUT_RESERVATION,
    ):
        self.inner = inner
        self.price = price
        self.budget = budget
        self.default_output = default_output

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        if self.price is None:
            return await self.inner.generate(request)
        hold = 0.0
        if self.budget is not None and self.budget.capped:
            hold = reservation_for(self.name, request, self.default_output).cost(self.price)
            await self.budget.acquire(hold)
        try:
            response = await self.inner.generate(request)
        except BaseException:
            if self.budget is not None:
                self.budget.settle(hold, 0.0)
            raise
        cost = 0.0 if response.cached else self.price.cost(response.usage, batch=response.batch)
        if self.budget is not None:
            self.budget.settle(hold, cost)
        return response.model_copy(update={"cost": cost})

    async def aclose(self) -> None:
        await self.inner.aclose()
