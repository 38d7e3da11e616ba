"""Parse a forced-choice answer ("A"/"B" or an option's name) from realistic model output,
reading the final answer first.

Real models do not always answer with a bare letter: they reason for paragraphs, weigh both
options by name, use markdown, end with "Final answer: B", answer in JSON, or think inline
before answering. The order of evidence (each step only when the earlier ones found nothing):

1. a JSON object with the answer (``{"choice": "B"}``) or a labelled final statement
   ("Final answer: B", "**My choice:** Option A", ``\\boxed{A}``); "final" labels outrank
   plain ones, and statements of one tier that disagree are a ``conflict``;
2. the answer given first, as instructed ("B", "**Option A** — ..."), or a last line that is
   only the answer; a first and a last line that disagree are a ``conflict``;
3. picks stated in prose ("I'd go with GiveDirectly", "Option B is my choice", "So, A."):
   one option stated throughout, or the one stated in the last paragraph (or in the
   concluding sentence of it: "..., but ultimately I'd pick B") when earlier text picked the
   other; statements by or about someone else ("donors who value X might prefer A") and
   negated ones ("I can't choose between A and B") do not count;
4. a refusal ("As an AI I don't have preferences") is recorded as such, never as a pick;
5. the only option named at all (``name``), else ``ambiguous`` (both named) or
   ``unparseable``.

The method names are those of :mod:`harness.parsing.methods`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from harness.parsing._text import (
    DECLINE,
    approximate_position,
    clean,
    clean_lines,
    fuzzy_mentions,
    json_field,
    label_pattern,
    paragraphs,
    sentences,
    statements,
    strip_thinking,
    strongest,
)

Letter = Literal["A", "B"]

# A bare letter, possibly decorated: "A", "(B)", "A.", "Option A", "A — Name", "B: Name".
_BARE = re.compile(
    r"^(?:(?:option|answer|choice|pick)\s*[:\-]?\s*)?\(?([AB])\)?\s*(?:[.:)\-\u2014\u2013,!]|$)",
    re.I,
)
# The answer as instructed, alone: "A", "B.", "**B**", "(A)", "Option B".
_TERSE = re.compile(r"[\s*_(\[\"']*(?:option\s+)?([AB])[\s*_.)\]!\"']*", re.I)
_DECORATION = " \t*_#>-\u2022.:!()\"'[]\u2192=~"
_OPTION_PREFIX = re.compile(r"^(?:option|answer|choice|pick)\s*[:\-]?\s*", re.I)
_ALTERNATIVES = re.compile(r"^\W{0,3}(?:or|and|/|vs\.?|versus|nor)\W", re.I)
_WORDS = re.compile(r"[^\W_]+")

# Letters as option references in prose. A capital "A" is the article far more often than the
# option, so it counts only where an article cannot stand: before punctuation or a verb, in
# "Option A", "(A)" or "A)". "Vitamin A" and "Plan B" are not options.
_LETTER = re.compile(
    r"\b[Oo]ption\s*\(?([ABab])\)?(?![\w])"
    r"|\(([AB])\)"
    r"|(?<![\w'\u2019./-])(?<!itamin )(?<!lan )(?<!ype )(?<!rade )"
    r"(?:(B)(?![\w/-])(?!\s+[Cc]orp)"
    r"|(A)(?=['\u2019]s\b|\s*(?:[.,;:!?)\"'\u2014\u2013]|$)|\s+(?:is|has|would|wins|seems|offers|"
    r"over|and|or|but|instead|vs\.?|versus|edges|comes|gets|it|because|since|than|here)\b))"
)
# After a capital letter: ". Anthony" makes it a middle initial, not an option.
_INITIAL = re.compile(r"\.\s+[A-Z][a-z]{2,}(?:\s+[A-Z][\w-]+)")
_ORDINAL = re.compile(
    r"\bthe\s+(?:(first|former)|(second|latter))(?:\s+(?:option|one|organi[sz]ation|charity|choice))?\b",
    re.I,
)

# A pick: a cue, then an option within a few words ("I'd go with option B").
_CUE = re.compile(
    r"\b(?:choose|choosing|chose|pick|picking|picked|select|selecting|prefer|preferring|"
    r"go(?:ing)?\s+with|opt(?:ing)?\s+for|lean(?:ing|s)?(?:\s+(?:more\s+|slightly\s+)?(?:towards?|to))?|"
    r"(?:i'?ll|i\s+will|i'?d|i\s+would)\s+take|"
    r"favou?r(?:ing)?|side\s+with|settle\s+on|vote\s+for|recommend|endorse|rank\s+first)\b",
    re.I,
)
_CUE_GAP = 28
"""Most characters between a cue and the option it picks ("I'd lean towards the ...")."""
# ... or an option, then a cue ("B is my choice", "GiveDirectly gets my vote").
_AFTER_CUE = re.compile(
    r"^[\s*\"')]*(?:\([^)]{0,40}\)\s*)?(?:is|would\s+be|remains|seems\s+like|it\s+is)\s+(?:still\s+)?"
    r"(?:my\s+(?:choice|pick|preference|answer|vote|selection|favou?rite|recommendation)"
    r"|(?:the|a)\s+(?:better|stronger|clear|clearer|right|best|top|obvious|more\s+compelling|"
    r"more\s+impactful|more\s+effective|winner)(?:\s+(?:choice|option|pick|fit|bet))?)"
    r"|^[\s*\"')]*(?:gets|has|wins)\s+my\s+(?:vote|preference|pick)"
    r"|^[\s*\"')]*(?:it\s+is|wins\b|edges\s+(?:it|out)|comes\s+out\s+(?:ahead|on\s+top))",
    re.I,
)
_NEGATED = re.compile(
    r"(?:\bnot|n't|\bnever|\bcannot|\bhard\s+to|\bdifficult\s+to|\bimpossible\s+to|\bwhether\s+to|"
    r"\bhow\s+to|\bunable\s+to|\brefuse\s+to|\brather\s+not|\bdecline\s+to|\breluctant\s+to|"
    r"\bhesitant\s+to|\bwithout)(?:\s+\S+){0,2}\s*$",
    re.I,
)
# Someone else's pick ("donors who value evidence might prefer A") is not the answer's.
_OTHER_SUBJECT = re.compile(
    r"\b(?:you|your|one|someone|somebody|people|donors?|those|others|anyone|many|some|they|"
    r"he|she|readers?|advocates?|supporters?|critics?|folks)\b",
    re.I,
)
_FIRST_PERSON = re.compile(r"\b(?:i|i'd|i'll|i'm|my|me|we|we'd|personally)\b", re.I)
# "Option A: AMF — ..." over "Option B: ..." lays the options out; it does not answer.
_LISTING = re.compile(r"^(?:option\s+)?([AB])\s*[:.),\-\u2014\u2013]\s*\S", re.I)
_CONDITIONAL = re.compile(
    r"^\W*(?:if|when|for|should|whereas|while)\s+(?:you|your|someone|donors?|people|those|one|anyone)\b"
    r"|^\W*(?:someone|donors?|people|those|anyone)\s+(?:who|that)\b",
    re.I,
)
_CLAUSE_BREAK = re.compile(r"[,;:\u2014\u2013(]|\b(?:while|whereas|but|and)\b")
_BETWEEN = re.compile(r"^\s*(?:between|among|from|either|one\s+of|which)\b", re.I)
_CONCLUSION = re.compile(
    r"\b(?:so|therefore|thus|hence|ultimately|overall|on\s+balance|in\s+the\s+end|"
    r"all\s+things\s+considered|in\s+conclusion|in\s+short|in\s+sum(?:mary)?|my\s+pick|"
    r"if\s+i\s+(?:had|have)\s+to\s+(?:choose|pick)|if\s+forced(?:\s+to\s+(?:choose|pick))?)\b"
    r"\s*[,:\-\u2014\u2013]?\s*(?:(?:it'?s|it\s+is|i'?d\s+say|i\s+say|i'?ll\s+say|is)\s+)?",
    re.I,
)
# A sentence that concludes or revises: its pick outranks others in the same paragraph.
_CONCLUDING = re.compile(
    r"\b(?:but|however|ultimately|overall|in\s+the\s+end|on\s+balance|all\s+things\s+considered|"
    r"that\s+said|actually|on\s+(?:second\s+thought|reflection)|after\s+(?:some\s+|further\s+|more\s+)?"
    r"(?:thought|consideration|reflection|weighing)|final(?:ly)?|in\s+conclusion|so|therefore|"
    r"thus|if\s+i\s+(?:had|have)\s+to|if\s+forced|personally|my\s+(?:final|overall)|"
    r"changed?\s+my\s+mind|reconsider(?:ing|ed)?|instead)\b",
    re.I,
)
_LABELS = label_pattern(
    r"answer|choice|pick|selection|decision|verdict|preference|vote|conclusion|"
    r"bottom\s+line|tl;?\s*dr|preferred\s+option|chosen\s+option|option\s+chosen"
)
_FILLER = re.compile(
    r"^(?:(?:clearly|definitely|certainly|probably|likely|still|ultimately|simply|just|"
    r"i'?d\s+(?:go\s+with|choose|pick|say|select|prefer)|i\s+(?:choose|pick|select|prefer|"
    r"go\s+with|would\s+choose)|i'?ll\s+(?:go\s+with|choose|pick|take)|going\s+with|to\s+go\s+with|"
    r"for|with|that|option|choice)\b[\s,:]*)+",
    re.I,
)
_JSON_KEYS = (
    "choice",
    "answer",
    "final_answer",
    "option",
    "selection",
    "selected",
    "preference",
    "preferred",
    "pick",
    "chosen",
    "decision",
)


@dataclass(frozen=True)
class ChoiceParse:
    """The parsed choice (or None) and how it was found, so parse rates can be audited."""

    choice: Letter | None
    method: str
    """A name from :mod:`harness.parsing.methods`: ``json``, ``final_statement``, ``leading``,
    ``last_line``, ``last_paragraph``, ``stated`` or ``name`` for a choice; ``refusal``,
    ``ambiguous``, ``conflict``, ``unparseable`` or ``empty`` for none."""


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# Generic last words that answers often leave off ("Helen Keller" for "Helen Keller Intl").
_GENERIC_TAIL = re.compile(
    r"\s+(?:intl|international|foundation|institute|inc\.?|usa|worldwide|of\s+america)$", re.I
)


@lru_cache(maxsize=2048)
def _name_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern for every way of writing an option: names case-insensitively, acronyms and
    names without their generic last word ("Amnesty") only as capitalised."""
    parts: list[str] = []
    for name in names:
        name = re.sub(r"^the\s+", "", _strip_accents(name.strip()), flags=re.I)
        if not name:
            continue
        words = re.findall(r"[^\W_]+|&|'", name)
        regex = ""
        for i, word in enumerate(words):
            if word == "'":
                regex += "['\u2019]?"
                continue
            word_regex = r"(?:&|and)" if word == "&" else re.escape(word)
            if i and words[i - 1] != "'":
                regex += r"[\W_]+"
            regex += word_regex
        if not regex:
            continue
        if name.isupper() and len(name) <= 6:
            parts.append(regex)
        else:
            parts.append(f"(?i:{regex})")
            short = _GENERIC_TAIL.sub("", name)
            if short != name and (len(short) >= 6 or " " in short):
                parts.append(re.escape(short).replace(r"\ ", r"[\W_]+"))
    if not parts:
        return None
    # Longest first, so a name is not cut short by one of its own short forms.
    parts.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w])(?:" + "|".join(parts) + r")(?![\w])")


