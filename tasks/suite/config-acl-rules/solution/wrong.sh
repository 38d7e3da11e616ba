#!/usr/bin/env bash
# Implements every policy point, but opens the web ports before denying the suspended
# contractor host, so 10.20.30.5 still reaches ports 80 and 443.
set -euo pipefail
cat > acl.rules <<'RULES'
default deny
deny any from 203.0.113.0/24 to port any
allow tcp from any to port 80,443
deny any from 10.20.30.5 to port any
allow tcp from 10.1.0.0/16 to port 22 user ops,deploy
allow tcp from 10.2.0.0/24 to port 5432
deny tcp from any to port 5432
allow tcp from 10.9.0.10 to port any
allow tcp from 10.20.30.0/26 to port 8000-8099
deny tcp from 10.20.30.0/26 to port 9090
allow tcp from 10.0.0.0/8 to port 9090
allow udp from 10.0.0.0/8 to port 53
RULES
python3 /opt/acl/acl.py lint acl.rules
echo done
