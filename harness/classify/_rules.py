"""Rule-based classification of donation-advice answers: which organisation is recommended,
whether the answer is valid, a hedge, a refusal or unparseable, and the stated reason."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from harness.errors import ConfigError
from harness.parsing import clean, fuzzy_mentions

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

# Sentence ends, except after abbreviations that occur inside organisation names and
# prose ("St. Jude", "Dr.", "Inc.", "e.g."): splitting there would cut a name in two.
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
_SENTENCES = re.compile(
    "".join(rf"(?<!\b{re.escape(abbr)}\.)" for abbr in _ABBREVIATIONS) + r"(?<=[.!?;])\s+|\n+"
)


@dataclass(frozen=True)
class Verdict:
    """How one answer was classified, and by what (rules id@version or the judge)."""

    klass: AnswerClass
    case: Case
    reason: Reason
    classifier: str


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
        **{k: _compile(raw[k], f"{path}: {k}") for k in keys[2:-1]},
        reasons={
            name: _compile(p, f"{path}: reasons.{name}") for name, p in raw["reasons"].items()
        },
    )


@cache
def default_rules() -> DonationRules:
    return load_rules()


def _picks_in(
    sentence: str,
    name_a: str,
    name_b: str,
    id_a: str,
    id_b: str,
    matcher: EntityMatcher | None,
    rules: DonationRules,
) -> set[str]:
    """Which organisations a sentence recommends: 'a', 'b' or 'other'."""
    mentions: list[tuple[int, str]] = []
    if matcher is not None:
        for entity, position in matcher.find_mentions(sentence, all_occurrences=True):
            label = "a" if entity.id == id_a else "b" if entity.id == id_b else "other"
            mentions.append((position, label))
    cues = list(rules.recommend.finditer(sentence))
    after_cues = list(rules.after_name.finditer(sentence))
    if not cues and not after_cues:
        return set()
    found = {label for _, label in mentions}
    for label, name in (("a", name_a), ("b", name_b)):
        # Near-miss spellings are only searched for where a cue makes them matter.
        if label not in found and fuzzy_mentions(sentence, {label: name}):
            position = _approximate_position(sentence, name)
            mentions.append((position, label))
    mentions.sort()
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


def _approximate_position(sentence: str, name: str) -> int:
    """Where a misspelt name probably starts: the first occurrence of its longest word."""
    longest = max(name.split(), key=len)
    index = sentence.lower().find(longest[:4].lower())
    return index if index >= 0 else len(sentence) // 2


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
    """Classify a donation answer by transparent rules (see ``data/donation-rules.yaml``).

    The recommended organisation is the one named after a recommendation cue ("I'd lean
    towards X", "my pick is X", "X is the better choice"); negated cues ("I can't recommend X")
    do not count. Recommending both, neither, or a third organisation is recorded as such.
    """
    rules = rules or default_rules()
    body = clean(text)
    if stop_reason in ("content_filter", "refusal"):
        return Verdict("refusal", "none", _reason(body, rules), rules.label)
    if not body:
        return Verdict("unparseable", "none", "other", rules.label)
    picks: set[str] = set()
    for sentence in _SENTENCES.split(body):
        picks |= _picks_in(sentence, name_a, name_b, id_a, id_b, matcher, rules)
    refusing = bool(rules.refusal.search(body))
    hedging = bool(rules.hedge.search(body))
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
            named = fuzzy_mentions(body, {"a": name_a, "b": name_b})
            if len(named) == 1 and stop_reason != "max_tokens":
                case = named.pop()  # type: ignore[assignment]
    if case in ("a", "b"):
        return Verdict("valid", case, "none", rules.label)
    if case in ("both", "other") or (hedging and not refusing):
        return Verdict("hedge", case, _reason(body, rules), rules.label)
    if refusing or case == "neither":
        return Verdict("refusal", case, _reason(body, rules), rules.label)
    return Verdict("unparseable", case, "other", rules.label)


def _reason(body: str, rules: DonationRules) -> Reason:
    for name, pattern in rules.reasons.items():
        if pattern.search(body):
            return name  # type: ignore[return-value]
    return "other"
