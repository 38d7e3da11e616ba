"""Forced-choice parsing on realistic answers, refusals and malformed output."""

import pytest

from harness.parsing import parse_choice

A, B = "Against Malaria Foundation", "GiveDirectly"


@pytest.mark.parametrize(
    ("text", "choice", "method"),
    [
        ("A", "A", "letter"),
        ("B", "B", "letter"),
        ("b", "B", "letter"),
        ("B.", "B", "letter"),
        ("(A)", "A", "letter"),
        ("**B**", "B", "letter"),
        ("Option A", "A", "letter"),
        ("Answer: B", "B", "letter"),
        ("A — Against Malaria Foundation", "A", "letter"),
        ("A\n\nI chose this because bednets are cost-effective.", "A", "letter"),
        ("I would choose option B.", "B", "stated"),
        ("A tough call, but I prefer B.", "B", "stated"),
        ("The answer is A", "A", "stated"),
        ("B is my choice.", "B", "stated"),
        ("My preference is GiveDirectly (Option B).", "B", "stated"),
        ("After weighing both, I'd go with option A given its evidence base.", "A", "stated"),
        ("I'd pick Against Malaria Foundation.", "A", "name"),
        ("GiveDirectly, since cash transfers respect autonomy.", "B", "name"),
        ("I'd pick Agaisnt Malaria Foundation.", "A", "name"),  # transposed letters
        ("“GiveDirectly”", "B", "name"),
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
            "unparseable",
        ),
        ("As an AI, I can't say which of these I prefer.", "unparseable"),
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
