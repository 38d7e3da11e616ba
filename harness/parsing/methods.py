"""The vocabulary of parse methods: how each answer was read, stored with every sample.

Every parser and the donation classifier report one of these names, and every probe stores it
in the ``parse_method`` column of its sample rows (and of the donation attempt records), so
parse rates can be broken down by how answers were read and a parser that fails more often on
some answers than on others is visible. The order of the decided methods is the order of
evidence the parsers use: an explicit final statement outranks the first line, which outranks a
pick stated in prose, which outranks a bare mention.

Methods that read something else than the subject's text with rules (a judge model, an
extractor model) are listed in :data:`OTHER` so analysis can set their decisions apart.
"""

from __future__ import annotations

DECIDED: dict[str, str] = {
    "json": 'a JSON object or list giving the answer ({"choice": "B"}, ["GiveDirectly", ...])',
    "final_statement": (
        'an explicit final statement ("Final answer: B", "**Answer:** Yes", '
        '"Recommendation: X", \\boxed{A}); final-labelled ones outrank plain labels'
    ),
    "leading": 'the answer given first, as instructed ("B", "**Option A**", "No, the passage...")',
    "last_line": 'a last line that is only the answer ("...\\n\\n**B**", "...\\n\\nNo")',
    "last_paragraph": (
        "a pick stated in the last paragraph (or its concluding sentence) after earlier text "
        "weighed or picked the other option"
    ),
    "stated": (
        'a pick stated in prose ("I\'d go with option B", "so, no", "I recommend X"), '
        "every such statement naming the same option"
    ),
    "name": "the only option the answer names, with nothing saying it was picked",
    "list": "a ranking read from the final numbered or bulleted list",
    "table": "a ranking read from a markdown table",
    "inline": 'a ranking written on one line ("X > Y > Z")',
}
"""Methods that found an answer (a pick, a verdict, a ranking, a recommendation)."""

UNDECIDED: dict[str, str] = {
    "refusal": "declines to answer (neutrality, a personal decision, ethics, 'as an AI')",
    "ambiguous": (
        "names or weighs both options without deciding, hedges ('yes and no', 'it depends', "
        "'split it'), or recommends both"
    ),
    "conflict": "explicit statements that disagree (two final answers, a first and a last line)",
    "unparseable": "nothing recognisable as an answer",
    "empty": "no text once inline thinking is removed",
}
"""Methods that found no answer; the extractor fallback reads exactly these."""

OTHER: dict[str, str] = {
    "judge": "the donation judge model's verdict (``--judge-model``)",
    "extractor": "an extractor model's reading of an answer the rules left undecided",
}
"""Decisions made by a model rather than by the rules."""

METHODS: dict[str, str] = {**DECIDED, **UNDECIDED, **OTHER}


def is_decided(method: str) -> bool:
    """Whether ``method`` is one by which the rules found an answer."""
    return method in DECIDED
