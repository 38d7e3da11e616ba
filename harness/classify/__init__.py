"""Classifying donation answers: valid / hedge / refusal / unparseable, with reasons, by
transparent rules (a versioned data file) or by a judge model."""

from harness.classify._judge import JudgeOutputError, parse_judge_verdict
from harness.classify._rules import (
    REASONS,
    DonationRules,
    Verdict,
    classify_answer,
    default_rules,
    load_rules,
)

__all__ = [
    "REASONS",
    "DonationRules",
    "JudgeOutputError",
    "Verdict",
    "classify_answer",
    "default_rules",
    "load_rules",
    "parse_judge_verdict",
]
