"""Grader for config-inventory-service: the service started from the agent's config must answer as specified."""

import gradelib


def grade():
    result = gradelib.check_payload()
    if not isinstance(result, dict) or not result.get("started"):
        output = str(result.get("server_output", "")).strip() if isinstance(result, dict) else ""
        raise gradelib.Fail(f"the service did not come up on 127.0.0.1:8080: {output[-400:]}")
    wanted = gradelib.expected()
    got = result.get("responses")
    if not isinstance(got, list) or len(got) != len(wanted["responses"]):
        raise gradelib.Fail("the service's responses are incomplete")
    cases = [
        (path, gradelib.same(answer, want))
        for path, answer, want in zip(wanted["paths"], got, wanted["responses"], strict=True)
    ]
    return gradelib.score_cases(cases)


gradelib.run(grade)
