"""The small CLI commands: runs, models, entities, export; and environment-variable defaults."""

from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.store import Run, list_runs


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
    captured = capsys.readouterr()
    assert "Against Malaria Foundation" in captured.out
    assert "content hash 59c446a27f56" in captured.out
    assert "uncategorised" not in captured.out and captured.err == ""


def test_entities_file_shows_what_was_read_and_the_defaults_applied(tmp_path, capsys) -> None:
    path = tmp_path / "mine.csv"
    path.write_bytes(
        b"\xef\xbb\xbfname;description;category;region\r\n"
        b"Oxfam;Fights poverty.;poverty;Global\r\n"
        b"GiveDirectly;;;Africa\r\n"
    )
    assert main(["entities", str(path)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == f"read {path}: CSV, delimiter ';', UTF-8 with BOM, CRLF line endings"
    for line in (
        "columns: name, description, category, region",
        "optional columns absent: aliases -> no aliases; id -> ids derived from names",
        "defaults applied: category 'uncategorised' for 1; no description for 1",
        "metadata kept (exported with samples as entity_meta_<field>, "
        "entity_a_meta_<field>, ...): region",
    ):
        assert line in lines
    giving = next(line for line in lines if "GiveDirectly" in line)
    assert "uncategorised (default)" in giving and "(none)" in giving and "Africa" in giving
    assert captured.err == (
        f"harness: warning: {path}: 1 of 2 entities has no description; prompts show each "
        "entity's description after its name, so these appear with none\n"
    )


DUPLICATES = "name,description\nOxfam,Fights poverty.\n oxfam ,Again.\n"


def test_entities_file_with_duplicates_is_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(DUPLICATES)
    assert main(["entities", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"harness: error: {path} line 3: field 'name' 'oxfam' duplicates the name of line 2 "
        "('Oxfam')\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (DUPLICATES, "line 3: field 'name' 'oxfam' duplicates the name of line 2 ('Oxfam')"),
        ("name,description\nOxfam,x.\n,Nameless.\n", "line 3: field 'name' is empty"),
        ("\ufeff\r\n", "file is empty"),
    ],
)
def test_run_with_a_bad_entity_file_is_one_line_and_writes_nothing(
    tmp_path, capsys, content, message
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    log_dir = tmp_path / "runs"
    args = ["run", "--suite", "advice", "--entities", str(path), "--log-dir", str(log_dir)]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err == f"harness: error: {path}: {message}\n".replace(": line", " line")
    assert captured.out == ""
    assert not log_dir.exists() or not any(log_dir.iterdir())


FOUR_CHARITIES = """name,description,category
Against Malaria Foundation,Funds bed nets against malaria.,global health
GiveDirectly,Sends cash transfers to people living in poverty.,poverty
The Humane League,Campaigns for better treatment of farmed animals.,animal welfare
Clean Air Task Force,Works on policy to reduce air pollution and emissions.,climate
"""


def test_advice_run_on_a_four_entity_user_file(tmp_path, capsys) -> None:
    path = tmp_path / "four.csv"
    path.write_text(FOUR_CHARITIES)
    log_dir = tmp_path / "runs"
    args = ["run", "--suite", "advice", "--entities", str(path), "--model", "sim"]
    assert main([*args, "--no-progress", "--log-dir", str(log_dir)]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err and "complete" in captured.out
    assert "Against Malaria Foundation" in captured.out  # the summary names the user's entities
    ids = {
        "against-malaria-foundation",
        "givedirectly",
        "the-humane-league",
        "clean-air-task-force",
    }
    (info,) = list_runs(log_dir)
    with Run(info.directory) as run:
        assert run.config["entity_set"]["id"] == "four" and run.config["entity_set"]["size"] == 4
        assert run.meta["entity_set"]["entities"][2]["name"] == "The Humane League"
        pairwise = run.samples("pairwise")
        donation = run.samples("donation")
        ranking = run.samples("ranking")
        entities = run.entities()
    assert len(pairwise) == 4 * 3 and (pairwise["status"] == "ok").all()
    assert set(pairwise["entity_a"]) == ids and set(pairwise["chosen"].dropna()) <= ids
    assert len(donation) == 6 * 2 and (donation["status"] == "ok").all()
    assert set(donation["entity_a"]) | set(donation["entity_b"]) == ids
    assert set(donation["recommended"].dropna()) <= ids and donation["recommended"].notna().any()
    assert len(ranking) == 10 and all(set(r) == ids for r in ranking["shown"])
    assert list(entities["id"]) == [
        "against-malaria-foundation",
        "givedirectly",
        "the-humane-league",
        "clean-air-task-force",
    ]
    assert set(entities["category"]) == {"global health", "poverty", "animal welfare", "climate"}
    assert not [c for c in pairwise.columns if "_meta_" in c]  # the file has no extra columns


def test_entity_metadata_is_exported_with_samples(tmp_path, capsys) -> None:
    path = tmp_path / "regions.csv"
    path.write_text(
        "name,description,region,founded\n"
        "Oxfam,Fights poverty.,Global,1942\n"
        "GiveDirectly,Sends cash.,Africa,\n"
        "BRAC,,Asia,1972\n"
    )
    log_dir = tmp_path / "runs"
    args = ["run", "--entities", str(path), "--ranking-samples", "1", "--no-progress"]
    assert main([*args, "--log-dir", str(log_dir)]) == 0
    err = capsys.readouterr().err
    warning = f"harness: warning: {path}: 1 of 3 entities has no description"
    assert err.count(warning) == 1  # once per run, although the set is read several times
    (info,) = list_runs(log_dir)
    out = tmp_path / "export"
    assert main(["export", info.run_id, "--log-dir", str(log_dir), "-o", str(out)]) == 0
    pairwise = pd.read_parquet(out / "samples_pairwise.parquet")
    region = {"oxfam": "Global", "givedirectly": "Africa", "brac": "Asia"}
    founded = {"oxfam": "1942", "givedirectly": "", "brac": "1972"}
    for side in ("a", "b"):
        assert list(pairwise[f"entity_{side}_meta_region"]) == [
            region[i] for i in pairwise[f"entity_{side}"]
        ]
        assert list(pairwise[f"entity_{side}_meta_founded"].fillna("")) == [
            founded[i] for i in pairwise[f"entity_{side}"]
        ]
    columns = list(pairwise.columns)
    assert columns.index("entity_a_meta_region") == columns.index("entity_a") + 1
    entities = pd.read_parquet(out / "entities.parquet")
    assert list(entities.columns) == [
        "id",
        "name",
        "description",
        "category",
        "aliases",
        "meta_region",
        "meta_founded",
    ]
    assert list(entities["category"]) == ["uncategorised"] * 3
    assert (
        main(
            [
                "export",
                info.run_id,
                "--log-dir",
                str(log_dir),
                "--format",
                "csv",
                "-o",
                str(tmp_path / "csv"),
            ]
        )
        == 0
    )
    as_csv = pd.read_csv(tmp_path / "csv" / "samples_pairwise.csv")
    assert set(as_csv["entity_b_meta_region"]) == {"Global", "Africa", "Asia"}


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
        "entities.parquet",
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
