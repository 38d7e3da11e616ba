#!/usr/bin/env bash
# Handles retries and missing rates correctly but takes each account's own country
# instead of the customer's current one, so moved customers are counted wrongly.
set -euo pipefail
python3 - <<'PY'
import csv
import json
from datetime import date, timedelta
from decimal import Decimal

country = {row["customer_id"]: row["country"] for row in csv.DictReader(open("customers.csv", newline=""))}
rates = {(date.fromisoformat(r["date"]), r["currency"]): Decimal(r["eur_per_unit"])
         for r in csv.DictReader(open("rates.csv", newline=""))}

def rate(day, currency):
    if currency == "EUR":
        return Decimal(1)
    while (day, currency) not in rates:
        day -= timedelta(days=1)
    return rates[(day, currency)]

seen = set()
total = Decimal(0)
for line in open("transactions.jsonl"):
    txn = json.loads(line)
    if txn["txn_id"] in seen:
        continue
    seen.add(txn["txn_id"])
    day = date.fromisoformat(txn["booked_at"])
    if day.year == 2024 and country[txn["customer_id"]] == "DE":
        total += Decimal(txn["amount"]) * rate(day, txn["currency"])
print(total.quantize(Decimal("0.01")))
PY
