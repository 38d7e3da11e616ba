"""Parse a direct ranking (a list of entity names, most preferred first) from model output,
reading the final list.

Models rarely answer with the bare list they were asked for: they reason before it, comment
after it, write markdown tables or bold names, or give a draft and then a "final ranking".
The answer's lists are found (numbered, bulleted, table rows, a JSON list, "X > Y > Z") and
the one that ranks is chosen: a list introduced as final ("Final ranking:", "Revised
list:"), else the last numbered list, else the last table, bulleted list or inline chain. A
list counts only if most of its items name shown entities, so a numbered list of criteria or
a bulleted list of notes is never read as the ranking. A later short list that repeats the
top of an earlier full one ("My top three: ...") does not replace it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.parsing._text import DECLINE, clean, fold, json_lists, json_objects, strip_thinking

if TYPE_CHECKING:
    from harness.entities import Entity, EntityMatcher

_NUMBERED = re.compile(
    r"^(?:(?:rank(?:ed)?\s*|no\.\s*)?(\d{1,3})(?:st|nd|rd|th)?\s*(?:[.):\]\-\u2013\u2014]|\*\*\s*[.):\-]?)"
    r"|(?:#|rank\s+)(\d{1,3})\b\s*[.):\-\u2013\u2014]?|\((\d{1,3})\)|(\d{1,2})\s+(?=[A-Z*]))\s*(.+?)\s*$",
    re.I,
)
_BULLET = re.compile(r"^([ \t]*)[-*\u2022+]\s+(.+?)\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_TABLE_RULE = re.compile(r"^[\s|:\-]+$")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_INLINE_SEPARATOR = re.compile(r"\s+(?:>|\u2192|\u227b|->|=>)\s+")
_FINAL_LABEL = re.compile(
    r"\b(?:final|revised|updated|corrected|definitive|actual|complete)\b|\bhere\s+is\s+my\s+ranking\b",
    re.I,
)
_NO_ORDER = re.compile(
    r"\b(?:no\s+(?:clear|obvious|particular)\s+(?:order|ranking)|"
    r"(?:rank|value|like|rate|prefer)\s+them\s+(?:all\s+)?(?:equally|(?:about\s+)?the\s+same)|"
    r"don'?t\s+see\s+a\s+clear\s+(?:order|ranking)|in\s+no\s+particular\s+order|can'?t\s+(?:rank|order))\b",
    re.I,
)
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
# Explanations models append to a name: "Name — because...", "Name: ...", "Name (MSF)".
_TRAILERS = (
    " \u2014 ",
    " \u2013 ",
    " - ",
    ": ",
    " (",
    ", ",
    " because ",
    " since ",
    " \u2014",
    "\u2014",
)
_JSON_LIST_KEYS = (
    "ranking",
    "rankings",
    "order",
    "ranked",
    "list",
    "organizations",
    "organisations",
)
_JSON_NAME_KEYS = ("name", "organization", "organisation", "charity", "entity")

KIND_METHOD = {"numbered": "list", "bullet": "list", "table": "table", "inline": "inline"}


@dataclass
class RankingParse:
    order: list[str] = field(default_factory=list)
    """Entity ids, most preferred first, each at most once."""
    missing: list[str] = field(default_factory=list)
    """Shown entities the answer left out."""
    duplicates: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    """List items that matched no shown entity."""
    method: str = "unparseable"
    """A name from :mod:`harness.parsing.methods`: ``json``, ``list``, ``table`` or ``inline``
    for a ranking; ``refusal``, ``unparseable`` or ``empty`` for none."""

    @property
    def ok(self) -> bool:
        return bool(self.order)


@dataclass
class _Block:
    kind: str
    start: int
    """Index of the block's first line."""
    items: list[str] = field(default_factory=list)
    first_number: int = 1
    """A numbered list that does not start at 1 has lost its top: not a ranking."""
    last_number: int = 0
    indent: int = 0
    final: bool = False


