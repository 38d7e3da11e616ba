#!/usr/bin/env bash
set -euo pipefail
#@step read the schema and look at the input
cat SCHEMA.md
head -n 5 input/employees.csv
#@step convert following every rule of the schema
mkdir -p output
python3 - <<'PY'
import csv
import json
from decimal import Decimal

def number(code):
    return int(code.strip().lstrip("E"))

def euros(text):
    digits = text.strip().lstrip("€").replace(".", "").replace(",", ".")
    value = Decimal(digits)
    return int(value) if value == value.to_integral() else float(value)

def iso(text):
    day, month, year = text.strip().split(".")
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"

out = []
with open("input/employees.csv", newline="", encoding="utf-8") as handle:
    for row in csv.DictReader(handle):
        if row["Status"].strip().lower() != "active":
            continue
        out.append({
            "id": number(row["Employee ID"]),
            "name": " ".join(row["Full Name"].split()),
            "email": row["E-mail"].strip().lower(),
            "salary": euros(row["Salary"]),
            "start_date": iso(row["Start Date"]),
            "manager_id": number(row["Manager ID"]) if row["Manager ID"].strip() else None,
            "skills": sorted({s.strip().lower() for s in row["Skills"].split(";") if s.strip()}),
            "address": {"city": row["City"], "country": row["Country"].strip().upper()},
        })
out.sort(key=lambda item: item["id"])
with open("output/employees.json", "w", encoding="utf-8") as handle:
    json.dump(out, handle, ensure_ascii=False, indent=2)
print(len(out), "employees written")
PY
echo done
