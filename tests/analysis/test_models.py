"""Validation of the preference-to-behaviour models: planted effects in sim runs are recovered
with the right sign and strength, and the count models agree with independent fits."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from analysis.runs import analyze_run
from harness.config import RunConfig
from harness.engine import RunSettings, start_run

REPO = Path(__file__).resolve().parents[2]


def boolq_path() -> Path | None:
    env = os.environ.get("HARNESS_BOOLQ_PATH")
    for candidate in ([Path(env)] if env else []) + [
        REPO.parent / "shared" / "data" / "boolq" / "validation.jsonl"
    ]:
        if candidate.is_file():
            return candidate
    return None


def make_run(log_dir: Path, suite: str, **kwargs: object) -> Path:
    options = kwargs.pop("options", {})
    config = RunConfig(suite=suite, model="sim", options=options, **kwargs)  # type: ignore[arg-type]
    settings = RunSettings(log_dir=log_dir, progress=False, cache=False)
    return start_run(config, settings, console=Console(file=io.StringIO())).directory


@pytest.fixture(scope="module")
def advice(tmp_path_factory: pytest.TempPathFactory):
    """The advice suite on sim at its default settings (72 entities, every pair, both orders)."""
    directory = make_run(tmp_path_factory.mktemp("advice"), "advice")
    return analyze_run(directory, bootstrap=500)


def estimate(section, statistic: str):
    (found,) = [e for e in section.estimates() if e.statistic == statistic]
    return found


# ------------------------------------------------------------------ advice: planted effects


def test_consistency_and_donation_correlations_reach_the_paper_range(advice) -> None:
    consistency = estimate(advice.preferences, "consistency_rho")
    donation = estimate(advice.donation, "donation_rho")
    assert consistency.estimate >= 0.9 and consistency.ci_low > 0.8
    assert donation.estimate >= 0.9 and donation.ci_low > 0.8
    assert consistency.n == donation.n == 72
    # Elo and BT are two fits of the same comparisons on one scale: near-identical orders.
    assert estimate(advice.preferences, "elo_bt_rho").estimate > 0.99


def test_refusals_fall_with_preference(advice) -> None:
    for statistic in ("refusal_attempts_rho", "refusal_rate_rho"):
        result = estimate(advice.refusal, statistic)
        assert result.estimate < 0 and result.ci_high < 0 and result.p < 1e-6


def test_both_disliked_superadditivity_is_recovered(advice) -> None:
    model = advice.refusal.attempt_model
    assert model.entities == 72 and model.n_queries == 72 * 71
    # sim has no entity offsets beyond its utilities: the intercepts' SD is near 0.
    assert model.sigma < 0.2
    for statistic in ("attempts_pref_a", "attempts_pref_b"):
        result = estimate(advice.refusal, statistic)
        assert result.ci_high < 1, statistic  # rate ratios: fewer extra attempts when liked
    interaction = estimate(advice.refusal, "attempts_interaction")
    assert interaction.estimate > 1 and interaction.ci_low > 1
    assert estimate(advice.refusal, "attempts_interaction_product").estimate > 1


def test_reason_mix_shifts_with_preference(advice) -> None:
    mix = advice.refusal.reasons.proportions
    # sim: neutrality for disliked pairs, "personal decision" for liked ones.
    assert mix.loc["low", "neutrality"] > mix.loc["high", "neutrality"]
    assert mix.loc["high", "personal_decision"] > mix.loc["low", "personal_decision"]
    chi2 = estimate(advice.refusal, "refusal_reason_chi2")
    assert chi2.p < 1e-6 and 0 < chi2.estimate < 1


def test_alignment_zero_gives_no_donation_correlation(tmp_path) -> None:
    # With coin-flip advice the donation scores must not correlate with preference.
    directory = make_run(
        tmp_path, "advice", model_args={"alignment": "0"}, limit=24, ranking_samples=3
    )
    result = analyze_run(directory, bootstrap=200, bayes=False)
    donation = estimate(result.donation, "donation_rho")
    assert abs(donation.estimate) < 0.5 and donation.ci_low < 0 < donation.ci_high


# --------------------------------------------------------------------- BoolQ on a sim run


@pytest.mark.skipif(boolq_path() is None, reason="BoolQ validation split not found")
def test_boolq_run_recovers_planted_effect_and_controls(tmp_path) -> None:
    directory = make_run(
        tmp_path,
        "boolq",
        limit=100,
        model_args={"boolq_effect": "4"},
        options={"boolq_path": str(boolq_path())},
    )
    result = analyze_run(directory, bootstrap=300).boolq
    gee = estimate(result, "boolq_pref_effect")
    bayes = estimate(result, "boolq_pref_effect_bayes")
    # sim adds 4 pp per SD of utility (clipped at 100 %); preferences are estimated.
    assert gee.ci_low > 0 and 1.5 < gee.estimate < 6
    assert bayes.ci_low > 0 and abs(bayes.estimate - gee.estimate) < 1.5
    refusal = estimate(result, "boolq_refusal_rho")
    assert refusal.estimate < 0
    # Controls carry no effect: entity framings average to the same accuracy (within noise).
    contrast = estimate(result, "boolq_entity_minus_neutral")
    assert contrast.ci_low < 0 < contrast.ci_high


@pytest.mark.skipif(boolq_path() is None, reason="BoolQ validation split not found")
def test_boolq_run_without_effect_is_not_mistaken_for_one(tmp_path) -> None:
    # sim still refuses more for disliked entities; answered-only accuracy must not move.
    directory = make_run(
        tmp_path,
        "boolq",
        limit=100,
        model_args={"boolq_effect": "0"},
        options={"boolq_path": str(boolq_path())},
    )
    result = analyze_run(directory, bootstrap=300).boolq
    for statistic in ("boolq_pref_effect", "boolq_pref_effect_bayes"):
        found = estimate(result, statistic)
        assert found.ci_low < 0 < found.ci_high, statistic
    assert estimate(result, "boolq_refusal_rho").ci_high < 0


@pytest.mark.skipif(boolq_path() is None, reason="BoolQ validation split not found")
def test_boolq_with_preferences_from_another_run_uses_that_runs_scores(advice, tmp_path) -> None:
    directory = make_run(
        tmp_path,
        "boolq",
        limit=20,
        options={"boolq_path": str(boolq_path()), "preferences": advice.directory, "top_k": 5},
    )
    result = analyze_run(directory, bootstrap=100, bayes=False)
    assert any("its elicitation" in t for t in result.notes["run"])
    table = result.boolq.per_entity
    assert len(table) == 10 and set(table["group"]) == {"top", "bottom"}
    # Standardised over all 72 entities of the advice run, not over the 10 chosen ones.
    scores = advice.preferences.scores
    expected = (scores - scores.mean()) / scores.std(ddof=0)
    np.testing.assert_allclose(
        table.set_index("entity")["preference_z"], expected.loc[table["entity"]].to_numpy()
    )
    assert estimate(result.boolq, "boolq_top_minus_bottom").n == 20


# ------------------------------------------ magnitudes compared with the mapped truth (#14.3)


def sim_utilities(directory: Path) -> pd.Series:
    """sim's planted utility of every entity of a run (the truth the knobs act on)."""
    from harness.sim import SimKnobs, Utilities
    from harness.store import Run

    with Run(directory) as run:
        args = run.meta["subject_args"]
        entities = run.samples("pairwise")["entity_a"].unique()
    utility = Utilities(SimKnobs.from_args(args))
    return pd.Series({e: utility(e) for e in entities})


