#!/usr/bin/env bash
# Forgets the status filter: refunded and cancelled orders are counted as revenue.
set -euo pipefail
awk -F, 'NR > 1 && $3 == "North" && $2 >= "2023-07-01" && $2 <= "2023-09-30" { s += $5 * $6 } END { printf "%.2f\n", s }' orders.csv
