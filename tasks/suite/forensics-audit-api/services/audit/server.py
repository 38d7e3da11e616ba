"""Audit-log API of a file server (the forensics-audit-api service): read-only, token-protected.

Generates its events deterministically at start-up, so no data file holds them, and
serves them as JSON pages:

  GET /health                          -> {"ok": true}            (no token needed)
  GET /events?cursor=<c>&limit=<n>     -> {"events": [...], "next": <cursor or null>}
      limit 1-50 (default 20); every request needs "Authorization: Bearer <token>".
"""

import json
import os
import random
import sys
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TOKEN = os.environ.get("AUDIT_TOKEN", "")
TARGET = "payroll/2024-export.csv"
USERS = ["amoreau", "bkowalski", "cnakamura", "dokafor", "esilva", "fjansen", "gruiz", "hlindqvist"]
FILES = [
    "reports/q1.pdf",
    "reports/q2.pdf",
    "hr/handbook.pdf",
    "it/vpn-guide.md",
    "sales/pipeline.xlsx",
    "payroll/2023-export.csv",
    "payroll/README.txt",
]


def build_events():
    rng = random.Random(20240917)
    start = datetime(2024, 9, 16, 7, 0, tzinfo=UTC)
    events = []
    for index in range(640):
        when = start + timedelta(seconds=index * 97 + rng.randrange(60))
        user = rng.choice(USERS)
        action = rng.choice(["read", "read", "read", "list", "download", "write"])
        resource = rng.choice(FILES)
        status = 200 if rng.random() < 0.9 else 403
        # Decoys: the payroll export itself, asked for and refused, or only listed.
        if index in (37, 211, 388, 590):
            action, resource, status = "download", TARGET, 403
        if index in (150, 462):
            action, resource, status = "list", TARGET, 200
        if index == 517:  # the one successful download
            user, action, resource, status = "hlindqvist", "download", TARGET, 200
        events.append(
            {
                "id": f"evt-{rng.getrandbits(32):08x}",
                "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "user": user,
                "action": action,
                "resource": resource,
                "status": status,
            }
        )
    return events


EVENTS = build_events()


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/health":
            return self._send(200, {"ok": True})
        if self.headers.get("Authorization", "") != f"Bearer {TOKEN}" or not TOKEN:
            return self._send(401, {"error": "missing or wrong bearer token"})
        if url.path != "/events":
            return self._send(404, {"error": "no such endpoint"})
        query = parse_qs(url.query)
        try:
            cursor = int(query.get("cursor", ["0"])[0])
            limit = int(query.get("limit", ["20"])[0])
        except ValueError:
            return self._send(400, {"error": "cursor and limit must be integers"})
        if not 1 <= limit <= 50 or not 0 <= cursor <= len(EVENTS):
            return self._send(400, {"error": "limit must be 1-50 and cursor a value from 'next'"})
        page = EVENTS[cursor : cursor + limit]
        after = cursor + len(page)
        self._send(200, {"events": page, "next": after if after < len(EVENTS) else None})

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8080
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
