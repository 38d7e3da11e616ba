"""Grader for data-ledger-eur: the submitted figure must equal the net EUR spend to the cent."""

import gradelib


def grade():
    answer = gradelib.parse_number(gradelib.require_submission())
    wanted = float(gradelib.expected()["answer"])
    if abs(answer - wanted) < 0.005:
        return True, 1.0, "the net spend is correct"
    return False, 0.0, f"submitted {answer:.2f}, which is not the net spend"


gradelib.run(grade)
