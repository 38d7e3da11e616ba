#!/usr/bin/env bash
# Handles time zones, levels, continuation lines and order, but escapes only tabs and
# newlines: backslashes in Windows paths are written as they are.
set -euo pipefail
mkdir -p out
python3 - <<'PY'
import json, re
from datetime import datetime, timezone
LEVELS = {"info": "INFO", "notice": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR",
          "err": "ERROR", "crit": "ERROR", "critical": "ERROR", "fatal": "ERROR", "debug": None}
events = []
def add(when, level, service, message):
    if LEVELS[level.lower()]:
        when = when.astimezone(timezone.utc)
        ts = when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        events.append((ts, LEVELS[level.lower()], service, message.replace("\t", "\\t").replace("\n", "\\n")))
head = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [+-]\d{4}) \[(\w+)\] ([^:]+): (.*)")
entries = []
for line in open("logs/payments.log").read().split("\n"):
    m = head.fullmatch(line)
    if m:
        entries.append([datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f %z"), m.group(2), m.group(3), m.group(4)])
    elif line and entries:
        entries[-1][3] += "\n" + line
for entry in entries:
    add(*entry)
for line in open("logs/gateway.jsonl"):
    rec = json.loads(line)
    add(datetime.fromtimestamp(rec["time"] / 1000, timezone.utc).replace(microsecond=rec["time"] % 1000 * 1000), rec["lvl"], rec["svc"], rec["msg"])
for line in open("logs/auth.syslog").read().splitlines():
    m = re.fullmatch(r"(\w{3} [ \d]\d \d\d:\d\d:\d\d) \S+ ([^\[:]+)\[\d+\]: <(\w+)> (.*)", line)
    add(datetime.strptime("2024 " + m.group(1), "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc), m.group(3), m.group(2), m.group(4))
with open("out/events.tsv", "w") as out:
    out.write("ts\tlevel\tservice\tmessage\n")
    for event in sorted(events, key=lambda e: (e[0], e[2], e[3], e[1])):
        out.write("\t".join(event) + "\n")
PY
echo done
