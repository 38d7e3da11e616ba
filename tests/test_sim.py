"""The simulated subject: deterministic per call key, planted utilities, documented knobs."""

import csv

import pytest

from harness.errors import ConfigError, UsageError
from harness.model import ChatMessage, ModelRequest, get_model
from harness.parsing import parse_choice
from harness.sim import SimKnobs, Utilities


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
