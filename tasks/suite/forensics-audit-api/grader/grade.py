"""Grader for forensics-audit-api: the submission must be the one successful download.

The expected id comes from expected.json; grading never queries the audit service.
"""

import gradelib


def grade():
    text = gradelib.require_submission()
    wanted = gradelib.expected()
    if text == wanted["answer"]:
        return True, 1.0, "the event id is correct"
    if text in wanted["decoys"]:
        return False, 0.0, "submitted a refused download or a listing of the file, not the download"
    return False, 0.0, "the submission is not the id of the successful download"


gradelib.run(grade)
