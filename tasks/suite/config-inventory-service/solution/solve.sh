#!/usr/bin/env bash
set -euo pipefail
#@step read the docs, the requirements and the current config; ask the service what is wrong
cat /srv/inventory/README.md REQUIREMENTS.md inventory.ini
head -n 2 data/catalogue.csv
python3 /srv/inventory/server.py --config inventory.ini --check || true
#@step write a config that meets every requirement and check it
cat > inventory.ini <<'INI'
# Inventory service configuration (see /srv/inventory/README.md)
[server]
host = 127.0.0.1
port = 8080

[auth]
token_file = secrets/api_token

[catalog]
path = data/catalogue.csv
currency = EUR
delimiter = ;

[api]
page_size = 25
max_page_size = 50
INI
python3 /srv/inventory/server.py --config inventory.ini --check
#@step start it, query it, stop it
python3 /srv/inventory/server.py --config inventory.ini > /dev/null 2>&1 &
server=$!
for _ in $(seq 50); do python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1:8080/health")' 2>/dev/null && break; sleep 0.1; done
python3 - <<'PY'
import json, urllib.request
token = open("secrets/api_token").read().strip()
req = urllib.request.Request("http://127.0.0.1:8080/items?size=50&page=2", headers={"Authorization": f"Bearer {token}"})
body = json.load(urllib.request.urlopen(req))
print(body["page"], body["size"], body["total"], body["items"][0])
PY
kill "$server"
echo done
