#!/usr/bin/env bash
# Gets almost everything right but keeps the skills as written (no lower-casing, no
# de-duplication, a blank entry for an empty column) and reads dates month first.
set -euo pipefail
mkdir -p output
python3 - <<'PY'
import csv, json
out = []
for row in csv.DictReader(open("input/employees.csv", newline="", encoding="utf-8")):
    if row["Status"].strip().lower() != "active":
        continue
    day, month, year = row["Start Date"].split(".")
    out.append({
        "id": int(row["Employee ID"][1:]),
        "name": " ".join(row["Full Name"].split()),
        "email": row["E-mail"].strip().lower(),
        "salary": float(row["Salary"].lstrip("€").replace(".", "").replace(",", ".")),
        "start_date": f"{year}-{day}-{month}",
        "manager_id": int(row["Manager ID"][1:]) if row["Manager ID"] else None,
        "skills": [s.strip() for s in row["Skills"].split(";")],
        "address": {"city": row["City"], "country": row["Country"].upper()},
    })
out.sort(key=lambda item: item["id"])
json.dump(out, open("output/employees.json", "w", encoding="utf-8"), ensure_ascii=False)
PY
echo done