class _Options:
    """The two options of one question and where a text refers to them."""

    def __init__(self, names_a: tuple[str, ...], names_b: tuple[str, ...]) -> None:
        self.names = {"A": names_a, "B": names_b}
        self.patterns = {"A": _name_pattern(names_a), "B": _name_pattern(names_b)}
        self.longest = max(len(n.split()) for n in (*names_a, *names_b))

    def references(self, text: str) -> list[tuple[int, int, Letter]]:
        """(start, end, letter) of every reference to an option in ``text``, in order."""
        return list(_references(self, text))

    def find(self, text: str) -> tuple[tuple[int, int, Letter], ...]:
        """The references of ``text``, uncached (see :meth:`references`)."""
        names: list[tuple[int, int, Letter]] = []
        folded = _strip_accents(text)
        for letter, pattern in self.patterns.items():
            if pattern is not None:
                for m in pattern.finditer(folded):
                    names.append((m.start(), m.end(), letter))  # type: ignore[arg-type]
        found = list(names)
        for m in _LETTER.finditer(text):
            start, end = m.start(), m.end()
            # A letter inside a name ("Susan B. Anthony") or a middle initial is no option.
            if any(s <= start < e for s, e, _ in names) or _INITIAL.match(text, end):
                continue
            letter = next(g for g in m.groups() if g).upper()
            found.append((start, end, letter))  # type: ignore[arg-type]
        for m in _ORDINAL.finditer(text):
            found.append((m.start(), m.end(), "A" if m.group(1) else "B"))
        found.sort()
        return tuple(found)

    def fuzzy(self, text: str, letter: Letter) -> bool:
        """Whether ``text`` names option ``letter`` with a near-miss spelling."""
        return bool(fuzzy_mentions(text, {letter: self.names[letter][0]}))

    def bare(self, line: str) -> Letter | None:
        """The option a line consists of, if it is nothing but one ("**Option B**",
        "B — GiveDirectly", "GiveDirectly.", "→ A")."""
        core = line.strip(_DECORATION)
        if not core or len(core) > 160:
            return None
        if m := _BARE.match(core):
            letter: Letter = m.group(1).upper()  # type: ignore[assignment]
            rest = core[m.end() :].strip(_DECORATION)
            return letter if not rest or self.only_name(rest) == letter else None
        return self.only_name(_OPTION_PREFIX.sub("", core))

    def only_name(self, text: str) -> Letter | None:
        """The option ``text`` names, if it says little else (two more words at most)."""
        if not text or len(text.split()) > self.longest + 2:
            return None
        refs = self.references(text)
        letters = {r[2] for r in refs}
        if not letters:
            letters = {x for x in ("A", "B") if self.fuzzy(text, x)}  # type: ignore[misc]
            if len(letters) != 1:
                return None
            letter = letters.pop()
            extra = len(_WORDS.findall(text)) - len(_WORDS.findall(self.names[letter][0]))
            return letter if extra <= 2 else None  # type: ignore[return-value]
        if len(letters) != 1:
            return None
        rest = text
        for start, end, _ in reversed(refs):
            rest = rest[:start] + " " + rest[end:]
        return letters.pop() if len(_WORDS.findall(rest)) <= 2 else None  # type: ignore[return-value]

    def resolve(self, value: str) -> Letter | None:
        """The option a labelled value names first ("**B** (GiveDirectly)", "Option A",
        "I'd go with GiveDirectly"), if it starts with one."""
        value = _FILLER.sub("", value.strip(_DECORATION)).strip(_DECORATION)
        if not value:
            return None
        if m := _BARE.match(value):
            return m.group(1).upper()  # type: ignore[return-value]
        refs = self.references(value)
        if refs and refs[0][0] <= 4:
            for start, _end, letter in refs[1:]:
                # "A or B, depending on ..." names no pick.
                if letter != refs[0][2] and _ALTERNATIVES.search(value[refs[0][1] : start]):
                    return None
            return refs[0][2]
        if not refs and len(value) <= 80:
            sentence = re.split(r"[.;,(]", value, maxsplit=1)[0]
            named = [x for x in ("A", "B") if self.fuzzy(sentence, x)]  # type: ignore[misc]
            if len(named) == 1:
                return named[0]  # type: ignore[return-value]
        return None


