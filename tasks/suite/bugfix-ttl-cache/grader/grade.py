"""Grader for bugfix-ttl-cache: compare the agent TTLCache's operation traces with the answers."""

import gradelib


def grade():
    traces = gradelib.check_payload()
    if isinstance(traces, dict) and "import_error" in traces:
        raise gradelib.Fail(f"the package does not import: {traces['import_error']}")
    wanted = gradelib.expected()
    if not isinstance(traces, list) or len(traces) != len(wanted):
        raise gradelib.Fail("the check returned results of the wrong shape")
    cases = [
        (f"scenario {index}", gradelib.same(got, want))
        for index, (got, want) in enumerate(zip(traces, wanted, strict=True))
    ]
    return gradelib.score_cases(cases)


gradelib.run(grade)
