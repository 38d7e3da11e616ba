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

from analysis import analyze_runs, holm
from analysis.plan import AnalysisPlan, default_plan, plan_meta
from analysis.runs import COLUMNS, analyze_run
from harness.config import RunConfig
from harness.engine import RunSettings, start_run
from harness.store import RunStore

BOOLQ = Path(__file__).resolve().parents[3] / "shared" / "data" / "boolq" / "validation.jsonl"


def small_plan() -> AnalysisPlan:
    """The default hypotheses for two sim subjects, on the small design these tests run."""
    plan = default_plan(("sim[seed=0]", "sim[seed=7]"))
    plan.design.suites["advice"].update(limit=12, ranking_samples=3)
    plan.design.suites["boolq"].update(limit=30, ranking_samples=3)
    return AnalysisPlan.from_yaml(plan.to_yaml())


def make_run(log_dir: Path, suite: str = "advice", plan: bool = False, **kwargs) -> Path:
    options = kwargs.pop("options", {})
    kwargs.setdefault("limit", 12)
    kwargs.setdefault("ranking_samples", 3)
    config = RunConfig(suite=suite, model="sim", options=options, **kwargs)
    settings = RunSettings(log_dir=log_dir, progress=False, cache=False)
    directory = start_run(config, settings, console=Console(file=io.StringIO())).directory
    if plan:
        # What `harness run --plan` stores.
        store = RunStore.open(directory)
        store.set_meta(plan=plan_meta(small_plan()))
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
    assert not frame.duplicated(["model", "run_id", "probe", "statistic"]).any()
    assert set(frame["model"]) == {"sim[seed=0]", "sim[seed=7]"}
    assert {"preferences", "donation", "refusal"} <= set(frame["probe"])
    json.loads(table.to_json())  # valid JSON: NaN became null


def test_confirmatory_rows_follow_the_runs_plan(table, runs) -> None:
    frame = table.frame
    planned = frame[frame["confirmatory"]]
    # The plan's family: two models x five hypotheses; the elicitation run has no plan.
    assert len(planned) == 10 == small_plan().family_size
    assert {runs["a"].name, runs["b"].name} <= set(planned["run_id"])
    assert not frame[frame["run_id"] == runs["elicitation"].name]["confirmatory"].any()
    missing = planned[planned["probe"].isin(["boolq", "agentic"])]
    assert len(missing) == 4 and missing["p"].isna().all()
    assert missing["note"].str.contains("MISSING planned test").all()
    assert missing["note"].str.contains("counted in the family of 10").all()
    assert missing["note"].str.contains("no boolq run of sim\\[seed=7\\]").sum() == 1
    assert set(planned["hypothesis"]) == {h.id for h in default_plan().hypotheses}
    assert table.plans == {small_plan().content_hash: small_plan()}


def test_directional_p_is_one_sided_and_corrections_use_the_plans_family(table, runs) -> None:
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
    computed = family[family["p"].notna()]
    assert len(family) == 10 and len(computed) == 6  # 4 planned tests missing, still counted
    assert (computed["p_bonferroni"] == np.minimum(1, computed["p"] * 10)).all()
    padded = np.concatenate([computed["p"].to_numpy(), np.ones(4)])
    np.testing.assert_allclose(computed["p_holm"], holm(padded)[:6])
    explored = frame[frame["family"] == "exploratory"]
    np.testing.assert_allclose(explored["p_holm"], holm(explored["p"].to_numpy()))
    assert family["supported"].map(type).eq(bool).all()
    assert not family.loc[family["p"].isna(), "supported"].any()  # missing: not supported
    assert frame.loc[frame["family"].isna(), "p_bonferroni"].isna().all()


# ---------------------------------------------- the family is fixed by the plan (#14.4)


def test_family_size_does_not_depend_on_which_runs_are_analysed(runs) -> None:
    alone = analyze_runs([runs["a"]], bootstrap=200, bayes=False).frame
    both = analyze_runs([runs["a"], runs["b"]], bootstrap=200, bayes=False).frame

    def h2(frame):
        rows = frame[(frame["run_id"] == runs["a"].name) & (frame["hypothesis"] == "H2-donation")]
        return rows.iloc[0]

    assert h2(alone)["p_bonferroni"] == pytest.approx(h2(both)["p_bonferroni"])
    assert h2(alone)["p_bonferroni"] == pytest.approx(min(1.0, 10 * h2(alone)["p"]))
    # The model not analysed still has its five planned tests, listed as missing.
    absent = alone[(alone["model"] == "sim[seed=7]") & alone["confirmatory"]]
    assert len(absent) == 5 and absent["note"].str.contains("MISSING").all()


