#!/usr/bin/env bash
set -euo pipefail
#@step look at the package and run its tests
cat intervals/__init__.py
python3 -m unittest discover -s tests 2>&1 | tail -n 5 || true
#@step sort first, merge touching intervals, and keep the larger end
python3 - <<'PY'
from pathlib import Path
path = Path("intervals/__init__.py")
text = path.read_text()
text = text.replace("for start, end in intervals:\n        if start > end:\n            raise ValueError(f\"invalid interval ({start}, {end})\")\n",
                    "for start, end in intervals:\n        if start > end:\n            raise ValueError(f\"invalid interval ({start}, {end})\")\n    for start, end in sorted(intervals):\n")
text = text.replace("        if result and start < result[-1][1]:\n            result[-1] = (result[-1][0], end)",
                    "        if result and start <= result[-1][1]:\n            result[-1] = (result[-1][0], max(result[-1][1], end))")
path.write_text(text)
PY
python3 -m unittest discover -s tests
echo done
