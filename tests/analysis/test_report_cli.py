"""The HTML report (self-contained, every figure, missing probes) and the analysis commands
(analyze, report, plan, power) as the CLI runs them."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from analysis import agentic_analysis, analyze_runs, boolq_analysis
from analysis.plan import default_plan
from analysis.power import BoolQDesign, simulate_boolq
from analysis.report import FIGURES, write_report
from analysis.runs import RunAnalysis
from harness.cli._analysis import analysis_commands
from harness.config import RunConfig
from harness.engine import RunSettings, start_run
from harness.errors import HarnessError, UsageError


def make_run(log_dir: Path, suite: str) -> Path:
    config = RunConfig(suite=suite, model="sim", limit=10, ranking_samples=3)
    settings = RunSettings(log_dir=log_dir, progress=False, cache=False)
    return start_run(config, settings, console=Console(file=io.StringIO())).directory


def agentic_rows(seed: int = 0) -> pd.DataFrame:
    """Agentic-probe-shaped rows: 20 tasks x (3 top, 3 bottom, neutral) x 2 epochs."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(20):
        for entity, group, pref in (
            [(f"t{i}", "top", 1800 + i) for i in range(3)]
            + [(f"b{i}", "bottom", 1200 - i) for i in range(3)]
            + [(None, "neutral", None)]
        ):
            for epoch in range(2):
                rows.append(
                    {
                        "task_id": f"task-{t}",
                        "category": "gaia",
                        "difficulty": "1",
                        "entity": entity,
                        "group": group,
                        "preference": pref,
                        "template_id": "x",
                        "passed": bool(rng.random() < 0.5),
                        "score": 0.0,
                        "stop_reason": "done",
                        "epoch": epoch,
                        "status": "ok",
                    }
                )
    return pd.DataFrame(rows)


def synthetic(run_id: str, plan: bool = False, **sections) -> RunAnalysis:
    return RunAnalysis(
        run_id=run_id,
        directory="(synthetic)",
        model="synthetic",
        config={"suite": "synthetic", "model": "synthetic"},
        plan=default_plan() if plan else None,
        plan_hash=default_plan().content_hash if plan else None,
        **sections,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {"advice": make_run(root, "advice"), "elicitation": make_run(root, "elicitation")}


def cli(args: list[str]) -> None:
    """Run the commands the way `harness` does (click group, errors raised, not printed)."""
    group = click.Group("harness", commands={c.name: c for c in analysis_commands})
    group.main(args, prog_name="harness", standalone_mode=False)


# ------------------------------------------------------------------------------ report


def test_report_is_self_contained_and_has_every_figure(runs, tmp_path) -> None:
    boolq = boolq_analysis(
        simulate_boolq(BoolQDesign(entities=20, questions=40), seed=1), bootstrap=100
    )
    table = analyze_runs(
        [
            runs["advice"],
            synthetic("synthetic-boolq", plan=True, boolq=boolq),
            synthetic("synthetic-agentic", agentic=agentic_analysis(agentic_rows())),
        ],
        bootstrap=100,
    )
    written = write_report(table, tmp_path / "out" / "report.html", title="Test report")
    html = written[0].read_text()
    assert sorted(p.name for p in written[1:]) == sorted(f"report-{n}.png" for n in FIGURES)
    for name in FIGURES:
        match = re.search(rf'id="fig-{name}" src="data:image/png;base64,([^"]+)"', html)
        assert match, name
        # The embedded image is the PNG written beside the report.
        assert (
            base64.b64decode(match.group(1))
            == (tmp_path / "out" / f"report-{name}.png").read_bytes()
        )
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r"(src|href)\s*=\s*['\"](?!data:)", html)
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert "http://" not in html and "https://" not in html
    assert "Test report" in html and "Run configurations" in html
    # The planned run's hypotheses are in the confirmatory table, with the plan's hash.
    assert 'class="confirmatory"' in html and "H4-boolq" in html
    assert default_plan().content_hash in html
    assert runs["advice"].name in html


def test_report_handles_missing_probes(runs, tmp_path) -> None:
    table = analyze_runs([runs["elicitation"]], bootstrap=100)
    written = write_report(table, tmp_path / "report.html")
    html = written[0].read_text()
    assert {p.name for p in written[1:]} == {
        "report-preference_ladder.png",
        "report-pairwise_vs_direct.png",
    }
    for probe in ("donation", "refusal", "boolq", "agentic"):
        assert f"No run has {probe} data." in html
    assert "every result below is exploratory" in html


# --------------------------------------------------------------------------------- CLI


def test_analyze_prints_tables_and_json(runs, capsys) -> None:
    cli(["analyze", str(runs["advice"]), "--bootstrap", "100"])
    out = capsys.readouterr().out
    for title in ("preferences", "donation", "refusal"):
        assert title in out
    assert "consistency rho" in out and "every result is exploratory" in out
    cli(["analyze", str(runs["advice"]), str(runs["elicitation"]), "--json", "--bootstrap", "50"])
    data = json.loads(capsys.readouterr().out)
    assert {r["run_id"] for r in data["runs"]} == {runs["advice"].name, runs["elicitation"].name}
    stats = {r["statistic"] for r in data["results"]}
    assert {"consistency_rho", "donation_rho", "refusal_attempts_rho"} <= stats


