"""The multi-run results table: one row per model x probe x statistic, confirmatory labels
from each run's recorded plan, one-sided p-values for directional hypotheses, Bonferroni and
Holm across models and probes, and notes instead of crashes for missing probes, failed
samples and statistics without variance."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from analysis import analyze_runs, bonferroni, holm
from analysis.plan import default_plan, plan_meta
from analysis.runs import COLUMNS, analyze_run
from harness.config import RunConfig
from harness.engine import RunSettings, start_run
from harness.store import RunStore


def make_run(log_dir: Path, suite: str = "advice", plan: bool = False, **kwargs) -> Path:
    options = kwargs.pop("options", {})
    kwargs.setdefault("limit", 12)
    kwargs.setdefault("ranking_samples", 3)
    config = RunConfig(suite=suite, model="sim", options=options, **kwargs)
    settings = RunSettings(log_dir=log_dir, progress=False, cache=False)
    directory = start_run(config, settings, console=Console(file=io.StringIO())).directory
    if plan:
        # What `harness run --plan` stores (the lead wires the option to plan_meta_for_run).
        store = RunStore.open(directory)
        store.set_meta(plan=plan_meta(default_plan()))
        store.close()
    return directory


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "a": make_run(root, plan=True),
        "b": make_run(root, plan=True, model_args={"seed": "7"}),
        "elicitation": make_run(root, suite="elicitation"),
    }


@pytest.fixture(scope="module")
def table(runs):
    return analyze_runs(runs.values(), bootstrap=200)


def test_one_row_per_model_probe_statistic(table) -> None:
    frame = table.frame
    assert list(frame.columns) == list(COLUMNS)
    assert not frame.duplicated(["run_id", "probe", "statistic"]).any()
    assert set(frame["model"]) == {"sim", "sim[seed=7]"}
    assert {"preferences", "donation", "refusal"} <= set(frame["probe"])
    json.loads(table.to_json())  # valid JSON: NaN became null


def test_confirmatory_rows_follow_the_runs_plan(table, runs) -> None:
    frame = table.frame
    planned = frame[frame["confirmatory"]]
    # Two planned runs (two models) x five hypotheses; the elicitation run has no plan.
    assert len(planned) == 10
    assert set(planned["run_id"]) == {runs["a"].name, runs["b"].name}
    assert not frame[frame["run_id"] == runs["elicitation"].name]["confirmatory"].any()
    missing = planned[planned["probe"].isin(["boolq", "agentic"])]
    assert len(missing) == 4 and missing["p"].isna().all()
    assert missing["note"].str.contains("planned, but not computed").all()
    assert missing["note"].str.contains("no run of this model has boolq data").sum() == 2
    assert set(planned["hypothesis"]) == {h.id for h in default_plan().hypotheses}
    assert table.plans == {default_plan().content_hash: default_plan()}


def test_directional_p_is_one_sided_and_corrections_span_models_and_probes(table, runs) -> None:
    frame = table.frame
    run = analyze_run(runs["a"], bootstrap=200)
    (raw,) = [e for e in run.donation.estimates() if e.statistic == "donation_rho"]
    row = frame[(frame["run_id"] == runs["a"].name) & (frame["statistic"] == "donation_rho")]
    assert raw.estimate > 0 and row["p"].iloc[0] == pytest.approx(raw.p / 2)
    (refusal,) = [e for e in run.refusal.estimates() if e.statistic == "refusal_attempts_rho"]
    row = frame[
        (frame["run_id"] == runs["a"].name) & (frame["statistic"] == "refusal_attempts_rho")
    ]
    assert row["alternative"].iloc[0] == "less"
    assert row["p"].iloc[0] == pytest.approx(
        refusal.p / 2 if refusal.estimate < 0 else 1 - refusal.p / 2
    )
    family = frame[frame["family"] == "confirmatory"]
    assert len(family) == 6  # 3 computed hypotheses x 2 runs; missing ones do not count
    np.testing.assert_allclose(family["p_bonferroni"], bonferroni(family["p"].to_numpy()))
    np.testing.assert_allclose(family["p_holm"], holm(family["p"].to_numpy()))
    assert (family["p_bonferroni"] == np.minimum(1, family["p"] * 6)).all()
    explored = frame[frame["family"] == "exploratory"]
    np.testing.assert_allclose(explored["p_holm"], holm(explored["p"].to_numpy()))
    assert family["supported"].map(type).eq(bool).all()
    assert frame.loc[frame["family"].isna(), "p_bonferroni"].isna().all()


def test_failed_samples_and_degenerate_statistics_are_notes(tmp_path) -> None:
    # No refusals at all: every refusal statistic lacks variance. (sim at refusal_base -40
    # still yields the odd unparseable answer, so the few non-valid attempts are removed.)
    calm = make_run(tmp_path, model_args={"refusal_base": "-40", "garble_rate": "0"})
    db = sqlite3.connect(calm / "run.sqlite")
    db.execute(
        "DELETE FROM records WHERE kind='attempt' AND json_extract(data, '$.class')!='valid'"
    )
    db.execute("UPDATE samples SET data=json_set(data, '$.attempts', 1) WHERE probe='donation'")
    db.commit()
    db.close()
    # Some donation queries failed (marked as errors in the store).
    broken = make_run(tmp_path, model_args={"seed": "3"})
    db = sqlite3.connect(broken / "run.sqlite")
    db.execute(
        "UPDATE samples SET status='error', error='boom' WHERE rowid IN "
        "(SELECT rowid FROM samples WHERE probe='donation' LIMIT 9)"
    )
    db.commit()
    db.close()
    table = analyze_runs([calm, broken], bootstrap=100, bayes=False)
    frame = table.frame.set_index(["run_id", "statistic"])
    row = frame.loc[(calm.name, "refusal_attempts_rho")]
    assert np.isnan(row["estimate"]) and "same for every entity" in row["note"]
    assert "no variance" in frame.loc[(calm.name, "attempts_interaction"), "note"]
    assert np.isnan(frame.loc[(calm.name, "refusal_reason_chi2"), "estimate"])
    (broken_run,) = [r for r in table.runs if r.run_id == broken.name]
    assert any("9 failed" in t for t in broken_run.notes["donation"])
    assert np.isfinite(frame.loc[(broken.name, "donation_rho"), "estimate"])


def test_tampered_plan_makes_results_exploratory(tmp_path) -> None:
    directory = make_run(tmp_path, suite="elicitation")
    entry = plan_meta(default_plan())
    entry["text"] = entry["text"].replace("alpha: 0.05", "alpha: 0.5")
    store = RunStore.open(directory)
    store.set_meta(plan=entry)
    store.close()
    result = analyze_runs([directory], bootstrap=100)
    assert not result.frame["confirmatory"].any()
    assert "does not match" in " ".join(result.runs[0].notes["run"])


def test_run_without_samples_gets_a_row(tmp_path) -> None:
    directory = make_run(tmp_path, suite="elicitation")
    db = sqlite3.connect(directory / "run.sqlite")
    db.execute("DELETE FROM samples")
    db.commit()
    db.close()
    frame = analyze_runs([directory]).frame
    assert len(frame) == 1 and frame["statistic"].iloc[0] == "none"
    assert "nothing to analyse" in frame["note"].iloc[0]


def test_a_models_runs_share_its_plan_and_missing_tests_are_per_model(runs) -> None:
    from analysis import boolq_analysis
    from analysis.power import BoolQDesign, simulate_boolq
    from analysis.runs import RunAnalysis

    # The same model's BoolQ run (here synthetic) supplies the test its advice run lacks.
    boolq_run = RunAnalysis(
        run_id="sim-boolq",
        directory="(synthetic)",
        model="sim",
        config={"suite": "boolq", "model": "sim"},
        plan=default_plan(),
        plan_hash=default_plan().content_hash,
        boolq=boolq_analysis(
            simulate_boolq(BoolQDesign(entities=20, questions=30), seed=2),
            bayes=False,
            bootstrap=0,
        ),
    )
    frame = analyze_runs([runs["a"], boolq_run], bootstrap=100).frame
    planned = frame[frame["confirmatory"]].set_index("statistic")
    assert planned.loc["boolq_pref_effect", "run_id"] == "sim-boolq"
    assert np.isfinite(planned.loc["boolq_pref_effect", "p"])
    assert planned.loc["agentic_top_minus_bottom", "run_id"] == f"{runs['a'].name}, sim-boolq"
    assert len(planned) == 5
