"""The parse audit (analysis/audit.py, `harness audit`): tables by parse method and class,
seeded samples stratified by preference tercile, and the trend test of undecided answers,
which must fire on a planted parser bias and stay quiet on a null."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.audit import TERCILES, UNDECIDED, audit_probe, audit_run, undecided_trend
from harness.cli import main
from harness.store import Run, list_runs


@pytest.fixture(scope="module")
def verbose_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stored advice run of sim in verbose mode (many parse methods in use)."""
    log_dir = tmp_path_factory.mktemp("runs")
    args = ["run", "--suite", "advice", "--limit", "16", "-M", "style=verbose"]
    assert main([*args, "--ranking-samples", "6", "--no-progress", "--log-dir", str(log_dir)]) == 0
    return list_runs(log_dir)[0].directory


def test_audit_of_a_stored_run_accounts_for_every_answer(verbose_run: Path) -> None:
    audit = audit_run(verbose_run, samples=4, seed=1)
    assert set(audit.probes) == {"pairwise", "ranking", "donation"}
    with Run(verbose_run) as run:
        pairwise, attempts = run.samples("pairwise"), run.records("attempt")
        rankings = run.samples("ranking")
    sizes = {"pairwise": len(pairwise), "donation": len(attempts), "ranking": len(rankings)}
    for probe, result in audit.probes.items():
        methods = result.methods
        classes = [c for c in methods.columns if c not in ("n", "share")]
        assert result.n == sizes[probe] == int(methods["n"].sum())
        assert (methods[classes].sum(axis=1) == methods["n"]).all()
        assert math.isclose(methods["share"].sum(), 1.0)
    # What the rules read agrees with how they read it.
    pairwise_methods = audit.probes["pairwise"].methods
    assert {"json", "final_statement", "last_line"} <= set(pairwise_methods.index)
    decided = pairwise_methods.drop(index=["refusal", "ambiguous"], errors="ignore")
    assert (decided["none"] == 0).all()
    for method in ("refusal", "ambiguous"):
        if method in pairwise_methods.index:
            row = pairwise_methods.loc[method]
            assert row["A"] == row["B"] == 0
    donation = audit.probes["donation"].methods
    assert donation.loc["refusal", "refusal"] == donation.loc["refusal", "n"]
    assert donation.loc["ambiguous", "hedge"] == donation.loc["ambiguous", "n"]
    counted = attempts["parse_method"].value_counts()
    assert donation["n"].to_dict() == {m: counted[m] for m in donation.index}


def test_samples_are_seeded_per_method_and_spread_over_terciles(verbose_run: Path) -> None:
    first = audit_run(verbose_run, probes=("donation",), samples=6, seed=3).probes["donation"]
    again = audit_run(verbose_run, probes=("donation",), samples=6, seed=3).probes["donation"]
    other = audit_run(verbose_run, probes=("donation",), samples=6, seed=4).probes["donation"]
    assert first.samples.equals(again.samples)
    assert not first.samples.equals(other.samples)
    counts = first.methods["n"]
    for method, group in first.samples.groupby("parse_method"):
        assert len(group) == min(6, counts[method])
        with Run(verbose_run) as run:
            attempts = run.records("attempt")
        # Every sampled answer is a real stored answer of that method.
        assert group["text"].isin(attempts.loc[attempts["parse_method"] == method, "text"]).all()
        if counts[method] >= 30:
            # Plenty in every tercile: two from each.
            assert group["tercile"].value_counts().to_dict() == {t: 2 for t in TERCILES}


def test_terciles_split_the_pairs_in_thirds_and_null_trend_is_quiet(verbose_run: Path) -> None:
    audit = audit_run(verbose_run, samples=0)
    for probe in ("pairwise", "donation"):
        result = audit.probes[probe]
        assert result.stratified_by == "pair mean preference"
        assert list(result.terciles.index) == list(TERCILES)
        assert int(result.terciles["n"].sum()) == result.n
        lows, highs = result.terciles["score_low"], result.terciles["score_high"]
        assert (highs.iloc[:-1].to_numpy() <= lows.iloc[1:].to_numpy()).all()
        # sim plants no parser bias: its undecided answers do not depend on preference (a
        # small run may have none at all, when there is nothing to test).
        trend = result.trend
        assert (trend.ok and trend.p > 0.05) or trend.note == "no undecided answers", trend
    # ...while its refusals do (planted), and they are counted apart from undecided answers.
    refusals = audit.probes["donation"].terciles["refusal_share"]
    assert refusals["low"] > 2 * refusals["high"]
    assert audit.probes["ranking"].terciles is None and audit.probes["ranking"].trend is None


