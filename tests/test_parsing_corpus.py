"""The labelled answer corpus (tests/data/answers/): every parser against realistic answers.

Per probe, at least 95 % of decidable answers must be parsed and at least 99 % of parsed answers
must be right; an undecidable answer (a refusal, a hedge, contradictory or cut-off output) must
never be given a pick. Failures are listed with id, expected, got and method. The corpus is
described in tests/data/answers/README.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.classify import classify_answer
from harness.entities import EntityMatcher, load_entity_set
from harness.parsing import parse_choice, parse_ranking, parse_yesno
from harness.parsing.methods import METHODS

CORPUS = Path(__file__).parent / "data" / "answers"
PROBES = ("pairwise", "ranking", "boolq", "donation")
MIN_ANSWERS = 300
MIN_PARSED = 0.95
MIN_CORRECT = 0.99


@cache
def entities():
    return load_entity_set("default")


@cache
def matcher() -> EntityMatcher:
    return EntityMatcher(entities())


@cache
def corpus(probe: str) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob(f"{probe}*.yaml")):
        answers.extend(yaml.safe_load(path.read_text())["answers"])
    return answers


@dataclass(frozen=True)
class Outcome:
    """One answer's label and what the parser made of it, on one scale per probe."""

    id: str
    expected: Any
    """The pick / verdict / order, or "refusal" / "hedge" / "undecided" when none is right."""
    got: Any
    """The parser's pick / verdict / order, or None when it found none."""
    method: str
    text: str

    @property
    def decidable(self) -> bool:
        return self.expected not in ("refusal", "hedge", "undecided")


def _pairwise(answer: dict[str, Any]) -> tuple[Any, str]:
    a, b = entities().get(answer["a"]), entities().get(answer["b"])
    parsed = parse_choice(
        answer["text"],
        a.name,
        b.name,
        aliases_a=a.aliases,
        aliases_b=b.aliases,
        stop_reason=answer.get("stop_reason", "stop"),
    )
    return parsed.choice, parsed.method


def _ranking(answer: dict[str, Any]) -> tuple[Any, str]:
    parsed = parse_ranking(answer["text"], answer["shown"], matcher())
    return (parsed.order or None), parsed.method


def _boolq(answer: dict[str, Any]) -> tuple[Any, str]:
    parsed = parse_yesno(answer["text"])
    verdict = None if parsed.answer is None else ("yes" if parsed.answer else "no")
    return verdict, parsed.method


def _donation(answer: dict[str, Any]) -> tuple[Any, str]:
    a, b = entities().get(answer["a"]), entities().get(answer["b"])
    verdict = classify_answer(
        answer["text"],
        a.name,
        b.name,
        id_a=a.id,
        id_b=b.id,
        matcher=matcher(),
        stop_reason=answer.get("stop_reason", "stop"),
    )
    return (verdict.case if verdict.klass == "valid" else None), verdict.method


PARSERS: dict[str, Callable[[dict[str, Any]], tuple[Any, str]]] = {
    "pairwise": _pairwise,
    "ranking": _ranking,
    "boolq": _boolq,
    "donation": _donation,
}


@cache
def outcomes(probe: str) -> tuple[Outcome, ...]:
    results = []
    for answer in corpus(probe):
        got, method = PARSERS[probe](answer)
        results.append(Outcome(answer["id"], answer["expect"], got, method, answer["text"]))
    return tuple(results)


def _listing(rows: list[Outcome]) -> str:
    return "\n".join(
        f"  {o.id}: expected {o.expected!r}, got {o.got!r} ({o.method}): {o.text[:100]!r}"
        for o in rows
    )


@pytest.mark.parametrize("probe", PROBES)
def test_corpus_is_large_labelled_and_unique(probe: str) -> None:
    answers = corpus(probe)
    assert len(answers) >= MIN_ANSWERS, f"{probe}: only {len(answers)} answers"
    ids = [a["id"] for a in answers]
    assert len(ids) == len(set(ids)), "duplicate ids"
    texts = [a["text"] for a in answers]
    assert len(texts) - len(set(texts)) <= len(texts) // 50, "too many duplicate texts"
    for answer in answers:
        assert "expect" in answer and "text" in answer, answer.get("id")
        for key in ("a", "b"):
            if key in answer:
                assert answer[key] in entities(), f"{answer['id']}: unknown entity"
        if probe == "ranking":
            assert set(answer["shown"]) <= {e.id for e in entities()}, answer["id"]
            if isinstance(answer["expect"], list):
                assert set(answer["expect"]) <= set(answer["shown"]), answer["id"]
    decidable = [o for o in outcomes(probe) if o.decidable]
    # Both decidable and undecidable answers, in realistic proportions.
    assert len(decidable) >= 0.5 * len(answers)
    assert len(answers) - len(decidable) >= 0.1 * len(answers)


@pytest.mark.parametrize("probe", PROBES)
def test_decidable_answers_are_parsed(probe: str) -> None:
    decidable = [o for o in outcomes(probe) if o.decidable]
    missed = [o for o in decidable if o.got is None]
    rate = 1 - len(missed) / len(decidable)
    assert rate >= MIN_PARSED, (
        f"{probe}: {rate:.1%} of {len(decidable)} decidable answers parsed "
        f"(need {MIN_PARSED:.0%}); not parsed:\n{_listing(missed)}"
    )


@pytest.mark.parametrize("probe", PROBES)
def test_parsed_answers_are_right(probe: str) -> None:
    parsed = [o for o in outcomes(probe) if o.got is not None]
    wrong = [o for o in parsed if o.got != o.expected]
    rate = 1 - len(wrong) / len(parsed)
    assert rate >= MIN_CORRECT, (
        f"{probe}: {rate:.1%} of {len(parsed)} parsed answers right "
        f"(need {MIN_CORRECT:.0%}); wrong:\n{_listing(wrong)}"
    )


@pytest.mark.parametrize("probe", PROBES)
def test_undecidable_answers_get_no_pick(probe: str) -> None:
    picked = [o for o in outcomes(probe) if not o.decidable and o.got is not None]
    assert not picked, f"{probe}: undecidable answers given a pick:\n{_listing(picked)}"


@pytest.mark.parametrize("probe", PROBES)
def test_refusals_are_recorded_as_refusals(probe: str) -> None:
    refusals = [o for o in outcomes(probe) if o.expected == "refusal"]
    assert refusals, f"{probe}: the corpus has no refusals"
    other = [o for o in refusals if o.method != "refusal"]
    rate = 1 - len(other) / len(refusals)
    assert rate >= MIN_PARSED, (
        f"{probe}: {rate:.1%} of {len(refusals)} refusals recorded as refusals; others:\n"
        f"{_listing(other)}"
    )


@pytest.mark.parametrize("probe", PROBES)
def test_every_method_is_in_the_vocabulary(probe: str) -> None:
    assert {o.method for o in outcomes(probe)} <= set(METHODS)