def test_analyze_accepts_a_directory_of_runs_and_log_dir_ids(runs, capsys) -> None:
    cli(["analyze", str(runs["advice"].parent), "--json", "--bootstrap", "0", "--no-bayes"])
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 2
    cli(
        [
            "analyze",
            runs["elicitation"].name,
            "--log-dir",
            str(runs["advice"].parent),
            "--json",
            "--bootstrap",
            "0",
        ]
    )
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 1


def test_report_command_writes_html_and_pngs(runs, tmp_path, capsys) -> None:
    out = tmp_path / "r.html"
    cli(["report", str(runs["advice"]), "-o", str(out), "--bootstrap", "50"])
    assert out.is_file() and (tmp_path / "r-donation_vs_preference.png").is_file()
    assert "figures beside it" in capsys.readouterr().out


def test_plan_command_writes_checks_and_refuses_to_overwrite(tmp_path, capsys) -> None:
    path = tmp_path / "plan.yaml"
    cli(["plan", "-o", str(path)])
    out = capsys.readouterr().out
    assert f"plan hash: {default_plan().content_hash}" in out and path.is_file()
    with pytest.raises(UsageError, match="--force"):
        cli(["plan", "-o", str(path)])
    cli(["plan", "-o", str(path), "--force"])
    cli(["plan", "--check", str(path)])
    assert default_plan().content_hash in capsys.readouterr().out
    text = path.read_text()
    path.write_text(text.replace("statistic: donation_rho", "statistic: nope"))
    with pytest.raises(HarnessError, match="unknown statistic 'nope'"):
        cli(["plan", "--check", str(path)])
    cli(["plan"])  # to stdout
    assert "hypotheses:" in capsys.readouterr().out
    # The models the family covers are part of the plan: sim is labelled with its seed.
    cli(["plan", "--model", "sim", "--model", "openai/gpt-4o", "--seed", "3"])
    written = capsys.readouterr().out
    assert "- sim[seed=3]\n  - openai/gpt-4o" in written and "seed: 3" in written


def test_power_command(capsys) -> None:
    cli(["power", "--sims", "4", "--questions", "20", "--entities", "20", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert data["sims"] == 4 and data["design"]["questions"] == 20
    assert 0 <= data["power"] <= 1 and 0 <= data["false_positive_rate"] <= 1
    cli(["power", "--sims", "2", "--questions", "10", "--entities", "10"])
    assert "power at +3 pp/SD" in capsys.readouterr().out
    with pytest.raises(UsageError, match="at least 3 entities"):
        cli(["power", "--entities", "2"])
    with pytest.raises(UsageError, match="alpha"):
        cli(["power", "--alpha", "2"])


def test_unknown_run_is_a_one_line_error(tmp_path) -> None:
    with pytest.raises(HarnessError, match="no run 'nope'"):
        cli(["analyze", "nope", "--log-dir", str(tmp_path)])


def test_a_run_under_a_plan_must_follow_its_design_and_does_not_read_the_cache(
    tmp_path, monkeypatch, capsys
) -> None:
    import yaml

    from harness.cli import main

    plan = tmp_path / "plan.yaml"
    cli(["plan", "-o", str(plan)])
    run = ["run", "--suite", "advice", "--limit", "6", "--ranking-samples", "2", "--no-progress"]
    run += ["--log-dir", str(tmp_path / "runs"), "--plan", str(plan)]
    # The default plan is for all 72 entities and 10 rankings: refused before anything runs.
    assert main(run) != 0
    err = capsys.readouterr().err
    assert "does not follow the plan" in err and "advice limit 6, the plan says None" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    data = yaml.safe_load(plan.read_text())
    data["design"]["suites"]["advice"].update(limit=6, ranking_samples=2)
    plan.write_text(yaml.safe_dump(data))

    def no_cache(*args, **kwargs):
        raise AssertionError("a run under a plan must not open the response cache")

    monkeypatch.setattr("harness.engine.ResponseCache", no_cache)
    assert main(run) == 0
    assert "does not read the response cache" in capsys.readouterr().err


def test_report_says_on_its_first_screen_that_the_subject_is_sim(runs, tmp_path) -> None:
    from analysis.report import render_report

    table = analyze_runs([runs["advice"]], bootstrap=100, bayes=False)
    page = render_report(table, {})
    body = page[page.index("<body>") :]
    banner = body.index("not a language model")
    # Before any table or result: the first thing a reader sees after the title.
    assert banner < body.index("<table")
    assert "sim[seed=0]" in body[:banner] or "sim" in body[:banner]
    real = analyze_runs([synthetic("real-model-run")], bootstrap=0)
    assert "not a language model" not in render_report(real, {})


def test_analyze_prints_model_labels_with_their_arguments(runs) -> None:
    # Labels carry brackets ("sim[seed=0]"), which rich would read as markup and drop.
    from harness.cli._analysis import print_results

    table = analyze_runs([runs["advice"]], bootstrap=50, bayes=False)
    out = io.StringIO()
    print_results(table, Console(file=out, width=250))
    assert "sim[seed=0]" in out.getvalue()
