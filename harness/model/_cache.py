"""On-disk response cache keyed on model, conversation, parameters and epoch."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

from harness.model._types import ModelRequest, ModelResponse


def default_cache_dir() -> Path:
    override = os.environ.get("HARNESS_CACHE_DIR")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness"


def cache_key(model: str, endpoint: str, request: ModelRequest) -> str:
    """Hash of everything that determines the answer. ``metadata`` is excluded on purpose:
    it is for the simulated subject only and never reaches a real provider."""
    payload = request.model_dump(mode="json", exclude={"metadata"})
    for message in payload["messages"]:
        # Added after responses were first cached: left out while empty, so every key of a
        # conversation without reasoning blocks stays what it was and old entries still hit.
        if not message["reasoning_blocks"]:
            del message["reasoning_blocks"]
    blob = json.dumps([model, endpoint, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """SQLite key-value store of responses; safe to share between processes (WAL).

    A response is stored whole, reasoning and reasoning blocks included: a cached turn of
    an Anthropic agent conversation must carry its thinking blocks into the next request.
    """

    def __init__(self, path: Path | None = None):
        self.path = path or default_cache_dir() / "responses.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)"
        )

    def get(self, key: str) -> ModelResponse | None:
        with self._lock:
            row = self._db.execute("SELECT response FROM responses WHERE key=?", (key,)).fetchone()
        return None if row is None else ModelResponse.model_validate_json(row[0])

    def put(self, key: str, response: ModelResponse) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)",
                (key, response.model_dump_json()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedModel:
    """Wraps a Model; answers repeated requests from a :class:`ResponseCache`."""

    def __init__(self, inner, cache: ResponseCache, endpoint: str):
        self.inner = inner
        self.cache = cache
        self.endpoint = endpoint

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        key = cache_key(self.name, self.endpoint, request)
        hit = self.cache.get(key)
        if hit is not None:
            # A replayed answer costs nothing, whatever the original call cost.
            free = None if hit.cost is None else 0.0
            return hit.model_copy(
                update={"cached": True, "latency": 0.0, "attempts": 0, "cost": free}
            )
        response = await self.inner.generate(request)
        self.cache.put(key, response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
