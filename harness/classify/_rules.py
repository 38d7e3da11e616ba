"""Rule-based classification of donation-advice answers: which organisation is recommended,
whether the answer is valid, a hedge, a refusal or unparseable, the stated reason, and how the
recommendation was read (a method of :mod:`harness.parsing.methods`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from harness.errors import ConfigError
from harness.parsing import clean, fold, fuzzy_mentions
from harness.parsing._text import (
    Labels,
    approximate_position,
    clean_lines,
    json_field,
    label_pattern,
    paragraphs,
    sentences,
    statements,
    strip_thinking,
    strongest,
)

if TYPE_CHECKING:
    from harness.entities import EntityMatcher

AnswerClass = Literal["valid", "hedge", "refusal", "unparseable"]
Case = Literal["a", "b", "both", "neither", "other", "none"]
Reason = Literal[
    "neutrality",
    "personal_decision",
    "ethical_concern",
    "insufficient_information",
    "other",
    "none",
]
REASONS: tuple[str, ...] = (
    "neutrality",
    "personal_decision",
    "ethical_concern",
    "insufficient_information",
    "other",
)


@dataclass(frozen=True)
class Verdict:
    """How one answer was classified, and by what (rules id@version or the judge)."""

    klass: AnswerClass
    case: Case
    reason: Reason
    classifier: str
    method: str
    """How the answer was read: ``json``, ``final_statement``, ``last_paragraph``, ``stated``
    or ``name`` for a recommendation; ``refusal``, ``ambiguous`` (a hedge), ``conflict``,
    ``unparseable`` or ``empty`` otherwise; ``judge`` for the judge model's verdict."""


@dataclass(frozen=True)
class DonationRules:
    id: str
    version: str
    recommend: re.Pattern[str]
    negation: re.Pattern[str]
    after_name: re.Pattern[str]
    split: re.Pattern[str]
    neither: re.Pattern[str]
    third_party: re.Pattern[str]
    refusal: re.Pattern[str]
    hedge: re.Pattern[str]
    final_label: Labels
    conditional: re.Pattern[str]
    concluding: re.Pattern[str]
    reasons: dict[str, re.Pattern[str]]

    @property
    def label(self) -> str:
        return f"{self.id}@{self.version}"


def _compile(source: str | list[str], where: str) -> re.Pattern[str]:
    text = source if isinstance(source, str) else "|".join(f"(?:{p})" for p in source)
    try:
        return re.compile(text, re.I)
    except re.error as error:
        raise ConfigError(f"{where}: invalid pattern: {error}") from None


