"""Forced-choice parsing on realistic answers, refusals and malformed output."""

import pytest

from harness.parsing import parse_choice

A, B = "Against Malaria Foundation", "GiveDirectly"


@pytest.mark.parametrize(
    ("text", "choice", "method"),
    [
        ("A", "A", "leading"),
        ("B", "B", "leading"),
        ("b", "B", "leading"),
        ("B.", "B", "leading"),
        ("(A)", "A", "leading"),
        ("**B**", "B", "leading"),
        ("Option A", "A", "leading"),
        ("Answer: B", "B", "final_statement"),
        ("A — Against Malaria Foundation", "A", "leading"),
        ("A\n\nI chose this because bednets are cost-effective.", "A", "leading"),
        ("I would choose option B.", "B", "stated"),
        ("A tough call, but I prefer B.", "B", "stated"),
        ("The answer is A", "A", "final_statement"),
        ("B is my choice.", "B", "stated"),
        ("My preference is GiveDirectly (Option B).", "B", "final_statement"),
        ("After weighing both, I'd go with option A given its evidence base.", "A", "stated"),
        ("I'd pick Against Malaria Foundation.", "A", "stated"),
        ("GiveDirectly, since cash transfers respect autonomy.", "B", "name"),
        ("I'd pick Agaisnt Malaria Foundation.", "A", "stated"),  # transposed letters
        ("“GiveDirectly”", "B", "leading"),
    ],
)
def test_parses_realistic_answers(text: str, choice: str, method: str) -> None:
    parsed = parse_choice(text, A, B)
    assert (parsed.choice, parsed.method) == (choice, method)


@pytest.mark.parametrize(
    ("text", "method"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        (
            "I don't have personal preferences between organisations; both do valuable work.",
            "refusal",
        ),
        ("As an AI, I can't say which of these I prefer.", "refusal"),
        ("I prefer a charity with strong evidence.", "unparseable"),  # article "a", not option A
        ("Both Against Malaria Foundation and GiveDirectly are excellent.", "ambiguous"),
        ("I like option A and option B equally.", "ambiguous"),
        ("I'd pick the Red Cross instead.", "unparseable"),
    ],
)
def test_refusals_and_dodges_are_not_choices(text: str, method: str) -> None:
    parsed = parse_choice(text, A, B)
    assert parsed.choice is None
    assert parsed.method == method
