#!/usr/bin/env bash
set -euo pipefail
#@step identify the outer layer by its magic bytes and unpack it
od -A x -t x1z -N 8 evidence/backup.bin
mkdir -p unpacked
gzip -dc evidence/backup.bin | tar -x -v -C unpacked
cat unpacked/notes.txt unpacked/vault/manifest.json
#@step decode the vault export (base64 -> zip -> gzip -> rot13) and print the key
base64 -d unpacked/vault/export.dat > unpacked/export.zip
python3 - <<'PY'
import codecs, gzip, re, zipfile
with zipfile.ZipFile("unpacked/export.zip") as z:
    print(z.namelist())
    text = codecs.decode(gzip.decompress(z.read("keys/current.key")).decode(), "rot13")
print(text)
print(re.search(r"FLAG\{[0-9a-f]{32}\}", text).group(0))
PY
