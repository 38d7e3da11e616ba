"""Parse a direct ranking (numbered or bulleted list of entity names) from model output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.parsing._text import clean

if TYPE_CHECKING:
    from harness.entities import EntityMatcher

_NUMBERED = re.compile(r"^\s*(?:#\s*)?(\d{1,3})\s*[.):\]\-]\s*(.+?)\s*$")
_BULLET = re.compile(r"^\s*[-*•]\s+(.+?)\s*$")
# Explanations models append to a name: "Name — because...", "Name: ...", "Name (MSF)".
_TRAILERS = (" — ", " – ", " - ", ": ", " (")


@dataclass
class RankingParse:
    order: list[str] = field(default_factory=list)
    """Entity ids, most preferred first, each at most once."""
    missing: list[str] = field(default_factory=list)
    """Shown entities the answer left out."""
    duplicates: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """List items that matched no shown entity."""

    @property
    def ok(self) -> bool:
        return bool(self.order)


def _items(text: str) -> list[str]:
    numbered, bulleted = [], []
    for line in text.splitlines():
        if m := _NUMBERED.match(line):
            numbered.append(m.group(2))
        elif m := _BULLET.match(line):
            bulleted.append(m.group(1))
    return numbered or bulleted


def parse_ranking(text: str, shown: list[str], matcher: EntityMatcher) -> RankingParse:
    """Read a ranking of the entities whose ids are ``shown``.

    Each list item is matched to an entity by name or alias, trying the whole item first and
    then the part before an explanation; near-miss spellings are accepted by the matcher.
    Items for entities that were not shown count as unknown.
    """
    allowed = set(shown)
    result = RankingParse()
    seen: set[str] = set()
    for item in _items(text):
        item = clean(item)
        entity = _match(item, matcher)
        if entity is None or entity.id not in allowed:
            result.unknown.append(item)
        elif entity.id in seen:
            result.duplicates.append(entity.id)
        else:
            seen.add(entity.id)
            result.order.append(entity.id)
    result.missing = [eid for eid in shown if eid not in seen] if result.order else list(shown)
    return result


def _match(item: str, matcher: EntityMatcher):
    entity = matcher.match_name(item)
    if entity is not None:
        return entity
    for trailer in _TRAILERS:
        head = item.split(trailer, 1)[0].strip()
        if head and head != item:
            entity = matcher.match_name(head)
            if entity is not None:
                return entity
    return None
