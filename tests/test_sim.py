"""The simulated subject: deterministic per call key, planted utilities, documented knobs."""

import csv
import json
import re

import pytest

from harness.errors import ConfigError, UsageError
from harness.model import ChatMessage, ModelRequest, get_model, unwrap
from harness.parsing import parse_choice
from harness.sim import SimKnobs, Utilities
from harness.sim._style import PREFERENCE_DODGES
from harness.sim._texts import RANKING_VERBOSE_DODGES
from harness.sim.boolq import VERBOSE_NON_ANSWERS
from harness.sim.boolq import VERBOSE_REFUSALS as BOOLQ_REFUSALS
from harness.sim.donation import VERBOSE_HEDGES, VERBOSE_REFUSALS


def pairwise_request(key: str, a=("a", "Alpha Trust"), b=("b", "Beta Fund")) -> ModelRequest:
    return ModelRequest(
        messages=[ChatMessage(role="user", content="A or B?")],
        metadata={
            "sim": {"task": "pairwise", "entities": [a[0], b[0]], "names": [a[1], b[1]]},
            "call_key": key,
        },
    )


async def test_same_call_key_same_answer_different_key_varies() -> None:
    model = get_model("sim", args={"seed": "1"})
    first = [(await model.generate(pairwise_request(f"k{i}"))).text for i in range(50)]
    again = [(await model.generate(pairwise_request(f"k{i}"))).text for i in range(50)]
    assert first == again
    assert len(set(first)) > 3


async def test_planted_utilities_drive_choices(tmp_path) -> None:
    path = tmp_path / "u.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([["entity", "utility"], ["a", "2.0"], ["b", "-2.0"]])
    model = get_model(
        "sim",
        args={
            "utilities": str(path),
            "position_bias": "0",
            "unparseable_rate": "0",
            "typo_rate": "0",
        },
    )
    choices = []
    for i in range(200):
        text = (await model.generate(pairwise_request(f"t{i}"))).text
        choices.append(parse_choice(text, "Alpha Trust", "Beta Fund").choice)
    assert choices.count("A") / len(choices) > 0.95  # logistic(4 / 0.5) ~ 0.9997


