"""Grader for data-sensor-means: the submission must name the warmest sensor and its exact mean."""

import re

import gradelib


def grade():
    text = gradelib.require_submission()
    match = re.fullmatch(r"\s*(S-\d{3})\s*:\s*(-?[\d.]+)\s*", text)
    if not match:
        raise gradelib.Fail(f"submission {text[:80]!r} is not in the form S-000:12.345")
    wanted = gradelib.expected()
    sensor_ok = match.group(1) == wanted["sensor"]
    # Half a unit in the third decimal each way, so any correct rounding passes.
    mean_ok = abs(gradelib.parse_number(match.group(2)) - wanted["mean"]) <= 0.0011
    if sensor_ok and mean_ok:
        return True, 1.0, "sensor and mean are correct"
    if sensor_ok:
        return False, 0.5, "the sensor is right but the mean is not"
    return False, 0.0, "the sensor is not the warmest one"


gradelib.run(grade)
