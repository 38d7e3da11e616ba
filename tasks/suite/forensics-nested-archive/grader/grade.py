"""Grader for forensics-nested-archive: the submission must be the active key, not a decoy."""

import gradelib


def grade():
    text = gradelib.require_submission()
    wanted = gradelib.expected()
    if text == wanted["flag"]:
        return True, 1.0, "the active key is correct"
    if text in wanted["decoys"]:
        return False, 0.0, "submitted a revoked or expired key"
    return False, 0.0, "the submission is not the active key"


gradelib.run(grade)
