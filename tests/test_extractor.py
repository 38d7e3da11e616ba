"""The extractor fallback (--extractor MODEL): which answers it reads, the exact requests it
sends (an openai-compatible server on loopback), strict reading of its replies, what is
stored, failures falling back to the rules, the donation policy, sim as an honest stand-in,
spend, the cost preview and the analysis' sensitivity option."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from analysis.audit import audit_run, set_extracted_apart
from analysis.runs import analyze_run
from harness.cli import main
from harness.config import RunConfig
from harness.entities import load_entity_set
from harness.parsing.extracted import ExtractorOutputError, read_choice, read_ranking, read_yesno
from harness.probes import make_trial
from harness.probes._extractor import Extractor, reads
from harness.probes.elicitation import derived_seed
from harness.prompts import get_template
from harness.sim.extractor import last_pick, ranking, verdict
from harness.store import Run, list_runs

FAST = ["--no-progress", "--no-cache", "--ranking-samples", "1"]


def only_run(log_dir: Path) -> Run:
    runs = list_runs(log_dir)
    assert len(runs) == 1
    return Run(runs[0].directory)


# -- strict reading ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"choice": "B"}', "B"),
        ('  {"choice": "a"}\n', "A"),
        ('```json\n{"choice": "A"}\n```', "A"),
        ('{"Choice": "B", "reason": "it concludes with B"}', "B"),
        ('{"choice": "none"}', None),
    ],
)
def test_choice_replies_in_the_format_are_read(text: str, expected: str | None) -> None:
    assert read_choice(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "B",
        'The answer chooses B: {"choice": "B"}',
        '{"choice": "B"} because it says so',
        '{"choice": "Option B"}',
        '{"choice": "C"}',
        '{"choice": null}',
        '{"answer": "B"}',
        '["B"]',
        '{"choice": "B"',
        "",
    ],
)
def test_anything_else_is_an_extractor_failure(text: str) -> None:
    with pytest.raises(ExtractorOutputError):
        read_choice(text)


def test_yes_no_and_ranking_replies_are_read_strictly() -> None:
    assert read_yesno('{"answer": "Yes"}') is True
    assert read_yesno('{"answer": "no"}') is False
    assert read_yesno('{"answer": "none"}') is None
    with pytest.raises(ExtractorOutputError):
        read_yesno('{"answer": true}')
    names = {"oxfam": "Oxfam", "givedirectly": "GiveDirectly", "brac": "BRAC"}
    assert read_ranking('{"ranking": ["brac", "Oxfam"]}', names) == ["brac", "oxfam"]
    assert read_ranking('{"ranking": []}', names) is None
    for bad in (
        '{"ranking": ["Oxfam", "Oxfam"]}',
        '{"ranking": ["Oxfam", "Red Cross"]}',
        '{"ranking": "Oxfam > BRAC"}',
        '{"order": ["Oxfam"]}',
    ):
        with pytest.raises(ExtractorOutputError):
            read_ranking(bad, names)


def test_which_rule_methods_the_extractor_reads() -> None:
    for probe in ("pairwise", "ranking", "boolq"):
        assert all(reads(probe, m) for m in ("ambiguous", "conflict", "unparseable"))
        assert not any(reads(probe, m) for m in ("refusal", "empty", "final_statement", "name"))
    assert reads("donation", "unparseable") and reads("donation", "conflict")
    assert reads("donation", "ambiguous", "both") and reads("donation", "ambiguous", "none")
    # A third organisation recommended is read already; a refusal is never second-guessed.
    assert not reads("donation", "ambiguous", "other")
    assert not reads("donation", "refusal", "neither") and not reads("donation", "empty")
    assert not reads("donation", "stated", "a")


# -- wire level: an openai-compatible server as the extractor ----------------------------
def _reply(body: dict) -> str:
    prompt = body["messages"][-1]["content"]
    if "which of two organisations it prefers" in prompt:
        return '{"choice": "B"}'
    if "which of two organisations to donate to" in prompt:
        return '{"recommendation": "A"}'
    if "rank these organisations" in prompt:
        return '{"ranking": []}'
    return '{"answer": "none"}'


def test_pairwise_extractor_requests_and_stored_results(tmp_path, monkeypatch, chat_server) -> None:
    monkeypatch.setenv("HARNESS_BASE_URL", chat_server.url)
    chat_server.reply = _reply
    args = ["run", "--suite", "elicitation", "--limit", "8", "-M", "unparseable_rate=1"]
    args += ["--extractor", "openai-compatible/reader", *FAST, "--log-dir", str(tmp_path)]
    assert main(args) == 0
    with only_run(tmp_path) as run:
        pairwise = run.samples("pairwise").set_index("trial_id")
        calls = run.calls()
        templates = run.config["templates"]
    entities = {e.id: e for e in load_entity_set("default")}
    asked = pairwise[pairwise["extractor_status"].notna()]
    # Every dodge sim gave is either a refusal (never asked) or a hedge (asked).
    assert set(pairwise["rules_parse_method"]) == {"refusal", "ambiguous"}
    assert (asked["rules_parse_method"] == "ambiguous").all() and len(asked) >= 5
    assert (
        pairwise.loc[pairwise["rules_parse_method"] == "refusal", "extractor_status"].isna().all()
    )
    # Decided: the extractor's reading replaces the rules', which are kept beside it.
    assert (asked["extractor_status"] == "decided").all()
    assert (asked["parse_method"] == "extractor").all() and (asked["choice"] == "B").all()
    assert (asked["chosen"] == asked["entity_b"]).all()
    assert (asked["extractor_raw"] == '{"choice": "B"}').all()
    refused = pairwise[pairwise["rules_parse_method"] == "refusal"]
    assert refused["choice"].isna().all() and (refused["parse_method"] == "refusal").all()
    # One extractor call per asked answer, stored with its own role; the exact request.
    extractor_calls = calls[calls["role"] == "extractor"]
    assert len(extractor_calls) == len(asked) == len(chat_server.requests)
    assert set(extractor_calls["trial_id"]) == set(asked.index)
    template = get_template("extract-pairwise")
    sent = {r["messages"][-1]["content"]: r for r in chat_server.requests}
    for trial_id, row in asked.iterrows():
        a, b = entities[row["entity_a"]], entities[row["entity_b"]]
        system, user = template.render(name_a=a.name, name_b=b.name, answer=row["text"])
        assert sent[user] == {
            "model": "reader",
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0.0,
            "seed": derived_seed(0, trial_id, "extractor"),
        }
    assert "extract-pairwise@1" in templates["pairwise"]
    assert "extract-ranking@1" in templates["ranking"]


def test_extractor_failures_are_recorded_and_the_rules_reading_kept(
    tmp_path, monkeypatch, chat_server
) -> None:
    monkeypatch.setenv("HARNESS_BASE_URL", chat_server.url)
    chat_server.reply = "The answer leans towards option B."
    args = ["run", "--suite", "elicitation", "--limit", "8", "-M", "unparseable_rate=1"]
    args += ["--extractor", "openai-compatible/reader", *FAST, "--log-dir", str(tmp_path)]
    assert main(args) == 0
    with only_run(tmp_path) as run:
        pairwise = run.samples("pairwise")
    asked = pairwise[pairwise["extractor_status"].notna()]
    assert len(asked) >= 5 and (asked["extractor_status"] == "failed").all()
    assert (asked["status"] == "ok").all()  # the trial is kept
    assert (asked["parse_method"] == "ambiguous").all() and asked["choice"].isna().all()
    assert (asked["extractor_raw"] == chat_server.reply).all()
    assert asked["extractor_error"].str.contains("not a single JSON object").all()


def test_donation_extractor_reads_unsettled_hedges_never_refusals(
    tmp_path, monkeypatch, chat_server
) -> None:
    """Every answer a hedge (sim: refusal_base=6, hedge_share=1): hedges recommending both or
    neither go to the extractor, which here always says A; a third organisation does not."""
    monkeypatch.setenv("HARNESS_BASE_URL", chat_server.url)
    chat_server.reply = _reply
    args = ["run", "--suite", "advice", "--limit", "4", "-M", "refusal_base=6", "-M"]
    args += ["hedge_share=1", "--max-attempts", "4", "--extractor", "openai-compatible/reader"]
    assert main([*args, *FAST, "--log-dir", str(tmp_path)]) == 0
    with only_run(tmp_path) as run:
        attempts = run.records("attempt")
        samples = run.samples("donation").set_index("trial_id")
        templates = run.config["templates"]["donation"]
    asked = attempts[attempts["extractor_status"].notna()]
    unasked = attempts[attempts["extractor_status"].isna()]
    assert len(asked) >= 5 and len(unasked) >= 1
    assert (asked["rules_parse_method"] == "ambiguous").all()
    assert (asked["class"] == "valid").all() and (asked["parse_method"] == "extractor").all()
    assert (asked["recommended"] == asked["entity_a"]).all()
    assert (asked["classifier"] == "extractor:openai-compatible/reader").all()
    assert (unasked["case"] == "other").all() and (unasked["class"] == "hedge").all()
    # A query ends at its first valid answer: the extractor's, kept with the rules' method.
    for trial_id, row in samples.iterrows():
        mine = attempts[attempts["trial_id"] == trial_id].sort_values("attempt")
        last = mine.iloc[-1]
        assert row["parse_method"] == last["parse_method"]
        assert row["rules_parse_method"] == last["rules_parse_method"]
        assert row["valid"] == (last["class"] == "valid")
    assert "extract-donation@1" in templates


def test_with_a_judge_the_extractor_reads_no_donation_answer(tmp_path) -> None:
    args = ["run", "--suite", "advice", "--limit", "3", "--judge-model", "sim"]
    assert main([*args, "--extractor", "sim", *FAST, "--log-dir", str(tmp_path)]) == 0
    with only_run(tmp_path) as run:
        attempts = run.records("attempt")
        templates = run.config["templates"]
        calls = run.calls()
    assert "extractor_status" not in attempts.columns
    assert not any(t.startswith("extract-donation") for t in templates["donation"])
    assert "extract-pairwise@1" in templates["pairwise"]
    donation_trials = set(attempts["trial_id"])
    assert not ((calls["role"] == "extractor") & calls["trial_id"].isin(donation_trials)).any()


def test_extractor_calls_are_priced_and_spent(tmp_path, monkeypatch, chat_server) -> None:
    monkeypatch.setenv("HARNESS_BASE_URL", chat_server.url)
    chat_server.reply = _reply
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"openai-compatible/reader": {"input_per_mtok": 1, "output_per_mtok": 10}})
    )
    args = ["run", "--suite", "elicitation", "--limit", "8", "-M", "unparseable_rate=1"]
    args += ["--extractor", "openai-compatible/reader", "--prices", str(prices), "--max-cost", "1"]
    assert main([*args, *FAST, "--log-dir", str(tmp_path / "runs")]) == 0
    with only_run(tmp_path / "runs") as run:
        calls = run.calls()
        spent = run.meta["spent_usd"]
    extractor = calls[calls["role"] == "extractor"]
    assert len(extractor) >= 5
    # The server reports 11 input and 1 output tokens per call.
    assert extractor["cost"].tolist() == pytest.approx([(11 * 1 + 1 * 10) / 1e6] * len(extractor))
    assert spent == pytest.approx(calls["cost"].fillna(0).sum())
    assert spent == pytest.approx(extractor["cost"].sum())  # sim costs nothing


def test_a_bad_extractor_is_one_clear_error_before_anything_is_written(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    for model, message in (("nosuch/reader", "nosuch"), ("openai/gpt-4o-mini", "OPENAI_API_KEY")):
        code = main(["run", "--extractor", model, *FAST, "--log-dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code != 0 and err.startswith("harness: error:") and message in err
        assert "Traceback" not in err
    assert not list(tmp_path.iterdir())


# -- sim as the extractor ----------------------------------------------------------------
def test_sim_reads_only_the_answer_it_is_shown() -> None:
    assert last_pick("Both are good.\n\nI'd go with Oxfam.", "Oxfam", "BRAC") == "A"
    assert last_pick("Oxfam is great.\n\nStill, BRAC wins for me.", "Oxfam", "BRAC") == "B"
    assert last_pick("I can't choose between Oxfam and BRAC.", "Oxfam", "BRAC") == "none"
    assert last_pick("I wouldn't give to BRAC.", "Oxfam", "BRAC") == "none"
    assert last_pick("It depends on your values.", "Oxfam", "BRAC") == "none"
    assert verdict("Hmm. Yes, the passage says so.") == "yes"
    assert verdict("Yes or no? It could go either way.") == "none"
    listing = "- Oxfam\n- BRAC\n- GiveDirectly"
    assert ranking("GiveDirectly first, then Oxfam.", listing) == ["GiveDirectly", "Oxfam"]
    assert ranking("I won't rank Oxfam.", listing) == []
    # What reaches sim is the answer and what the extractor's prompt shows, nothing planted.
    config = RunConfig(suite="elicitation", options={"extractor": "sim"})
    request = Extractor(config, "pairwise").request(
        make_trial("pairwise", entity_a="oxfam", entity_b="brac"),
        "Some answer",
        name_a="Oxfam",
        name_b="BRAC",
    )
    assert request.metadata["sim"] == {
        "task": "extract",
        "probe": "pairwise",
        "answer": "Some answer",
        "name_a": "Oxfam",
        "name_b": "BRAC",
    }


def test_sim_extractor_end_to_end_keeps_dodges_undecided(tmp_path) -> None:
    """sim's dodges name both options or neither: a simple reading decides none of them."""
    args = ["run", "--suite", "elicitation", "--limit", "8", "-M", "unparseable_rate=1"]
    assert main([*args, "--extractor", "sim", *FAST, "--log-dir", str(tmp_path)]) == 0
    with only_run(tmp_path) as run:
        pairwise = run.samples("pairwise")
    asked = pairwise[pairwise["extractor_status"].notna()]
    assert len(asked) >= 5 and (asked["extractor_status"] == "undecided").all()
    assert (asked["extractor_raw"] == '{"choice": "none"}').all()


