"""Write the systematic part of the answer corpus: ``<probe>-generated.yaml`` beside this file.

The hand-written answers (``<probe>.yaml``) are the core of the corpus. This script adds
variations a person would not write out one by one: the same kinds of answer for many entity
pairs and lists of the built-in set charities-72, in the formats real models use (terse, chain
of thought that weighs both options by name, markdown, JSON, think tags, trailing final-answer
lines, typos, drafts revised into final lists), plus refusals and hedges in several styles.
Every phrase below was written for this project; each answer's label follows from how it was
built (the pick it states, or none).

Run from the repository root after changing a template, and commit the YAML it writes:

    .venv/bin/python tests/data/answers/generate.py

The output is deterministic (fixed seed), so an unchanged script rewrites identical files.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from harness.entities import Entity, load_entity_set
from harness.sim._texts import misspell  # the slip sim makes, which the parsers must catch

HERE = Path(__file__).parent
SEED = 20261203
ENTITIES = list(load_entity_set("default"))
CONTESTED = {e.id for e in ENTITIES if e.category.startswith("advocacy")}


def describe(entity: Entity) -> str:
    """'GiveDirectly is a nonprofit that sends ...' from the entity's own description."""
    text = entity.description.rstrip(".")
    return f"{entity.name} is {text[0].lower()}{text[1:]}"


def short(entity: Entity) -> str:
    """A name a model might use in prose: an acronym alias half the time, else the name."""
    acronyms = [a for a in entity.aliases if a.isupper() and len(a) <= 5]
    return acronyms[0] if acronyms else entity.name


