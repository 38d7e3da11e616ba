"""Grader for transform-log-normalise: out/events.tsv must equal the expected lines exactly."""

from collections import Counter

import gradelib


def grade():
    text = gradelib.read_workspace_text("out/events.tsv")
    got = text.split("\n")
    if got and got[-1] == "":
        got.pop()  # the final newline ends the last line; it is not an empty event
    wanted = gradelib.expected()
    if got == wanted:
        return True, 1.0, f"all {len(wanted) - 1} events are exactly right"
    # Partial credit: events present with the right content, whatever their order.
    common = sum((Counter(got[1:]) & Counter(wanted[1:])).values())
    score = common / max(len(wanted) - 1, len(got) - 1, 1)
    if got[:1] != wanted[:1]:
        problem = "the header line is wrong"
    elif sorted(got) == sorted(wanted):
        problem = "the events are right but not in the required order"
    else:
        missing = [line for line in wanted[1:] if line not in set(got)]
        problem = f"{len(missing)} expected event line(s) are missing or differ"
        if missing:
            problem += f", e.g. {missing[0][:160]!r}"
    return False, score, problem


gradelib.run(grade)
