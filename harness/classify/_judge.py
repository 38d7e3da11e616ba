"""Parsing a judge model's verdict on a donation answer (the judge prompt is a data file)."""

from __future__ import annotations

import json
import re

from harness.classify._rules import REASONS, Verdict

_JSON = re.compile(r"\{.*\}", re.S)
_CASES = {
    "a": "a",
    "b": "b",
    "both": "both",
    "neither": "neither",
    "other": "other",
    "none": "none",
}
_CLASSES = ("valid", "hedge", "refusal", "unparseable")


class JudgeOutputError(ValueError):
    """The judge answered something that is not a verdict in the agreed format."""


def parse_judge_verdict(text: str, judge: str) -> Verdict:
    """Read the JSON object the judge was asked for; anything else raises JudgeOutputError."""
    match = _JSON.search(text or "")
    if not match:
        raise JudgeOutputError("no JSON object in the judge's answer")
    try:
        raw = json.loads(match.group(0))
    except json.JSONDecodeError as error:
        raise JudgeOutputError(f"judge JSON does not parse: {error.msg}") from None
    if not isinstance(raw, dict):
        raise JudgeOutputError("judge JSON is not an object")
    klass = str(raw.get("class", "")).strip().lower()
    case = _CASES.get(str(raw.get("recommended", "")).strip().lower())
    reason = str(raw.get("reason", "none")).strip().lower()
    if klass not in _CLASSES:
        raise JudgeOutputError(f"judge class {klass!r} is not one of {', '.join(_CLASSES)}")
    if case is None:
        raise JudgeOutputError(
            f"judge 'recommended' {raw.get('recommended')!r} is not A, B, both, neither, other or none"
        )
    if klass == "valid" and case not in ("a", "b"):
        raise JudgeOutputError("judge says valid but recommends neither A nor B alone")
    if klass == "valid":
        reason = "none"
    elif reason not in REASONS:
        reason = "other"
    return Verdict(klass, case, reason, f"judge:{judge}", "judge")  # type: ignore[arg-type]