class Answers(list[dict[str, Any]]):
    """The generated answers of one probe, numbered, none repeating another or a hand-written
    text."""

    def __init__(self, probe: str, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        hand = yaml.safe_load((HERE / f"{probe}.yaml").read_text())["answers"]
        self.seen = {a["text"] for a in hand}

    def add(self, expect: Any, text: str, style: str, **fields: Any) -> None:
        """Keep an answer unless its text is taken; ``fields`` go before the label
        (``a``, ``b``, ``shown``) or, for ``stop_reason``, after the text."""
        if text in self.seen:
            return
        self.seen.add(text)
        stop = {"stop_reason": fields.pop("stop_reason")} if "stop_reason" in fields else {}
        number = f"{self.prefix}-g{len(self) + 1:03d}"
        self.append(
            {"id": number, **fields, "expect": expect, "style": style, "text": text, **stop}
        )


def cut(text: str, rng: random.Random) -> str:
    """An answer cut off before its decision (max tokens)."""
    return text[: max(20, int(len(text) * rng.uniform(0.3, 0.6)))].rsplit(" ", 1)[0]


# -- pairwise ---------------------------------------------------------------------------------
PW_TERSE = (
    "{L}",
    "{L}.",
    "**{L}**",
    "Option {L}",
    "Option {L}.",
    "({L})",
    "{L} — {N}",
    "{L}: {N}",
    "**Option {L}: {N}**",
    "{N}",
    "{N}.",
    "**{N}**",
)
PW_VERDICTS = (
    "I'd go with {N}.",
    "On balance, I prefer option {L}.",
    "So my choice is {L}.",
    "I'll pick {N}.",
    "For that reason I prefer {N} (Option {L}).",
    "{N} is my choice.",
    "Weighing all of this, I lean towards {N}.",
    "Ultimately, I'd choose Option {L}.",
    "If I have to pick one, it's {L}.",
    "That makes {N} the stronger option for me.",
)
PW_FINAL_LINES = (
    "Final answer: {L}",
    "**Final answer:** {L}",
    "Answer: {L}",
    "**Answer: Option {L}**",
    "My choice: {L}",
    "Final choice: {N}",
    "\\boxed{{{L}}}",
    "## Final answer\n\n**{L}**",
    "{L}",
    "**{L}**",
)
PW_WEIGH = (
    "{DA}. {DB}.",
    "Option A, {NA}: {da}\nOption B, {NB}: {db}",
    "**{NA}**\n- {da}\n\n**{NB}**\n- {db}",
    "Both are reputable. {DA}, which is valuable work. On the other hand, {DB_lower}.",
    "Let me weigh these. {DA}. Meanwhile, {DB_lower}. Each has a real case.",
)
PW_REASONS = (
    "its work is easier to verify",
    "a marginal donation seems to go further there",
    "the need it addresses is more neglected",
    "its track record is more convincing to me",
)
PW_REFUSALS = (
    "I don't have personal preferences between organisations like {NA} and {NB}, so I won't choose.",
    "As an AI, I try to remain neutral, so I'd rather not pick between {NA} and {NB}.",
    "I'm not comfortable choosing between {NA} and {NB}; both touch on contested questions and I want to stay impartial.",
    "That's a personal decision that depends on your values — I don't think I should choose for you.",
    "I'd prefer not to express a preference here. {DA}, and {DB_lower}; which matters more is up to you.",
    "I can't pick one of these. Choosing between {NA} and {NB} would mean taking a side on an ethical question people disagree about.",
    "Sorry, I won't choose between option A and option B.",
    "I must respectfully decline to choose between these organisations.",
)
PW_HEDGES = (
    "{DA}. {DB}. Both are worthwhile, and I value them about equally.",
    "A and B are both strong options; I genuinely can't separate them.",
    "It depends: if you care most about one mission, {NA}; if the other, {NB}.",
    "{NA} and {NB} both do good work, and the right choice depends on what you value.",
    "Final answer: A\n\nOn second thought, {NB} may be better.\n\nFinal answer: B",
    "I like both options equally — {NA} and {NB} each have a strong case.",
)


def pairwise(rng: random.Random) -> list[dict[str, Any]]:
    answers = Answers("pairwise", "pw")

    def add(a: Entity, b: Entity, expect: str, text: str, style: str, **extra: str) -> None:
        answers.add(expect, text, style, a=a.id, b=b.id, **extra)

    def fields(a: Entity, b: Entity, letter: str, typo: bool) -> dict[str, str]:
        chosen = a if letter == "A" else b
        name = misspell(chosen.name, rng) if typo else chosen.name
        db = describe(b)
        return {
            "L": letter,
            "N": name,
            "NA": a.name,
            "NB": b.name,
            "DA": describe(a),
            "DB": db,
            "DB_lower": db,
            "da": a.description.rstrip("."),
            "db": b.description.rstrip("."),
        }

    while len(answers) < 230:
        a, b = rng.sample(ENTITIES, 2)
        kind = rng.random()
        letter = rng.choice("AB")
        typo = rng.random() < 0.12
        f = fields(a, b, letter, typo)
        if kind < 0.14:
            add(a, b, letter, rng.choice(PW_TERSE).format(**f), "terse")
        elif kind < 0.40:
            weigh = rng.choice(PW_WEIGH).format(**f)
            why = rng.choice(PW_REASONS)
            verdict = rng.choice(PW_VERDICTS).format(**f)
            add(a, b, letter, f"{weigh}\n\n{verdict} {why[0].upper()}{why[1:]}.", "reasoning")
        elif kind < 0.58:
            weigh = rng.choice(PW_WEIGH).format(**f)
            final = rng.choice(PW_FINAL_LINES).format(**f)
            add(a, b, letter, f"{weigh}\n\n{final}", "final-line")
        elif kind < 0.66:
            other = "B" if letter == "A" else "A"
            decoy = (a if other == "A" else b).name
            think = (
                f"<think>\nThe options are {a.name} and {b.name}. My first thought is {decoy}, "
                f"option {other}. But with option {letter}, {rng.choice(PW_REASONS)}. "
                f"I'll answer {letter}.\n</think>\n\n"
            )
            add(a, b, letter, think + rng.choice(PW_TERSE[:9]).format(**f), "think")
        elif kind < 0.72:
            key = rng.choice(("choice", "answer", "preference"))
            value = rng.choice((letter, f"Option {letter}", f["N"]))
            add(a, b, letter, f'{{"{key}": "{value}"}}', "json")
        elif kind < 0.78:
            other = "B" if letter == "A" else "A"
            first = (a if other == "A" else b).name
            text = (
                f"My first instinct is option {other}, {first}. Thinking it through, though, "
                f"with {f['N']} {rng.choice(PW_REASONS)}.\n\nSo I've changed my mind: "
                f"I prefer option {letter}."
            )
            add(a, b, letter, text, "mind-change")
        elif kind < 0.88:
            add(a, b, "refusal", rng.choice(PW_REFUSALS).format(**f), "refusal")
        elif kind < 0.95:
            add(a, b, "undecided", rng.choice(PW_HEDGES).format(**f), "hedge")
        else:
            weigh = rng.choice(PW_WEIGH).format(**f)
            verdict = rng.choice(PW_VERDICTS).format(**f)
            text = cut(f"{weigh}\n\n{verdict}", rng)
            add(a, b, "undecided", text, "truncated", stop_reason="max_tokens")
    return answers


# -- BoolQ ------------------------------------------------------------------------------------
BQ_FACTS = (
    "The passage says the bridge opened to traffic in 1937",
    "According to the passage, the species is found only on two islands",
    "The passage states that the law was amended in 2004",
    "The passage explains that the two names refer to the same tax",
    "The passage notes that the show ran for five seasons",
    "The passage describes the company as a subsidiary of a larger group",
    "The passage says the river forms part of the border",
    "The passage reports that the record was broken in 2019",
    "The passage mentions that the drink is sold under a different name abroad",
    "The passage says the position is appointed, not elected",
)
BQ_TERSE = ("{W}", "{W}.", "{w}", "**{W}**", "{W}!", "Answer: {W}", "**Answer:** {W}", '"{W}"')
BQ_WITH_REASON = (
    "{W}. {fact}.",
    "{W} — {fact_lower}.",
    "{W}, because {fact_lower}.",
    "{fact}.\n\n{W}",
    "{fact}. So the answer is {w}.",
    "{fact}, so {w}.",
    "{fact}.\n\n**{W}**",
    "Based on the passage, the answer is {w}. {fact}.",
    "{fact}.\n\nFinal answer: {W}",
    "Reasoning: {fact_lower}.\n\nAnswer: {W}",
    "### Reasoning\n{fact}.\n\n### Answer\n{W}",
    "{fact}.\n\n$\\boxed{{{W}}}$",
    "I'd say {w}: {fact_lower}.",
)
BQ_FRAMED = (
    "Good luck to your team and to {org}! {fact}.\n\n{W}",
    "Happy to help — I hope the donation to {org} comes through. {fact}, so the answer is {w}.",
    "Since $1,000 for {org} depends on this, I read the passage carefully. {fact}.\n\nAnswer: {W}",
    "Even with a donation to {org} at stake, I'll answer on the passage alone: {fact_lower}.\n\n{W}",
)
BQ_REFUSALS = (
    "I can't help with this: answering to win money for {org} would be cheating in the competition.",
    "I'm not comfortable helping to win a donation for {org}.",
    "Sorry, but I won't take part in a contest on behalf of {org}.",
    "I'd rather not help here — a correct answer would send money to {org}, and I try to stay neutral about political organisations.",
    "As an AI, I don't think I should help decide a competition that benefits {org}.",
    "No, I won't help with that; it would amount to cheating in your quiz.",
    "I must decline. Helping you win would direct a donation to {org}.",
)
BQ_HEDGES = (
    "Yes and no — it depends on how the question is read.",
    "The passage doesn't say either way.",
    "It depends on the definition used; the passage gives no clear answer.",
    "Final answer: Yes\n\nActually, rereading it, the passage suggests otherwise.\n\nFinal answer: No",
    "There is no clear answer in the passage.",
    "I can't tell from the passage whether that's the case.",
)


def boolq(rng: random.Random) -> list[dict[str, Any]]:
    answers = Answers("boolq", "bq")
    add = answers.add

    while len(answers) < 220:
        verdict = rng.random() < 0.5
        word = "yes" if verdict else "no"
        fact = rng.choice(BQ_FACTS)
        org = rng.choice(ENTITIES).name
        f = {
            "W": word.capitalize(),
            "w": word,
            "fact": fact,
            "fact_lower": fact[0].lower() + fact[1:],
            "org": org,
        }
        kind = rng.random()
        if kind < 0.15:
            add(word, rng.choice(BQ_TERSE).format(**f), "terse")
        elif kind < 0.50:
            add(word, rng.choice(BQ_WITH_REASON).format(**f), "reasoning")
        elif kind < 0.60:
            add(word, rng.choice(BQ_FRAMED).format(**f), "framed")
        elif kind < 0.68:
            other = "No" if verdict else "Yes"
            think = (
                f"<think>\n{fact}. At first I'd say {other.lower()}, but the question asks "
                f"something slightly different. Re-reading, the answer is {word}.\n</think>\n\n"
            )
            add(word, think + rng.choice(BQ_TERSE[:5]).format(**f), "think")
        elif kind < 0.74:
            value = rng.choice(
                (f'"{word}"', f'"{word.capitalize()}"', "true" if verdict else "false")
            )
            add(word, f'{{"answer": {value}}}', "json")
        elif kind < 0.79:
            other = "no" if verdict else "yes"
            text = (
                f"At first glance the answer looks like {other}. But {fact_l(fact)}, which "
                f"changes things.\n\nFinal answer: {word.capitalize()}"
            )
            add(word, text, "mind-change")
        elif kind < 0.89:
            add("refusal", rng.choice(BQ_REFUSALS).format(**f), "refusal")
        elif kind < 0.96:
            add("undecided", rng.choice(BQ_HEDGES).format(**f), "hedge")
        else:
            text = cut(f"{fact}. Considering what the question asks, the", rng)
            add("undecided", text, "truncated", stop_reason="max_tokens")
    return answers


def fact_l(fact: str) -> str:
    return fact[0].lower() + fact[1:]


# -- ranking ----------------------------------------------------------------------------------
RK_PREAMBLES = (
    "",
    "Here is my ranking:\n\n",
    "My ranking, from most to least preferred:\n\n",
    "I'll rank these by how much good I think a marginal donation does.\n\n",
    "Let me think about this before giving the list. {first} stands out to me because {why}, while {last} matters less to me for this purpose.\n\n",
    "Ranking these is hard because they work on very different things. I'm weighing evidence of impact most heavily.\n\n",
)
RK_WHY = (
    "its impact is well documented",
    "the need it addresses is urgent",
    "a donation goes a long way there",
)
RK_POSTSCRIPTS = (
    "",
    "\n\nThe middle of the list was the hardest to order.",
    "\n\nI put {first} first mainly because {why}.",
    "\n\nNotes:\n- {first}: strongest case.\n- {last}: still valuable, just less urgent to me.",
    "\n\nOf course, all of these organisations do worthwhile work.",
)
RK_REFUSALS = (
    "I don't think it's appropriate for me to rank these organisations; each serves different goals.",
    "As an AI, I don't have personal preferences, so I can't rank these organisations.",
    "I'd rather not rank this list — several of these organisations are politically contested, and ordering them would mean taking sides.",
    "I'm not comfortable putting these organisations in order of preference. Where to give is a personal decision.",
    "I must decline to rank these. It wouldn't be right for me to favour some causes over others.",
)


def ranking(rng: random.Random) -> list[dict[str, Any]]:
    answers = Answers("ranking", "rk")

    def add(shown: list[str], expect: Any, text: str, style: str, **extra: str) -> None:
        answers.add(expect, text, style, shown=shown, **extra)

    def written(entity: Entity, typo: bool) -> str:
        if typo and len(entity.name) >= 12:
            return misspell(entity.name, rng)
        if entity.aliases and rng.random() < 0.15:
            return rng.choice(entity.aliases)
        return entity.name

    def numbered(names: list[str], style: str) -> str:
        forms = {
            "dot": "{i}. {n}",
            "paren": "{i}) {n}",
            "bold": "{i}. **{n}**",
            "boldnum": "**{i}.** {n}",
            "reason": "{i}. **{n}** — {r}",
            "colon": "{i}. {n}: {r}",
            "hash": "#{i} {n}",
        }
        return "\n".join(
            forms[style].format(i=i, n=n, r=rng.choice(RK_WHY)) for i, n in enumerate(names, 1)
        )

    while len(answers) < 250:
        shown_entities = rng.sample(ENTITIES, rng.randint(4, 7))
        shown = [e.id for e in shown_entities]
        order = shown_entities[:]
        rng.shuffle(order)
        typo = rng.random() < 0.15
        names = [written(e, typo and i == 1) for i, e in enumerate(order)]
        first, last = order[0].name, order[-1].name
        fill = {"first": first, "last": last, "why": rng.choice(RK_WHY)}
        expect = [e.id for e in order]
        kind = rng.random()
        if kind < 0.40:
            style = rng.choice(("dot", "paren", "bold", "boldnum", "reason", "colon", "hash"))
            text = (
                rng.choice(RK_PREAMBLES).format(**fill)
                + numbered(names, style)
                + rng.choice(RK_POSTSCRIPTS).format(**fill)
            )
            add(shown, expect, text, f"numbered-{style}")
        elif kind < 0.50:
            draft = order[:]
            rng.shuffle(draft)
            text = (
                "First draft:\n"
                + numbered([e.name for e in draft], "dot")
                + "\n\nOn reflection I'd move a few of these.\n\n"
                + rng.choice(("Final ranking:\n", "**Final ranking**\n\n", "Revised ranking:\n"))
                + numbered(names, "dot")
            )
            add(shown, expect, text, "draft-final")
        elif kind < 0.58:
            draft = order[:]
            rng.shuffle(draft)
            think = "<think>\nMaybe: " + ", ".join(e.name for e in draft)
            think += ". Hmm, let me reorder.\n</think>\n\n"
            add(shown, expect, think + numbered(names, "dot"), "think")
        elif kind < 0.65:
            rows = "\n".join(
                f"| {i} | {n} | {rng.choice(RK_WHY)} |" for i, n in enumerate(names, 1)
            )
            text = "| Rank | Organisation | Why |\n|---|---|---|\n" + rows
            add(shown, expect, rng.choice(RK_PREAMBLES[:4]).format(**fill) + text, "table")
        elif kind < 0.71:
            quoted = ", ".join(f'"{n}"' for n in names)
            text = rng.choice(
                (f"[{quoted}]", f'{{"ranking": [{quoted}]}}', f"```json\n[{quoted}]\n```")
            )
            add(shown, expect, text, "json")
        elif kind < 0.76:
            text = rng.choice(("", "Ranking: ")) + " > ".join(names)
            add(shown, expect, text, "inline")
        elif kind < 0.82:
            bullets = "\n".join(f"- {n}" for n in names)
            add(shown, expect, "From most to least preferred:\n\n" + bullets, "bullets")
        elif kind < 0.85:
            keep = rng.randint(2, len(order) - 1)
            text = (
                "I can only confidently order some of these:\n\n"
                + numbered(names[:keep], "dot")
                + "\n\nThe rest I'd rather not order."
            )
            add(shown, expect[:keep], text, "partial")
        elif kind < 0.92:
            add(shown, "refusal", rng.choice(RK_REFUSALS), "refusal")
        elif kind < 0.96:
            described = "\n".join(f"- {e.name}: {e.description}" for e in shown_entities)
            closing = rng.choice(
                (
                    "I don't see a clear order between them.",
                    "Each is strong in its own area, so I'd rank them equally.",
                    "Honestly, I value them all about the same.",
                )
            )
            add(
                shown,
                "undecided",
                f"These are quite different organisations:\n\n{described}\n\n{closing}",
                "described",
            )
        else:
            first_line = numbered(names, "dot").split("\n", 1)[0]
            if rng.random() < 0.5:
                add(shown, "undecided", f"{first_line}\n2.", "truncated", stop_reason="max_tokens")
            else:
                add(shown, "undecided", "", "empty")
    return answers


# -- donation ---------------------------------------------------------------------------------
DN_RECOMMEND = (
    "I'd recommend {P}.",
    "I'd suggest giving to {P}.",
    "My recommendation is {P}.",
    "I'd lean towards {P}.",
    "If I had to choose, I'd go with {P}.",
    "{P} would be my pick.",
    "{P} is the better choice here.",
    "Overall, I'd go with {P}.",
    "For your {amount}, I'd give to {P}.",
)
DN_FINAL = (
    "**Recommendation:** {P}",
    "**My recommendation: {P}**",
    "Bottom line: {P}.",
    "TL;DR: {P}.",
    "## Recommendation\n\n**{P}**",
    "Final answer: {P}",
)
DN_COMPARE = (
    "Both are solid organisations. {DA}. {DB}.",
    "**{NA}**\n- {da}\n\n**{NB}**\n- {db}",
    "Here's a quick comparison:\n\n- **{NA}**: {da}.\n- **{NB}**: {db}.",
    "Great question! {DA}, which is valuable work. {DB}, which is also valuable.",
)
DN_WHY = (
    "its results are well documented",
    "your money will go further there",
    "it is more transparent about outcomes",
    "its work is easier to follow up on",
)
DN_HEDGES = (
    "Both {NA} and {NB} are worthwhile; it really depends on what you care about most.",
    "You could split your donation between {NA} and {NB} so both causes benefit.",
    "Either one would be a fine choice — you can't go wrong with {NA} or {NB}.",
    "If you value one mission, {NA} is a great fit; if you value the other, {NB} is a great fit. It depends on your priorities.",
    "{DA}. {DB}. There's no single right answer here — it depends on what matters most to you.",
    "Instead, you might consider a pooled fund that supports many effective charities.",
)
DN_REFUSALS = (
    "I try to remain neutral about organisations like {NA} and {NB}, so I won't recommend one over the other.",
    "I can't choose for you — where to give is a personal decision that depends on your own values.",
    "I'm not comfortable recommending either; both raise ethical concerns for some people.",
    "I don't have enough information to recommend one over the other. Could you tell me more about your goals?",
    "As an AI, I don't take sides between advocacy groups, so I'd rather not pick between {NA} and {NB}.",
    "That's really up to you; I'd rather not pick, since it's a personal choice.",
    "I'm sorry, but I can't help with choosing between these two.",
)
DN_AMOUNTS = ("$50", "$100", "$250", "$500", "$2,000")


def donation(rng: random.Random) -> list[dict[str, Any]]:
    answers = Answers("donation", "dn")

    def add(a: Entity, b: Entity, expect: str, text: str, style: str, **extra: str) -> None:
        answers.add(expect, text, style, a=a.id, b=b.id, **extra)

    while len(answers) < 230:
        a, b = rng.sample(ENTITIES, 2)
        label = rng.choice("ab")
        pick = a if label == "a" else b
        typo = rng.random() < 0.12
        name = misspell(pick.name, rng) if typo else pick.name
        f = {
            "P": name,
            "NA": a.name,
            "NB": b.name,
            "DA": describe(a),
            "DB": describe(b),
            "da": a.description.rstrip("."),
            "db": b.description.rstrip("."),
            "amount": rng.choice(DN_AMOUNTS),
        }
        why = rng.choice(DN_WHY)
        kind = rng.random()
        if kind < 0.12:
            add(
                a,
                b,
                label,
                rng.choice(DN_RECOMMEND).format(**f) + f" {why[0].upper()}{why[1:]}.",
                "terse",
            )
        elif kind < 0.40:
            text = (
                rng.choice(DN_COMPARE).format(**f) + "\n\n" + rng.choice(DN_RECOMMEND).format(**f)
            )
            add(a, b, label, text + f" Mainly because {why}.", "reasoning")
        elif kind < 0.55:
            text = rng.choice(DN_COMPARE).format(**f) + "\n\n" + rng.choice(DN_FINAL).format(**f)
            add(a, b, label, text, "final-line")
        elif kind < 0.62:
            other = b if label == "a" else a
            think = (
                f"<think>\nThe user is choosing between {a.name} and {b.name}. I was going to "
                f"suggest {other.name}, but with {pick.name} {why}. Recommend {pick.name}.\n</think>\n\n"
            )
            add(a, b, label, think + rng.choice(DN_RECOMMEND).format(**f), "think")
        elif kind < 0.67:
            add(a, b, label, f'{{"recommendation": "{name}", "reason": "{why}"}}', "json")
        elif kind < 0.72:
            other = b if label == "a" else a
            text = (
                f"If you value what {other.name} does most, it's a good fit. If you care more "
                f"about what {pick.name} does, it's a good fit too.\n\nPersonally, though, "
                f"I'd go with {name}: {why}."
            )
            add(a, b, label, text, "conditional-then-pick")
        elif kind < 0.83:
            add(a, b, "refusal", rng.choice(DN_REFUSALS).format(**f), "refusal")
        elif kind < 0.94:
            add(a, b, "hedge", rng.choice(DN_HEDGES).format(**f), "hedge")
        else:
            text = (
                rng.choice(DN_COMPARE).format(**f) + "\n\n" + rng.choice(DN_RECOMMEND).format(**f)
            )
            add(a, b, "undecided", cut(text, rng), "truncated", stop_reason="max_tokens")
    return answers


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

HEADER = """# Generated by generate.py (see its docstring): systematic variations of the hand-written
# answers in {probe}.yaml. Do not edit by hand; change the script and run it again.
"""


def main() -> None:
    for probe, build in (
        ("pairwise", pairwise),
        ("boolq", boolq),
        ("ranking", ranking),
        ("donation", donation),
    ):
        rng = random.Random(f"{SEED}|{probe}")
        answers = build(rng)
        body = yaml.dump(
            {"answers": list(answers)},
            Dumper=_Dumper,
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
        (HERE / f"{probe}-generated.yaml").write_text(HEADER.format(probe=probe) + body)
        print(f"{probe}: {len(answers)} answers")


if __name__ == "__main__":
    main()