def _someone_else(clause: str) -> bool:
    """Whether the subject nearest the end of ``clause`` is not the answer's own "I"."""
    other = max((m.end() for m in _OTHER_SUBJECT.finditer(clause)), default=-1)
    return other > max((m.end() for m in _FIRST_PERSON.finditer(clause)), default=-1)


_options = lru_cache(maxsize=8192)(_Options)
"""The options of a question, built once per pair of names (a run asks each pair often)."""


@lru_cache(maxsize=4096)
def _references(options: _Options, text: str) -> tuple[tuple[int, int, Letter], ...]:
    # The same line is looked at as a first line, a bare answer and a sentence.
    return options.find(text)


def _picks_in(sentence: str, options: _Options) -> list[Letter]:
    """The options a sentence states as the answer's pick, in order. In a sentence about
    someone else's values ("If you value X, A is the better choice") only a pick the answer
    makes itself ("..., I'd pick A") counts."""
    conditional = bool(_CONDITIONAL.match(sentence))
    refs = options.references(sentence)
    cues = list(_CUE.finditer(sentence))
    if cues and not any(0 <= r[0] - c.end() <= _CUE_GAP for c in cues for r in refs):
        # Near-miss spellings are only looked for where a cue picks nothing spelt right.
        for letter in ("A", "B"):
            if all(r[2] != letter for r in refs) and options.fuzzy(sentence, letter):  # type: ignore[arg-type]
                start = approximate_position(sentence, options.names[letter][0])
                refs.append((start, start + 1, letter))  # type: ignore[arg-type]
        refs.sort()
    if not refs:
        return []
    picks: list[Letter] = []
    for cue in cues:
        before = sentence[: cue.start()]
        if _NEGATED.search(before):
            continue
        clause = _CLAUSE_BREAK.split(before)[-1]
        if _someone_else(clause) or (conditional and not _FIRST_PERSON.search(clause)):
            continue
        after = sentence[cue.end() :]
        if _BETWEEN.match(after):
            continue
        for start, _end, letter in refs:
            if start >= cue.end():
                gap = sentence[cue.end() : start]
                if len(gap) <= _CUE_GAP and not re.search(r"[.;:?]", gap):
                    picks.append(letter)
                break
    if conditional:
        return picks
    for start, end, letter in refs:
        if _AFTER_CUE.match(sentence[end : end + 60]):
            clause = _CLAUSE_BREAK.split(sentence[:start])[-1]
            if not _NEGATED.search(clause):
                picks.append(letter)
    for m in _CONCLUSION.finditer(sentence):
        rest = sentence[m.end() :]
        if rest and (letter := options.bare(rest)) is not None:
            picks.append(letter)
    return picks


