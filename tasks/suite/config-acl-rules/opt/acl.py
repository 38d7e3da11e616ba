"""aclcheck: evaluate a first-match firewall rule file against connection requests (see README.md here)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass

PROTOS = ("tcp", "udp", "any")


class RuleError(Exception):
    pass


@dataclass(frozen=True)
class Rule:
    line: int
    action: str
    proto: str
    source: ipaddress.IPv4Network | None  # None: any
    ports: tuple[tuple[int, int], ...] | None  # None: any
    users: frozenset[str] | None  # None: any user

    def matches(self, proto: str, src: ipaddress.IPv4Address, port: int, user: str) -> bool:
        if self.proto != "any" and self.proto != proto:
            return False
        if self.source is not None and src not in self.source:
            return False
        if self.ports is not None and not any(lo <= port <= hi for lo, hi in self.ports):
            return False
        return self.users is None or user in self.users


def parse_ports(text: str, line: int) -> tuple[tuple[int, int], ...] | None:
    if text == "any":
        return None
    ranges = []
    for part in text.split(","):
        lo_text, _, hi_text = part.partition("-")
        try:
            lo, hi = int(lo_text), int(hi_text or lo_text)
        except ValueError:
            raise RuleError(f"line {line}: bad port {part!r}") from None
        if not 1 <= lo <= hi <= 65535:
            raise RuleError(f"line {line}: port range {part!r} outside 1-65535 or reversed")
        ranges.append((lo, hi))
    return tuple(ranges)


def parse_rules(text: str) -> tuple[list[Rule], str]:
    rules: list[Rule] = []
    default = None
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "default":
            if len(words) != 2 or words[1] not in ("allow", "deny"):
                raise RuleError(f"line {number}: expected 'default allow' or 'default deny'")
            if default is not None:
                raise RuleError(f"line {number}: a second default")
            default = words[1]
            continue
        # allow|deny PROTO from SRC to port PORTS [user NAMES]
        if len(words) not in (7, 9) or words[0] not in ("allow", "deny"):
            raise RuleError(
                f"line {number}: expected 'allow|deny PROTO from SRC to port PORTS [user NAMES]'"
            )
        action, proto, kw_from, src, kw_to, kw_port, ports = words[:7]
        if (kw_from, kw_to, kw_port) != ("from", "to", "port"):
            raise RuleError(f"line {number}: expected the words 'from', 'to port' in that order")
        if proto not in PROTOS:
            raise RuleError(f"line {number}: protocol must be tcp, udp or any, not {proto!r}")
        source = None
        if src != "any":
            try:
                source = ipaddress.IPv4Network(src, strict=True)
            except ValueError as exc:
                raise RuleError(f"line {number}: bad source {src!r}: {exc}") from None
        users = None
        if len(words) == 9:
            if words[7] != "user":
                raise RuleError(f"line {number}: expected 'user NAMES' after the ports")
            users = frozenset(name for name in words[8].split(",") if name)
            if not users:
                raise RuleError(f"line {number}: empty user list")
        rules.append(Rule(number, action, proto, source, parse_ports(ports, number), users))
    if default is None:
        raise RuleError("no 'default allow|deny' line")
    return rules, default


def decide(rules: list[Rule], default: str, query: str) -> tuple[str, int | None]:
    words = query.split()
    if len(words) not in (3, 4) or words[0] not in ("tcp", "udp"):
        raise RuleError(f"bad query {query!r}: expected 'tcp|udp SRC PORT [USER]'")
    proto, src_text, port_text = words[:3]
    user = words[3] if len(words) == 4 else "-"
    try:
        src = ipaddress.IPv4Address(src_text)
        port = int(port_text)
    except ValueError:
        raise RuleError(f"bad query {query!r}") from None
    for rule in rules:
        if rule.matches(proto, src, port, user):
            return rule.action, rule.line
    return default, None


def load(path: str) -> tuple[list[Rule], str]:
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_rules(handle.read())
    except OSError as exc:
        raise RuleError(f"cannot read {path}: {exc.strerror}") from None


def main() -> int:
    parser = argparse.ArgumentParser(prog="aclcheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    lint = sub.add_parser("lint", help="check a rule file's syntax")
    lint.add_argument("rules")
    check = sub.add_parser("check", help="decide one request: PROTO SRC PORT [USER]")
    check.add_argument("rules")
    check.add_argument("request", nargs="+")
    batch = sub.add_parser("batch", help="decide requests read from stdin, one per line")
    batch.add_argument("rules")
    args = parser.parse_args()
    try:
        rules, default = load(args.rules)
        if args.command == "lint":
            print(f"ok: {len(rules)} rules, default {default}")
        elif args.command == "check":
            action, line = decide(rules, default, " ".join(args.request))
            print(f"{action} ({'default' if line is None else f'line {line}'})")
        else:
            for query in sys.stdin:
                if query.strip():
                    print(decide(rules, default, query)[0])
    except RuleError as exc:
        print(f"aclcheck: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
