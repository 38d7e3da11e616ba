#!/usr/bin/env bash
set -euo pipefail
#@step read the rules and look at the data
cat README.md
head -n 3 readings.jsonl
#@step apply the rules: good non-null readings, deduplicated, in Celsius, by UTC day
python3 - <<'PY'
import json
from collections import defaultdict
from datetime import date, datetime, timezone

seen = set()
values = defaultdict(list)
with open("readings.jsonl") as handle:
    for line in handle:
        rec = json.loads(line)
        if rec["value"] is None or rec["quality"] != "good":
            continue
        key = (rec["sensor"], rec["ts"])
        if key in seen:
            continue
        seen.add(key)
        when = datetime.fromisoformat(rec["ts"].replace("Z", "+00:00")).astimezone(timezone.utc)
        if when.date() != date(2024, 3, 2):
            continue
        celsius = (rec["value"] - 32) * 5 / 9 if rec["unit"] == "F" else rec["value"]
        values[rec["sensor"]].append(celsius)
means = {sensor: sum(v) / len(v) for sensor, v in values.items()}
best = max(means, key=means.get)
print(f"{best}:{means[best]:.3f}")
PY