def _blocks(lines: list[str]) -> list[_Block]:
    """Every list in the answer, in order; explanation lines inside a numbered list and
    indented sub-bullets do not end it or join it."""
    blocks: list[_Block] = []
    current: _Block | None = None
    for index, raw in enumerate(lines):
        line = _HEADING.sub("", raw).rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        unbolded = stripped.lstrip("*_ ") if re.match(r"^[*_]{1,2}\d", stripped) else stripped
        if m := _TABLE_ROW.match(stripped):
            if _TABLE_RULE.match(stripped):
                continue
            if current is None or current.kind != "table":
                current = _Block("table", index)
                blocks.append(current)
            current.items.append(m.group(1))
            continue
        if (m := _NUMBERED.match(unbolded)) and not (
            line[:1].isspace() and current and current.kind == "bullet"
        ):
            number = int(m.group(1) or m.group(2) or m.group(3) or m.group(4))
            continues = (
                current is not None
                and current.kind == "numbered"
                and (number != 1 or current.last_number == 1)
            )
            if not continues:
                current = _Block("numbered", index, first_number=number)
                blocks.append(current)
            assert current is not None
            current.items.append(m.group(5))
            current.last_number = number
            continue
        if m := _BULLET.match(line):
            indent = len(m.group(1).expandtabs(4))
            if current is not None and current.kind == "numbered" and indent > 0:
                continue  # a sub-point of a numbered item
            if current is not None and current.kind == "bullet":
                if indent > current.indent:
                    continue  # a sub-bullet
                if indent == current.indent:
                    current.items.append(m.group(2))
                    continue
            current = _Block("bullet", index, indent=indent)
            blocks.append(current)
            current.items.append(m.group(2))
            continue
        if len(_INLINE_SEPARATOR.findall(stripped)) >= 2:
            text = re.sub(r"^[^:]{0,40}:\s*", "", stripped) if ":" in stripped[:41] else stripped
            current = _Block("inline", index, items=_INLINE_SEPARATOR.split(text))
            blocks.append(current)
            current = None
            continue
        # Prose: it ends a bulleted list or a table, not a numbered list (explanations sit
        # between numbered items), unless it is not indented and the next list restarts.
        if current is not None and current.kind in ("bullet", "table") and not line[:1].isspace():
            current = None
    for block in blocks:
        before = [lines[i] for i in range(max(0, block.start - 2), block.start)]
        block.final = any(_FINAL_LABEL.search(line) for line in before)
    return blocks


def _prefix(text: str, shown: list[Entity]) -> Entity | None:
    """The one shown entity whose name starts with ``text`` ("Wikimedia" for "Wikimedia
    Foundation"), for items that shorten a name the matcher does not know."""
    key = fold(text)
    if len(key) < 5:
        return None
    found = {e.id: e for e in shown for name in e.names if fold(name).startswith(key + " ")}
    return next(iter(found.values())) if len(found) == 1 else None


def _match(item: str, matcher: EntityMatcher, shown: list[Entity] | None = None) -> Entity | None:
    item = item.strip()
    bold = _BOLD.search(item)
    text = clean(item).strip(" .;:*")
    entity = matcher.match_name(text)
    if entity is not None:
        return entity
    if bold and (entity := matcher.match_name(clean(bold.group(1) or bold.group(2)))):
        return entity
    heads = [text]
    for trailer in _TRAILERS:
        head = text.split(trailer, 1)[0].strip(" .;:")
        if head and head != text:
            heads.append(head)
            entity = matcher.match_name(head)
            if entity is not None:
                return entity
    if shown:
        for head in heads:
            if (entity := _prefix(head, shown)) is not None:
                return entity
    return None


def _table_cells(row: str) -> list[str]:
    return [c.strip() for c in row.split("|")]


def _read(
    block: _Block, matcher: EntityMatcher, shown: list[Entity]
) -> list[tuple[str, Entity | None]]:
    """(item text, matched entity or None) for each item of ``block``."""
    if block.kind != "table":
        return [(clean(item), _match(item, matcher, shown)) for item in block.items]
    rows: list[tuple[float, int, str, Entity | None]] = []
    for position, row in enumerate(block.items):
        cells = _table_cells(row)
        entity = None
        rank = float("inf")
        for cell in cells:
            text = clean(cell).strip(" .#")
            if re.fullmatch(r"\d{1,3}", text):
                rank = min(rank, float(text))
            elif entity is None and text:
                entity = _match(cell, matcher, shown)
        rows.append((rank, position, clean(row), entity))
    header = rows and rows[0][3] is None and rows[0][0] == float("inf")
    if header:
        rows = rows[1:]
    if rows and all(r[0] != float("inf") for r in rows):
        rows.sort()
    return [(r[2], r[3]) for r in rows]


