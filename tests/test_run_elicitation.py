"""End to end: `harness run --suite elicitation` on sim, resume after kill -9, bad input."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.parsing.methods import METHODS, is_decided
from harness.store import Run, list_runs


def run_cli(*args: str) -> int:
    return main(list(args))


def only_run(log_dir: Path) -> Path:
    runs = list_runs(log_dir)
    assert len(runs) == 1
    return runs[0].directory


def test_small_elicitation_run_stores_every_trial_and_prints_summary(tmp_path, capsys) -> None:
    code = run_cli(
        "run",
        "--suite",
        "elicitation",
        "--limit",
        "8",
        "--ranking-samples",
        "3",
        "--no-progress",
        "--log-dir",
        str(tmp_path / "runs"),
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "pairwise parse rate" in out and "preference ladder" in out
    directory = only_run(tmp_path / "runs")
    assert out.strip().endswith(str(directory))
    with Run(directory) as run:
        pairwise, ranking = run.samples("pairwise"), run.samples("ranking")
        assert len(pairwise) == 8 * 7 // 2 * 2
        assert len(ranking) == 3
        assert set(pairwise["order"]) == {"forward", "reverse"}
        assert pairwise["trial_id"].is_unique
        assert len(run.calls()) == len(pairwise) + len(ranking)
        assert run.meta["status"] == "complete"
        assert run.meta["config"]["templates"]["pairwise"] == ["pairwise-forced-choice@1"]
        assert run.meta["versions"]["python"]
        # sim's planted position bias (0.2 log-odds) shows as slightly more A than B.
        parsed = pairwise[pairwise["choice"].notna()]
        assert len(parsed) / len(pairwise) > 0.9
        # How each answer was read is stored with it, from one vocabulary for every probe.
        assert (pairwise["parse_method"].map(is_decided) == pairwise["choice"].notna()).all()
        assert (pairwise["parse"] == pairwise["parse_method"]).all()  # the older column
        assert (ranking["parse_method"].map(is_decided) == (ranking["parse"] == "ok")).all()
        assert set(ranking["parse_method"]) <= set(METHODS)


@pytest.mark.parametrize(
    ("suite", "probe", "threshold", "expected"),
    [
        ("elicitation", "pairwise", 2000, 72 * 71 * 3 + 4),
        ("advice", "donation", 1500, 72 * 71 * 3 + 4 + 72 * 71 * 3),
    ],
)
def test_resume_after_kill_9_matches_an_uninterrupted_run(
    tmp_path, kill_mid_run, suite, probe, threshold, expected
) -> None:
    args = [
        "--suite",
        suite,
        "--samples",
        "3",
        "--ranking-samples",
        "4",
        "--no-progress",
        "--no-cache",
    ]
    killed_dir = tmp_path / "killed"
    kill_mid_run(args, killed_dir, threshold, probe=probe)
    directory = only_run(killed_dir)
    with Run(directory) as run:
        partial = len(run.samples())
        assert run.meta["status"] == "running"  # killed: nothing got to mark it
    assert 0 < partial < expected

    assert (
        run_cli("run", "--resume", directory.name, "--log-dir", str(killed_dir), "--no-progress")
        == 0
    )
    assert run_cli("run", *args, "--log-dir", str(tmp_path / "clean")) == 0
    with Run(directory) as resumed, Run(only_run(tmp_path / "clean")) as clean:
        a = (
            resumed.samples()
            .drop(columns=["run_id"])
            .sort_values("trial_id")
            .reset_index(drop=True)
        )
        b = clean.samples().drop(columns=["run_id"]).sort_values("trial_id").reset_index(drop=True)
        assert len(a) == expected
        assert a["trial_id"].is_unique
        assert a.drop(columns=["status", "error"]).equals(b.drop(columns=["status", "error"]))
        assert resumed.meta["status"] == "complete"
        assert len(resumed.calls()) == len(clean.calls())
        if suite == "advice":
            attempts = resumed.records("attempt")
            assert len(attempts) == len(clean.records("attempt"))
            assert not attempts.duplicated(["trial_id", "idx"]).any()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--suite", "nosuch"], 2, "unknown suite 'nosuch'"),
        (["--model", "nosuch/model"], 2, "unknown model provider 'nosuch'"),
        (["--model", "gpt-4o"], 2, "no provider prefix"),
        (["--model", "openai/gpt-4o"], 2, "OPENAI_API_KEY"),
        (["--model", "anthropic/claude-sonnet-4-5"], 2, "ANTHROPIC_API_KEY"),
        (["-M", "nosuch=1"], 2, "sim does not take model argument 'nosuch'"),
        (["-M", "novalue"], 2, "not key=value"),
        (["--entities", "missing.csv"], 2, "missing.csv"),
        (["--samples", "0"], 2, "--samples must be at least 1"),
        (["--max-connections", "0"], 2, "--max-connections"),
        (["--samples", "many"], 2, "'many' is not a valid integer"),
    ],
)
def test_bad_input_gives_one_line_and_writes_nothing(tmp_path, capsys, args, code, message) -> None:
    log_dir = tmp_path / "runs"
    assert run_cli("run", *args, "--log-dir", str(log_dir)) == code
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not list(log_dir.glob("*")) if log_dir.exists() else True


def test_malformed_entity_file_names_file_row_and_field(tmp_path, capsys) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "name,description,category,aliases\nAlpha Trust,Does things.,health,\n,No name.,health,\n"
    )
    assert run_cli("run", "--entities", str(path), "--log-dir", str(tmp_path / "runs")) == 2
    err = capsys.readouterr().err
    assert "mine.csv" in err and "line 3" in err and "name" in err


def test_unwritable_log_dir_is_one_line(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run_cli("run", "--limit", "3", "--log-dir", str(blocker / "runs")) != 0
    err = capsys.readouterr().err
    assert "cannot create log directory" in err and len(err.strip().splitlines()) == 1


def test_resume_with_another_configuration_is_refused(tmp_path, capsys) -> None:
    log_dir = tmp_path / "runs"
    assert (
        run_cli(
            "run",
            "--limit",
            "4",
            "--ranking-samples",
            "1",
            "--no-progress",
            "--log-dir",
            str(log_dir),
        )
        == 0
    )
    run_id = only_run(log_dir).name
    capsys.readouterr()
    assert run_cli("run", "--resume", run_id, "--samples", "5", "--log-dir", str(log_dir)) == 2
    assert "was made with samples=1" in capsys.readouterr().err
    assert run_cli("run", "--resume", "nosuch", "--log-dir", str(log_dir)) == 1


def test_api_keys_never_reach_the_store_or_exports(tmp_path, chat_server, monkeypatch) -> None:
    secret = "sk-test-SECRET-do-not-store-4242"
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", secret)
    log_dir = tmp_path / "runs"
    code = run_cli(
        "run",
        "--model",
        "openai-compatible/tiny",
        "--base-url",
        chat_server.url,
        "--limit",
        "3",
        "--ranking-samples",
        "1",
        "--no-progress",
        "--no-cache",
        "--log-dir",
        str(log_dir),
    )
    assert code == 0
    assert chat_server.headers and secret in chat_server.headers[0]["authorization"]
    assert "metadata" not in chat_server.requests[0]  # sim hints never leave the process
    directory = only_run(log_dir)
    assert run_cli("export", str(directory), "--format", "csv") == 0
    for path in directory.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_a_run_that_is_still_running_cannot_be_resumed_twice(tmp_path, capsys) -> None:
    from harness.store import RunStore

    log_dir = tmp_path / "runs"
    args = ("--limit", "4", "--ranking-samples", "1", "--no-progress", "--log-dir", str(log_dir))
    assert run_cli("run", *args) == 0
    directory = only_run(log_dir)
    with sqlite3.connect(directory / "run.sqlite") as db:
        # As if the run had been killed before its last 5 trials: sample, calls and records.
        gone = [row[0] for row in db.execute("SELECT trial_id FROM samples LIMIT 5")]
        for table in ("samples", "calls", "records"):
            db.executemany(f"DELETE FROM {table} WHERE trial_id = ?", [(t,) for t in gone])
        left = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    holder = RunStore.open(directory)
    holder.claim()  # as a live `harness run` holds it
    try:
        capsys.readouterr()
        assert run_cli("run", "--resume", directory.name, "--log-dir", str(log_dir)) == 1
        err = capsys.readouterr().err.strip()
        assert "is being run by another harness process" in err and str(os.getpid()) in err
        assert len(err.splitlines()) == 1
        with sqlite3.connect(directory / "run.sqlite") as db:  # nothing was run or written
            assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == left
    finally:
        holder.close()
    # Once the holder is gone (as when its process dies, even by kill -9), resume works.
    assert run_cli("run", "--resume", directory.name, "--log-dir", str(log_dir)) == 0
    with sqlite3.connect(directory / "run.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == left + 5
