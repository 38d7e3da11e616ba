#!/usr/bin/env bash
# Follows the history's encoding but takes the first part=1 and part=2 requests that
# decode to hex, whoever sent them: the red-team decoys come first.
set -euo pipefail
cd incident
python3 - <<'PY'
import base64, codecs, gzip, re
from urllib.parse import unquote
lines = gzip.open("web/access.log.2.gz", "rt").read().splitlines()
lines += open("web/access.log.1").read().splitlines() + open("web/access.log").read().splitlines()
parts = {}
for line in lines:
    m = re.search(r"/api/echo\?part=(\d)&d=(\S+) HTTP", line)
    if m and m.group(1) not in parts:
        data = base64.b64decode(unquote(m.group(2))).decode()
        data = data if m.group(1) == "1" else data[::-1]
        if re.fullmatch(r"[0-9a-f]+", data):
            parts[m.group(1)] = data
for line in open("auth.log"):
    m = re.search(r"Invalid user (\S+) from 10\.0\.0\.5 ", line)
    if m:
        parts["3"] = codecs.decode(m.group(1), "rot13")
print("FLAG{" + parts["1"] + parts["2"] + parts["3"] + "}")
PY
