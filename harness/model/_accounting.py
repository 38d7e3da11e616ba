"""Token and cost accounting, per model, from a user-supplied price table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import ConfigError
from harness.model._errors import ModelError
from harness.model._types import ModelRequest, ModelResponse, Usage


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input_per_mtok: float
    output_per_mtok: float

    def cost(self, usage: Usage) -> float:
        # Reasoning tokens are billed as output and are already inside output_tokens
        # (OpenAI's completion_tokens and Anthropic's output_tokens both include them), so
        # they are priced once, at the output rate.
        return (
            usage.input_tokens * self.input_per_mtok + usage.output_tokens * self.output_per_mtok
        ) / 1e6


def load_price_table(path: str | Path) -> dict[str, Price]:
    """Read ``{"provider/model": {"input_per_mtok": x, "output_per_mtok": y}}`` (YAML or JSON)."""
    path = Path(path)
    try:
        text = path.read_text()
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except OSError as error:
        raise ConfigError(f"cannot read price table {path}: {error.strerror}") from None
    except (yaml.YAMLError, json.JSONDecodeError) as error:
        raise ConfigError(f"price table {path} is not valid YAML/JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"price table {path}: expected a mapping of model name to prices")
    table: dict[str, Price] = {}
    for model, entry in raw.items():
        try:
            table[str(model)] = Price(
                float(entry["input_per_mtok"]), float(entry["output_per_mtok"])
            )
        except (TypeError, KeyError, ValueError):
            raise ConfigError(
                f"price table {path}: model '{model}' needs numeric input_per_mtok and "
                "output_per_mtok"
            ) from None
    return table


@dataclass
class ModelTotals:
    calls: int = 0
    cached_calls: int = 0
    errors: int = 0
    retries: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float | None = None
    latency: float = 0.0


class Accountant:
    """Sums calls, tokens, retries, errors and (with a price) cost for each model name."""

    def __init__(self, prices: dict[str, Price] | None = None):
        self.prices = prices or {}
        self.totals: dict[str, ModelTotals] = {}

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
        totals.usage = totals.usage + response.usage
        if model in self.prices and totals.cost is not None:
            totals.cost += self.prices[model].cost(response.usage)

    def record_error(self, model: str) -> None:
        self._for(model).errors += 1


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
