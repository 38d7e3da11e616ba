"""minicsv: a small CSV reader and writer (see SPEC.md)."""

from minicsv.core import format_row, parse

__all__ = ["format_row", "parse"]
