"""Load BoolQ questions from a local JSONL or Parquet file (or the public hub copy), with
one-line errors that name the file, the line and the field."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness.errors import ConfigError

ENV_VAR = "HARNESS_BOOLQ_PATH"
PARQUET_SUFFIXES = (".parquet", ".pq")


@dataclass(frozen=True)
class BoolQItem:
    """One BoolQ question with the passage that answers it."""

    id: str
    """Content id (hash of question and passage): stable however the file is ordered or cut."""
    question: str
    passage: str
    answer: bool
    """Gold answer: True = yes."""
    title: str | None = None
    index: int | None = None
    """``idx`` as given in the file, else the 0-based row number."""


def item_id(question: str, passage: str) -> str:
    digest = hashlib.sha256(f"{question}\x1f{passage}".encode()).hexdigest()
    return f"bq-{digest[:12]}"


def _opener(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _jsonl_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(place, row) pairs of a JSONL file, where ``place`` reads "line N"."""
    with _opener(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            hint = ""
            if number == 1 and line.lstrip().startswith("["):
                hint = "; this looks like a JSON array, expected one JSON object per line"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ConfigError(
                    f"{path} line {number}: not valid JSON ({error.msg}){hint}"
                ) from None
            if not isinstance(row, dict):
                raise ConfigError(
                    f"{path} line {number}: expected a JSON object, got {type(row).__name__}{hint}"
                )
            yield f"line {number}", row


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise ConfigError(f"{path}: not a readable Parquet file ({error})") from None
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"row {number}", row


def _text(row: dict[str, Any], name: str, where: str) -> str:
    if name not in row or row[name] is None:
        raise ConfigError(f"{where}: missing field '{name}'")
    value = row[name]
    if not isinstance(value, str):
        raise ConfigError(f"{where}: field '{name}' must be a string, got {json.dumps(value)}")
    if not value.strip():
        raise ConfigError(f"{where}: field '{name}' is empty")
    return value


def _gold(row: dict[str, Any], where: str) -> bool:
    # google/boolq calls it ``answer`` (a boolean); SuperGLUE calls it ``label`` and its
    # redistributions use 0/1 or the strings "true"/"false".
    if "answer" in row and row["answer"] is not None:
        value = row["answer"]
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: field 'answer' must be true or false, got {json.dumps(value)}")
    if "label" in row and row["label"] is not None:
        value = row["label"]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise ConfigError(
            f"{where}: field 'label' must be true/false or 0/1, got {json.dumps(value)}"
        )
    raise ConfigError(f"{where}: missing field 'answer'")


def _item(row: dict[str, Any], where: str, position: int) -> BoolQItem:
    question = _text(row, "question", where)
    passage = _text(row, "passage", where)
    answer = _gold(row, where)
    title = row.get("title")
    if title is not None and not isinstance(title, str):
        raise ConfigError(f"{where}: field 'title' must be a string, got {json.dumps(title)}")
    index = row.get("idx", position)
    if not isinstance(index, int) or isinstance(index, bool):
        raise ConfigError(f"{where}: field 'idx' must be an integer, got {json.dumps(index)}")
    return BoolQItem(item_id(question, passage), question, passage, answer, title or None, index)


def _collect(rows: Iterator[tuple[str, dict[str, Any]]], source: str) -> list[BoolQItem]:
    items: list[BoolQItem] = []
    seen: dict[str, tuple[str, BoolQItem]] = {}
    for position, (place, row) in enumerate(rows):
        where = f"{source} {place}"
        item = _item(row, where, position)
        if item.id in seen:
            first_place, first = seen[item.id]
            if first.answer != item.answer:
                raise ConfigError(
                    f"{where}: same question and passage as {first_place} but a different answer"
                )
            continue  # an exact repeat adds nothing and would plan the same trial twice
        seen[item.id] = (place, item)
        items.append(item)
    if not items:
        raise ConfigError(f"{source}: no BoolQ rows (the file is empty)")
    return items


def load_boolq_file(path: str | Path) -> list[BoolQItem]:
    """Read a BoolQ split from JSONL (optionally .gz) or Parquet.

    Each row needs ``question``, ``passage`` and a gold answer (``answer`` as a boolean, or
    SuperGLUE's ``label``); ``title`` and ``idx`` are optional. Exact repeats of a question
    with its passage are dropped; a repeat with a different answer is an error.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"BoolQ file {path} not found")
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return _collect(_parquet_rows(path), str(path))
        return _collect(_jsonl_rows(path), str(path))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (expected JSONL or .parquet)") from None
    except OSError as error:
        raise ConfigError(f"cannot read BoolQ file {path}: {error.strerror or error}") from None


def _split_title(passage: str) -> tuple[str | None, str]:
    # SuperGLUE stores "<title> -- <passage>"; the title is everything before the first " -- ".
    title, sep, rest = passage.partition(" -- ")
    return (title, rest) if sep and rest else (None, passage)


def load_boolq_hub() -> list[BoolQItem]:
    """The validation split of the public copy on the Hugging Face hub (needs the optional
    ``datasets`` extra and the internet)."""
    hint = f"pass --boolq-path FILE (JSONL or Parquet) or set {ENV_VAR}"
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            f"no BoolQ file given: {hint} (or pip install 'harness[datasets]' to download it)"
        ) from None
    failure = ""
    for name, subset in (("google/boolq", None), ("aps/super_glue", "boolq")):
        try:
            split = datasets.load_dataset(name, subset, split="validation")
        except Exception as error:  # offline, renamed or rate-limited: try the next copy
            failure = f"{name}: {type(error).__name__}"
            continue
        rows: list[tuple[str, dict[str, Any]]] = []
        for number, row in enumerate(split, start=1):
            row = dict(row)
            if subset and "title" not in row and isinstance(row.get("passage"), str):
                row["title"], row["passage"] = _split_title(row["passage"])
            rows.append((f"row {number}", row))
        return _collect(iter(rows), f"hub:{name}")
    raise ConfigError(f"could not download BoolQ from the Hugging Face hub ({failure}); {hint}")


def load_boolq(path: str | Path | None = None) -> list[BoolQItem]:
    """BoolQ items from ``path``, else from ``$HARNESS_BOOLQ_PATH``, else from the hub."""
    path = path or os.environ.get(ENV_VAR) or None
    if path:
        return load_boolq_file(path)
    return load_boolq_hub()
