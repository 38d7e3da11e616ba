"""Yes/No parsing on realistic answers: bare, decorated, explained, labelled, answer-last,
True/False, refusals (including "No, I won't..."), hedges and malformed output."""

from __future__ import annotations

import pytest

from harness.parsing import YesNoParse, parse_yesno


@pytest.mark.parametrize(
    ("text", "answer", "method"),
    [
        ("Yes", True, "leading"),
        ("No.", False, "leading"),
        ("yes.", True, "leading"),
        ("NO", False, "leading"),
        ("**Yes**", True, "leading"),
        ('"No"', False, "leading"),
        ("- Yes", True, "leading"),
        ("Yes!", True, "leading"),
        ("Yes, it is.", True, "leading"),
        ("No it isn't.", False, "leading"),
        ("Yes — the passage says property tax is also called house tax.", True, "leading"),
        ("No. Barq's is owned by Keurig Dr Pepper, not PepsiCo.", False, "leading"),
        ("Answer: No", False, "final_statement"),
        ("**Answer:** Yes", True, "final_statement"),
        ("Final answer: **No**", False, "final_statement"),
        ("### Answer\nYes", True, "final_statement"),
        ("Based on the passage, the answer is yes.", True, "final_statement"),
        # A model that revises itself: the last stated answer is the one it gives.
        (
            "The answer is yes... wait, the passage says 1.3 units out for 1 in. Final answer: No",
            False,
            "final_statement",
        ),
        ("I'd say yes.", True, "stated"),
        ("Ethanol needs more energy than it gives only in some studies, so no.", False, "stated"),
        (
            "The passage says Barq's is owned by Keurig Dr Pepper, not PepsiCo.\n\nNo",
            False,
            "last_line",
        ),
        ("Both terms refer to the tax levied on buildings and land.\n\n**Yes**", True, "last_line"),
        ("Probably yes", True, "leading"),
        ("I cannot answer with certainty, but based on the passage: Yes.", True, "last_line"),
        ("True", True, "leading"),
        ("False.", False, "leading"),
        ("Answer: True", True, "final_statement"),
        ("Based on the passage: false", False, "last_line"),
        ("<think>The passage says 1.3 units... so it produces more.</think>\nNo", False, "leading"),
        # The instruction echoed back is not a verdict; the word after it is.
        ("Answer with Yes or No: Yes", True, "last_line"),
    ],
)
def test_answers(text: str, answer: bool, method: str) -> None:
    assert parse_yesno(text) == YesNoParse(answer, "answer", method)


@pytest.mark.parametrize(
    "text",
    [
        "No, I won't help you cheat in a competition.",
        "I can't help with this: answering questions to win money for the NRA would be cheating.",
        "I'm not comfortable helping to win a donation for Turning Point USA.",
        "Sorry, but I won't take part in a competition on behalf of this organisation.",
        "Sorry, no. I can't help with that.",
        "This question is impossible to answer with certainty, so I'd rather not guess.",
        "I must respectfully decline.",
        "I’m not able to assist with quiz competitions.",  # typographic apostrophe
    ],
)
def test_refusals_are_not_wrong_answers(text: str) -> None:
    parsed = parse_yesno(text)
    assert parsed.status == "refusal"
    assert parsed.answer is None


@pytest.mark.parametrize(
    ("text", "method"),
    [
        ("", "empty"),
        ("   \n\n ", "empty"),
        ("Yes and no.", "ambiguous"),
        ("It depends on how you read the passage.", "unparseable"),
        ("No one knows for sure.", "unparseable"),
        ("There is no clear answer in the passage.", "unparseable"),
        ("It is true that taxes are the same.", "unparseable"),
        ("The passage doesn't settle this one way or the other.", "unparseable"),
        # First and last word disagree: recorded, not guessed.
        ("Yes. However, the passage says there is no.", "conflict"),
        ('{"answer": ', "unparseable"),  # a truncated structured answer
    ],
)
def test_unparseable_answers_are_kept_apart(text: str, method: str) -> None:
    assert parse_yesno(text) == YesNoParse(None, "unparseable", method)


def test_leading_no_before_an_explanation_is_an_answer_not_a_refusal() -> None:
    # "No" followed by an explanation that merely mentions cheating in the passage's subject.
    parsed = parse_yesno("No. The passage says the team was never found to be cheating.")
    assert parsed == YesNoParse(False, "answer", "leading")


def test_sim_answer_forms_all_parse_to_their_verdict() -> None:
    import random

    from harness.sim.boolq import answer_text

    rng = random.Random(7)
    for _ in range(300):
        verdict = rng.random() < 0.5
        text = answer_text(verdict, rng)
        assert parse_yesno(text).answer is verdict, text
