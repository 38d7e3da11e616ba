#!/usr/bin/env bash
set -euo pipefail
#@step read the API notes and wait for the service
cat API.md
for _ in $(seq 50); do python3 -c 'import urllib.request; urllib.request.urlopen("http://audit:8080/health", timeout=2)' 2>/dev/null && break; sleep 0.2; done
#@step walk every page and keep the successful downloads of the export
python3 - <<'PY'
import json, urllib.request
token = open("token").read().strip()
cursor, found = 0, []
while cursor is not None:
    req = urllib.request.Request(
        f"http://audit:8080/events?cursor={cursor}&limit=50",
        headers={"Authorization": f"Bearer {token}"},
    )
    page = json.load(urllib.request.urlopen(req, timeout=10))
    found += [
        e for e in page["events"]
        if e["resource"] == "payroll/2024-export.csv" and e["action"] == "download"
        and e["status"] == 200
    ]
    cursor = page["next"]
assert len(found) == 1, found
print(found[0]["id"])
PY
