"""The advice suite: donation advice with the retry-until-valid refusal probe, prefill per
provider, the simulated user, the judge, and the CLI's checks of these options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.parsing.methods import METHODS, is_decided
from harness.store import Run, list_runs

FAST = ["--no-progress", "--ranking-samples", "1"]


def only_run(log_dir: Path) -> Run:
    runs = list_runs(log_dir)
    assert len(runs) == 1
    return Run(runs[0].directory)


def test_advice_suite_stores_queries_and_attempts(tmp_path, capsys) -> None:
    assert (
        main(["run", "--suite", "advice", "--limit", "6", *FAST, "--log-dir", str(tmp_path)]) == 0
    )
    out = capsys.readouterr().out
    assert "donation advice and refusal" in out and "Spearman ρ: recommendation win rate" in out
    with only_run(tmp_path) as run:
        samples, attempts = run.samples("donation"), run.records("attempt")
        assert len(samples) == 6 * 5 // 2 * 2
        assert set(samples["template_id"]) <= {
            "donation-student",
            "donation-retiree",
            "donation-bakery",
            "donation-terse",
            "donation-family",
        }
        per_trial = attempts.groupby("trial_id")["attempt"].agg(["count", "max", "min"])
        merged = samples.set_index("trial_id").join(per_trial)
        assert (merged["count"] == merged["attempts"]).all() and (
            merged["max"] == merged["attempts"]
        ).all()
        assert (merged["min"] == 1).all()
        for column in (
            "entity_a",
            "entity_b",
            "order",
            "template_id",
            "attempt",
            "class",
            "reason",
            "recommended",
            "text",
        ):
            assert column in attempts.columns
        valid = samples[samples["valid"]]
        assert (
            (valid["recommended"] == valid["entity_a"])
            | (valid["recommended"] == valid["entity_b"])
        ).all()
        assert "rules:donation-rules@2" in run.config["templates"]["donation"]
        # How each answer was read is stored with it: decided methods exactly for valid ones.
        assert (attempts["parse_method"].map(is_decided) == (attempts["class"] == "valid")).all()
        assert (samples["parse_method"].map(is_decided) == samples["valid"]).all()
        assert set(samples["first_parse_method"]) <= set(METHODS)


def test_retry_loop_stops_at_the_cap_with_a_fresh_conversation_each_time(tmp_path) -> None:
    args = [
        "run",
        "--suite",
        "advice",
        "--limit",
        "3",
        "-M",
        "refusal_base=30",
        "--max-attempts",
        "4",
        *FAST,
        "--log-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    with only_run(tmp_path) as run:
        samples, attempts, calls = run.samples("donation"), run.records("attempt"), run.calls()
        assert (samples["attempts"] == 4).all() and samples["cap_reached"].all()
        assert samples["attempts_to_valid"].isna().all() and not samples["valid"].any()
        assert len(attempts) == 4 * len(samples)
        assert set(attempts["class"]) <= {"refusal", "hedge", "unparseable"}
        donation_calls = calls[calls["trial_id"].isin(samples["trial_id"])]
        assert len(donation_calls) == 4 * len(samples)
        for request in donation_calls["request"]:
            assert (
                len(json.loads(request)["messages"]) == 1
            )  # nothing carried over between attempts


def test_valid_answers_stop_the_loop_at_once(tmp_path) -> None:
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--limit",
                "3",
                "-M",
                "refusal_base=-30",
                "-M",
                "garble_rate=0",
                *FAST,
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    with only_run(tmp_path) as run:
        samples = run.samples("donation")
        assert (samples["attempts"] == 1).all() and samples["valid"].all()


def _donation_requests(server) -> list[dict]:
    return [body for body in server.requests if "donate" in json.dumps(body["messages"][0])]


def test_anthropic_prefill_is_sent_as_a_final_assistant_message(
    tmp_path, monkeypatch, chat_server
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", chat_server.root)
    chat_server.reply = " Against Malaria Foundation, because bednets are cheap and effective."
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--model",
                "anthropic/claude-test",
                "--limit",
                "2",
                "--prefill",
                "My recommendation is",
                "--max-attempts",
                "2",
                "--no-cache",
                *FAST,
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    bodies = _donation_requests(chat_server)
    assert len(bodies) == 2  # one pair, both orders; the first attempt of each is enough
    with only_run(tmp_path) as run:
        samples = run.samples("donation")
        opening = samples["text"]  # what the model "said" is the prefill plus the continuation
        assert (opening.str.startswith("My recommendation is Against Malaria Foundation")).all()
        assert (
            samples["valid"].all()
            and (samples["recommended"] == "against-malaria-foundation").all()
        )
    body = bodies[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "My recommendation is"}
    assert body["messages"][0]["role"] == "user" and len(body["messages"]) == 2
    # The current Messages API rejects sampling parameters; temperature 1.0 is its default anyway.
    assert body["model"] == "claude-test" and "temperature" not in body
    assert "metadata" not in body


def test_openai_compatible_prefill_uses_continue_final_message(tmp_path, chat_server) -> None:
    chat_server.reply = " GiveDirectly."
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--model",
                "openai-compatible/local",
                "--base-url",
                chat_server.url,
                "-M",
                "prefill=continue_final_message",
                "--prefill",
                "My pick:",
                "--limit",
                "2",
                "--max-attempts",
                "1",
                "--no-cache",
                *FAST,
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    body = _donation_requests(chat_server)[0]
    assert body["messages"][-1] == {"role": "assistant", "content": "My pick:"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "openai/gpt-4o", "--prefill", "My pick:"],
            "does not support assistant prefill",
        ),
        (
            [
                "--model",
                "openai-compatible/x",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--prefill",
                "My pick:",
            ],
            "does not support assistant prefill",
        ),
        (
            ["--model", "anthropic/claude-x", "-M", "thinking_budget=2048", "--prefill", "My"],
            "cannot take --prefill with thinking on",
        ),
        (
            ["--model", "anthropic/claude-x", "-M", "thinking_budget=2048", "--max-tokens", "900"],
            "max_tokens 900 must be larger than thinking_budget 2048",
        ),
        (
            ["--model", "openai/o3", "-M", "reasoning_effort=high", "--temperature", "0.5"],
            "accepts only the default sampling (temperature and top_p 1), not temperature=0.5",
        ),
        (["--turns", "2"], "--turns above 1 needs --user-model"),
        (["--max-attempts", "0"], "--max-attempts must be at least 1"),
        (["--user-model", "nosuch/x"], "unknown model provider 'nosuch'"),
    ],
)
def test_advice_option_errors(tmp_path, monkeypatch, capsys, args, message) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    assert main(["run", "--suite", "advice", *args, "--log-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_advice_options_are_refused_by_other_suites(tmp_path, capsys) -> None:
    assert (
        main(["run", "--suite", "elicitation", "--prefill", "x", "--log-dir", str(tmp_path)]) == 2
    )
    assert "--prefill does not apply to suite 'elicitation'" in capsys.readouterr().err


def test_simulated_user_instructions_never_reach_the_subject(tmp_path) -> None:
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--limit",
                "3",
                "--user-model",
                "sim",
                "--turns",
                "2",
                "-M",
                "refusal_base=3",
                "--max-attempts",
                "3",
                *FAST,
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    with only_run(tmp_path) as run:
        calls = run.calls()
        donation = run.samples("donation")
        mine = calls[calls["trial_id"].isin(donation["trial_id"])]
        user_calls, subject_calls = mine[mine["role"] == "user"], mine[mine["role"] == "subject"]
        assert len(user_calls) > 0 and len(subject_calls) == 2 * len(user_calls)
        for request in user_calls["request"]:
            assert "role-playing" in json.loads(request)["system"]
        for request in subject_calls["request"]:
            assert "role-playing" not in request and "instructions" not in request
        final_turns = [json.loads(r)["messages"] for r in subject_calls["request"]]
        assert {len(m) for m in final_turns} == {1, 3}
        assert (run.records("attempt")["turns"] == 2).all()


def test_judge_garbage_is_recorded_and_the_trial_kept(tmp_path, monkeypatch, chat_server) -> None:
    monkeypatch.setenv("HARNESS_BASE_URL", chat_server.url)
    chat_server.reply = "The assistant clearly prefers the first one."  # not the JSON asked for
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--limit",
                "3",
                "--judge-model",
                "openai-compatible/judge",
                "--no-cache",
                *FAST,
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    with only_run(tmp_path) as run:
        samples, attempts = run.samples("donation"), run.records("attempt")
        assert (samples["status"] == "ok").all() and len(samples) == 6
        assert attempts["judge_failure"].all()
        assert (attempts["judge_raw"] == chat_server.reply).all()
        assert (attempts["classifier"] == "donation-rules@2").all()  # fell back to the rules
        assert "donation-judge@1" in run.config["templates"]["donation"]


def test_judge_verdicts_replace_the_rules_when_they_parse(tmp_path) -> None:
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--limit",
                "3",
                "--judge-model",
                "sim",
                *FAST,
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    with only_run(tmp_path) as run:
        attempts = run.records("attempt")
        assert (attempts["classifier"] == "judge:sim").all() and not attempts["judge_failure"].any()
        # sim judges by the same rules, though without the entity set's aliases
        assert (attempts["class"] == attempts["rules_class"]).mean() > 0.8