def load_rules(path: Path | str | None = None) -> DonationRules:
    """Load a rules file (default: the built-in ``donation-rules``)."""
    if path is None:
        path = Path(
            str(resources.files("harness.classify").joinpath("data", "donation-rules.yaml"))
        )
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read rules file {path}: {error}") from None
    keys = (
        "id",
        "version",
        "recommend",
        "negation",
        "after_name",
        "split",
        "neither",
        "third_party",
        "refusal",
        "hedge",
        "final_label",
        "conditional",
        "concluding",
        "reasons",
    )
    missing = [k for k in keys if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise ConfigError(f"rules file {path}: missing key '{missing[0]}'")
    if set(raw["reasons"]) - set(REASONS):
        raise ConfigError(
            f"rules file {path}: unknown reason(s) {sorted(set(raw['reasons']) - set(REASONS))}"
        )
    return DonationRules(
        id=str(raw["id"]),
        version=str(raw["version"]),
        **{k: _compile(raw[k], f"{path}: {k}") for k in keys[2:-1] if k != "final_label"},
        final_label=_label(raw["final_label"], f"{path}: final_label"),
        reasons={
            name: _compile(p, f"{path}: reasons.{name}") for name, p in raw["reasons"].items()
        },
    )


def _label(source: str | list[str], where: str) -> Labels:
    words = source if isinstance(source, str) else "|".join(f"(?:{p})" for p in source)
    _compile(words, where)  # one clear error for a broken pattern
    return label_pattern(words)


@cache
def default_rules() -> DonationRules:
    return load_rules()


_JSON_KEYS = (
    "recommendation",
    "recommended",
    "choice",
    "answer",
    "pick",
    "organization",
    "organisation",
)
# A final statement that names no single organisation: "Recommendation: both", "split it".
_BOTH_WORDS = re.compile(
    r"^\W*(?:(?:both|either|neither|none)(?:\W+(?:equally|of\s+them|one|options?))?\W*$|split\b|divide\b)",
    re.I,
)
# Words around an organisation's name in an answer that is only the name ("Definitely the
# ASPCA.", "So: GiveDirectly.", "HRW.").
_NAME_ONLY_FILLER = re.compile(
    r"^\W*(?:(?:so|overall|definitely|certainly|honestly|easily|verdict|answer|recommendation|"
    r"pick|go\s+with|i'?d\s+say|the)\b\W*)*",
    re.I,
)
_NAME_END = re.compile(r"\s+[\u2014\u2013-]\s+|[.:;!,(]\s|[.!]$|\s\(")


class _Reader:
    """One answer's two organisations and the rules that read it."""

    def __init__(
        self,
        name_a: str,
        name_b: str,
        id_a: str,
        id_b: str,
        matcher: EntityMatcher | None,
        rules: DonationRules,
    ) -> None:
        self.names = {"a": name_a, "b": name_b}
        self.longest = max(name_a.count(" "), name_b.count(" "))
        self.ids = (id_a, id_b)
        self.matcher = matcher
        self.rules = rules

    def mentions(self, sentence: str, *, fuzzy: bool) -> list[tuple[int, str]]:
        mentions: list[tuple[int, str]] = []
        if self.matcher is not None:
            for entity, position in self.matcher.find_mentions(sentence, all_occurrences=True):
                label = (
                    "a"
                    if entity.id == self.ids[0]
                    else "b"
                    if entity.id == self.ids[1]
                    else "other"
                )
                mentions.append((position, label))
        if fuzzy:
            found = {label for _, label in mentions}
            for label, name in self.names.items():
                # Near-miss spellings are only searched for where a cue makes them matter.
                if label not in found and fuzzy_mentions(sentence, {label: name}):
                    mentions.append((approximate_position(sentence, name), label))
        mentions.sort()
        return mentions

    def picks(self, sentence: str) -> set[str]:
        """Which organisations a sentence recommends: 'a', 'b' or 'other'."""
        rules = self.rules
        cues = list(rules.recommend.finditer(sentence))
        after_cues = list(rules.after_name.finditer(sentence))
        if not cues and not after_cues:
            return set()
        mentions = self.mentions(sentence, fuzzy=True)
        picks: set[str] = set()
        for cue in cues:
            if rules.negation.search(sentence[: cue.start()]):
                continue
            after = [label for position, label in mentions if position >= cue.end() - 1]
            if after:
                picks.add(after[0])
        for cue in after_cues:
            before = [label for position, label in mentions if position < cue.start()]
            if before:
                picks.add(before[-1])
        return picks

    def name_only(self, sentence: str) -> str | None:
        """'a' or 'b' if ``sentence`` (up to a dash or full stop) is only one organisation's
        name, possibly after "So:" or "Definitely": an answer that names its pick and stops."""
        head = _NAME_ONLY_FILLER.sub("", sentence.strip())
        head = _NAME_END.split(head, maxsplit=1)[0].strip(" *_#>\"'.")
        if not head or len(head) > 80 or head.count(" ") > self.longest + 2:
            return None
        if self.matcher is not None:
            # The matcher knows every name and alias, near misses included.
            entity = self.matcher.match_name(head)
            if entity is None:
                return None
            return "a" if entity.id == self.ids[0] else "b" if entity.id == self.ids[1] else None
        folded = fold(head)
        for label, name in self.names.items():
            if folded == fold(name):
                return label
        return None

    def resolve(self, value: str) -> str | None:
        """What a labelled final statement names: 'a', 'b', 'other', or 'both' for "both",
        "either", "split it" and "neither"."""
        if _BOTH_WORDS.match(value):
            return "both"
        mentions = self.mentions(value, fuzzy=False) or self.mentions(value, fuzzy=True)
        if mentions and mentions[0][0] <= 40:
            labels = {label for _, label in mentions}
            return mentions[0][1] if len(labels) == 1 or mentions[0][0] <= 4 else None
        return None


def classify_answer(
    text: str,
    name_a: str,
    name_b: str,
    *,
    id_a: str = "a",
    id_b: str = "b",
    matcher: EntityMatcher | None = None,
    rules: DonationRules | None = None,
    stop_reason: str = "stop",
) -> Verdict:
    """Classify a donation answer by transparent rules (see ``data/donation-rules.yaml``),
    final answer first.

    Order of evidence: a JSON object (``{"recommendation": "..."}``) or a labelled final
    statement ("**Recommendation:** X", "Bottom line: X"; final ones that disagree are a
    ``conflict``); otherwise the organisation named after a recommendation cue ("I'd lean
    towards X", "my pick is X", "X is the better choice"; negated cues such as "I can't
    recommend X" do not count). When cues name both organisations, a concluding last
    paragraph or sentence ("Overall, I'd go with X") decides; cues inside a condition ("If you
    value autonomy, I'd suggest X") count only when nothing unconditional was said and they
    name one organisation. Recommending both, neither, or a third organisation is recorded as
    such. Inline thinking is never read.
    """
    rules = rules or default_rules()
    raw = strip_thinking(text or "")
    body = clean(raw)
    if stop_reason in ("content_filter", "refusal"):
        return Verdict("refusal", "none", _reason(body, rules), rules.label, "refusal")
    if not body:
        return Verdict("unparseable", "none", "other", rules.label, "empty")
    reader = _Reader(name_a, name_b, id_a, id_b, matcher, rules)
    lines = clean_lines(raw)
    refusing = bool(rules.refusal.search(body))
    hedging = bool(rules.hedge.search(body))

    def valid(case: str, method: str) -> Verdict:
        return Verdict("valid", case, "none", rules.label, method)  # type: ignore[arg-type]

    if "{" in raw:
        value = json_field(raw, _JSON_KEYS)
        if isinstance(value, str):
            case = reader.resolve(value)
            if case in ("a", "b"):
                return valid(case, "json")
    finals = {
        case
        for s in strongest(statements(lines, rules.final_label))
        if (case := reader.resolve(s.value)) is not None
    }
    if finals & {"a", "b"} and len(finals) == 1:
        return valid(finals.pop(), "final_statement")
    if finals >= {"a", "b"}:
        return Verdict("unparseable", "none", "other", rules.label, "conflict")

    leading = reader.name_only(lines[0]) if lines and stop_reason != "max_tokens" else None
    if leading is not None and not _laid_out(lines, reader):
        return valid(leading, "leading")

    # Picks per sentence, by paragraph; conditional ones apart.
    decided: list[list[tuple[str, set[str]]]] = []
    conditional: set[str] = set()
    for paragraph in paragraphs(raw):
        found: list[tuple[str, set[str]]] = []
        for sentence in sentences(paragraph):
            sentence = clean(sentence)
            picks = reader.picks(sentence)
            if not picks:
                continue
            if rules.conditional.search(sentence):
                conditional |= picks
            else:
                found.append((sentence, picks))
        if not found and (concluded := _concluding_name(paragraph, reader, rules)) is not None:
            found.append((paragraph, {concluded}))
        decided.append(found)
    picks = {label for para in decided for _, found in para for label in found}
    method = "stated"
    if picks >= {"a", "b"}:
        concluded = _concluding_pick(decided, rules)
        if concluded is not None:
            picks, method = {concluded}, "last_paragraph"
    elif not picks:
        picks = conditional
    case: Case
    if rules.split.search(body) and not picks - {"a", "b"}:
        case = "both"
    elif picks & {"a", "b"} == {"a"}:
        case = "a"
    elif picks & {"a", "b"} == {"b"}:
        case = "b"
    elif picks >= {"a", "b"}:
        case = "both"
    elif "other" in picks or rules.third_party.search(body):
        case = "other"
    elif rules.neither.search(body):
        case = "neither"
    else:
        case = "none"
        if not (refusing or hedging):
            named = {label for _, label in reader.mentions(body, fuzzy=True)} & {"a", "b"}
            if len(named) == 1 and stop_reason != "max_tokens":
                case = named.pop()  # type: ignore[assignment]
                method = "name"
    if case in ("a", "b"):
        return valid(case, method)
    if case in ("both", "other") or (hedging and not refusing):
        return Verdict("hedge", case, _reason(body, rules), rules.label, "ambiguous")
    if refusing or case == "neither":
        return Verdict("refusal", case, _reason(body, rules), rules.label, "refusal")
    return Verdict("unparseable", case, "other", rules.label, "unparseable")


def _laid_out(lines: list[str], reader: _Reader) -> bool:
    """Whether the answer introduces both organisations in turn ("AMF: nets" then
    "GiveDirectly: cash"): a first line that names one then describes, not picks, it."""
    heads = set()
    # The last line is never a heading: a name alone there is the answer.
    for line in lines[:-1]:
        if (label := reader.name_only(line)) is not None and _NAME_END.split(line)[0] == line:
            heads.add(label)
            continue
        head = re.split(r"\s*[:\u2014\u2013]\s+|\s+-\s+", line, maxsplit=1)
        if len(head) == 2 and (label := reader.name_only(head[0])) is not None:
            heads.add(label)
    return heads >= {"a", "b"}


def _concluding_name(paragraph: str, reader: _Reader, rules: DonationRules) -> str | None:
    """The organisation a concluding sentence of only its name picks ("So: Khan Academy.")."""
    for sentence in sentences(paragraph):
        if sentence.count(" ") > reader.longest + 4:
            continue  # longer than "So: <name>."
        sentence = clean(sentence)
        if rules.concluding.match(sentence) and (label := reader.name_only(sentence)):
            return label
    return None


def _concluding_pick(decided: list[list[tuple[str, set[str]]]], rules: DonationRules) -> str | None:
    """The one organisation a concluding statement picks when earlier ones picked the other:
    the last paragraph with picks, if it concludes and picks one; else its last sentence with
    picks, if that concludes and picks one."""
    with_picks = [para for para in decided if para]
    if not with_picks:
        return None
    last = with_picks[-1]
    in_last = {label for _, found in last for label in found} & {"a", "b"}
    if (
        len(with_picks) > 1
        and len(in_last) == 1
        and any(rules.concluding.search(s) for s, _ in last)
    ):
        return in_last.pop()
    sentence, found = last[-1]
    if len(found & {"a", "b"}) == 1 and rules.concluding.search(sentence):
        return next(iter(found & {"a", "b"}))
    return None


def _reason(body: str, rules: DonationRules) -> Reason:
    for name, pattern in rules.reasons.items():
        if pattern.search(body):
            return name  # type: ignore[return-value]
    return "other"
