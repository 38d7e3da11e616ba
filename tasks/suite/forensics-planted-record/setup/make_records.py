"""Build step for forensics-planted-record: fill a records tree with one planted record (run as root)."""

import base64
import os
import random
import sys
from datetime import UTC, datetime

ROOT = sys.argv[1]
rng = random.Random(2766303495)
# Bodies are stored already encoded (base64, reversed), as the planted record hides them.
PLANTED = "=0HMhlzY4czMhVzNmdjNjZjNyQGZmNDNmVjY4gzNyIWNkt3RBxkR"
OLD_DECOY = "=0nZ3UTOiJ2Y2ETZ1MWY5QTZ2MGZ4cDMykjY1Q2Y4cTM5s3RBxkR"
CACHE_DECOY = "RkxBR3s5ODJmYWQzNTVmNTk5MTZjYmM0YzQxYmFmZmQ3MTMyNH0="
DEPTS = ["finance", "legal", "hr", "ops", "sales", "it"]


def stamp(path, year, month, day, hour=12, minute=0, second=0):
    when = datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()
    os.utime(path, (when, when))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o644)


def record(number, dept, body):
    return f"record {number}\ndept {dept}\nclass internal\nbody {body}\n"


used = set()
for _ in range(420):
    year = rng.randint(2015, 2024)
    dept = rng.choice(DEPTS)
    number = rng.randint(1000, 9999)
    while number in used:
        number = rng.randint(1000, 9999)
    used.add(number)
    body = base64.b64encode(rng.randbytes(rng.randint(18, 40))).decode()[::-1]
    path = f"{ROOT}/{year}/{dept}/{number}.rec"
    write(path, record(number, dept, body))
    stamp(
        path, year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)
    )
planted = f"{ROOT}/2019/legal/7731.rec"
write(planted, record(7731, "legal", PLANTED))
stamp(planted, 1999, 12, 31, 23, 41, 7)
old = f"{ROOT}/2016/finance/1207.rec"
write(old, record(1207, "finance", OLD_DECOY))
stamp(old, 1999, 12, 30, 9, 15, 0)
cache = f"{ROOT}/.cache/key.txt"
write(cache, "cached signing key (base64): " + CACHE_DECOY + "\n")
stamp(cache, 2024, 5, 2)
for dirpath, _, _ in os.walk(ROOT):
    os.chmod(dirpath, 0o755)
