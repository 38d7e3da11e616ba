"""The model layer: one async chat interface for every provider, probe and agent."""

from harness.model._accounting import (
    Accountant,
    AccountedModel,
    Price,
    PriceTable,
    builtin_prices,
    load_price_table,
    price_table,
)
from harness.model._budget import Budget, BudgetExhausted, MeteredModel
from harness.model._cache import CachedModel, ResponseCache, cache_key
from harness.model._errors import (
    MissingAPIKey,
    ModelError,
    PermanentModelError,
    TransientModelError,
    UnknownModel,
    UnsupportedFeature,
)
from harness.model._factory import check_model, create_provider, get_model, unwrap
from harness.model._limits import ConcurrencyLimits, LimitedModel
from harness.model._model import (
    Model,
    ModelAPI,
    ProviderOptions,
    modelapi,
    provider_class,
    provider_names,
    split_model_name,
)
from harness.model._retry import RetryingModel, RetryPolicy
from harness.model._tokens import TokenCounter, token_counter
from harness.model._types import (
    ChatMessage,
    GenerateConfig,
    ModelRequest,
    ModelResponse,
    StopReason,
    ToolCall,
    ToolSpec,
    Usage,
)

__all__ = [
    "Accountant",
    "AccountedModel",
    "Budget",
    "BudgetExhausted",
    "CachedModel",
    "ChatMessage",
    "ConcurrencyLimits",
    "GenerateConfig",
    "LimitedModel",
    "MeteredModel",
    "MissingAPIKey",
    "Model",
    "ModelAPI",
    "ModelError",
    "ModelRequest",
    "ModelResponse",
    "PermanentModelError",
    "Price",
    "PriceTable",
    "ProviderOptions",
    "ResponseCache",
    "RetryPolicy",
    "RetryingModel",
    "StopReason",
    "TokenCounter",
    "ToolCall",
    "ToolSpec",
    "TransientModelError",
    "UnknownModel",
    "UnsupportedFeature",
    "Usage",
    "builtin_prices",
    "cache_key",
    "check_model",
    "create_provider",
    "get_model",
    "load_price_table",
    "modelapi",
    "price_table",
    "provider_class",
    "provider_names",
    "split_model_name",
    "token_counter",
    "unwrap",
]
