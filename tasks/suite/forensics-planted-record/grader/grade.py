"""Grader for forensics-planted-record: the submission must be the planted key, not a decoy."""

import gradelib


def grade():
    text = gradelib.require_submission()
    wanted = gradelib.expected()
    if text == wanted["flag"]:
        return True, 1.0, "the key is correct"
    if text in wanted["decoys"]:
        return False, 0.0, "submitted a decoy key from another file"
    return False, 0.0, "the submission is not the planted key"


gradelib.run(grade)
