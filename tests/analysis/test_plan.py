"""Analysis plans: the default plan, its content hash, validation of bad plans, and the
plan a run records in its metadata."""

from __future__ import annotations

import pytest
import yaml

from analysis.plan import (
    PLAN_ENV,
    STATISTICS,
    AnalysisPlan,
    PlanError,
    default_plan,
    load_plan,
    plan_from_meta,
    plan_meta,
    plan_meta_for_run,
)
from harness.errors import HarnessError


def test_default_plan_holds_the_studys_confirmatory_hypotheses() -> None:
    plan = default_plan()
    got = {(h.statistic, h.direction) for h in plan.hypotheses}
    assert got == {
        ("consistency_rho", "greater"),
        ("donation_rho", "greater"),
        ("refusal_attempts_rho", "less"),
        ("boolq_pref_effect", "two-sided"),
        ("agentic_top_minus_bottom", "two-sided"),
    }
    assert plan.alpha == 0.05 and plan.correction == "bonferroni"
    for h in plan.hypotheses:
        assert STATISTICS[h.statistic].test == h.test


def test_yaml_round_trip_keeps_the_hash() -> None:
    plan = default_plan()
    text = plan.to_yaml()
    assert plan.content_hash in text  # the header names the hash
    again = AnalysisPlan.from_yaml(text)
    assert again == plan and again.content_hash == plan.content_hash
    assert len(plan.content_hash) == 64


def test_hash_ignores_layout_but_not_content() -> None:
    plan = default_plan()
    data = yaml.safe_load(plan.to_yaml())
    reformatted = "# my comment\n" + yaml.safe_dump(data, sort_keys=True, indent=4)
    assert AnalysisPlan.from_yaml(reformatted).content_hash == plan.content_hash
    data["alpha"] = 0.01
    assert AnalysisPlan.from_dict(data).content_hash != plan.content_hash
    data = yaml.safe_load(plan.to_yaml())
    data["hypotheses"][0]["direction"] = "two-sided"
    assert AnalysisPlan.from_dict(data).content_hash != plan.content_hash


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"statistic": "vibes_rho"}, "unknown statistic"),
        ({"direction": "up"}, "direction must be one of"),
        (
            {
                "statistic": "refusal_reason_chi2",
                "test": "chi-square",
                "probe": "refusal",
                "direction": "greater",
            },
            "has no direction",
        ),
        ({"test": "pearson"}, "is tested with 'spearman'"),
        ({"probe": "boolq"}, "belongs to probe"),
        (
            {"statistic": "split_half_reliability", "test": "none", "probe": "preferences"},
            "descriptive",
        ),
        ({"colour": "blue"}, "unknown key"),
    ],
)
def test_bad_hypotheses_are_rejected(change: dict, message: str) -> None:
    data = yaml.safe_load(default_plan().to_yaml())
    data["hypotheses"][0].update(change)
    with pytest.raises(PlanError, match=message):
        AnalysisPlan.from_dict(data)


def test_bad_plans_are_rejected() -> None:
    data = yaml.safe_load(default_plan().to_yaml())
    with pytest.raises(PlanError, match="used twice"):
        AnalysisPlan.from_dict({**data, "hypotheses": [data["hypotheses"][0]] * 2})
    with pytest.raises(PlanError, match="alpha"):
        AnalysisPlan.from_dict({**data, "alpha": 1.5})
    with pytest.raises(PlanError, match="correction"):
        AnalysisPlan.from_dict({**data, "correction": "fdr"})
    with pytest.raises(PlanError, match="non-empty list"):
        AnalysisPlan.from_dict({**data, "hypotheses": []})
    with pytest.raises(PlanError, match="not valid YAML"):
        AnalysisPlan.from_yaml("hypotheses: [unclosed")
    # A plan error is a user error: one line at the CLI, not a traceback.
    assert issubclass(PlanError, HarnessError)


def test_run_meta_entry_from_option_or_environment(tmp_path, monkeypatch) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(default_plan().to_yaml())
    monkeypatch.delenv(PLAN_ENV, raising=False)
    assert plan_meta_for_run(None) is None
    entry = plan_meta_for_run(path)
    assert entry["plan_hash"] == default_plan().content_hash
    assert entry["text"] == path.read_text()
    monkeypatch.setenv(PLAN_ENV, str(path))
    assert plan_meta_for_run(None)["plan_hash"] == entry["plan_hash"]
    assert load_plan(path) == default_plan()
    with pytest.raises(PlanError, match="cannot read plan"):
        plan_meta_for_run(tmp_path / "missing.yaml")


def test_recorded_plan_is_checked_against_its_hash() -> None:
    plan = default_plan()
    assert plan_from_meta({}) is None
    assert plan_from_meta({"plan": plan_meta(plan)}) == plan
    tampered = plan_meta(plan)
    tampered["text"] = tampered["text"].replace("alpha: 0.05", "alpha: 0.1")
    with pytest.raises(PlanError, match="does not match"):
        plan_from_meta({"plan": tampered})


def test_hash_covers_the_design_and_sample_sizes() -> None:
    # A preregistration fixes what the hypotheses are tested on, not only the hypotheses.
    plan = default_plan()
    base = yaml.safe_load(plan.to_yaml())
    for change in (
        lambda d: d["design"]["suites"]["advice"].update(samples=3),
        lambda d: d["design"]["suites"]["boolq"].update(limit=500),
        lambda d: d["design"]["models"].append("openai/gpt-4o"),
        lambda d: d["design"].update(seed=1),
        lambda d: d["design"].update(entities="charities-72"),
    ):
        data = yaml.safe_load(plan.to_yaml())
        change(data)
        assert AnalysisPlan.from_dict(data).content_hash != plan.content_hash, data["design"]
    assert AnalysisPlan.from_dict(base).content_hash == plan.content_hash
    # The family is fixed by the plan: hypotheses x models.
    two = AnalysisPlan.from_dict({**base, "design": {**base["design"], "models": ["a", "b"]}})
    assert two.family_size == 2 * len(plan.hypotheses)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("design"), "design must be a mapping"),
        (lambda d: d["design"].update(models=[]), "non-empty list"),
        (lambda d: d["design"]["suites"].update(nope={}), "unknown suite"),
        (lambda d: d["design"]["suites"]["advice"].update(colour=1), "unknown setting"),
        (lambda d: d["design"]["suites"].pop("agentic"), "has no design in the plan"),
        (lambda d: d.update(plan_version=1), "plan_version 1 is not supported"),
    ],
)
def test_bad_designs_are_rejected(change, message) -> None:
    data = yaml.safe_load(default_plan().to_yaml())
    change(data)
    with pytest.raises(PlanError, match=message):
        AnalysisPlan.from_dict(data)


def test_a_runs_departures_from_the_design_are_listed() -> None:
    design = default_plan().design
    config = {
        "suite": "advice",
        "entities": "default",
        "seed": 0,
        "temperature": 1.0,
        "samples": 1,
        "ranking_samples": 10,
        "epochs": 1,
        "limit": None,
        "options": {},  # max_attempts and turns at the probe's defaults
    }
    assert design.problems(config, "sim[seed=0]") == []
    assert design.problems({**config, "samples": 2, "seed": 4}, "sim[seed=4]") == [
        "model sim[seed=4] is not one the plan names (sim[seed=0])",
        "seed 4, the plan says 0",
        "advice samples 2, the plan says 1",
    ]
    assert design.problems({**config, "options": {"max_attempts": 10}}, "sim[seed=0]") == [
        "advice max_attempts 10, the plan says 100"
    ]
