"""Grader for bugfix-csv-parser: compare the agent minicsv's results on hidden inputs with the answers."""

import gradelib


def grade():
    results = gradelib.check_payload()
    if isinstance(results, dict) and "import_error" in results:
        raise gradelib.Fail(f"the package does not import: {results['import_error']}")
    wanted = gradelib.expected()
    if not isinstance(results, list) or len(results) != len(wanted):
        raise gradelib.Fail("the check returned results of the wrong shape")
    cases = [
        (f"case {index}", gradelib.same(got, want))
        for index, (got, want) in enumerate(zip(results, wanted, strict=True))
    ]
    return gradelib.score_cases(cases)


gradelib.run(grade)
