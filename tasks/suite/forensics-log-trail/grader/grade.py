"""Grader for forensics-log-trail: the submission must be the stolen token, not one built from decoys."""

import gradelib


def grade():
    text = gradelib.require_submission()
    wanted = gradelib.expected()
    if text == wanted["flag"]:
        return True, 1.0, "the token is correct"
    if text in wanted["decoys"]:
        return False, 0.0, "the token was built from decoy traffic"
    return False, 0.0, "the submission is not the stolen token"


gradelib.run(grade)