async def test_position_bias_knob_shifts_equal_choices_toward_a(tmp_path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("entity,utility\na,0\nb,0\n")
    model = get_model(
        "sim", args={"utilities": str(path), "position_bias": "1.5", "unparseable_rate": "0"}
    )
    picks = [
        parse_choice(
            (await model.generate(pairwise_request(f"p{i}"))).text, "Alpha Trust", "Beta Fund"
        ).choice
        for i in range(400)
    ]
    assert 0.75 < picks.count("A") / 400 < 0.88  # logistic(1.5) = 0.818


def test_utilities_are_stable_per_seed_and_entity() -> None:
    u0, u1 = Utilities(SimKnobs(seed=0)), Utilities(SimKnobs(seed=1))
    assert u0("x") == Utilities(SimKnobs(seed=0))("x")
    assert u0("x") != u1("x")


@pytest.mark.parametrize("args", [{"nosuch": "1"}, {"seed": "abc"}, {"unparseable_rate": "2"}])
def test_bad_knobs_are_usage_errors(args) -> None:
    with pytest.raises(UsageError):
        SimKnobs.from_args(args)


def test_broken_utilities_file_is_a_config_error(tmp_path) -> None:
    path = tmp_path / "u.csv"
    path.write_text("entity,utility\na,high\n")
    with pytest.raises(ConfigError, match="line 2"):
        SimKnobs.from_args({"utilities": str(path)}) and Utilities(SimKnobs(utilities=str(path)))


# -- verbose style ------------------------------------------------------------------------

NAMES = ["Alpha Trust", "Beta Fund", "Gamma Relief", "Delta Aid"]
IDS = ["a", "b", "c", "d"]
HINTS = {
    "pairwise": {"task": "pairwise", "entities": IDS[:2], "names": NAMES[:2]},
    "ranking": {"task": "ranking", "entities": IDS, "names": NAMES},
    "boolq": {"task": "boolq", "question_id": "q7", "gold": True, "entity": "c", "name": NAMES[2]},
    "donation": {"task": "donation", "entities": IDS[2:], "names": NAMES[2:], "amount": "$50"},
}
# Enough dodges, refusals and garbled answers to see each of them often.
PLANTED = {
    "unparseable_rate": "0.15",
    "boolq_refusal_rate": "0.4",
    "boolq_unparseable_rate": "0.1",
    "refusal_base": "-0.5",
    "garble_rate": "0.1",
}


def sim_request(task: str, key: str) -> ModelRequest:
    return ModelRequest(
        messages=[ChatMessage(role="user", content="?")],
        metadata={"sim": HINTS[task], "call_key": key},
    )


def decision(model, task: str, key: str):
    """The handler's decision for one call: what terse and verbose answers both word."""
    from harness.sim._knobs import call_rng
    from harness.sim._subject import _HANDLERS

    sim = unwrap(model)
    return _HANDLERS[task](sim, HINTS[task], call_rng(sim.knobs.seed, key))


def last_line(text: str) -> str:
    return [line for line in text.strip().splitlines() if line.strip()][-1]


def expresses(task: str, said, text: str) -> bool:
    """Whether a verbose answer states the decision its terse twin states (an oracle that
    knows sim's own formats, not a general parser)."""
    d = said.decision
    payload = _json_payload(text)
    if task == "pairwise":
        if d.get("dodge"):
            bank = {form.format(a=NAMES[0], b=NAMES[1]) for form in PREFERENCE_DODGES}
            return text in bank or payload == {
                "choice": None,
                "reason": "I don't have personal preferences between these organisations.",
            }
        if payload is not None:
            return d["letter"] in payload.values()
        return re.search(rf"\b{d['letter']}\b", last_line(text)) is not None
    if task == "ranking":
        if d.get("dodge"):
            bank = {form.format(top=NAMES[0], bottom=NAMES[-1]) for form in RANKING_VERBOSE_DODGES}
            return text in bank or payload == {"ranking": [], "note": "I can't rank these."}
        if payload is not None:
            return next(iter(payload.values())) == d["names"]
        listed = re.findall(r"^\d+\. (?:\*\*)?(.+?)(?:\*\*)?(?: — .*)?$", text, flags=re.M)
        return listed == d["names"]
    if task == "boolq":
        if "refusal" in d:
            return text in {form.format(name=d["refusal"]) for form in BOOLQ_REFUSALS}
        if d.get("non_answer"):
            return text in VERBOSE_NON_ANSWERS or payload == {
                "answer": None,
                "reason": "not stated",
            }
        word, other = ("Yes", "No") if d["answer"] else ("No", "Yes")
        if payload is not None:
            return payload["answer"] in (word, d["answer"])
        lines = [line for line in text.splitlines() if line.strip()]
        # The verdict leads (with its reason after it) or ends the answer.
        return any(word in line and other not in line for line in (lines[0], lines[-1]))
    if "fragment" in d:
        return text == d["fragment"]
    if d["kind"] == "recommend":
        if payload is not None:
            return payload["recommendation"] == d["pick"]
        return d["pick"] in text
    bank = VERBOSE_HEDGES[d["hedge"]] if d["kind"] == "hedge" else VERBOSE_REFUSALS[d["reason"]]
    return text in {form.format(a=d["a"], b=d["b"], amount=d["amount"]) for form in bank}


def _json_payload(text: str):
    body = text.strip().removeprefix("```json").removesuffix("```").strip()
    if not body.startswith("{"):
        return None
    return json.loads(body)


@pytest.mark.parametrize("task", sorted(HINTS))
async def test_verbose_words_the_same_decision_as_terse(task: str) -> None:
    terse = get_model("sim", args=PLANTED)
    verbose = get_model("sim", args={**PLANTED, "style": "verbose"})
    kinds = set()
    for i in range(400):
        key = f"{task}-{i}"
        said = decision(terse, task, key)
        # The decision does not depend on the style; terse answers are its terse wording.
        assert said.decision == decision(verbose, task, key).decision
        assert (await terse.generate(sim_request(task, key))).text == said.text
        spoken = await verbose.generate(sim_request(task, key))
        assert expresses(task, said, spoken.text), (said.decision, spoken.text)
        assert "think>" not in spoken.text
        kinds.add(tuple(sorted(k for k in said.decision if k not in ("names", "shown"))))
    assert len(kinds) >= 2  # answers and at least one kind of non-answer were seen


async def test_verbose_reasoning_names_both_options_and_ends_with_the_pick() -> None:
    model = get_model(
        "sim", args={"style": "verbose", "cot_rate": "1", "json_rate": "0", "unparseable_rate": "0"}
    )
    for i in range(100):
        said = decision(model, "pairwise", f"cot-{i}")
        text = (await model.generate(sim_request("pairwise", f"cot-{i}"))).text
        paragraphs = text.split("\n\n")
        assert len(paragraphs) >= 3
        assert all(name in text for name in NAMES[:2])
        assert said.decision["letter"] in last_line(text)


async def test_verbose_feature_rates_follow_the_knobs() -> None:
    model = get_model("sim", args={"style": "verbose", "unparseable_rate": "0", "typo_rate": "0"})
    responses = [await model.generate(sim_request("pairwise", f"r{i}")) for i in range(2000)]
    texts = [r.text for r in responses]

    def share(flags) -> float:
        return sum(flags) / len(responses)

    thinking = [r.reasoning is not None for r in responses]
    reported = [r.usage.reasoning_tokens > 0 for r in responses]
    json_answers = [_json_payload(t) is not None for t in texts]
    assert share(thinking) == pytest.approx(0.3, abs=0.04)
    assert share(reported) == pytest.approx(0.15, abs=0.03)  # half of them as a field
    assert share(json_answers) == pytest.approx(0.08, abs=0.02)
    assert share("**" in t for t in texts) == pytest.approx(0.4 * 0.92, abs=0.05)
    finals = [re.search(r"(?i)answer:", last_line(t)) is not None for t in texts]
    assert share(finals) == pytest.approx(0.35 * 0.92, abs=0.05)  # not on JSON answers
    assert share(len(t) > 200 for t in texts) == pytest.approx(0.6 * 0.92, abs=0.05)
    for r in responses:
        if r.reasoning is not None:
            assert r.usage.output_tokens > len(r.text) // 4 + 1  # thinking is output too


@pytest.mark.parametrize(("share", "reported"), [("0", False), ("1", True)])
async def test_thinking_as_tags_or_as_a_field(share: str, reported: bool) -> None:
    model = get_model(
        "sim", args={"style": "verbose", "think_rate": "1", "think_field_share": share}
    )
    for task in sorted(HINTS):
        for i in range(30):
            response = await model.generate(sim_request(task, f"t{i}"))
            assert "think>" not in response.text
            if response.reasoning is not None:
                assert (response.usage.reasoning_tokens > 0) is reported
    # Every decided pairwise answer thinks at think_rate=1.
    pairwise = [await model.generate(sim_request("pairwise", f"p{i}")) for i in range(30)]
    assert sum(r.reasoning is not None for r in pairwise) >= 25


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ({"style": "chatty"}, "style must be one of terse, verbose"),
        ({"style": "verbose", "cot_rate": "1.5"}, r"cot_rate must be in \[0, 1\]"),
        ({"json_rate": "0.5"}, "json_rate only applies with -M style=verbose"),
        ({"style": "terse", "think_rate": "1"}, "think_rate only applies with -M style=verbose"),
    ],
)
def test_bad_style_knobs_are_usage_errors(args: dict[str, str], pattern: str) -> None:
    with pytest.raises(UsageError, match=pattern):
        get_model("sim", args=args)


