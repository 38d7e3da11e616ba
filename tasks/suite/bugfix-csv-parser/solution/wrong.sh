#!/usr/bin/env bash
# Fixes what the visible tests show (doubled quotes) plus trailing empty fields, but
# still splits records on line breaks first, so quoted line breaks and \r\n break, and
# format_row still misses line breaks and edge spaces.
set -euo pipefail
cat > minicsv/core.py <<'PY'
"""Parsing and formatting of CSV text, following SPEC.md."""

from __future__ import annotations


def _split_fields(line: str, delimiter: str) -> list[str]:
    fields: list[str] = []
    current = ""
    quoted = False
    i = 0
    while i < len(line):
        char = line[i]
        if quoted:
            if char == '"' and line[i + 1 : i + 2] == '"':
                current += '"'
                i += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"' and current == "":
            quoted = True
        elif char == delimiter:
            fields.append(current)
            current = ""
        else:
            current += char
        i += 1
    fields.append(current)
    return fields


def parse(text: str, delimiter: str = ",") -> list[list[str]]:
    """Parse CSV text into records (lists of field strings)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [_split_fields(line.rstrip("\r"), delimiter) for line in lines]


def format_row(fields: list[str], delimiter: str = ",") -> str:
    """Format one record as a CSV line (no line break at the end)."""
    out = []
    for field in fields:
        if delimiter in field or '"' in field:
            out.append('"' + field.replace('"', '""') + '"')
        else:
            out.append(field)
    return delimiter.join(out)
PY
python3 -m unittest discover -s tests
echo done
