"""The small CLI commands: runs, models, entities, export; and environment-variable defaults."""

from pathlib import Path

import pandas as pd

from harness.cli import main
from harness.store import list_runs


def test_runs_lists_each_run_with_its_status(tmp_path, capsys) -> None:
    assert main(["runs", "--log-dir", str(tmp_path)]) == 0
    assert "no runs" in capsys.readouterr().out
    assert (
        main(
            [
                "run",
                "--limit",
                "3",
                "--ranking-samples",
                "1",
                "--no-progress",
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["runs", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "elicitation" in out and "complete" in out


def test_environment_variables_are_option_defaults(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_LIMIT", "3")
    monkeypatch.setenv("HARNESS_RANKING_SAMPLES", "2")
    monkeypatch.setenv("HARNESS_LOG_DIR", str(tmp_path / "from-env"))
    assert main(["run", "--no-progress"]) == 0
    (info,) = list_runs(tmp_path / "from-env")
    assert info.samples == 3 * 2 // 2 * 2 + 2


def test_dotenv_file_is_read(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_LOG_DIR", raising=False)
    (tmp_path / ".env").write_text(
        "HARNESS_LOG_DIR=dotenv-runs\nHARNESS_LIMIT=2\nHARNESS_RANKING_SAMPLES=1\n"
    )
    try:
        assert main(["run", "--no-progress"]) == 0
    finally:
        import os

        for name in ("HARNESS_LOG_DIR", "HARNESS_LIMIT", "HARNESS_RANKING_SAMPLES"):
            os.environ.pop(name, None)
    assert len(list_runs(tmp_path / "dotenv-runs")) == 1


def test_models_lists_providers_and_sim_knobs(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for text in (
        "openai-compatible",
        "ANTHROPIC_API_KEY",
        "position_bias",
        "refusal_slope",
        "NOT a language",
    ):
        assert text in out


def test_entities_lists_sets_and_members(capsys) -> None:
    assert main(["entities"]) == 0
    assert "charities-72" in capsys.readouterr().out
    assert main(["entities", "default"]) == 0
    assert "Against Malaria Foundation" in capsys.readouterr().out


def test_export_writes_parquet_and_csv(tmp_path) -> None:
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--limit",
                "3",
                "--ranking-samples",
                "1",
                "--no-progress",
                "--log-dir",
                str(tmp_path),
            ]
        )
        == 0
    )
    (info,) = list_runs(tmp_path)
    assert main(["export", info.run_id, "--log-dir", str(tmp_path)]) == 0
    names = {p.name for p in (info.directory / "export").iterdir()}
    assert names == {
        "samples_pairwise.parquet",
        "samples_ranking.parquet",
        "samples_donation.parquet",
        "calls.parquet",
        "records_attempt.parquet",
    }
    donation = pd.read_parquet(info.directory / "export" / "samples_donation.parquet")
    assert len(donation) == 6 and {"entity_a", "recommended", "attempts"} <= set(donation.columns)
    out = tmp_path / "csv"
    assert main(["export", str(info.directory), "--format", "csv", "-o", str(out)]) == 0
    ranking = pd.read_csv(out / "samples_ranking.csv")
    assert ranking["ranking"].str.startswith("[").all()  # lists are JSON-encoded in CSV


def test_export_of_unknown_run_is_one_line(tmp_path, capsys) -> None:
    assert main(["export", "nosuch", "--log-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no run 'nosuch'" in err and len(err.strip().splitlines()) == 1
    assert not Path(tmp_path / "nosuch").exists()


def test_task_dir_that_does_not_exist_is_one_line(tmp_path, capsys) -> None:
    log_dir = tmp_path / "runs"
    code = main(
        [
            "run",
            "--suite",
            "agentic",
            "--task-dir",
            str(tmp_path / "nope"),
            "--log-dir",
            str(log_dir),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "task suite folder does not exist" in err
    assert not log_dir.exists()  # nothing written


def test_task_dir_is_only_for_the_agentic_suite(tmp_path, capsys) -> None:
    code = main(
        ["run", "--suite", "advice", "--task-dir", str(tmp_path), "--log-dir", str(tmp_path)]
    )
    assert code == 2 and "--task-dir does not apply to suite 'advice'" in capsys.readouterr().err
