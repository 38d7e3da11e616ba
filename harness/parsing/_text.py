"""Text clean-up, answer structure (thinking, paragraphs, sentences, JSON, labelled final
statements) and fuzzy name spotting shared by every answer parser and classifier."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

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


# -- thinking ---------------------------------------------------------------------------------
# Reasoning models served by vLLM, Ollama and similar servers put their thinking inline. The
# providers strip it, but a parser must never read it as the answer, so it is dropped here too:
# closed blocks, a block left open by a truncated answer (all of it is thinking), and the
# closing tag alone, which some chat templates leave when they pre-fill the opening one.
_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?(?:</\1\s*>|\Z)", re.I | re.S)
_THINK_CLOSE = re.compile(r"\A.*</(?:think|thinking|reasoning)\s*>", re.I | re.S)
# Answers some prompts ask to wrap in tags ("<answer>B</answer>"): the tags are not the answer.
_ANSWER_TAGS = re.compile(r"</?(?:answer|final_answer|final|response|output|ranking)>", re.I)


def strip_thinking(text: str) -> str:
    """``text`` without inline reasoning (``<think>…</think>``, closed or not) and without
    answer tags (``<answer>…</answer>``)."""
    if "<" not in text:
        return text
    text = _THINK_BLOCK.sub("\n", text)
    return _ANSWER_TAGS.sub("\n", _THINK_CLOSE.sub("\n", text))


# -- structure --------------------------------------------------------------------------------
_BLANK_LINES = re.compile(r"\n\s*\n")

# Sentence ends, except after abbreviations that occur inside organisation names and prose
# ("St. Jude", "Dr.", "Inc.", "e.g."): splitting there would cut a name in two.
_ABBREVIATIONS = (
    "St",
    "Dr",
    "Mr",
    "Mrs",
    "Ms",
    "Mt",
    "Inc",
    "Co",
    "Ltd",
    "Jr",
    "No",
    "vs",
    "e.g",
    "i.e",
    "U.S",
)
_BREAK = re.compile(r"((?<=[.!?;])\s+|\n+)")
# Nor after an initial ("Susan B. Anthony"), which would also leave a bare letter behind.
_NO_END = re.compile(
    r"(?:\b(?:" + "|".join(re.escape(abbr) for abbr in _ABBREVIATIONS) + r")|(?<![\w.])[A-Z])\.$"
)


def paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks of ``text``, each with its line breaks kept."""
    return [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]


def sentences(text: str) -> list[str]:
    """Sentences (and lines) of ``text``."""
    parts = _BREAK.split(text)
    out: list[str] = []
    glue = False
    for index in range(0, len(parts), 2):
        piece = parts[index]
        if glue and out:
            out[-1] += " " + piece
        elif piece.strip():
            out.append(piece)
        separator = parts[index + 1] if index + 1 < len(parts) else "\n"
        # A full stop after an abbreviation or an initial does not end a sentence; a line
        # break always does.
        glue = "\n" not in separator and bool(out) and bool(_NO_END.search(out[-1]))
    return [s for s in out if s.strip()]


def clean_lines(text: str) -> list[str]:
    """The non-empty lines of ``text``, each cleaned."""
    out = []
    for line in text.splitlines():
        line = clean(line)
        if line:
            out.append(line)
    return out


# -- JSON -------------------------------------------------------------------------------------
# Answer formats are flat objects ({"choice": "A"}) or flat lists (["GiveDirectly", ...]); a
# nested object is read through its innermost flat parts.
_JSON_OBJECT = re.compile(r"\{[^{}]*\}")
_JSON_LIST = re.compile(r"\[[^\[\]]*\]")


def _parsed(text: str, pattern: re.Pattern[str], kind: type) -> list[Any]:
    """Every match of ``pattern`` in ``text`` that parses as JSON of type ``kind``, in order."""
    found = []
    for match in pattern.finditer(text):
        try:
            value = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(value, kind):
            found.append(value)
    return found


