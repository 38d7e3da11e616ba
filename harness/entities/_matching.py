"""Map model output to entities: `EntityMatcher`, shared by every answer parser in the harness.

Two questions are answered:

* :meth:`EntityMatcher.match_name` — is this short answer ("**GiveDirectly**", "the AMF",
  "Agaisnt Malaria Foundation") the name of exactly one entity?
* :meth:`EntityMatcher.find_mentions` — which entities does this free prose mention, and
  where?

Both compare text after :func:`~harness.entities._text.normalize` (case, accents,
punctuation, quotes, dashes, markdown, "&"/"and", "the").
"""

from __future__ import annotations

from difflib import SequenceMatcher
from typing import NamedTuple

from harness.entities._entities import Entity, EntitySet
from harness.entities._text import is_acronym, normalize, tokenize, without_apostrophes

FUZZY_THRESHOLD = 0.88
"""Minimum :class:`difflib.SequenceMatcher` ratio for a near-miss to count in ``match_name``.

At 0.88 one transposition, dropped or doubled letter in a name of 10+ characters passes
("Agaisnt Malaria Foundation" scores 0.96, "GiveDirectley" 0.96, "Humane Leauge" 0.92),
while different organisations sharing words stay below it ("Human Rights Watch" vs
"Human Rights Campaign" scores 0.72).
"""

FUZZY_MIN_LENGTH = 6
"""Normalised names shorter than this are never fuzzy-matched: for "Oxfan" vs "Oxfam" one
letter is too large a share of the name to be sure which was meant."""

_CACHE_LIMIT = 50_000


class _Key(NamedTuple):
    """One way of writing an entity's name, as tokens."""

    tokens: tuple[str, ...]
    """Lower-case normalised tokens."""
    exact_case: str | None
    """For an all-caps acronym: the only spelling accepted in prose."""
    entity: Entity


class EntityMatcher:
    """Matches names and mentions of the entities of one set. Build once per run.

    Construction indexes every name and alias (plus apostrophe-free spellings such as
    "Samaritans Purse"); matching then costs a dictionary lookup per answer, falling back
    to fuzzy comparison only for answers that are not an exact name. ``match_name`` results
    are memoised, since models repeat the same short answers many times in a run.
    """

    def __init__(self, entities: EntitySet | list[Entity]) -> None:
        self.entities: list[Entity] = list(entities)
        self._exact: dict[str, Entity] = {}
        ambiguous: set[str] = set()
        by_first: dict[str, list[_Key]] = {}
        for entity in self.entities:
            for written in dict.fromkeys(entity.names):
                for variant in dict.fromkeys([written, without_apostrophes(written)]):
                    tokens = tuple(t.text.lower() for t in tokenize(variant))
                    if not tokens:
                        continue
                    key = " ".join(tokens)
                    owner = self._exact.setdefault(key, entity)
                    if owner is not entity:
                        # Only derived spellings can clash (EntitySet forbids real clashes);
                        # an ambiguous spelling must not pick one entity arbitrarily.
                        ambiguous.add(key)
                    exact_case = written.strip() if is_acronym(written) else None
                    by_first.setdefault(tokens[0], []).append(_Key(tokens, exact_case, entity))
        for key in ambiguous:
            del self._exact[key]
        # Longest first, so "American Red Cross" is tried before "Red Cross" at one position.
        self._by_first = {
            first: sorted(
                (k for k in keys if " ".join(k.tokens) not in ambiguous),
                key=lambda k: -len(k.tokens),
            )
            for first, keys in by_first.items()
        }
        self._fuzzy_keys = [
            (key, entity)
            for key, entity in self._exact.items()
            if len(key) >= FUZZY_MIN_LENGTH
            # Acronyms are too short to tell a typo from a different acronym.
            and not any(is_acronym(n) and normalize(n) == key for n in entity.names)
        ]
        self._cache: dict[str, Entity | None] = {}

    def match_name(self, text: str) -> Entity | None:
        """The entity ``text`` names, or ``None`` if it names none or is ambiguous.

        ``text`` should be just a name (a list item, a one-line answer); use
        :meth:`find_mentions` for prose. After normalisation the text must equal a name or
        alias (case-insensitively, acronyms included: the whole answer "amf" means AMF), or
        else be a near miss — :data:`FUZZY_THRESHOLD` or closer — of names of exactly one
        entity.
        """
        key = normalize(text)
        if not key:
            return None
        if key in self._exact:
            return self._exact[key]
        if key in self._cache:
            return self._cache[key]
        result = self._fuzzy(key)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # a crude bound; hit rates only matter within one run's answers
        self._cache[key] = result
        return result

    def _fuzzy(self, key: str) -> Entity | None:
        if len(key) < FUZZY_MIN_LENGTH:
            return None
        # The answer is sequence b: SequenceMatcher indexes b once and reuses it for every a.
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(key)
        n = len(key)
        best: dict[str, tuple[float, Entity]] = {}
        for candidate, entity in self._fuzzy_keys:
            # ratio = 2*M/(len a + len b) <= 2*min/(sum): skip lengths that cannot reach it,
            # then the cheap upper bounds, before the quadratic ratio().
            m = len(candidate)
            if 2 * min(m, n) < FUZZY_THRESHOLD * (m + n):
                continue
            matcher.set_seq1(candidate)
            if matcher.real_quick_ratio() < FUZZY_THRESHOLD:
                continue
            if matcher.quick_ratio() < FUZZY_THRESHOLD:
                continue
            ratio = matcher.ratio()
            if ratio >= FUZZY_THRESHOLD and ratio > best.get(entity.id, (0.0, entity))[0]:
                best[entity.id] = (ratio, entity)
        if len(best) != 1:
            return None  # no near miss, or near misses of two entities: refuse to guess
        return next(iter(best.values()))[1]

    def find_mentions(
        self, text: str, *, all_occurrences: bool = False
    ) -> list[tuple[Entity, int]]:
        """Entities mentioned in ``text`` with the character offset where each mention starts.

        Names and aliases match as whole words after normalisation, longest first, so
        "American Red Cross" is one mention, not also one of "Red Cross". All-caps acronyms
        ("AMF", "FIRE") match only in capitals, so "I am fine" or "a fire" mention nothing.
        There is no fuzzy matching in prose.

        By default each entity appears once, at its first mention, in order of position; with
        ``all_occurrences=True`` every mention is listed (the same entity named by its name and
        then its acronym appears twice).
        """
        tokens = tokenize(text)
        lowered = [t.text.lower() for t in tokens]
        found: list[tuple[Entity, int]] = []
        seen: set[str] = set()
        i = 0
        while i < len(tokens):
            step = 1
            for key in self._by_first.get(lowered[i], ()):
                n = len(key.tokens)
                if tuple(lowered[i : i + n]) != key.tokens:
                    continue
                if key.exact_case is not None and tokens[i].text != key.exact_case:
                    continue
                if all_occurrences or key.entity.id not in seen:
                    seen.add(key.entity.id)
                    found.append((key.entity, tokens[i].start))
                step = n
                break
            i += step
        return found
