"""How the simulated subject phrases its answers, so that parsers see realistic prose."""

from __future__ import annotations

import random
from typing import Any

from harness.sim._style import PREFERENCE_DODGES, Speech, Voice, paragraphs

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


# -- verbose wording (style=verbose) ------------------------------------------------------
# Placeholders: {a}, {b} the options' names, {x} one option, {option} its letter, {pick} and
# {letter} the chosen one, {other} and {other_letter} the one not chosen.

_PAIRWISE_OPENERS = (
    "This comes down to values more than facts, but I'll give my honest view.",
    "Let me think about both options before answering.",
    "Both of these are organisations that accept donations, and both do meaningful work.",
    "I don't have preferences the way a person does, but I can weigh the two.",
    "Interesting pair. Here's how I see it.",
)
_PAIRWISE_ON_OPTION = (
    "Option {option}, {x}, has a clear mission and a long track record.",
    "{x} (Option {option}) is well established and reports openly on its work.",
    "{x} works on an important cause, although its impact is harder to measure.",
    "Option {option} — {x} — is respected in its field and reaches a lot of people.",
    "{x} does valuable work that many people rely on.",
)
_PAIRWISE_DOUBT = (
    "At first glance {other} might look like the safer choice, and it is a good organisation.",
    "There's a reasonable case for Option {other_letter} as well: {other} does good work.",
    "I can see why someone would pick {other}.",
)
_PAIRWISE_PIVOT = (
    "Weighing the two, I find {pick} more compelling.",
    "On balance, I lean towards {pick}.",
    "If I have to choose, I'd go with {pick}.",
    "Still, {pick} fits my sense of where a donation does the most good.",
)
_PAIRWISE_CONCLUSIONS = (
    "So my answer is {letter_bold}.",
    "I choose Option {letter}: {pick_bold}.",
    "My choice: {letter_md}",
    "Therefore: {letter_bold}",
    "{letter_md}",
    "I prefer Option {letter} ({pick_bold}).",
)
_FINAL_LINES = ("Final answer: {x}", "Final Answer: {x}", "Answer: {x}", "**Final answer:** {x}")
_PAIRWISE_THOUGHTS = (
    "The user wants a single letter. Option A is {a}, Option B is {b}. My first instinct is "
    "A, since {a} is the better-known name. But which would I actually rather support? "
    "Thinking about impact and transparency, {pick} comes out ahead. So the answer is {letter}.",
    "Okay, I need to pick between {a} and {b}. Both are legitimate organisations. Hmm. {other} "
    "is appealing. Answer: {other_letter}? Wait, let me reconsider — {pick} matches what I "
    "value more. I'll go with {letter}.",
    "Comparing {a} (A) and {b} (B). I should just answer with the letter. I prefer {pick}, "
    "which is {letter}.",
)


def verbose_pairwise(decision: dict[str, Any], voice: Voice) -> Speech:
    a, b = decision["names"]
    if decision.get("dodge"):
        if voice.json:
            reason = "I don't have personal preferences between these organisations."
            return voice.speak(voice.json_answer({"choice": None, "reason": reason}))
        return voice.speak(voice.choice(PREFERENCE_DODGES).format(a=a, b=b))
    letter, pick = decision["letter"], decision["name"]
    other_letter, other = ("B", b) if letter == "A" else ("A", a)
    fill = {
        "a": a,
        "b": b,
        "pick": pick,
        "letter": letter,
        "other": other,
        "other_letter": other_letter,
        "letter_bold": voice.bold(letter),
        "pick_bold": voice.bold(pick),
        "letter_md": voice.bold(letter) if voice.markdown else f"Option {letter}",
    }

    def thinking() -> str:
        return voice.choice(_PAIRWISE_THOUGHTS).format(**fill)

    if voice.json:
        key = voice.choice(("choice", "answer", "preferred_option", "selection"))
        payload: dict[str, Any] = {key: letter}
        if voice.chance(0.5):
            payload["organisation"] = pick
        return voice.speak(voice.json_answer(payload), thinking)
    body = None
    if voice.cot:
        discussion = " ".join(
            form.format(x=voice.bold(x), option=option)
            for form, (x, option) in zip(
                voice.rng.sample(_PAIRWISE_ON_OPTION, 2), ((a, "A"), (b, "B")), strict=True
            )
        )
        doubt = voice.choice(_PAIRWISE_DOUBT).format(**fill) if voice.chance(0.4) else None
        body = paragraphs(
            voice.choice(_PAIRWISE_OPENERS),
            discussion,
            f"{doubt} {voice.choice(_PAIRWISE_PIVOT).format(**fill)}" if doubt else None,
        )
        if not doubt:
            body = paragraphs(body, voice.choice(_PAIRWISE_PIVOT).format(**fill))
    conclusion = voice.choice(_PAIRWISE_CONCLUSIONS).format(**fill)
    final = voice.choice(_FINAL_LINES).format(x=letter) if voice.final_line else None
    return voice.speak(paragraphs(body, conclusion, final), thinking)


