"""Token and cost accounting per model, from the built-in price table or a user's override."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError
from harness.model._errors import ModelError
from harness.model._types import ModelRequest, ModelResponse, Usage

DEFAULT_BATCH_DISCOUNT = 0.5
"""Both OpenAI's Batch API and Anthropic's Message Batches API bill half the standard rate."""

# Dated snapshots and aliases bill as their undated model: claude-sonnet-4-5-20250929,
# gpt-4o-2024-08-06, claude-3-5-haiku-latest.
_SNAPSHOT = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens, and the share of the price a batch call pays."""

    input_per_mtok: float
    output_per_mtok: float
    batch_discount: float = DEFAULT_BATCH_DISCOUNT

    def cost(self, usage: Usage, *, batch: bool = False) -> float:
        # Reasoning tokens are billed as output and are already inside output_tokens
        # (OpenAI's completion_tokens and Anthropic's output_tokens both include them), so
        # they are priced once, at the output rate.
        dollars = (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1e6
        return dollars * (1.0 - self.batch_discount) if batch else dollars


_FREE = Price(0.0, 0.0)


@dataclass(frozen=True)
class PriceTable:
    """Prices by ``provider/model``; a dated snapshot falls back to its undated name."""

    prices: dict[str, Price] = field(default_factory=dict)
    as_of: str | None = None
    source: str = ""

    def get(self, model: str) -> Price | None:
        if model.startswith("sim/"):
            return _FREE  # the simulated subject runs locally and bills nothing
        if model in self.prices:
            return self.prices[model]
        undated = _SNAPSHOT.sub("", model)
        return self.prices.get(undated)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.get(model) is not None

    def merged(self, overrides: dict[str, Price], source: str) -> PriceTable:
        return PriceTable({**self.prices, **overrides}, self.as_of, f"{self.source}; {source}")


def _read(path: Path, what: str) -> Any:
    try:
        text = path.read_text()
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error.strerror}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ConfigError(f"{what} {path} is not valid YAML/JSON: {error}") from None


def _prices(raw: object, path: Path, default_discount: float) -> dict[str, Price]:
    if not isinstance(raw, dict):
        raise ConfigError(f"price table {path}: expected a mapping of model name to prices")
    table: dict[str, Price] = {}
    for model, entry in raw.items():
        try:
            price = Price(
                float(entry["input_per_mtok"]),
                float(entry["output_per_mtok"]),
                float(entry.get("batch_discount", default_discount)),
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            raise ConfigError(
                f"price table {path}: model '{model}' needs numeric input_per_mtok and "
                "output_per_mtok"
            ) from None
        if min(price.input_per_mtok, price.output_per_mtok) < 0 or not (
            0 <= price.batch_discount < 1
        ):
            raise ConfigError(
                f"price table {path}: model '{model}' has a negative price or a batch_discount "
                "outside [0, 1)"
            )
        table[str(model)] = price
    return table


def load_price_table(path: str | Path) -> dict[str, Price]:
    """Read a user's ``{"provider/model": {"input_per_mtok": x, "output_per_mtok": y}}``
    (YAML or JSON; optional ``batch_discount`` per model)."""
    path = Path(path)
    raw = _read(path, "price table")
    if isinstance(raw, dict) and isinstance(raw.get("models"), dict):
        # The built-in file's own layout, so a copy of it can be edited and passed back.
        discount = float(raw.get("batch_discount", DEFAULT_BATCH_DISCOUNT))
        return _prices(raw["models"], path, discount)
    return _prices(raw, path, DEFAULT_BATCH_DISCOUNT)


@cache
def builtin_prices() -> PriceTable:
    """The dated list prices shipped with the harness (``harness/model/data/prices.yaml``)."""
    path = Path(str(resources.files("harness.model").joinpath("data", "prices.yaml")))
    raw = _read(path, "price table")
    discount = float(raw.get("batch_discount", DEFAULT_BATCH_DISCOUNT))
    return PriceTable(
        _prices(raw["models"], path, discount),
        as_of=str(raw.get("as_of")),
        source=f"built-in list prices as of {raw.get('as_of')}",
    )


def price_table(path: str | Path | None = None) -> PriceTable:
    """The built-in prices, with a user's file (``--prices``) overriding entries it names."""
    table = builtin_prices()
    if path is None:
        return table
    return table.merged(load_price_table(path), f"overrides from {path}")


@dataclass
class ModelTotals:
    calls: int = 0
    cached_calls: int = 0
    batch_calls: int = 0
    errors: int = 0
    retries: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    latency: float = 0.0


class Accountant:
    """Sums calls, tokens, retries, errors and cost for each model name.

    Cost is what each response reports (``ModelResponse.cost``, set by the metering layer
    from the provider's usage and the price table); a model without a price has cost None.
    """

    def __init__(self, prices: PriceTable | dict[str, Price] | None = None):
        if isinstance(prices, PriceTable):
            self.prices = prices
        else:
            self.prices = PriceTable(dict(prices or {}))
        self.totals: dict[str, ModelTotals] = {}

    def price(self, model: str) -> Price | None:
        return self.prices.get(model)

    def _for(self, model: str) -> ModelTotals:
        if model not in self.totals:
            self.totals[model] = ModelTotals(cost=0.0 if model in self.prices else None)
        return self.totals[model]

    def record(self, model: str, response: ModelResponse) -> None:
        totals = self._for(model)
        totals.calls += 1
        totals.latency += response.latency
        totals.retries += max(0, response.attempts - 1)
        if response.cached:
            totals.cached_calls += 1
            return  # a cache hit costs nothing
        totals.batch_calls += response.batch
        totals.usage = totals.usage + response.usage
        if totals.cost is not None:
            cost = response.cost
            if cost is None and (price := self.price(model)) is not None:
                cost = price.cost(response.usage, batch=response.batch)
            totals.cost += cost or 0.0

    def record_error(self, model: str) -> None:
        self._for(model).errors += 1

    def merge(self, totals: dict[str, ModelTotals]) -> None:
        """Add totals counted elsewhere (by a worker on another machine) to these."""
        for model, other in totals.items():
            mine = self._for(model)
            mine.calls += other.calls
            mine.cached_calls += other.cached_calls
            mine.batch_calls += other.batch_calls
            mine.errors += other.errors
            mine.retries += other.retries
            mine.usage = mine.usage + other.usage
            mine.latency += other.latency
            if mine.cost is not None or other.cost is not None:
                mine.cost = (mine.cost or 0.0) + (other.cost or 0.0)


class AccountedModel:
    """Wraps a Model and reports every call to an :class:`Accountant`."""

    def __init__(self, inner, accountant: Accountant):
        self.inner = inner
        self.accountant = accountant

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        try:
            response = await self.inner.generate(request)
        except ModelError:
            self.accountant.record_error(self.name)
            raise
        self.accountant.record(self.name, response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