def json_objects(text: str) -> list[dict[str, Any]]:
    """Every flat JSON object in ``text`` that parses, in order (keys lower-cased)."""
    if "{" not in text:
        return []
    return [
        {str(k).strip().lower(): v for k, v in obj.items()}
        for obj in _parsed(text, _JSON_OBJECT, dict)
    ]


def json_field(text: str, keys: tuple[str, ...]) -> Any:
    """The value under the first of ``keys`` in the last JSON object that has one, else None."""
    for obj in reversed(json_objects(text)):
        for key in keys:
            if key in obj and obj[key] is not None:
                return obj[key]
    return None


def json_lists(text: str) -> list[list[Any]]:
    """Every flat JSON list in ``text`` that parses, in order."""
    return _parsed(text, _JSON_LIST, list) if "[" in text else []


# -- labelled statements ----------------------------------------------------------------------
@dataclass(frozen=True)
class Statement:
    """A labelled statement of the answer: "Final answer: B", "**Answer:** Yes", ``\\boxed{A}``."""

    final: bool
    """Labelled as final ("Final answer", "Final choice", "Bottom line", a boxed answer):
    such statements outrank plain "Answer:" labels, so a draft answer revised later loses."""
    value: str
    """What follows the label, to the end of its line (or the next line, for a label alone
    on its line such as a "## Final answer" heading)."""


_BOXED = re.compile(r"\\boxed\s*\{\s*(?:\\text(?:bf)?\s*\{)?([^{}]*)\}")
_SEPARATOR = r"(?:\s+(?:based\s+on|according\s+to|given|from)\s+the\s+\w+)?\s*(?:\([^)]{0,20}\)\s*)?(?:[:=]|[\u2014\u2013]|-(?=\s)|\bis\b|\bwould\s+be\b|\bwill\s+be\b|\bremains\b)"


@dataclass(frozen=True)
class Labels:
    """Labels of a final statement ("answer", "choice", ...) as a pattern for
    :func:`statements`, with a cheap test that a line may hold one at all."""

    pattern: re.Pattern[str]
    quick: re.Pattern[str]


def label_pattern(words: str) -> Labels:
    """Labels for "<label><separator>" in a line, the label drawn from ``words`` (an
    alternation such as ``answer|choice``); "final", "my" or "the" may precede the label."""
    return Labels(
        re.compile(
            r"(?:^|(?<=[\s(\[>|]))(?P<final>(?:(?:my|the|our)\s+)?final\s+|(?:my|the|our)\s+)?"
            rf"(?P<label>{words})\b(?P<sep>{_SEPARATOR})?",
            re.I,
        ),
        # A label followed by what could be a separator, or ending its line.
        re.compile(
            rf"(?:{words})\b\s*(?:[:=(\u2014\u2013*-]|(?:is|would|will|remains|based|according|given|from)\b|$)",
            re.I | re.M,
        ),
    )


_FINAL_ONLY_LABEL = re.compile(r"^(?:bottom\s+line|tl;?\s*dr)", re.I)


def statements(lines: list[str], labels: Labels) -> list[Statement]:
    """Labelled statements in cleaned ``lines``, in order. A label needs a separator
    (":", "is", a dash) unless it stands alone on its line (then the value is the next line),
    so "the answer depends" or "a difficult choice between" are not statements."""
    found: list[Statement] = []
    for index, line in enumerate(lines):
        if "boxed" in line:
            found.extend(Statement(True, m.group(1).strip()) for m in _BOXED.finditer(line))
        if not labels.quick.search(line):
            continue
        for m in labels.pattern.finditer(line):
            prefix = m.group("final") or ""
            final = "final" in prefix.lower() or bool(_FINAL_ONLY_LABEL.match(m.group("label")))
            value = line[m.end() :].strip()
            if m.group("sep") is None:
                # Only a label alone on its line ("## Final Answer" once cleaned) labels the
                # next line; a label followed by prose labels nothing.
                if m.start() > 0 or value.strip(" .:*#"):
                    continue
                value = ""
            if not value.strip(" *") and index + 1 < len(lines):
                value = lines[index + 1]
            if value:
                found.append(Statement(final, value))
    return found