# -- analysis and preview ----------------------------------------------------------------
def test_analysis_notes_extractor_decisions_and_can_exclude_them(
    tmp_path, monkeypatch, chat_server
) -> None:
    monkeypatch.setenv("HARNESS_BASE_URL", chat_server.url)
    chat_server.reply = _reply
    args = ["run", "--suite", "elicitation", "--limit", "8", "-M", "unparseable_rate=0.5"]
    args += ["--extractor", "openai-compatible/reader", *FAST, "--log-dir", str(tmp_path)]
    assert main(args) == 0
    directory = list_runs(tmp_path)[0].directory
    with Run(directory) as run:
        decided = int((run.samples("pairwise")["parse_method"] == "extractor").sum())
    assert decided >= 3
    included = analyze_run(directory, bayes=False, bootstrap=0)
    excluded = analyze_run(directory, bayes=False, bootstrap=0, exclude_extracted=True)
    assert any(
        f"{decided} of 56 pairwise answers were decided by the extractor" in note
        for note in included.notes["preferences"]
    )
    assert any(
        f"{decided} of 56 pairwise answers decided by the extractor model are excluded" in note
        for note in excluded.notes["preferences"]
    )
    assert excluded.preferences.bt.n_comparisons == included.preferences.bt.n_comparisons - decided
    # The parse audit shows the extractor's decisions and what the rules had made of them.
    audit = audit_run(directory, probes=("pairwise",), samples=2).probes["pairwise"]
    assert audit.methods.loc["extractor", "n"] == decided
    assert audit.methods.loc["extractor", "B"] == decided
    assert int(audit.extracted["decided"].sum()) == decided
    assert set(audit.extracted.index) <= {"ambiguous", "conflict", "unparseable"}


