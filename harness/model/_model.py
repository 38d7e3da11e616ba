"""The ``Model`` protocol, the provider base class and the provider registry."""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from harness.errors import UsageError
from harness.model._errors import MissingAPIKey, UnknownModel
from harness.model._types import GenerateConfig, ModelRequest, ModelResponse


@runtime_checkable
class Model(Protocol):
    """Anything that turns a request into a response. Providers and wrappers both are Models."""

    @property
    def name(self) -> str:
        """``provider/model``, as the user wrote it."""
        ...

    async def generate(self, request: ModelRequest) -> ModelResponse: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class ProviderOptions:
    """What every provider is constructed from."""

    model: str
    """The part after ``provider/``."""
    base_url: str | None = None
    args: dict[str, Any] | None = None
    """``-M key=value`` model arguments, already parsed."""
    timeout: float = 120.0
    """Request timeout in seconds."""


class ModelAPI(ABC):
    """Base class for providers. Subclasses register themselves with :func:`modelapi`."""

    provider: ClassVar[str]
    supports_prefill: ClassVar[bool] = False
    cacheable: ClassVar[bool] = True
    """False for providers whose answers are free and deterministic (``sim``)."""
    api_key_env: ClassVar[str | None] = None

    def __init__(self, options: ProviderOptions):
        self.options = options
        self.args: dict[str, Any] = dict(options.args or {})

    @property
    def name(self) -> str:
        return f"{self.provider}/{self.options.model}"

    @abstractmethod
    async def generate(self, request: ModelRequest) -> ModelResponse: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Most providers have nothing to release."""

    prefill_refusal: str | None = None
    """Why prefill is off although the provider has it natively (e.g. extended thinking)."""

    def config_problem(self, config: GenerateConfig) -> str | None:
        """Why this provider, as configured, cannot honour ``config``; ``None`` if it can.

        Providers refuse such requests with :class:`~harness.model.UnsupportedFeature`
        rather than send what the API would reject or silently drop a setting.
        """
        return None

    def check_config(self, config: GenerateConfig) -> None:
        """Raise :class:`~harness.errors.UsageError` for a config this provider would refuse,
        so a run fails before it starts instead of erroring every trial."""
        problem = self.config_problem(config)
        if problem is not None:
            raise UsageError(problem)

    def require_env(self, variable: str) -> str:
        """Return an environment variable's value or raise :class:`MissingAPIKey` naming it."""
        value = os.environ.get(variable, "").strip()
        if not value:
            raise MissingAPIKey(
                f"{self.name} needs an API key: set the environment variable {variable}"
            )
        return value


ProviderFactory = Callable[[ProviderOptions], ModelAPI]

# Built-in providers are imported lazily: importing the openai SDK costs time the
# simulated subject should not pay.
_BUILTIN: dict[str, str] = {
    "sim": "harness.sim:SimModel",
    "openai": "harness.model.providers.openai:OpenAIModel",
    "openai-compatible": "harness.model.providers.openai:OpenAICompatibleModel",
    "anthropic": "harness.model.providers.anthropic:AnthropicModel",
}
_REGISTERED: dict[str, type[ModelAPI]] = {}


def modelapi(name: str) -> Callable[[type[ModelAPI]], type[ModelAPI]]:
    """Class decorator registering a provider under ``name`` (the prefix before ``/``)."""

    def register(cls: type[ModelAPI]) -> type[ModelAPI]:
        cls.provider = name
        _REGISTERED[name] = cls
        return cls

    return register


def provider_names() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def provider_class(provider: str) -> type[ModelAPI]:
    if provider in _REGISTERED:
        return _REGISTERED[provider]
    target = _BUILTIN.get(provider)
    if target is None:
        known = ", ".join(provider_names())
        raise UnknownModel(f"unknown model provider '{provider}' (known: {known})")
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    _REGISTERED.setdefault(provider, cls)
    return cls


def split_model_name(name: str) -> tuple[str, str]:
    """``"openai/gpt-4o"`` -> ``("openai", "gpt-4o")``; a bare ``"sim"`` -> ``("sim", "default")``."""
    name = name.strip()
    if not name:
        raise UnknownModel("empty model name: use provider/model, e.g. openai/gpt-4o or sim")
    provider, sep, model = name.partition("/")
    if not sep:
        if provider == "sim":
            return "sim", "default"
        raise UnknownModel(
            f"model '{name}' has no provider prefix: use provider/model "
            f"(providers: {', '.join(provider_names())})"
        )
    if not model:
        raise UnknownModel(f"model '{name}' names no model after '{provider}/'")
    return provider, model
