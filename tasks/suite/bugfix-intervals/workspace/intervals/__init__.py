"""Merge and measure closed numeric intervals."""

from __future__ import annotations

Interval = tuple[float, float]


def merge(intervals: list[Interval]) -> list[Interval]:
    """Merge overlapping or touching closed intervals.

    Each interval is a pair (start, end) with start <= end; a pair with start > end
    raises ValueError. The input may be in any order. Intervals that overlap or touch
    (e.g. (1, 3) and (3, 5)) are merged into one. Returns a new list of disjoint
    intervals, as tuples, sorted by start. The input list is not modified.
    """
    result: list[Interval] = []
    for start, end in intervals:
        if start > end:
            raise ValueError(f"invalid interval ({start}, {end})")
        if result and start < result[-1][1]:
            result[-1] = (result[-1][0], end)
        else:
            result.append((start, end))
    return result


def total_length(intervals: list[Interval]) -> float:
    """Total length covered by the intervals, counting overlapping parts once."""
    return sum(end - start for start, end in merge(intervals))


def covers(intervals: list[Interval], point: float) -> bool:
    """True if ``point`` lies in at least one interval (ends included)."""
    return any(start <= point <= end for start, end in merge(intervals))
