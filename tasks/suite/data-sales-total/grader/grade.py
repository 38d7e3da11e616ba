"""Grader for data-sales-total: the submitted figure must equal the revenue to the cent."""

import gradelib


def grade():
    answer = gradelib.parse_number(gradelib.require_submission())
    wanted = float(gradelib.expected()["answer"])
    if abs(answer - wanted) < 0.005:
        return True, 1.0, "the revenue is correct"
    return False, 0.0, f"submitted {answer:.2f}, which is not the revenue"


gradelib.run(grade)