@pytest.mark.parametrize("alignment", [0.25, 2.0])
def test_donation_slope_recovers_alignment_where_rho_saturates(tmp_path, alignment) -> None:
    from analysis.estimands import donation_slope
    from harness.sim import SimKnobs

    directory = make_run(
        tmp_path, "advice", model_args={"alignment": str(alignment)}, limit=30, samples=2
    )
    result = analyze_run(directory, bootstrap=200, bayes=False)
    slope = estimate(result.donation, "donation_slope")
    preference = result.preferences.scores
    utility = sim_utilities(directory).loc[preference.index]
    truth = donation_slope(
        alignment, utility.to_numpy(), preference.to_numpy(), choice_noise=SimKnobs().choice_noise
    )
    assert slope.units == "Elo per Elo" and slope.n == 30
    assert slope.ci_low < truth < slope.ci_high
    # Elicitation error attenuates the slope on the estimated preference (here by ~16 %):
    # why recovery is checked against the mapped truth, not the raw knob.
    assert 0.7 * alignment < truth < alignment
    # Spearman's rho cannot tell these two subjects apart; the slope can.
    assert estimate(result.donation, "donation_rho").estimate > 0.85


def test_refusal_rate_ratios_cover_the_values_sims_knobs_map_to(advice) -> None:
    from analysis.estimands import refusal_rate_ratios
    from analysis.estimates import standardise
    from harness.sim.donation import DonationKnobs

    utility = sim_utilities(Path(advice.directory))
    z = standardise(advice.preferences.scores)
    from harness.store import Run

    with Run(advice.directory) as run:
        queries = run.samples("donation")
    knobs = DonationKnobs()
    truth = refusal_rate_ratios(
        queries["entity_a"].map(utility).to_numpy(),
        queries["entity_b"].map(utility).to_numpy(),
        queries["entity_a"].map(z).to_numpy(),
        queries["entity_b"].map(z).to_numpy(),
        refusal_base=knobs.refusal_base,
        refusal_slope=knobs.refusal_slope,
        refusal_interaction=knobs.refusal_interaction,
    )
    for statistic, term in (
        ("attempts_pref_a", "pref_a"),
        ("attempts_pref_b", "pref_b"),
        ("attempts_interaction", "both_low"),
    ):
        found = estimate(advice.refusal, statistic)
        assert found.ci_low < math.exp(truth[term]) < found.ci_high, statistic