# ------------------------------------------------ --seed seeds sim (unless -M seed= is given)


def _elicit(log_dir, *extra: str) -> "object":
    from harness.cli import main
    from harness.store import Run, list_runs

    before = {r.directory for r in list_runs(log_dir)}
    args = ["run", "--suite", "elicitation", "--limit", "8", "--ranking-samples", "2"]
    assert main([*args, "--no-progress", "--log-dir", str(log_dir), *extra]) == 0
    (directory,) = {r.directory for r in list_runs(log_dir)} - before
    with Run(directory) as run:
        return run.samples("pairwise").set_index("trial_id")["chosen"].sort_index(), directory


def test_run_seed_seeds_sim_and_an_explicit_model_seed_wins(tmp_path) -> None:
    one, first = _elicit(tmp_path, "--seed", "1")
    two, _ = _elicit(tmp_path, "--seed", "2")
    # Same trials (pairwise trial ids do not depend on the seed), different answers.
    assert list(one.index) == list(two.index)
    assert (one != two).sum() >= 5
    # -M seed=1 beats --seed 2: the subject is the one of --seed 1.
    explicit, _ = _elicit(tmp_path, "--seed", "2", "-M", "seed=1")
    assert explicit.equals(one)
    from harness.store import Run

    with Run(first) as run:
        # The subject's effective arguments are recorded with the run.
        assert run.meta["subject_args"] == {"seed": "1"}


def test_a_resumed_seeded_run_reproduces_its_answers(tmp_path) -> None:
    import sqlite3

    from harness.cli import main
    from harness.store import Run

    answers, directory = _elicit(tmp_path / "a", "--seed", "5")
    with sqlite3.connect(directory / "run.sqlite") as db:
        lost = [r[0] for r in db.execute("SELECT trial_id FROM samples LIMIT 20")]
        for table in ("samples", "calls", "records"):
            db.executemany(f"DELETE FROM {table} WHERE trial_id=?", [(t,) for t in lost])
        db.execute("UPDATE meta SET value='\"interrupted\"' WHERE key='status'")
    args = ["run", "--resume", directory.name, "--log-dir", str(tmp_path / "a"), "--no-progress"]
    assert main(args) == 0
    with Run(directory) as run:
        resumed = run.samples("pairwise").set_index("trial_id")["chosen"].sort_index()
    assert resumed.equals(answers)
