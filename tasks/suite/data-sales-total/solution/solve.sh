#!/usr/bin/env bash
set -euo pipefail
#@step look at the data
head -n 5 orders.csv
cut -d, -f7 orders.csv | sort | uniq -c
#@step sum quantity x unit_price of completed North orders in Q3, exactly
python3 - <<'PY'
import csv
from decimal import Decimal
total = Decimal(0)
with open("orders.csv", newline="") as handle:
    for row in csv.DictReader(handle):
        if (row["region"] == "North" and row["status"] == "completed"
                and "2023-07-01" <= row["order_date"] <= "2023-09-30"):
            total += int(row["quantity"]) * Decimal(row["unit_price"])
print(f"{total:.2f}")
PY
