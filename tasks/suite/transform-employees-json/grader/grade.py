"""Grader for transform-employees-json: output/employees.json must equal the expected array exactly."""

import gradelib


def grade():
    data = gradelib.read_workspace_json("output/employees.json")
    wanted = gradelib.expected()
    if not isinstance(data, list):
        raise gradelib.Fail("output/employees.json is not a JSON array")
    ids = [item.get("id") if isinstance(item, dict) else None for item in data]
    cases = [("number of employees", len(data) == len(wanted))]
    numeric = [v for v in ids if isinstance(v, int) and not isinstance(v, bool)]
    cases.append(("sorted by id", len(numeric) == len(ids) and ids == sorted(numeric)))
    by_id = {item.get("id"): item for item in data if isinstance(item, dict)}
    for want in wanted:
        got = by_id.get(want["id"])
        cases.append((f"employee {want['id']}", got is not None and gradelib.same(got, want)))
    return gradelib.score_cases(cases)


gradelib.run(grade)