# -- planted parser bias on synthetic frames -------------------------------------------------
def _synthetic_pairwise(seed: int, slope: float, base: float = -3.5, entities: int = 72):
    """Pairwise rows over every ordered pair of ``entities`` with a method drawn so that
    logit P(undecided) = base + slope * (pair mean z)."""
    rng = random.Random(seed)
    scores = pd.Series(
        np.random.default_rng(seed).normal(size=entities), index=[f"e{i}" for i in range(entities)]
    )
    z = (scores - scores.mean()) / scores.std(ddof=0)
    rows = []
    for a in scores.index:
        for b in scores.index:
            if a == b:
                continue
            mean = (z[a] + z[b]) / 2
            undecided = rng.random() < 1 / (1 + math.exp(-(base + slope * mean)))
            method = rng.choice(["ambiguous", "unparseable"]) if undecided else "leading"
            rows.append(
                {
                    "trial_id": f"{a}-{b}",
                    "status": "ok",
                    "entity_a": a,
                    "entity_b": b,
                    "parse_method": method,
                    "choice": None if undecided else rng.choice("AB"),
                    "text": "…",
                }
            )
    return pd.DataFrame(rows), scores


def test_trend_fires_on_a_parser_that_fails_more_on_disliked_entities() -> None:
    for seed in range(10):
        rows, scores = _synthetic_pairwise(seed, slope=-1.0)
        result = audit_probe("pairwise", rows, scores, samples=2)
        trend = result.trend
        assert trend.ok and trend.p < 0.001, (seed, trend)
        assert trend.ci_high < 0 and math.isclose(result.odds_ratio[0], math.exp(trend.estimate))
        shares = result.terciles["undecided_share"]
        assert shares["low"] > shares["middle"] > shares["high"]


def test_trend_is_quiet_on_a_null_at_about_its_nominal_rate() -> None:
    fired = 0
    for seed in range(40):
        rows, scores = _synthetic_pairwise(seed, slope=0.0, entities=30)
        trend = audit_probe("pairwise", rows, scores, samples=0).trend
        assert trend.ok
        fired += trend.p < 0.05
    # 40 nulls at alpha 0.05: 2 expected; 6 or more has probability below 2 %.
    assert fired <= 5


def test_preference_dependent_refusals_are_not_parser_failures() -> None:
    """Refusals are measured behaviour: planting them on disliked entities must not fire the
    undecided trend, and must show in the refusal share."""
    rows, scores = _synthetic_pairwise(1, slope=0.0)
    z = (scores - scores.mean()) / scores.std(ddof=0)
    rng = random.Random(7)
    mean = (rows["entity_a"].map(z) + rows["entity_b"].map(z)) / 2
    refuse = [rng.random() < 1 / (1 + math.exp(-(-2 - 1.5 * m))) for m in mean]
    rows.loc[refuse, "parse_method"] = "refusal"
    rows.loc[refuse, "choice"] = None
    result = audit_probe("pairwise", rows, scores, samples=0)
    assert result.trend.p > 0.05
    assert (
        result.terciles.loc["low", "refusal_share"]
        > 3 * result.terciles.loc["high", "refusal_share"]
    )


def test_trend_edge_cases_are_notes_not_errors() -> None:
    score = pd.Series(np.linspace(-2, 2, 200))
    assert undecided_trend(pd.Series([False] * 200), score).note == "no undecided answers"
    assert undecided_trend(pd.Series([True] * 200), score).note == "every answer undecided"
    flat = undecided_trend(pd.Series([True, False] * 100), pd.Series([0.5] * 200))
    assert not flat.ok and "does not vary" in flat.note
    few = undecided_trend(pd.Series([i < 3 for i in range(200)]), score)
    assert few.ok and "little power" in few.note


