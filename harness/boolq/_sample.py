"""A seeded sample of BoolQ questions, stratified by gold answer into equal yes and no halves."""

from __future__ import annotations

import random

from harness.boolq._loader import BoolQItem
from harness.errors import UsageError


def sample_questions(items: list[BoolQItem], limit: int | None, seed: int) -> list[BoolQItem]:
    """``limit`` questions, half with gold "yes" and half "no" (an odd one goes to "yes"),
    returned in file order; all of ``items`` when ``limit`` is None or not smaller.

    Equal halves, rather than BoolQ's natural 62 % yes, make accuracy insensitive to a pure
    shift towards "yes" or "no": a framing that only made the model say "yes" more often
    would otherwise look like a change in accuracy. When one class runs short, the other
    fills the sample.

    Each class is shuffled once with a seed-derived stream, after sorting by content id, so
    the sample depends on the seed and the file's content, not its row order; and a smaller
    limit with the same seed picks a subset of a larger one.
    """
    if limit is None or limit >= len(items):
        return list(items)
    if limit < 1:
        raise UsageError(f"--limit must be at least 1 question, got {limit}")
    strata: dict[bool, list[str]] = {True: [], False: []}
    for item in sorted(items, key=lambda i: i.id):
        strata[item.answer].append(item.id)
    for gold, ids in strata.items():
        random.Random(f"boolq-sample|{seed}|{gold}").shuffle(ids)
    want = {True: (limit + 1) // 2, False: limit // 2}
    for gold in (True, False):
        short = want[gold] - len(strata[gold])
        if short > 0:
            want[gold] -= short
            want[not gold] += short
    chosen = set(strata[True][: want[True]]) | set(strata[False][: want[False]])
    return [item for item in items if item.id in chosen]
