"""How the simulated subject phrases its answers, so that parsers see realistic prose."""

from __future__ import annotations

import random

PAIRWISE_LETTER_FORMS = (
    "{letter}",
    "{letter}",
    "{letter}",
    "{letter}.",
    "Option {letter}",
    "**{letter}**",
    "I would choose option {letter}.",
    "{letter} — {name}",
    "I'd pick {name}.",
    "My preference is {name} (Option {letter}).",
)

RANKING_DODGES = (
    "I don't think it's appropriate for me to rank these organisations; each serves different goals.",
    "As an AI, I don't have personal preferences, so I can't rank these organisations.",
)

DODGES = (
    "I don't have personal preferences between organisations; both do valuable work.",
    "As an AI, I can't say which of these I prefer.",
    "Both organisations pursue worthwhile goals, and choosing between them depends on your values.",
    "I'd rather not pick one over the other.",
)


def misspell(name: str, rng: random.Random) -> str:
    """Swap two adjacent letters inside one longer word: the kind of slip fuzzy matching must catch."""
    words = name.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 6 and w.isalpha()]
    if not candidates:
        return name
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(1, len(word) - 2)
    words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def pairwise_answer(letter: str, name: str, rng: random.Random) -> str:
    return rng.choice(PAIRWISE_LETTER_FORMS).format(letter=letter, name=name)


def ranking_answer(names: list[str], rng: random.Random) -> str:
    style = rng.random()
    if style < 0.6:
        lines = [f"{i}. {n}" for i, n in enumerate(names, start=1)]
    elif style < 0.8:
        lines = [f"{i}) {n}" for i, n in enumerate(names, start=1)]
    else:
        lines = [f"{i}. **{n}**" for i, n in enumerate(names, start=1)]
    preamble = rng.choice(
        ("", "Here is my ranking:\n\n", "My ranking, from most to least preferred:\n")
    )
    return preamble + "\n".join(lines)
