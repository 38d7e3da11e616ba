#!/usr/bin/env bash
# Unpacks only the outer layer and takes the first key-looking string it sees: the
# revoked key from the notes.
set -euo pipefail
mkdir -p unpacked
gzip -dc evidence/backup.bin | tar -x -C unpacked
grep -rhoE 'FLAG\{[0-9a-f]{32}\}' unpacked | awk 'NR == 1'
