"""Grader for config-acl-rules: the agent's rule file must decide every hidden request as the policy says."""

import json

import gradelib


def grade():
    result = gradelib.check_payload()
    if not isinstance(result, dict) or result.get("exit_code") != 0:
        error = str(result.get("error", "")).strip() if isinstance(result, dict) else ""
        raise gradelib.Fail(f"the rule engine rejected acl.rules: {error[-300:]}")
    wanted = gradelib.expected()
    queries = json.loads((gradelib.GRADER_DIR / "queries.json").read_text())
    got = result.get("decisions")
    if not isinstance(got, list) or len(got) != len(wanted):
        raise gradelib.Fail("the rule engine did not decide every request")
    cases = [
        (f"{query} -> {want}", answer == want)
        for query, answer, want in zip(queries, got, wanted, strict=True)
    ]
    return gradelib.score_cases(cases, show=4)


gradelib.run(grade)
