"""Text clean-up and fuzzy name spotting shared by every answer parser."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

_MARKDOWN = re.compile(r"(\*\*|__|`|\*|#+\s)")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[\w'&]+")

FUZZY_THRESHOLD = 0.88
"""Minimum difflib ratio for a near-miss name (one transposition in a 20-letter name is ~0.95)."""


def clean(text: str) -> str:
    """Normalise Unicode quotes/dashes, drop markdown emphasis, collapse white space."""
    text = unicodedata.normalize("NFKC", text)
    text = (
        text.replace("\u2019", "'")
        .replace("\u2018", "'")
        .replace("\u201c", '"')
        .replace("\u201d", '"')
    )
    text = _MARKDOWN.sub("", text)
    return _SPACES.sub(" ", text).strip()


def fold(text: str) -> str:
    """Lower-case letters and digits only, for comparing names."""
    return " ".join(_WORD.findall(clean(text).lower().replace("&", " and ")))


def fuzzy_mentions(text: str, candidates: dict[str, str]) -> set[str]:
    """Which candidate names (id -> name) occur in ``text``, exactly or as a near miss.

    Slides a window of the name's word count over the text; used where only a handful of
    candidates are possible (the two options of a pairwise question).
    """
    words = fold(text).split()
    padded = f" {' '.join(words)} "
    found: set[str] = set()
    matcher = SequenceMatcher(autojunk=False)
    for key, name in candidates.items():
        target = fold(name)
        if not target:
            continue
        if f" {target} " in padded:
            found.add(key)
            continue
        matcher.set_seq2(target)  # the expensive side is indexed once per candidate
        width = len(target.split())
        for start in range(0, max(1, len(words) - width + 1)):
            matcher.set_seq1(" ".join(words[start : start + width]))
            if (
                matcher.real_quick_ratio() >= FUZZY_THRESHOLD
                and matcher.quick_ratio() >= FUZZY_THRESHOLD
                and matcher.ratio() >= FUZZY_THRESHOLD
            ):
                found.add(key)
                break
    return found
