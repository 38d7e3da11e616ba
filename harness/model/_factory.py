"""``get_model``: build a provider and wrap it in limits, retries, cache and accounting."""

from __future__ import annotations

from harness.model._accounting import Accountant, AccountedModel
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
) -> Model:
    """The model a probe should call.

    Composition, inner to outer: provider -> concurrency limit (per attempt, so a request
    waiting out a backoff holds no connection) -> retry -> cache -> accounting.
    """
    provider = create_provider(name, base_url=base_url, args=args, timeout=timeout)
    endpoint = f"{provider.provider}|{base_url or ''}"
    model: Model = provider
    if limits is not None:
        model = LimitedModel(model, limits.semaphore(endpoint))
    model = RetryingModel(model, retry or RetryPolicy())
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
