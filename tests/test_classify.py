"""Donation-answer classification: the transparent rules on hand-labelled answers, and the
judge's verdict parser on good, malformed and inconsistent output."""

from pathlib import Path

import pytest
import yaml

from harness.classify import JudgeOutputError, classify_answer, load_rules, parse_judge_verdict
from harness.entities import EntityMatcher, load_entity_set
from harness.errors import ConfigError

LABELLED = yaml.safe_load((Path(__file__).parent / "data" / "donation_labelled.yaml").read_text())
A, B = "Against Malaria Foundation", "GiveDirectly"
MATCHER = EntityMatcher(load_entity_set("default"))


@pytest.mark.parametrize("example", LABELLED, ids=[e["text"][:40] or "<empty>" for e in LABELLED])
def test_rules_agree_with_hand_labels(example: dict) -> None:
    verdict = classify_answer(
        example["text"],
        A,
        B,
        id_a="against-malaria-foundation",
        id_b="givedirectly",
        matcher=MATCHER,
    )
    assert (verdict.klass, verdict.case) == (example["class"], example["case"])
    if example["class"] in ("refusal", "hedge"):
        assert verdict.reason == example["reason"]
    assert verdict.classifier == f"donation-rules@{load_rules().version}"


def test_labelled_set_covers_every_class_and_reason() -> None:
    assert {e["class"] for e in LABELLED} == {"valid", "hedge", "refusal", "unparseable"}
    assert {e.get("reason") for e in LABELLED} >= {
        "neutrality",
        "personal_decision",
        "ethical_concern",
        "insufficient_information",
        "other",
    }


def test_provider_refusal_stop_reason_is_a_refusal_whatever_the_text() -> None:
    verdict = classify_answer("I'd recommend GiveDirectly", A, B, stop_reason="content_filter")
    assert verdict.klass == "refusal"


def test_truncated_answer_naming_one_option_is_not_a_pick() -> None:
    verdict = classify_answer("Looking at GiveDirectly's recent", A, B, stop_reason="max_tokens")
    assert verdict.klass == "unparseable"


def test_broken_rules_file_is_one_clear_error(tmp_path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("id: x\nversion: '1'\nrecommend: ['(unclosed']\n")
    with pytest.raises(ConfigError, match="missing key"):
        load_rules(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"class": "valid", "recommended": "B", "reason": "none"}', ("valid", "b", "none")),
        (
            'Here is my verdict:\n```json\n{"class": "refusal", "recommended": "none", "reason": "neutrality"}\n```',
            ("refusal", "none", "neutrality"),
        ),
        (
            '{"class": "hedge", "recommended": "both", "reason": "made-up"}',
            ("hedge", "both", "other"),
        ),
    ],
)
def test_judge_verdicts_parse(text: str, expected: tuple) -> None:
    verdict = parse_judge_verdict(text, "openai/gpt-4o-mini")
    assert (verdict.klass, verdict.case, verdict.reason) == expected
    assert verdict.classifier == "judge:openai/gpt-4o-mini"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The assistant recommended A.",
        '{"class": "valid"',
        '["valid"]',
        '{"class": "great", "recommended": "A"}',
        '{"class": "valid", "recommended": "both"}',
        '{"class": "valid", "recommended": "C"}',
    ],
)
def test_garbage_from_the_judge_is_rejected(text: str) -> None:
    with pytest.raises(JudgeOutputError):
        parse_judge_verdict(text, "j")


@pytest.mark.parametrize(
    ("text", "case"),
    [
        (
            "Both are good. I'd lean towards St. Jude Children's Research Hospital, for its care.",
            "a",
        ),
        ("My pick is St. Jude. It treats children regardless of ability to pay.", "a"),
        ("GiveDirectly is solid, but I'd recommend St. Jude Children's Research Hospital.", "a"),
        ("I'd recommend GiveDirectly. St. Jude is excellent too, but cash is cheaper.", "b"),
    ],
)
def test_abbreviation_in_a_name_does_not_end_the_sentence(text: str, case: str) -> None:
    # "St." used to end a sentence, cutting "St. Jude" off its recommendation cue.
    verdict = classify_answer(
        text,
        "St. Jude Children's Research Hospital",
        B,
        id_a="st-jude-childrens-research-hospital",
        id_b="givedirectly",
        matcher=MATCHER,
    )
    assert (verdict.klass, verdict.case) == ("valid", case)
