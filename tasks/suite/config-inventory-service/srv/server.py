"""Inventory API: a small read-only HTTP service over a product catalogue (see README.md here)."""

from __future__ import annotations

import argparse
import configparser
import contextlib
import csv
import ipaddress
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

KNOWN = {
    "server": {"host", "port"},
    "auth": {"token_file"},
    "catalog": {"path", "currency", "delimiter"},
    "api": {"page_size", "max_page_size"},
}


class ConfigProblem(Exception):
    pass


def load_config(path: Path) -> dict:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error) as exc:
        raise ConfigProblem(f"cannot read config {path}: {exc}") from None
    for section in parser.sections():
        if section not in KNOWN:
            raise ConfigProblem(f"unknown section [{section}]")
        for key in parser[section]:
            if key not in KNOWN[section]:
                raise ConfigProblem(f"unknown option '{key}' in [{section}]")
    for section in KNOWN:
        if section not in parser:
            raise ConfigProblem(f"missing section [{section}]")

    def need(section: str, key: str) -> str:
        value = parser[section].get(key)
        if value is None or not value.strip():
            raise ConfigProblem(f"missing option '{key}' in [{section}]")
        return value.strip()

    def number(section: str, key: str, low: int, high: int) -> int:
        text = need(section, key)
        if not re.fullmatch(r"\d+", text):
            raise ConfigProblem(f"[{section}] {key} must be a whole number, got {text!r}")
        value = int(text)
        if not low <= value <= high:
            raise ConfigProblem(f"[{section}] {key} must be between {low} and {high}, got {value}")
        return value

    base = path.parent
    host = need("server", "host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigProblem(f"[server] host must be an IP address, got {host!r}") from None
    port = number("server", "port", 1024, 65535)
    token_file = base / need("auth", "token_file")
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigProblem(f"[auth] token_file {token_file}: {exc.strerror}") from None
    if len(token) < 16:
        raise ConfigProblem("[auth] the token must be at least 16 characters long")
    currency = need("catalog", "currency")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ConfigProblem(
            f"[catalog] currency must be a three-letter upper-case code, got {currency!r}"
        )
    delimiter = parser["catalog"].get("delimiter", ",").strip() or ","
    if len(delimiter) != 1:
        raise ConfigProblem(f"[catalog] delimiter must be one character, got {delimiter!r}")
    page_size = number("api", "page_size", 1, 100)
    max_page_size = number("api", "max_page_size", 1, 100)
    if max_page_size < page_size:
        raise ConfigProblem("[api] max_page_size must not be smaller than page_size")
    items = load_catalog(base / need("catalog", "path"), delimiter)
    return {
        "host": host,
        "port": port,
        "token": token,
        "currency": currency,
        "page_size": page_size,
        "max_page_size": max_page_size,
        "items": items,
    }


def load_catalog(path: Path, delimiter: str) -> list[dict]:
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigProblem(f"[catalog] path {path}: {exc.strerror}") from None
    with handle:
        rows = list(csv.reader(handle, delimiter=delimiter))
    if not rows or rows[0] != ["sku", "name", "price_cents", "stock"]:
        found = rows[0] if rows else []
        raise ConfigProblem(
            f"[catalog] {path.name}: header must be sku, name, price_cents, stock; got {found} "
            "(is the delimiter right?)"
        )
    items = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != 4:
            raise ConfigProblem(f"[catalog] {path.name} line {number}: expected 4 fields")
        sku, name, cents, stock = row
        items.append({"sku": sku, "name": name, "price_cents": int(cents), "stock": int(stock)})
    return sorted(items, key=lambda item: item["sku"])


def make_handler(config: dict) -> type[BaseHTTPRequestHandler]:
    by_sku = {item["sku"]: item for item in config["items"]}

    def public(item: dict) -> dict:
        cents = item["price_cents"]
        return {
            "sku": item["sku"],
            "name": item["name"],
            "price": f"{cents // 100}.{cents % 100:02d} {config['currency']}",
            "stock": item["stock"],
        }

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/health":
                self.reply(200, {"status": "ok"})
                return
            if self.headers.get("Authorization") != f"Bearer {config['token']}":
                self.reply(401, {"error": "missing or wrong bearer token"})
                return
            if url.path == "/items":
                query = parse_qs(url.query)
                try:
                    page = int(query.get("page", ["1"])[0])
                    size = int(query.get("size", [str(config["page_size"])])[0])
                except ValueError:
                    self.reply(400, {"error": "page and size must be numbers"})
                    return
                if page < 1 or not 1 <= size <= config["max_page_size"]:
                    self.reply(
                        400, {"error": f"page >= 1 and 1 <= size <= {config['max_page_size']}"}
                    )
                    return
                chunk = config["items"][(page - 1) * size : page * size]
                self.reply(
                    200,
                    {
                        "page": page,
                        "size": size,
                        "total": len(config["items"]),
                        "items": [public(item) for item in chunk],
                    },
                )
                return
            if url.path.startswith("/items/"):
                item = by_sku.get(url.path[len("/items/") :])
                if item is None:
                    self.reply(404, {"error": "no such sku"})
                else:
                    self.reply(200, public(item))
                return
            self.reply(404, {"error": "not found"})

        def log_message(self, format: str, *args: object) -> None:
            sys.stderr.write("inventory: " + format % args + "\n")

    return Handler


def main() -> int:
    parser = argparse.ArgumentParser(description="Serve the inventory catalogue over HTTP.")
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--check", action="store_true", help="validate the config and exit")
    args = parser.parse_args()
    try:
        config = load_config(args.config.resolve())
    except ConfigProblem as exc:
        print(f"inventory: config error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"inventory: config ok ({len(config['items'])} items)")
        return 0
    server = ThreadingHTTPServer((config["host"], config["port"]), make_handler(config))
    print(f"inventory: serving on http://{config['host']}:{config['port']}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