def _laid_out(lines: list[str], options: _Options) -> set[int]:
    """Lines that introduce each option in turn ("Option A: AMF — nets", "GiveDirectly: cash",
    a "**GiveDirectly**" heading) when both options are introduced so: such a line describes an
    option, it does not pick it."""
    heads: dict[int, Letter] = {}
    # The last line is never a heading: an option alone there is the answer.
    for index, line in enumerate(lines[:-1]):
        if (letter := options.bare(line)) is not None:
            heads[index] = letter
            continue
        if m := _LISTING.match(line):
            heads[index] = m.group(1).upper()  # type: ignore[assignment]
            continue
        refs = options.references(line[:80])
        if (
            refs
            and refs[0][0] <= 2
            and re.match(r"\s*(?:\([^)]*\)\s*)?[:\u2014\u2013-]\s*\S", line[refs[0][1] :])
        ):
            heads[index] = refs[0][2]
    return set(heads) if len(set(heads.values())) == 2 else set()


def _leading(line: str, options: _Options, *, truncated: bool = False) -> Letter | None:
    """The answer given first: a letter opening the first line ("B.", "A — because ...",
    "**Option B**"), or a first line that is only one option's name (only the latter when the
    answer was cut off)."""
    m = _BARE.match(line.strip(_DECORATION))
    if truncated:
        # Cut off, a name alone may be the heading of a list of the options.
        core = line.strip(_DECORATION)
        return m.group(1).upper() if m and not core[m.end() :].strip(_DECORATION) else None  # type: ignore[return-value]
    if m:
        return m.group(1).upper()  # type: ignore[return-value]
    return options.bare(line)


