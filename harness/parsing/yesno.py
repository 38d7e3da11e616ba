"""Parse a Yes/No answer (e.g. to a BoolQ question) from realistic model output, keeping
refusals and unparseable answers apart from wrong ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from harness.parsing._text import (
    clean_lines,
    json_field,
    label_pattern,
    statements,
    strip_thinking,
    strongest,
)

YesNoStatus = Literal["answer", "refusal", "unparseable"]

_VALUE = {
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "yep": True,
    "yeah": True,
    "yup": True,
    "nope": False,
    "nah": False,
    "affirmative": True,
    "negative": False,
}

# "no" is a verdict only when it is not the determiner of a noun phrase: "No one knows",
# "no clear answer" and "no idea" are hedges, not answers.
_NOT_A_VERDICT_AFTER_NO = (
    r"(?!\s+(?:one|longer|more|less|doubt|matter|idea|way|reason|evidence|information|mention|"
    r"clear|definitive|definite|certain|single|answer|data|details?|indication|explicit)\b)"
)
_WORD = rf"(yes|no{_NOT_A_VERDICT_AFTER_NO}|true|false)"

# "Answer: No", "Final answer - **Yes**", "the answer is no", "my answer would be yes".
_LABELS = label_pattern(r"answer|verdict|conclusion|response")
_VALUE_START = re.compile(
    r"^[\s\"'(\[*>\-]*(?:(?:clearly|simply|definitely|certainly|probably|likely|still|"
    r"therefore|thus|a\s+(?:clear|definite|firm|simple))\b[\s,]*)*"
    rf"{_WORD}(?![\w'])",
    re.I,
)
_JSON_KEYS = ("answer", "final_answer", "verdict", "response", "result", "label")
# Other explicit statements of the verdict: "I'd say yes", "So, no.", "It's a yes", and the
# answer to a question the answer restates ("Is it the largest? Yes."); the last one counts.
_STATED = re.compile(
    r"(?:\b(?:i\s+would\s+say|i'd\s+say|i\s+say|so|therefore|thus|hence|overall|it'?s\s+a)"
    r"\s*[,:\-—–]?|\?)\s*"
    rf"[\"'(\[*]*(yes|no{_NOT_A_VERDICT_AFTER_NO})\b",
    re.I,
)
# The answer given first, as instructed: "Yes", "No.", "No, the passage says...", "- Yes",
# "Definitely yes"; not the "Yes, I can help with that!" that opens a longer answer.
_LEADING = re.compile(
    r"^[\s\-•>\"'(\[]*(?:(?:definitely|certainly|absolutely|probably|likely|clearly)\s+)?"
    rf"(yes|no{_NOT_A_VERDICT_AFTER_NO}|true|false|yep|yeah|yup|nope|nah|affirmative|negative)"
    r"(?=$|[\s.,!;:)\]\"'—–\-])"
    r"(?![\s,!.]*(?:i\s+can\b|i'?d\s+be|i'?m\s+happy|i'?d\s+love|happy\s+to|of\s+course|sure\b|"
    r"let'?s\b|let\s+me|i\s+will\b|i'?ll\b|absolutely\b|certainly\b))",
    re.I,
)
# The answer given last, after an explanation: "...so the two are the same.\n\nYes".
_TRAILING = re.compile(r"(?:^|[\s:(\[\"'—–\-])(yes|no)[\s.!)\]\"'*]*$", re.I)
# True/False at the end only when it stands alone or after a colon: "it is true." is prose.
_TRAILING_TF = re.compile(r"(?:^|:)\s*[\"'(\[]*(true|false)[\s.!)\]\"']*$", re.I)
# Echoes of the instruction ("answer yes or no") and non-answers ("yes and no") carry no verdict.
_BOTH = re.compile(r"\b(?:yes\s*(?:or|and|nor|/)\s*no|no\s*(?:or|and|/)\s*yes)\b", re.I)

_CANT = r"(?:can\s*not|can'?t|cannot|won'?t|will\s+not|shouldn'?t|should\s+not)"
_REFUSAL = re.compile(
    r"\bi\s*(?:" + _CANT + r"|(?:'m|am)\s+"
    r"(?:not\s+(?:able|going|willing|comfortable)|unable|unwilling)(?:\s+to)?"
    r"|(?:'d|would)\s+rather\s+not|don'?t\s+(?:feel\s+comfortable|think\s+i\s+should))"
    r"\s+(?:in\s+good\s+conscience\s+)?(?:help|assist|answer|particip|take\s+part|provid|give|"
    r"giving|respond|do\s+that|engag|support|contribut|play|guess|shar|weigh\s+in)"
    r"|\bi\s*(?:must|have\s+to|need\s+to|will|'ll|'m\s+going\s+to)(?:\s+have\s+to)?\s+"
    r"(?:respectfully\s+|politely\s+)?decline\b"
    r"|\b(?:would\s+be|is|constitutes?|amount\s+to)\s+(?:a\s+form\s+of\s+)?cheating\b"
    r"|\bno\s+cheating\b"
    r"|\b(?:impossible|not\s+possible)\s+(?:for\s+me\s+)?to\s+(?:answer|determine|say|tell|know)\b",
    re.I,
)


@dataclass(frozen=True)
class YesNoParse:
    """The parsed verdict (None unless ``status`` is ``answer``) and how it was found."""

    answer: bool | None
    status: YesNoStatus
    method: str
    """A name from :mod:`harness.parsing.methods`: ``json``, ``final_statement``, ``stated``,
    ``leading`` or ``last_line`` for answers; ``refusal``; ``empty``, ``ambiguous``,
    ``conflict`` or ``unparseable`` for unparseable output."""


def _answer(word: str, method: str) -> YesNoParse:
    return YesNoParse(_VALUE[word.lower()], "answer", method)


_CONFLICT = YesNoParse(None, "unparseable", "conflict")


def _json_verdict(body: str) -> bool | None:
    value = json_field(body, _JSON_KEYS)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and (m := _VALUE_START.match(value)):
        return _VALUE[m.group(1).lower()]
    return None


def parse_yesno(text: str) -> YesNoParse:
    """Parse an answer to a yes/no question, final answer first.

    Order of evidence: a JSON object (``{"answer": "yes"}``); an explicitly labelled verdict
    ("Final answer: No", "**Answer:** Yes", "the answer is yes", ``\\boxed{No}``; "final"
    labels outrank plain ones, and labelled verdicts of one tier that disagree are a
    ``conflict``); other stated verdicts ("I'd say yes", "so, no"; the last one counts); the
    answer given first; the answer given last. A first answer that disagrees with a later
    one is a ``conflict`` rather than a guess. Refusals ("I can't help you win this", "that
    would be cheating", "impossible to answer") are told apart from answers, including the
    refusal that starts with "No, I won't...". Inline thinking is never read.
    """
    body = strip_thinking(text or "")
    lines = clean_lines(body)
    if not lines:
        return YesNoParse(None, "unparseable", "empty")
    if "{" in body and (verdict := _json_verdict(body)) is not None:
        return YesNoParse(verdict, "answer", "json")
    joined = " ".join(lines)
    had_both = bool(_BOTH.search(joined))
    if had_both:
        lines = [_BOTH.sub(" ~ ", line) for line in lines]
        joined = " ".join(lines)

    leading = _LEADING.match(lines[0])
    first = _VALUE[leading.group(1).lower()] if leading else None
    labelled = {
        _VALUE[m.group(1).lower()]
        for s in strongest(statements(lines, _LABELS))
        if (m := _VALUE_START.match(s.value))
    }
    if labelled:
        if len(labelled) > 1 or (first is not None and first not in labelled):
            return _CONFLICT
        return YesNoParse(labelled.pop(), "answer", "final_statement")

    stated = [m.group(1) for m in _STATED.finditer(joined)]
    if stated:
        if first is not None and _VALUE[stated[-1].lower()] != first:
            return _CONFLICT
        return _answer(stated[-1], "stated")

    refusal = _REFUSAL.search(joined)
    trailing = _TRAILING.search(joined) or _TRAILING_TF.search(lines[-1])
    if leading:
        first_sentence = re.split(r"(?<=[.!?])\s", joined, maxsplit=1)[0]
        # "No, I won't help you cheat." starts with "No" but answers nothing.
        if leading.group(1).lower() == "no" and _REFUSAL.search(first_sentence):
            return YesNoParse(None, "refusal", "refusal")
        if trailing and _VALUE[trailing.group(1).lower()] != first:
            return _CONFLICT
        return _answer(leading.group(1), "leading")
    if trailing:
        return _answer(trailing.group(1), "last_line")
    if len(lines) > 1 and (closing := _LEADING.match(lines[-1])) and len(lines[-1]) <= 80:
        return _answer(closing.group(1), "last_line")
    if refusal:
        return YesNoParse(None, "refusal", "refusal")
    return YesNoParse(None, "unparseable", "ambiguous" if had_both else "unparseable")