def _from_json(body: str, matcher: EntityMatcher) -> list[tuple[str, Entity | None]] | None:
    candidates: list[list[Any]] = []
    for obj in json_objects(body):
        for key in _JSON_LIST_KEYS:
            if isinstance(obj.get(key), list):
                candidates.append(obj[key])
    candidates.extend(json_lists(body))
    named = [
        (obj.get("rank", i), next(str(obj[k]) for k in _JSON_NAME_KEYS if k in obj))
        for i, obj in enumerate(json_objects(body))
        if any(k in obj for k in _JSON_NAME_KEYS)
    ]
    if len(named) >= 2:
        with contextlib.suppress(TypeError, ValueError):
            named.sort(key=lambda pair: float(pair[0]))
        candidates.append([name for _, name in named])
    for items in reversed(candidates):
        strings = [str(item) for item in items if isinstance(item, (str, int, float))]
        read = [(s, matcher.match_name(s)) for s in strings]
        if sum(e is not None for _, e in read) >= 2:
            return read
    return None


def _plausible(read: list[tuple[str, Entity | None]], allowed: set[str]) -> bool:
    """Most items name shown entities: a list of criteria or notes is not a ranking."""
    hits = sum(1 for _, e in read if e is not None and e.id in allowed)
    return hits >= 2 and hits * 2 >= len(read)


def _ids(read: list[tuple[str, Entity | None]], allowed: set[str]) -> list[str]:
    seen: list[str] = []
    for _, entity in read:
        if entity is not None and entity.id in allowed and entity.id not in seen:
            seen.append(entity.id)
    return seen


def parse_ranking(text: str, shown: list[str], matcher: EntityMatcher) -> RankingParse:
    """Read a ranking of the entities whose ids are ``shown`` (see the module doc for which
    list counts).

    Each list item is matched to an entity by name or alias, trying the whole item first,
    then a bold name in it, then the part before an explanation; near-miss spellings are
    accepted by the matcher. Items for entities that were not shown count as unknown.
    """
    allowed = set(shown)
    body = strip_thinking(text or "")
    if not body.strip():
        return RankingParse(missing=list(shown), method="empty")
    chosen: list[tuple[str, Entity | None]] | None = None
    method = "unparseable"
    if "[" in body or "{" in body:
        read = _from_json(body, matcher)
        if read is not None and _plausible(read, allowed):
            chosen, method = read, "json"
    if chosen is None:
        entities = [e for e in matcher.entities if e.id in allowed]
        lists = [(b, _read(b, matcher, entities)) for b in _blocks(body.splitlines())]
        lists = [(b, r) for b, r in lists if _plausible(r, allowed) and b.first_number == 1]
        # A bulleted list under "I don't see a clear order" describes, it does not rank.
        if any(b.kind in ("bullet", "inline") for b, _ in lists) and (
            _NO_ORDER.search(body) or DECLINE.search(clean(body))
        ):
            lists = [(b, r) for b, r in lists if b.kind not in ("bullet", "inline")]
        if lists:
            finals = [pair for pair in lists if pair[0].final]
            by_kind = [
                [pair for pair in lists if pair[0].kind == kind]
                for kind in ("numbered", "table", "bullet", "inline")
            ]
            pool = finals or next(group for group in by_kind if group)
            block, chosen = pool[-1]
            # A short recap of the top of an earlier full list does not replace it.
            order = _ids(chosen, allowed)
            for earlier_block, earlier in pool[:-1]:
                earlier_order = _ids(earlier, allowed)
                if len(earlier_order) > len(order) and earlier_order[: len(order)] == order:
                    block, chosen, order = earlier_block, earlier, earlier_order
            method = KIND_METHOD[block.kind]
    result = RankingParse(method=method)
    if chosen is None:
        if DECLINE.search(clean(body)):
            result.method = "refusal"
        result.missing = list(shown)
        return result
    seen: set[str] = set()
    for item, entity in chosen:
        if entity is None or entity.id not in allowed:
            result.unknown.append(item)
        elif entity.id in seen:
            result.duplicates.append(entity.id)
        else:
            seen.add(entity.id)
            result.order.append(entity.id)
    result.missing = [eid for eid in shown if eid not in seen]
    return result