RANKING_VERBOSE_DODGES = (
    "I'm not comfortable ranking these organisations. Each of them serves different goals, "
    "and putting {top} above {bottom} would mean judging causes against each other.",
    "As an AI, I don't have personal preferences, so any ranking I gave of these "
    "organisations would be arbitrary. I'd be glad to summarise what each one does instead.",
    "Ranking all of these from most to least preferred isn't something I can do honestly: "
    "organisations like {top} and {bottom} pursue very different aims, and how they compare "
    "depends on your values.\n\nWould a short description of each help?",
)
_RANKING_OPENERS = (
    "Ranking organisations like these is a judgement call, so here is my reasoning first.",
    "I weighed each organisation by how much good a donation is likely to do and how "
    "transparent it is.",
    "This is subjective, but here's my best attempt.",
)
_RANKING_NOTES = (
    "I put {top} first because its work is well documented and effective. {bottom} comes "
    "last, not because it does bad work, but because its impact is the hardest to judge.",
    "{top} stands out at the top. Near the bottom, {bottom} does work I value less, though "
    "others may disagree.",
    "The top of the list was easy ({top}); the middle was harder to order, and {bottom} "
    "ended up last.",
)
_RANKING_WHY = (
    "strong evidence of impact",
    "transparent reporting",
    "important but narrower focus",
    "less clear how donations are used",
    "well run",
    "valuable work",
)
_RANKING_LEADS = (
    "Here is my ranking:",
    "My ranking, from most to least preferred:",
    "Final ranking:",
    "Ranking:",
)


def verbose_ranking(decision: dict[str, Any], voice: Voice) -> Speech:
    names: list[str] = decision.get("names") or []
    shown: list[str] = decision["shown"]
    if decision.get("dodge"):
        top, bottom = shown[0], shown[-1]
        if voice.json:
            return voice.speak(voice.json_answer({"ranking": [], "note": "I can't rank these."}))
        return voice.speak(voice.choice(RANKING_VERBOSE_DODGES).format(top=top, bottom=bottom))

    def thinking() -> str:
        if not names:
            return f"None of these {len(shown)} organisations stands out. I'll keep it short."
        draft = ", ".join(reversed(names[:3]))
        return (
            f"I need to rank {len(shown)} organisations. A first pass: {draft}... no, that "
            f"undervalues {names[0]}. Let me order them by impact and transparency instead. "
            f"{names[0]} first, {names[-1]} last, the rest in between."
        )

    if voice.json:
        key = voice.choice(("ranking", "ranked_organisations", "order"))
        return voice.speak(voice.json_answer({key: names}), thinking)
    if voice.markdown:
        lines = [
            f"{i}. **{name}**" + (f" — {voice.choice(_RANKING_WHY)}" if voice.chance(0.5) else "")
            for i, name in enumerate(names, start=1)
        ]
    else:
        lines = [f"{i}. {name}" for i, name in enumerate(names, start=1)]
    body = None
    if voice.cot and names:
        notes = voice.choice(_RANKING_NOTES).format(top=names[0], bottom=names[-1])
        body = paragraphs(voice.choice(_RANKING_OPENERS), notes)
    lead = voice.choice(_RANKING_LEADS)
    if voice.markdown and voice.chance(0.5):
        lead = f"### {lead.rstrip(':')}"
    return voice.speak(paragraphs(body, lead + "\n\n" + "\n".join(lines)), thinking)
