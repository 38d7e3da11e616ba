"""Strict readers of an extractor model's reply: one JSON object in the format its prompt
asked for (``harness/prompts/data/extractor.yaml``), or an :class:`ExtractorOutputError`.

Unlike the answer parsers, nothing here reads prose or guesses: the extractor exists to settle
answers the rules could not, so a reply that is not exactly in the agreed format is a failure
(recorded, and the rules' reading kept), never another thing to interpret. What is accepted:
the JSON object alone, optionally inside one Markdown code fence (```` ```json ````), with the
agreed key and a value from the agreed set; other keys are ignored.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harness.parsing._text import fold

_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n(?P<body>.*)\n\s*```$", re.S)
NONE = "none"
"""The value an extractor gives when the answer does not decide (any probe)."""


class ExtractorOutputError(ValueError):
    """The extractor replied something that is not a reading in the agreed format."""


def _object(text: str) -> dict[str, Any]:
    body = (text or "").strip()
    if fenced := _FENCE.match(body):
        body = fenced.group("body").strip()
    if not body.startswith("{") or not body.endswith("}"):
        raise ExtractorOutputError("the reply is not a single JSON object")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as error:
        raise ExtractorOutputError(f"the reply's JSON does not parse: {error.msg}") from None
    if not isinstance(value, dict):
        raise ExtractorOutputError("the reply's JSON is not an object")
    return {str(k).strip().lower(): v for k, v in value.items()}


def _value(text: str, key: str, allowed: tuple[str, ...]) -> str:
    found = _object(text)
    if key not in found:
        raise ExtractorOutputError(f"the reply has no {key!r} key")
    value = found[key]
    if not isinstance(value, str) or value.strip().lower() not in allowed:
        raise ExtractorOutputError(
            f"{key!r} is {value!r}, not one of {', '.join(repr(a) for a in allowed)}"
        )
    return value.strip().lower()


def read_choice(text: str, key: str = "choice") -> str | None:
    """``"A"`` or ``"B"`` from ``{"choice": "A"}``; None for ``{"choice": "none"}``."""
    value = _value(text, key, ("a", "b", NONE))
    return None if value == NONE else value.upper()


def read_yesno(text: str) -> bool | None:
    """True or False from ``{"answer": "yes"}`` / ``"no"``; None for ``"none"``."""
    value = _value(text, "answer", ("yes", "no", NONE))
    return None if value == NONE else value == "yes"


def read_ranking(text: str, names: dict[str, str]) -> list[str] | None:
    """Entity ids in the order of ``{"ranking": [name, ...]}``, each name exactly one of
    ``names`` (id -> name as shown; case and spacing aside); None for an empty list."""
    found = _object(text)
    if "ranking" not in found:
        raise ExtractorOutputError("the reply has no 'ranking' key")
    items = found["ranking"]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ExtractorOutputError("'ranking' is not a list of names")
    by_name = {fold(name): eid for eid, name in names.items()}
    order: list[str] = []
    for item in items:
        eid = by_name.get(fold(item))
        if eid is None:
            raise ExtractorOutputError(f"{item!r} is not one of the organisations shown")
        if eid in order:
            raise ExtractorOutputError(f"{item!r} is ranked twice")
        order.append(eid)
    return order or None
