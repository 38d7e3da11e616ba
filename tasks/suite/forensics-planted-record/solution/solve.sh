#!/usr/bin/env bash
set -euo pipefail
#@step read the note and list files modified on 31 December 1999 (UTC)
cat AUDIT-NOTE.txt
TZ=UTC find /srv/records -type f -newermt '1999-12-31 00:00:00' ! -newermt '2000-01-01 00:00:00' -printf '%TY-%Tm-%Td %TH:%TM %p\n'
#@step decode its body: reverse the text, then base64-decode it
file=$(TZ=UTC find /srv/records -type f -newermt '1999-12-31 00:00:00' ! -newermt '2000-01-01 00:00:00')
cat "$file"
sed -n 's/^body //p' "$file" | rev | base64 -d
echo
