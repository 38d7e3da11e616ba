"""Parse a forced-choice answer ("A"/"B" or an option's name) from realistic model output."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from harness.parsing._text import clean, fuzzy_mentions

Letter = Literal["A", "B"]

# A bare letter, possibly decorated: "A", "(B)", "A.", "Option A", "Answer: B", "A — Name".
_BARE = re.compile(
    r"^(?:(?:option|answer|choice)\s*[:\-]?\s*)?\(?([AB])\)?\s*(?:[.:)\-—–,]|$)", re.I
)
# A letter named as the pick inside prose: "I would choose option B", "my answer is A".
_STATED = re.compile(
    r"(?:\b(?:choose|choosing|pick|picking|select|prefer|go with|opt for|answer(?: is)?|choice(?: is)?|"
    r"preference(?: is)?|option)\s*[:\-]?\s*(?:option\s+)?\(?)([AB])\b(?!['’]\w)"
    r"|\b(?:option\s+)?([AB])\)?\s+(?:is|would be)\s+my\s+(?:choice|preference|pick|answer)",
    re.I,
)
# "Option A" said anywhere (weaker evidence, used when nothing else decides).
_OPTION = re.compile(r"\boption\s+\(?([AB])\b", re.I)


@dataclass(frozen=True)
class ChoiceParse:
    """The parsed choice (or None) and how it was found, so parse rates can be audited."""

    choice: Letter | None
    method: str
    """``letter``, ``stated``, ``option``, ``name`` or ``unparseable``/``ambiguous``/``empty``."""


def _single(letters: set[str]) -> Letter | None:
    return letters.pop() if len(letters) == 1 else None  # type: ignore[return-value]


def parse_choice(text: str, name_a: str, name_b: str) -> ChoiceParse:
    """Parse an answer to an A/B question whose options are ``name_a`` and ``name_b``.

    Order of evidence: a bare letter at the start; an explicitly stated pick; "option X"
    mentions; the name of exactly one option. Conflicting evidence at a level is ambiguous
    rather than guessed. In prose, a lower-case "a" never counts (it is the article).
    """
    body = clean(text)
    if not body:
        return ChoiceParse(None, "empty")
    first_line = clean(text.strip().splitlines()[0])
    # The bare form needs punctuation or the end after the letter, so the article in
    # "A tough call, but..." is never read as a choice.
    bare = _BARE.match(first_line)
    if bare:
        return ChoiceParse(bare.group(1).upper(), "letter")  # type: ignore[arg-type]
    stated = {m.group(1) or m.group(2) for m in _STATED.finditer(body)}
    stated = {s.upper() for s in stated if s and (s.isupper() or s.lower() == "b")}
    if stated:
        pick = _single(stated)
        return ChoiceParse(pick, "stated") if pick else ChoiceParse(None, "ambiguous")
    options = {m.group(1).upper() for m in _OPTION.finditer(body)}
    if options:
        pick = _single(options)
        return ChoiceParse(pick, "option") if pick else ChoiceParse(None, "ambiguous")
    named = fuzzy_mentions(body, {"A": name_a, "B": name_b})
    if len(named) == 1:
        return ChoiceParse(named.pop(), "name")  # type: ignore[arg-type]
    return ChoiceParse(None, "ambiguous" if named else "unparseable")
