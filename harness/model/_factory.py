"""``get_model``: build a provider and wrap it in limits, retries, cache and accounting."""

from __future__ import annotations

from harness.errors import UsageError
from harness.model._accounting import Accountant, AccountedModel
from harness.model._batch import BatchAnsweredModel, has_batch_api
from harness.model._budget import Budget, MeteredModel
from harness.model._cache import CachedModel, ResponseCache
from harness.model._limits import ConcurrencyLimits, LimitedModel
from harness.model._model import Model, ModelAPI, ProviderOptions, provider_class, split_model_name
from harness.model._retry import RetryingModel, RetryPolicy


def create_provider(
    name: str, *, base_url: str | None = None, args: dict | None = None, timeout: float = 120.0
) -> ModelAPI:
    """Build the bare provider for ``provider/model`` (no wrappers). Raises
    :class:`~harness.model.UnknownModel` or :class:`~harness.model.MissingAPIKey`."""
    provider, model = split_model_name(name)
    cls = provider_class(provider)
    return cls(ProviderOptions(model=model, base_url=base_url, args=args, timeout=timeout))


def check_model(
    name: str, *, base_url: str | None = None, args: dict | None = None, need_key: bool = True
) -> ModelAPI | None:
    """Validate ``provider/model`` and its model arguments.

    With ``need_key`` the provider is built (which checks its API key and base URL) and
    returned; without, only the name and the arguments are checked and nothing is built
    (None), so a cost preview works before any key is set.
    """
    if need_key:
        return create_provider(name, base_url=base_url, args=args)
    provider, model = split_model_name(name)
    cls = provider_class(provider)
    accepted = getattr(cls, "accepted_args", None)
    if accepted is None:
        # Providers without key-dependent construction (sim) validate by being built.
        return cls(ProviderOptions(model=model, base_url=base_url, args=args))
    from harness.model.providers._common import parse_model_args

    parse_model_args(f"{provider}/{model}", args or {}, accepted)
    return None


def get_model(
    name: str,
    *,
    base_url: str | None = None,
    args: dict | None = None,
    timeout: float = 120.0,
    limits: ConcurrencyLimits | None = None,
    retry: RetryPolicy | None = None,
    cache: ResponseCache | None = None,
    accountant: Accountant | None = None,
    budget: Budget | None = None,
    batch: bool = False,
) -> Model:
    """The model a probe should call.

    Composition, inner to outer: provider -> metering (prices each response; refuses an
    attempt that could take spending past ``budget``) -> concurrency limit (per attempt, so a
    request waiting out a backoff holds no connection) -> retry -> batch answers (with
    ``batch``, for providers with a batch API: requests answered by a batch, see
    :mod:`harness.batching`) -> cache -> accounting.
    """
    provider = create_provider(name, base_url=base_url, args=args, timeout=timeout)
    endpoint = f"{provider.provider}|{base_url or ''}"
    model: Model = provider
    price = accountant.price(provider.name) if accountant is not None else None
    if price is not None and (price.input_per_mtok or price.output_per_mtok):
        # Free models (sim) skip metering: nothing to price, nothing a cap could stop.
        # Inside the connection limit, so "calls in flight" are those holding a connection.
        model = MeteredModel(model, price, budget)
    elif budget is not None and budget.capped and price is None:
        raise UsageError(
            f"--max-cost needs a price for {provider.name}: add it to a --prices file "
            "(input_per_mtok, output_per_mtok)"
        )
    if limits is not None:
        model = LimitedModel(model, limits.semaphore(endpoint))
    model = RetryingModel(model, retry or RetryPolicy())
    if batch and has_batch_api(provider.name):
        # Below the cache, so a batch answer is cached like an online one; above the metering,
        # since a batch answer carries its batch price and the reservation made when its batch
        # was submitted.
        model = BatchAnsweredModel(model, endpoint, price, budget)
    if cache is not None and provider.cacheable:
        model = CachedModel(model, cache, endpoint)
    if accountant is not None:
        model = AccountedModel(model, accountant)
    return model


def unwrap(model: Model) -> Model:
    """The provider underneath any wrappers (for capability checks such as prefill)."""
    while hasattr(model, "inner"):
        model = model.inner  # type: ignore[attr-defined]
    return model
