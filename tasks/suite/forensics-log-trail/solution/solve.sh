#!/usr/bin/env bash
set -euo pipefail
cd incident
#@step who logged in from outside the office network, and what did they run?
cat NOTES.md
grep -E 'Accepted|New session|logged out' auth.log | grep -v 'from 10.0.1.'
cat home/deploy/.bash_history
#@step decode the three parts sent during the intruder's sessions
# The history shows the split: part 1 base64, part 2 reversed then base64 (both via
# /api/echo from web01 itself), part 3 rot13 as an ssh user name.
python3 - <<'PY'
import base64, codecs, gzip, re
from datetime import datetime, timezone
from urllib.parse import unquote

def syslog_time(line):
    return datetime.strptime("2024 " + line[:15], "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc)

# Sessions of the intruder: from each outside login of deploy to its logout.
auth = open("auth.log").read().splitlines()
sessions, start = [], None
for line in auth:
    if "Accepted" in line and "for deploy from 203.0.113.77" in line:
        start = syslog_time(line)
    elif start and "of user deploy" not in line and "logged out" in line:
        sessions.append((start, syslog_time(line)))
        start = None
print("sessions:", sessions)
inside = lambda t: any(a <= t <= b for a, b in sessions)

parts = {}
lines = gzip.open("web/access.log.2.gz", "rt").read().splitlines()
lines += open("web/access.log.1").read().splitlines() + open("web/access.log").read().splitlines()
for line in lines:
    m = re.match(r'(\S+) \S+ \S+ \[([^\]]+)\] "GET /api/echo\?part=(\d)&d=(\S+) HTTP', line)
    if not m or m.group(1) != "10.0.0.5":
        continue
    when = datetime.strptime(m.group(2), "%d/%b/%Y:%H:%M:%S %z")
    if inside(when) and "kube-probe" not in line:
        data = base64.b64decode(unquote(m.group(4))).decode()
        parts[m.group(3)] = data if m.group(3) == "1" else data[::-1]
for line in auth:
    m = re.search(r"Invalid user (\S+) from 10\.0\.0\.5 ", line)
    if m and inside(syslog_time(line)):
        parts["3"] = codecs.decode(m.group(1), "rot13")
print(parts)
token = parts["1"] + parts["2"] + parts["3"]
assert re.fullmatch(r"[0-9a-f]{32}", token), token
print(f"FLAG{{{token}}}")
PY
