#!/usr/bin/env bash
# Converts units and filters by UTC day but forgets the re-sent duplicates and the
# suspect readings, so the mean comes out too high.
set -euo pipefail
python3 - <<'PY'
import json
from collections import defaultdict
from datetime import date, datetime, timezone

values = defaultdict(list)
for line in open("readings.jsonl"):
    rec = json.loads(line)
    if rec["value"] is None:
        continue
    when = datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).astimezone(timezone.utc)
    if when.date() == date(2024, 3, 2):
        values[rec["sensor"]].append((rec["value"] - 32) * 5 / 9 if rec["unit"] == "F" else rec["value"])
means = {sensor: sum(v) / len(v) for sensor, v in values.items()}
best = max(means, key=means.get)
print(f"{best}:{means[best]:.3f}")
PY
