"""Model-layer wrappers: retry with backoff, concurrency limits, cache and accounting."""

import asyncio
import random

import pytest

from harness.errors import ConfigError
from harness.model import (
    Accountant,
    AccountedModel,
    CachedModel,
    ChatMessage,
    ConcurrencyLimits,
    LimitedModel,
    ModelRequest,
    ModelResponse,
    PermanentModelError,
    Price,
    ResponseCache,
    RetryingModel,
    RetryPolicy,
    TransientModelError,
    UnknownModel,
    Usage,
    get_model,
    split_model_name,
)
from harness.model._accounting import load_price_table


class ScriptedModel:
    """Returns or raises the queued outcomes in order; counts calls and concurrency."""

    name = "test/scripted"

    def __init__(self, outcomes=None, delay: float = 0.0):
        self.outcomes = list(outcomes or [])
        self.calls = 0
        self.delay = delay
        self.in_flight = 0
        self.peak = 0

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            outcome = self.outcomes.pop(0) if self.outcomes else ModelResponse(text="ok")
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


def request(text: str = "hi", epoch: int = 0, **metadata) -> ModelRequest:
    return ModelRequest(
        messages=[ChatMessage(role="user", content=text)], epoch=epoch, metadata=metadata
    )


class RecordingSleep:
    def __init__(self):
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_retry_honours_retry_after_then_succeeds() -> None:
    inner = ScriptedModel(
        [TransientModelError("429", retry_after=7.0, status=429), ModelResponse(text="fine")]
    )
    sleep = RecordingSleep()
    response = await RetryingModel(inner, RetryPolicy(), sleep=sleep).generate(request())
    assert response.text == "fine"
    assert response.attempts == 2
    assert sleep.waits == [7.0]


async def test_retry_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    errors = [TransientModelError("503", status=503) for _ in range(5)]
    inner = ScriptedModel([*errors, ModelResponse(text="ok")])
    sleep = RecordingSleep()
    policy = RetryPolicy(max_retries=6, initial_wait=1.0, max_wait=4.0)
    await RetryingModel(inner, policy, sleep=sleep, rng=random.Random(1)).generate(request())
    assert len(sleep.waits) == 5
    for n, wait in enumerate(sleep.waits):
        assert 0 <= wait <= min(4.0, 2**n)


async def test_retry_gives_up_after_max_retries() -> None:
    inner = ScriptedModel([TransientModelError("timeout") for _ in range(4)])
    with pytest.raises(TransientModelError):
        await RetryingModel(inner, RetryPolicy(max_retries=3), sleep=RecordingSleep()).generate(
            request()
        )
    assert inner.calls == 4


async def test_permanent_errors_are_not_retried() -> None:
    inner = ScriptedModel([PermanentModelError("400 bad request", status=400)])
    with pytest.raises(PermanentModelError):
        await RetryingModel(inner, RetryPolicy(), sleep=RecordingSleep()).generate(request())
    assert inner.calls == 1


async def test_concurrency_limit_is_respected() -> None:
    inner = ScriptedModel(delay=0.01)
    limits = ConcurrencyLimits(3)
    model = LimitedModel(inner, limits.semaphore("endpoint"))
    await asyncio.gather(*(model.generate(request(str(i))) for i in range(20)))
    assert inner.calls == 20
    assert inner.peak == 3


async def test_cache_hits_skip_the_provider_and_epoch_is_part_of_the_key(tmp_path) -> None:
    inner = ScriptedModel(
        [
            ModelResponse(text="first", usage=Usage(input_tokens=5, output_tokens=2)),
            ModelResponse(text="second"),
        ]
    )
    model = CachedModel(inner, ResponseCache(tmp_path / "c.sqlite"), "e")
    one = await model.generate(request("q", sim={"x": 1}))
    again = await model.generate(request("q", sim={"x": 2}))  # metadata is not in the key
    other_epoch = await model.generate(request("q", epoch=1))
    assert (one.text, one.cached) == ("first", False)
    assert (again.text, again.cached) == ("first", True)
    assert other_epoch.text == "second"
    assert inner.calls == 2


async def test_accounting_sums_tokens_and_cost_but_not_cache_hits() -> None:
    accountant = Accountant({"test/scripted": Price(input_per_mtok=3.0, output_per_mtok=15.0)})
    inner = ScriptedModel(
        [
            ModelResponse(text="a", usage=Usage(input_tokens=1000, output_tokens=100)),
            ModelResponse(text="b", usage=Usage(input_tokens=1000, output_tokens=100), cached=True),
            PermanentModelError("nope"),
        ]
    )
    model = AccountedModel(inner, accountant)
    await model.generate(request())
    await model.generate(request())
    with pytest.raises(PermanentModelError):
        await model.generate(request())
    totals = accountant.totals["test/scripted"]
    assert (totals.calls, totals.cached_calls, totals.errors) == (2, 1, 1)
    assert totals.usage.input_tokens == 1000
    assert totals.cost == pytest.approx((1000 * 3.0 + 100 * 15.0) / 1e6)


def test_price_table_errors_name_the_model(tmp_path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("openai/gpt-4o: {input_per_mtok: 2.5}\n")
    with pytest.raises(ConfigError, match="openai/gpt-4o"):
        load_price_table(path)


@pytest.mark.parametrize("name", ["", "gpt-4o", "openai/", "nosuch/model"])
def test_bad_model_names_are_usage_errors(name: str) -> None:
    with pytest.raises(UnknownModel):
        get_model(name)


def test_model_name_parsing() -> None:
    assert split_model_name("sim") == ("sim", "default")
    assert split_model_name("openai-compatible/meta/llama-3") == (
        "openai-compatible",
        "meta/llama-3",
    )