def parse_choice(
    text: str,
    name_a: str,
    name_b: str,
    *,
    aliases_a: tuple[str, ...] | list[str] = (),
    aliases_b: tuple[str, ...] | list[str] = (),
    stop_reason: str = "stop",
) -> ChoiceParse:
    """Parse an answer to an A/B question whose options are ``name_a`` and ``name_b``
    (also written as ``aliases_a``/``aliases_b``), final answer first (see the module doc).

    In prose, a lower-case "a" never counts (it is the article), nor does a capital "A" where
    an article could stand. An answer cut off by the token limit (``stop_reason``
    ``max_tokens``) counts only for what it states: its last line is wherever it stopped, a
    name it mentions may be the first of two it meant to weigh, and a first line such as
    "Option A, X: ..." may be the start of a list of the options.
    """
    truncated = stop_reason == "max_tokens"
    if len(text) <= 16 and (m := _TERSE.fullmatch(text)):
        return ChoiceParse(m.group(1).upper(), "leading")  # type: ignore[arg-type]  # most answers
    body = strip_thinking(text or "")
    lines = clean_lines(body)
    if not lines:
        return ChoiceParse(None, "empty")
    options = _options((name_a, *aliases_a), (name_b, *aliases_b))

    if "{" in body:
        value = json_field(body, _JSON_KEYS)
        if isinstance(value, str) and (letter := options.resolve(value)) is not None:
            return ChoiceParse(letter, "json")

    found = strongest(statements(lines, _LABELS))
    stated = {letter for s in found if (letter := options.resolve(s.value)) is not None}
    laid_out = _laid_out(lines, options) if len(lines) > 1 else set()
    leading = None if 0 in laid_out else _leading(lines[0], options, truncated=truncated)
    if stated:
        if len(stated) > 1 or (leading is not None and leading not in stated):
            return ChoiceParse(None, "conflict")
        return ChoiceParse(stated.pop(), "final_statement")  # type: ignore[arg-type]

    end = len(lines) - 1
    last = options.bare(lines[end]) if end > 0 and end not in laid_out and not truncated else None
    if leading is not None or last is not None:
        if leading is not None and last is not None and leading != last:
            return ChoiceParse(None, "conflict")
        return (
            ChoiceParse(leading, "leading")
            if leading is not None
            else ChoiceParse(last, "last_line")  # type: ignore[arg-type]
        )

    by_paragraph: list[list[list[Letter]]] = []
    blocks = paragraphs(body) if len(lines) > 1 else [body.strip()]
    for paragraph in blocks:
        by_paragraph.append([_picks_in(clean(s), options) for s in sentences(paragraph)])
    picked = {letter for para in by_paragraph for sent in para for letter in sent}
    if len(picked) == 1:
        return ChoiceParse(picked.pop(), "stated")  # type: ignore[arg-type]
    if picked:
        last_para = max(i for i, para in enumerate(by_paragraph) if any(para))
        in_last = {letter for sent in by_paragraph[last_para] for letter in sent}
        if len(in_last) == 1:
            return ChoiceParse(in_last.pop(), "last_paragraph")  # type: ignore[arg-type]
        last_sentence = max(i for i, sent in enumerate(by_paragraph[last_para]) if sent)
        concluding = set(by_paragraph[last_para][last_sentence])
        raw_sentence = sentences(blocks[last_para])[last_sentence]
        if len(concluding) == 1 and _CONCLUDING.search(raw_sentence):
            return ChoiceParse(concluding.pop(), "last_paragraph")  # type: ignore[arg-type]
        return ChoiceParse(None, "ambiguous")

    flat = " ".join(lines)
    if DECLINE.search(flat):
        return ChoiceParse(None, "refusal")
    if truncated:
        return ChoiceParse(None, "unparseable")
    named = {r[2] for r in options.references(flat)}
    for letter in ("A", "B"):
        if letter not in named and options.fuzzy(flat, letter):  # type: ignore[arg-type]
            named.add(letter)  # type: ignore[arg-type]
    if len(named) == 1:
        return ChoiceParse(named.pop(), "name")  # type: ignore[arg-type]
    return ChoiceParse(None, "ambiguous" if named else "unparseable")
