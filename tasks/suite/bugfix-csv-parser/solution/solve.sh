#!/usr/bin/env bash
set -euo pipefail
#@step read the spec, the code and the tests
cat minicsv/SPEC.md minicsv/core.py
python3 -m unittest discover -s tests 2>&1 | tail -n 3 || true
#@step rewrite core.py as a character-level state machine that follows SPEC.md
cat > minicsv/core.py <<'PY'
"""Parsing and formatting of CSV text, following SPEC.md."""

from __future__ import annotations


def parse(text: str, delimiter: str = ",") -> list[list[str]]:
    """Parse CSV text into records (lists of field strings)."""
    records: list[list[str]] = []
    if not text:
        return records
    record: list[str] = []
    field: list[str] = []
    i, n = 0, len(text)
    at_field_start = True
    while i < n:
        char = text[i]
        if at_field_start and char == '"':
            # Quoted field: read to the closing quote, turning "" into ".
            i += 1
            while True:
                if i >= n:
                    raise ValueError("unterminated quoted field")
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        field.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                field.append(text[i])
                i += 1
            at_field_start = False
            continue
        at_field_start = False
        if char == delimiter:
            record.append("".join(field))
            field = []
            at_field_start = True
            i += 1
        elif char == "\n" or (char == "\r" and text.startswith("\r\n", i)):
            record.append("".join(field))
            records.append(record)
            record, field = [], []
            at_field_start = True
            i += 2 if char == "\r" else 1
        else:
            field.append(char)
            i += 1
    if not (at_field_start and not record and not field and text.endswith("\n")):
        record.append("".join(field))
        records.append(record)
    return records


def _needs_quotes(field: str, delimiter: str) -> bool:
    return (
        delimiter in field
        or any(char in field for char in '"\r\n')
        or field.startswith(" ")
        or field.endswith(" ")
    )


def format_row(fields: list[str], delimiter: str = ",") -> str:
    """Format one record as a CSV line (no line break at the end)."""
    out = []
    for field in fields:
        if _needs_quotes(field, delimiter):
            out.append('"' + field.replace('"', '""') + '"')
        else:
            out.append(field)
    return delimiter.join(out)
PY
python3 -m unittest discover -s tests
python3 -c 'from minicsv import parse, format_row as f; row = ["a\nb", " x", "q\"", ""]; assert parse(f(row)) == [row]'
echo done
