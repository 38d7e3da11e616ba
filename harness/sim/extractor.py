"""``sim`` as an extractor model (``--extractor sim``): an honest stand-in, NOT a language model.

It answers the extractor's JSON format from a deliberately simple reading of the answer text
its prompt contains, and of nothing else: it never sees the planted decision behind an answer
(the hint it reads holds only the answer and the options the prompt shows). Its readings:

* pairwise and donation: the last paragraph that names an option (by name, or as "Option A");
  if that paragraph names exactly one and has no word of doubt or negation ("not", "n't",
  "never", "both", "either", "neither", "depends", "or"), that option, else ``none``;
* BoolQ: ``yes`` or ``no`` if the answer uses only one of the two words, else ``none``;
* ranking: the listed organisations in the order the answer first names them, if it names at
  least half of them, else an empty ranking.

So it exercises the extractor's plumbing (calls, storage, failures, the summary, the audit and
``--exclude-extracted``) end to end; how often it is right says nothing about a real
extractor.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import Any

from harness.sim._knobs import check_rate, knob_group
from harness.sim._subject import SimModel, sim_task

_DOUBT = re.compile(r"\b(?:not|never|both|either|neither|depends|or)\b|n't\b", re.I)
_VERDICT = re.compile(r"\b(yes|no)\b", re.I)
_BLANK = re.compile(r"\n\s*\n")


@knob_group
@dataclass(frozen=True)
class ExtractorKnobs:
    extractor_garble_rate: float = 0.0
    """Share of extractor replies that are not the JSON asked for (to exercise failures)."""

    def validate(self) -> None:
        check_rate("extractor_garble_rate", self.extractor_garble_rate)


def _names_option(paragraph: str, name: str, letter: str) -> bool:
    lowered = paragraph.lower()
    return name.lower() in lowered or bool(
        re.search(rf"\boption\s+{letter}\b|^\W*{letter}\W*$", paragraph, re.I | re.M)
    )


def last_pick(answer: str, name_a: str, name_b: str) -> str:
    """ "A", "B" or "none" by the reading of the module doc."""
    for paragraph in reversed([p for p in _BLANK.split(answer) if p.strip()]):
        named = [
            letter
            for letter, name in (("A", name_a), ("B", name_b))
            if _names_option(paragraph, name, letter)
        ]
        if named:
            return named[0] if len(named) == 1 and not _DOUBT.search(paragraph) else "none"
    return "none"


def verdict(answer: str) -> str:
    words = {w.lower() for w in _VERDICT.findall(answer)}
    return words.pop() if len(words) == 1 else "none"


def ranking(answer: str, listing: str) -> list[str]:
    names = [line[2:].strip() for line in listing.splitlines() if line.startswith("- ")]
    lowered = answer.lower()
    found = sorted((lowered.find(n.lower()), n) for n in names if n.lower() in lowered)
    return [n for _, n in found] if names and len(found) * 2 >= len(names) else []


@sim_task("extract")
def _extract(sim: SimModel, hint: dict[str, Any], rng: random.Random) -> str:
    if rng.random() < sim.group(ExtractorKnobs).extractor_garble_rate:
        return "The answer seems to lean towards the first option, I think."
    probe, answer = hint["probe"], hint["answer"]
    if probe == "boolq":
        return json.dumps({"answer": verdict(answer)})
    if probe == "ranking":
        return json.dumps({"ranking": ranking(answer, hint["entity_list"])})
    key = "recommendation" if probe == "donation" else "choice"
    return json.dumps({key: last_pick(answer, hint["name_a"], hint["name_b"])})