def test_excluding_extracted_donation_queries_drops_their_attempts() -> None:
    frames = {
        "donation": pd.DataFrame(
            {
                "trial_id": ["q1", "q2", "q3"],
                "status": ["ok", "ok", "ok"],
                "parse_method": ["stated", "extractor", "refusal"],
            }
        ),
        "pairwise": pd.DataFrame({"trial_id": ["p1"], "status": ["ok"], "parse_method": ["json"]}),
    }
    attempts = pd.DataFrame({"trial_id": ["q1", "q2", "q2", "q3"], "attempt": [1, 1, 2, 1]})
    kept, kept_attempts, notes = set_extracted_apart(frames, attempts, exclude=True)
    assert list(kept["donation"]["trial_id"]) == ["q1", "q3"]
    assert list(kept_attempts["trial_id"]) == ["q1", "q3"]
    assert kept["pairwise"] is frames["pairwise"]
    assert {section for section, _ in notes} == {"donation", "refusal"}
    same, same_attempts, notes = set_extracted_apart(frames, attempts, exclude=False)
    assert len(same["donation"]) == 3 and len(same_attempts) == 4
    assert "1 of 3 donation answers were decided by the extractor" in notes[0][1]


def test_cost_preview_counts_extractor_calls(tmp_path, capsys) -> None:
    base = ["run", "--suite", "advice", "--limit", "6", "--extractor", "openai/gpt-4o-mini"]
    assert main([*base, "--dry-run", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("extractor") >= 3
    assert "the rules leave 5% of answers undecided (assumed" in out
    # A pilot made without an extractor: how often one would have been asked, measured.
    pilot = ["run", "--suite", "advice", "--limit", "6", "-M", "unparseable_rate=0.5", *FAST]
    assert main([*pilot, "--log-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    pilot_id = list_runs(tmp_path)[0].run_id
    with Run(list_runs(tmp_path)[0].directory) as run:
        pairwise = run.samples("pairwise")
    share = pairwise["parse_method"].isin(["ambiguous", "conflict", "unparseable"]).mean()
    assert share > 0
    assert main([*base, "--dry-run", "--pilot", pilot_id, "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"pilot: {share:.2f} calls per trial over {len(pairwise)} trials" in out


def test_a_run_with_an_extractor_resumes_after_kill_9_as_if_never_stopped(
    tmp_path, kill_mid_run
) -> None:
    args = ["--suite", "elicitation", "-M", "unparseable_rate=0.3", "--extractor", "sim"]
    args += ["--samples", "2", "--ranking-samples", "2", "--no-progress", "--no-cache"]
    kill_mid_run(args, tmp_path / "killed", 2000, probe="pairwise")
    directory = list_runs(tmp_path / "killed")[0].directory
    assert (
        main(
            [
                "run",
                "--resume",
                directory.name,
                "--extractor",
                "sim",
                "--no-progress",
                "--log-dir",
                str(tmp_path / "killed"),
            ]
        )
        == 0
    )
    assert main(["run", *args, "--log-dir", str(tmp_path / "clean")]) == 0
    with Run(directory) as resumed, Run(list_runs(tmp_path / "clean")[0].directory) as clean:
        a = resumed.samples().drop(columns=["run_id", "status", "error"]).sort_values("trial_id")
        b = clean.samples().drop(columns=["run_id", "status", "error"]).sort_values("trial_id")
        assert a["trial_id"].is_unique and len(a) == 2 * 5112 + 2
        assert a.reset_index(drop=True).equals(b.reset_index(drop=True))
        calls = resumed.calls()
        assert (
            (calls["role"] == "extractor").sum() == (clean.calls()["role"] == "extractor").sum() > 0
        )


def test_resuming_with_another_extractor_is_refused(tmp_path, capsys) -> None:
    assert (
        main(["run", "--limit", "3", "--extractor", "sim", *FAST, "--log-dir", str(tmp_path)]) == 0
    )
    run_id = list_runs(tmp_path)[0].run_id
    code = main(
        ["run", "--resume", run_id, "--extractor", "openai/gpt-4o", "--log-dir", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code != 0 and "extractor" in err and err.startswith("harness: error:")
