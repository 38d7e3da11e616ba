#!/usr/bin/env bash
# Reads only the first page and takes the first download of the export there, without
# checking its status: that download was refused (403).
set -euo pipefail
for _ in $(seq 50); do python3 -c 'import urllib.request; urllib.request.urlopen("http://audit:8080/health", timeout=2)' 2>/dev/null && break; sleep 0.2; done
python3 - <<'PY'
import json, urllib.request
token = open("token").read().strip()
req = urllib.request.Request(
    "http://audit:8080/events?limit=50", headers={"Authorization": f"Bearer {token}"}
)
page = json.load(urllib.request.urlopen(req, timeout=10))
hits = [e for e in page["events"] if e["resource"] == "payroll/2024-export.csv"]
print(hits[0]["id"])
PY
