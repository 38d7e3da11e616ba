"""ttlcache: an LRU cache whose entries expire after a time-to-live."""

from ttlcache.cache import TTLCache

__all__ = ["TTLCache"]
