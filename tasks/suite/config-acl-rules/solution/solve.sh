#!/usr/bin/env bash
set -euo pipefail
#@step read the engine docs, the policy and the current rules
cat /opt/acl/README.md POLICY.md acl.rules
#@step write rules in policy order: the "gets nothing" denies first, exceptions before the rules they carve out of
cat > acl.rules <<'RULES'
# gateway rules, following POLICY.md (2024-09-01); first match wins
default deny
# 2, 3: blocklisted network and the suspended contractor host get nothing
deny any from 203.0.113.0/24 to port any
deny any from 10.20.30.5 to port any
# 4: web for everyone else
allow tcp from any to port 80,443
# 5: SSH from the admin network for ops and deploy only
allow tcp from 10.1.0.0/16 to port 22 user ops,deploy
# 6: the database from the application servers only (before the monitoring rule)
allow tcp from 10.2.0.0/24 to port 5432
deny tcp from any to port 5432
# 7: monitoring reaches every other TCP port
allow tcp from 10.9.0.10 to port any
# 8: contractors to the staging apps
allow tcp from 10.20.30.0/26 to port 8000-8099
# 9: legacy dashboard for the internal network except contractors
deny tcp from 10.20.30.0/26 to port 9090
allow tcp from 10.0.0.0/8 to port 9090
# 10: DNS for the internal network; other UDP falls to the default
allow udp from 10.0.0.0/8 to port 53
RULES
python3 /opt/acl/acl.py lint acl.rules
for request in "tcp 10.20.30.5 443" "tcp 10.9.0.10 5432" "tcp 10.2.0.7 5432" "tcp 10.1.4.4 22 ops" "tcp 10.1.4.4 22 root" "tcp 10.20.30.9 9090" "tcp 10.3.0.1 9090" "udp 10.20.30.9 53" "udp 10.3.0.1 123"; do
  printf "%-24s %s\n" "$request" "$(python3 /opt/acl/acl.py check acl.rules $request)"
done
echo done
