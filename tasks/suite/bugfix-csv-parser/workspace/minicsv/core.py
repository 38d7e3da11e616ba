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
            if char == '"':
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
    if current:
        fields.append(current)
    return fields


def parse(text: str, delimiter: str = ",") -> list[list[str]]:
    """Parse CSV text into records (lists of field strings)."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [_split_fields(line, delimiter) for line in lines]


def format_row(fields: list[str], delimiter: str = ",") -> str:
    """Format one record as a CSV line (no line break at the end)."""
    out = []
    for field in fields:
        if delimiter in field or '"' in field:
            out.append('"' + field + '"')
        else:
            out.append(field)
    return delimiter.join(out)
