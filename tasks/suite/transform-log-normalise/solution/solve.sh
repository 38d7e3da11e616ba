#!/usr/bin/env bash
set -euo pipefail
#@step read the format and look at each log
cat FORMAT.md
head -n 3 logs/payments.log logs/gateway.jsonl logs/auth.syslog
grep -vn '^2024-' logs/payments.log | awk 'NR <= 5'
#@step parse all three, convert to UTC, map levels, escape, sort and write
mkdir -p out
python3 - <<'PY'
import json
import re
from datetime import datetime, timezone

LEVELS = {"info": "INFO", "notice": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR",
          "err": "ERROR", "crit": "ERROR", "critical": "ERROR", "fatal": "ERROR", "debug": None}
events = []

def stamp(when):
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"

def add(when, level, service, message):
    level = LEVELS[level.lower()]
    if level is not None:
        events.append((stamp(when), level, service, message))

head = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [+-]\d{4}) \[(\w+)\] ([^:]+): (.*)")
entries = []
for line in open("logs/payments.log", encoding="utf-8").read().split("\n"):
    m = head.fullmatch(line)
    if m:
        entries.append([datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f %z"), m.group(2), m.group(3), m.group(4)])
    elif line and entries:
        entries[-1][3] += "\n" + line
for entry in entries:
    add(*entry)
for line in open("logs/gateway.jsonl", encoding="utf-8"):
    rec = json.loads(line)
    add(datetime.fromtimestamp(rec["time"] / 1000, timezone.utc).replace(microsecond=rec["time"] % 1000 * 1000),
        rec["lvl"], rec["svc"], rec["msg"])
syslog = re.compile(r"(\w{3} [ \d]\d \d\d:\d\d:\d\d) \S+ ([^\[:]+)\[\d+\]: <(\w+)> (.*)")
for line in open("logs/auth.syslog", encoding="utf-8").read().splitlines():
    m = syslog.fullmatch(line)
    when = datetime.strptime("2024 " + m.group(1), "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc)
    add(when, m.group(3), m.group(2), m.group(4))

def escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")

with open("out/events.tsv", "w", encoding="utf-8", newline="\n") as out:
    out.write("ts\tlevel\tservice\tmessage\n")
    rows = [(ts, level, service, escape(message)) for ts, level, service, message in events]
    for ts, level, service, message in sorted(rows, key=lambda r: (r[0], r[2], r[3], r[1])):
        out.write(f"{ts}\t{level}\t{service}\t{message}\n")
print(len(events), "events")
PY
echo done