def test_boolq_is_stratified_by_entity_and_controls_kept_apart() -> None:
    rng = random.Random(0)
    entities = [f"e{i}" for i in range(30)]
    scores = pd.Series(np.linspace(-2, 2, 30), index=entities)
    rows = []
    for q in range(40):
        for framing, entity in [("neutral", None), *(("entity", e) for e in entities)]:
            bias = 1 / (1 + math.exp(-(-3 - 1.2 * (scores[entity] if entity else 0))))
            method = "unparseable" if rng.random() < bias else "leading"
            rows.append(
                {
                    "trial_id": f"{q}-{entity}",
                    "status": "ok",
                    "framing": framing,
                    "entity": entity,
                    "parse_method": method,
                    "outcome": "unparseable" if method == "unparseable" else "correct",
                    "text": "Yes",
                }
            )
    result = audit_probe("boolq", pd.DataFrame(rows), scores, samples=3)
    assert result.stratified_by == "entity preference"
    assert int(result.terciles["n"].sum()) == 40 * 30  # controls are not stratified
    assert any("control answers" in n for n in result.notes)
    assert result.trend.p < 0.001 and result.trend.estimate < 0
    assert set(result.samples["tercile"]) <= {*TERCILES, "none"}
    assert result.n == 40 * 31


def test_undecided_sets_differ_where_hedges_are_behaviour() -> None:
    assert "ambiguous" in UNDECIDED["pairwise"] and "ambiguous" not in UNDECIDED["donation"]
    assert not any("refusal" in methods for methods in UNDECIDED.values())


# -- the command -------------------------------------------------------------------------------
def test_audit_command_prints_tables_and_json(verbose_run: Path, capsys) -> None:
    assert main(["audit", str(verbose_run), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    for text in (
        "pairwise: ",
        "answers by parse method and class",
        "by pair mean preference tercile",
        "trend of undecided answers",
        "sampled answers",
        "donation: ",
        "ranking: ",
    ):
        assert text in out
    assert main(["audit", str(verbose_run), "--probe", "donation", "--json", "--samples", "1"]) == 0
    parsed = json.loads(capsys.readouterr().out)
    assert len(parsed) == 1 and set(parsed[0]["probes"]) == {"donation"}
    donation = parsed[0]["probes"]["donation"]
    assert donation["trend"]["statistic"] == "undecided_trend"
    assert {row["parse_method"] for row in donation["samples"]} == {
        row["parse_method"] for row in donation["methods"]
    }
    assert all(
        len(row["text"]) > 0 for row in donation["samples"] if row["parse_method"] != "empty"
    )


def test_audit_command_on_a_study_audits_every_model(tmp_path, capsys) -> None:
    args = ["run", "--suite", "elicitation", "--model", "sim,sim", "-M", "sim#2:style=verbose"]
    args += ["--limit", "6", "--ranking-samples", "1", "--no-progress", "--log-dir", str(tmp_path)]
    assert main(args) == 0
    study = next(p for p in tmp_path.iterdir() if (p / "study.json").is_file())
    capsys.readouterr()
    assert main(["audit", str(study), "--json", "--samples", "0"]) == 0
    audits = json.loads(capsys.readouterr().out)
    assert len(audits) == 2 and audits[0]["model"] != audits[1]["model"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--probe", "agentic"], "--probe 'agentic'"), (["--samples", "-1"], "--samples")],
)
def test_audit_command_rejects_bad_options(verbose_run: Path, capsys, args, message) -> None:
    assert main(["audit", str(verbose_run), *args]) != 0
    err = capsys.readouterr().err
    assert err.startswith("harness: error:") and message in err and "Traceback" not in err


def test_audit_of_an_unknown_run_is_one_clear_error(tmp_path, capsys) -> None:
    assert main(["audit", "no-such-run", "--log-dir", str(tmp_path)]) != 0
    assert capsys.readouterr().err.startswith("harness: error: no run")
