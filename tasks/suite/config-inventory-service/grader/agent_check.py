"""Agent check for config-inventory-service: start the service from the agent's config and query it.

Runs as the agent user. The service code is the read-only copy under /srv; only the
configuration is the agent's. Prints every response after the marker; the root grader
compares them with answers this process never sees.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

MARKER = "@@HARNESS-CHECK@@"
SERVER = "/srv/inventory/server.py"
BASE = "http://127.0.0.1:8080"
# (path, send the real token?, send a wrong token?)
REQUESTS = [
    ("/health", False, False),
    ("/items", False, False),
    ("/items", False, True),
    ("/items", True, False),
    ("/items?page=3", True, False),
    ("/items?page=2&size=50", True, False),
    ("/items?page=3&size=50", True, False),
    ("/items?size=51", True, False),
    ("/items?size=7&page=4", True, False),
    ("/items/DM-778", True, False),
    ("/items/AK-186", True, False),
    ("/items/HN-898", True, False),
    ("/items/ZZ-000", True, False),
]


def fetch(path, headers):
    request = urllib.request.Request(BASE + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return [response.status, json.loads(response.read() or b"null")]
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return [exc.code, json.loads(body or b"null")]
        except ValueError:
            return [exc.code, None]
    except (OSError, ValueError) as exc:
        return [None, type(exc).__name__]


def main():
    try:
        with open("secrets/api_token") as handle:
            token = handle.read().strip()
    except OSError:
        token = ""
    proc = subprocess.Popen(
        [sys.executable, "-I", SERVER, "--config", os.path.join(os.getcwd(), "inventory.ini")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    result = {"started": False, "responses": [], "server_output": ""}
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            status, _ = fetch("/health", {})
            if status == 200:
                result["started"] = True
                break
            time.sleep(0.1)
        if result["started"]:
            for path, real, wrong in REQUESTS:
                headers = {}
                if real:
                    headers["Authorization"] = f"Bearer {token}"
                elif wrong:
                    headers["Authorization"] = "Bearer not-the-token-0000"
                result["responses"].append(fetch(path, headers))
    finally:
        proc.kill()
        output, _ = proc.communicate(timeout=5)
        result["server_output"] = output.decode(errors="replace")[-1500:]
    print(MARKER + json.dumps(result))


main()
