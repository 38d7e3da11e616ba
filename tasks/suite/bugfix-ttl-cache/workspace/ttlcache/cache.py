"""TTLCache: a least-recently-used cache with per-entry expiry."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class TTLCache:
    """A least-recently-used cache whose entries also expire.

    ``TTLCache(capacity, ttl, clock=time.monotonic)``: ``capacity`` is the most live
    entries it holds (an int >= 1) and ``ttl`` the seconds an entry stays live after it
    was last *set* (> 0); anything else raises ValueError. ``clock()`` gives the time.

    * Expiry: an entry set at time ``t`` is live while ``clock() < t + ttl``. From
      ``t + ttl`` on it is expired, and every method treats it exactly as if it were
      absent.
    * ``get(key, default=None)``: the value of a live entry, which also becomes the most
      recently used; ``default`` if there is none. It does not extend the entry's life.
      A live entry found counts as a hit, anything else as a miss.
    * ``set(key, value)``: insert or replace. The entry becomes the most recently used,
      and its life starts again at the current time. Replacing a live key never evicts
      anything. Inserting a new key when ``capacity`` live entries exist first drops all
      expired entries and then, if still full, evicts the least recently used entry
      (one eviction).
    * ``delete(key)``: remove the key; True if a live entry was removed, else False.
    * ``len(cache)``: the number of live entries.
    * ``key in cache``: True for a live entry; changes neither recency nor statistics.
    * ``keys()``: the live keys, least recently used first.
    * ``stats()``: ``{"hits": int, "misses": int, "evictions": int}``. Evictions count
      only entries removed to make room; dropping expired entries is not an eviction.
    """

    def __init__(
        self, capacity: int, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.ttl = ttl
        self._clock = clock
        # key -> (value, time it was set); order is recency, most recent last.
        self._data: OrderedDict[Hashable, tuple[Any, float]] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def _expired(self, set_at: float) -> bool:
        return self._clock() > set_at + self.ttl

    def get(self, key: Hashable, default: Any = None) -> Any:
        item = self._data.get(key)
        if item is None or self._expired(item[1]):
            self._misses += 1
            return default
        self._hits += 1
        return item[0]

    def set(self, key: Hashable, value: Any) -> None:
        if len(self._data) >= self.capacity:
            self._data.popitem(last=False)
            self._evictions += 1
        if key in self._data:
            self._data[key] = (value, self._data[key][1])
        else:
            self._data[key] = (value, self._clock())
        self._data.move_to_end(key)

    def delete(self, key: Hashable) -> bool:
        item = self._data.pop(key, None)
        return item is not None

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def keys(self) -> list[Hashable]:
        return [key for key, (_, set_at) in self._data.items() if not self._expired(set_at)]

    def stats(self) -> dict[str, int]:
        return {"hits": self._hits, "misses": self._misses, "evictions": self._evictions}


_MISSING = object()
