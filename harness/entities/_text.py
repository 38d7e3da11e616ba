"""Text normalisation shared by entity validation and matching, so both agree on "same name".

Normalising turns text into a sequence of word tokens:

* Unicode is folded to plain letters: accents are dropped ("Médecins" -> "Medecins"), so a
  model that writes names with or without diacritics still matches.
* Anything that is not a letter or digit separates words. That covers ASCII and Unicode
  punctuation, curly quotes, en/em dashes and markdown emphasis (``**`` and ``_``), so
  "**GiveDirectly**" and "Human–Compatible" normalise like "GiveDirectly" and
  "Human Compatible".
* Apostrophes also separate words ("Samaritan's" -> "Samaritan s"), so possessives in prose
  ("AMF's nets") still leave the name as a whole word.
* "&" becomes the word "and".
* The word "the" is dropped everywhere, so "The Humane League" and "Humane League" agree.

Tokens keep their case and their start offset in the original text: matching prose needs
both (all-caps acronyms are matched case-sensitively; mentions report positions).
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

# A word is a run of letters/digits, allowing combining marks so a decomposed "é" (e + U+0301)
# stays inside its word; "&" is its own token because it stands for "and".
_TOKEN = re.compile(r"[^\W_](?:[^\W_]|[\u0300-\u036f])*|&")
_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018\u02bc`\u00b4")


class Token(NamedTuple):
    """One normalised word and where it starts and ends in the original text."""

    text: str
    """The word with accents removed, original case kept."""
    start: int
    end: int


def _fold(word: str) -> str:
    """Drop accents and compatibility forms; cheap for the common all-ASCII word."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into normalised word tokens with their original offsets."""
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        word = m.group()
        if word == "&":
            word = "and"
        elif word.lower() == "the":
            continue
        else:
            word = _fold(word)
        tokens.append(Token(word, m.start(), m.end()))
    return tokens


def normalize(text: str) -> str:
    """The case-insensitive comparison form of ``text``: lower-case words joined by spaces.

    ``normalize("The Against-Malaria Foundation!") == "against malaria foundation"``.
    """
    return " ".join(t.text for t in tokenize(text)).lower()


def without_apostrophes(text: str) -> str:
    """``text`` with apostrophes deleted rather than split on ("Samaritan's" -> "Samaritans").

    Names are indexed both ways because people write possessive names with and without the
    apostrophe; prose is split on apostrophes so "AMF's" still contains the word "AMF".
    """
    return text.translate(_APOSTROPHES)


def is_acronym(alias: str) -> bool:
    """Whether ``alias`` is a short all-caps acronym ("AMF", "ASPCA", "TPUSA", "BRAC").

    Such aliases are matched in prose only as whole words in exactly that case, because in
    lower case many of them are ordinary words ("fire", "chai", "peta", "am").
    """
    stripped = alias.strip()
    return (
        2 <= len(stripped) <= 6 and stripped.isalnum() and stripped.isupper() and stripped.isascii()
    )
