import unittest

from ttlcache import TTLCache


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class CacheTests(unittest.TestCase):
    def test_get_refreshes_recency(self):
        cache = TTLCache(2, ttl=100, clock=FakeClock())
        cache.set("a", 1)
        cache.set("b", 2)
        cache.get("a")
        cache.set("c", 3)  # must evict b, the least recently used
        self.assertEqual(cache.get("a"), 1)
        self.assertIsNone(cache.get("b"))

    def test_expires_at_ttl(self):
        clock = FakeClock()
        cache = TTLCache(4, ttl=10, clock=clock)
        cache.set("a", 1)
        clock.now = 9.5
        self.assertEqual(cache.get("a"), 1)
        clock.now = 10
        self.assertIsNone(cache.get("a"))

    def test_bad_capacity(self):
        with self.assertRaises(ValueError):
            TTLCache(0, ttl=1)


if __name__ == "__main__":
    unittest.main()