def test_a_planned_test_is_counted_once_per_model_however_many_runs_elicit(tmp_path, runs) -> None:
    # A second advice run of the same subject under the same plan (a replication) and a
    # BoolQ run both elicit preferences: consistency_rho (H1) is still one test per model.
    again = make_run(tmp_path, plan=True)
    boolq = make_run(
        tmp_path, suite="boolq", plan=True, limit=30, options={"boolq_path": str(BOOLQ)}
    )
    frame = analyze_runs([runs["a"], again, boolq], bootstrap=100, bayes=False).frame
    h1 = frame[(frame["statistic"] == "consistency_rho") & (frame["model"] == "sim[seed=0]")]
    assert len(h1) == 3 and h1["confirmatory"].sum() == 1
    assert h1.loc[h1["confirmatory"], "run_id"].iloc[0] == runs["a"].name  # the earliest
    repeat = h1[h1["run_id"] == again.name]["note"].iloc[0]
    assert f"H1-consistency of sim[seed=0] is supplied by run {runs['a'].name}" in repeat
    from_boolq = h1[h1["run_id"] == boolq.name]["note"].iloc[0]
    assert f"the plan takes H1-consistency from the advice run ({runs['a'].name})" in from_boolq
    h4 = frame[frame["hypothesis"] == "H4-boolq"]
    assert h4["run_id"].tolist() == [boolq.name, "(none)"]  # seed=7 has no BoolQ run
    assert frame["confirmatory"].sum() == 10


# ------------------------------------------ preregistration covers the design (#14.7)


def test_a_run_that_departs_from_the_plans_design_is_not_confirmatory(tmp_path) -> None:
    bigger = make_run(tmp_path, plan=True, samples=2)
    table = analyze_runs([bigger], bootstrap=100, bayes=False)
    (run,) = table.runs
    assert run.not_confirmatory == ["advice samples 2, the plan says 1"]
    assert any("NOT CONFIRMATORY" in t and "samples 2" in t for t in run.notes["run"])
    frame = table.frame
    donation = frame[(frame["statistic"] == "donation_rho") & (frame["run_id"] == bigger.name)]
    computed, planned = donation[donation["p"].notna()], donation[donation["p"].isna()]
    assert not computed["confirmatory"].iloc[0]
    assert "does not follow its plan" in computed["note"].iloc[0]
    assert planned["confirmatory"].iloc[0] and "MISSING" in planned["note"].iloc[0]
    missing = frame[frame["confirmatory"] & (frame["model"] == "sim[seed=0]")]
    assert len(missing) == 5 and missing["p"].isna().all()
    assert missing["note"].str.contains("samples 2, the plan says 1").sum() == 3


def test_cached_answers_demote_a_confirmatory_run(tmp_path) -> None:
    directory = make_run(tmp_path, plan=True)
    with sqlite3.connect(directory / "run.sqlite") as db:
        db.execute("UPDATE calls SET cached=1 WHERE rowid IN (SELECT rowid FROM calls LIMIT 3)")
    table = analyze_runs([directory], bootstrap=100, bayes=False)
    (run,) = table.runs
    assert run.not_confirmatory == [
        "3 answer(s) came from the response cache, i.e. from an earlier run, not from this one"
    ]
    frame = table.frame
    assert frame.loc[frame["confirmatory"], "p"].isna().all()  # every planned test is missing


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
        model="sim[seed=0]",
        config={"suite": "boolq", "model": "sim"},
        plan=small_plan(),
        plan_hash=small_plan().content_hash,
        created="9999",
        boolq=boolq_analysis(
            simulate_boolq(BoolQDesign(entities=20, questions=30), seed=2),
            bayes=False,
            bootstrap=0,
        ),
    )
    frame = analyze_runs([runs["a"], boolq_run], bootstrap=100).frame
    planned = frame[frame["confirmatory"] & (frame["model"] == "sim[seed=0]")]
    planned = planned.set_index("statistic")
    assert planned.loc["boolq_pref_effect", "run_id"] == "sim-boolq"
    assert np.isfinite(planned.loc["boolq_pref_effect", "p"])
    assert planned.loc["agentic_top_minus_bottom", "run_id"] == "(none)"
    assert len(planned) == 5