def strongest(found: list[Statement]) -> list[Statement]:
    """The statements of the strongest tier present: final-labelled ones if any, else all."""
    finals = [s for s in found if s.final]
    return finals or found


# -- declining -------------------------------------------------------------------------------
# Declining to choose or rank ("As an AI I don't have preferences", "I'd rather not pick",
# "it isn't my place to"), shared by the choice and ranking parsers.
_CANT = (
    r"(?:can\s*not|can'?t|won'?t|will\s+not|don'?t|do\s+not|shouldn'?t|should\s+not|"
    r"am\s+not\s+(?:able|going|comfortable|willing)(?:\s+to)?|'m\s+not\s+(?:able|going|comfortable|willing)(?:\s+to)?|"
    r"am\s+unable\s+to|'m\s+unable\s+to|'?d\s+rather\s+not|would\s+rather\s+not|"
    r"(?:'?d\s+|would\s+)?prefer\s+not\s+to|"
    r"must\s+decline\s+to|decline\s+to|refuse\s+to)"
)
DECLINE = re.compile(
    rf"\bi\s*{_CANT}(?:\s+\S+){{0,4}}?\s+(?:choose|choosing|pick|picking|select|prefer|rank|ranking|order|"
    r"express(?:ing)?\s+(?:a\s+)?(?:personal\s+)?preference|state\s+(?:a\s+)?preference|rank|decide|"
    r"take\s+(?:a\s+)?sides?|answer|endorse|make\s+(?:that|this|a|such\s+a)\s+(?:choice|call|decision)|"
    r"play\s+favou?rites|favou?r\s+one|have\s+(?:a\s+)?(?:personal\s+)?(?:preferences?|opinions?|views?|"
    r"feelings?|favou?rites?|stake)|hold\s+(?:personal\s+)?(?:preferences?|opinions?))"
    r"|\bas\s+an\s+ai\b|\bi(?:'m|\s+am)\s+(?:just\s+|only\s+)?an\s+ai\b"
    r"|\b(?:don'?t|do\s+not)\s+have\s+(?:any\s+)?(?:\w+\s+)?(?:preferences|opinions|views)\b"
    r"|\bi(?:'ll|\s+will)\s+(?:have\s+to\s+)?pass\b"
    r"|\b(?:no|without)\s+(?:personal\s+)?(?:preferences?|opinions?|favou?rites?)\b"
    r"|(?:\bnot|n't)\b[^.]{0,30}?\b(?:appropriate|right|fair)\s+for\s+me\b"
    r"|(?:\bnot|n't)\b[^.]{0,30}?\bmy\s+(?:place|role)\b"
    r"|\bi\s*(?:must|have\s+to|will|'ll|need\s+to)(?:\s+have\s+to)?\s+(?:respectfully\s+|politely\s+)?decline\b"
    r"|\bi\s+(?:remain|stay|try\s+to\s+(?:remain|stay|be)|aim\s+to\s+(?:remain|stay|be))\s+neutral\b"
    r"|\bi'?m\s+(?:going\s+to\s+)?(?:stay(?:ing)?|remain(?:ing)?)\s+neutral\b",
    re.I,
)
"""Declining to choose, pick or rank; used only where no pick was stated, so "As an AI I
have no preferences, but if I had to choose: B" is a pick."""


# -- names ------------------------------------------------------------------------------------
def approximate_position(text: str, name: str) -> int:
    """Where a misspelt ``name`` probably starts in ``text``: the first occurrence of the
    first letters of its longest word."""
    longest = max(name.split(), key=len)
    index = text.lower().find(longest[:4].lower())
    return index if index >= 0 else len(text) // 2


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
