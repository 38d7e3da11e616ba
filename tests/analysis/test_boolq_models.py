"""BoolQ analysis on synthetic studies: a planted 3 pp/SD effect is detected at the default
design, the false-positive rate without an effect is close to alpha, the models agree with
direct statsmodels fits, and degenerate inputs become notes instead of crashes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats as sps

from analysis.boolq import boolq_analysis
from analysis.mixed import fit_gee_logit, fit_mixed_logit
from analysis.power import BoolQDesign, boolq_power, simulate_boolq
from analysis.stats import DegenerateInputError

ALPHA = 0.05


def get(result, statistic: str):
    (found,) = [e for e in result.estimates() if e.statistic == statistic]
    return found


def binomial_upper(n: int, p: float, tail: float = 0.001) -> int:
    """Largest rejection count still consistent with rate p (one-sided binomial tail)."""
    return int(sps.binom.ppf(1 - tail, n, p))


# ------------------------------------------------------------------- planted effect / null


def test_default_design_detects_a_3pp_effect_with_both_models() -> None:
    design = BoolQDesign()  # 72 entities x 100 questions x 1 epoch, sim's behaviour
    assert (design.entities, design.questions, design.epochs, design.effect_pp) == (72, 100, 1, 3.0)
    result = boolq_analysis(simulate_boolq(design, seed=11), bootstrap=200)
    gee, bayes = get(result, "boolq_pref_effect"), get(result, "boolq_pref_effect_bayes")
    for estimate in (gee, bayes):
        assert estimate.p < ALPHA and estimate.ci_low > 0
        # The interval covers the planted effect (clipping at 100 % attenuates it slightly).
        assert estimate.ci_low < 3.0 < estimate.ci_high + 0.5
    assert abs(gee.estimate - bayes.estimate) < 0.6
    assert result.bayes is not None and result.bayes.converged
    components = result.bayes.components.set_index("component")
    # Question difficulty SD 1 is planted; entities have none beyond preference.
    assert 0.75 < components.loc["question", "sd"] < 1.3
    assert components.loc["entity", "sd"] < 0.35
    assert get(result, "boolq_accuracy_rho").estimate > 0.2


def test_power_is_high_and_false_positive_rate_near_alpha() -> None:
    sims = 40
    result = boolq_power(BoolQDesign(), sims=sims, alpha=ALPHA, seed=3)
    assert result.power >= 0.95
    assert 2.0 < result.mean_estimate < 3.5
    # 40 null studies: accept any count a true 5 % rate produces with probability >= 0.999.
    assert result.false_positive_rate * sims <= binomial_upper(sims, ALPHA)
    assert result.failures == 0
    # Null p-values should look uniform, not piled up near 0 or 1.
    assert sps.kstest(result.null_pvalues, "uniform").pvalue > 0.001


def test_gee_stays_calibrated_with_entity_heterogeneity() -> None:
    # Entities that differ for reasons other than preference must not create false positives:
    # the reason the confirmatory test clusters by entity, not by question.
    sims = 40
    design = BoolQDesign(questions=50, entity_sd=0.3, effect_pp=0.0)
    result = boolq_power(design, sims=sims, alpha=ALPHA, seed=5)
    assert result.false_positive_rate * sims <= binomial_upper(sims, ALPHA)


def test_fast_simulator_matches_sims_accuracy_model() -> None:
    from harness.sim.boolq import BoolQKnobs

    knobs = BoolQKnobs()
    rows = simulate_boolq(BoolQDesign(questions=3000, entities=3, effect_pp=0.0), seed=1)
    controls = rows[rows["framing"] != "entity"]
    # Controls: accuracy knob times the share with a verdict.
    expected = knobs.boolq_accuracy * (1 - knobs.boolq_unparseable_rate)
    assert controls["correct"].mean() == pytest.approx(expected, abs=0.012)
    assert (controls["outcome"] == "refusal").sum() == 0


# ---------------------------------------------------------- agreement with direct fits


def test_gee_matches_statsmodels_with_cr1_factor() -> None:
    rows = simulate_boolq(BoolQDesign(questions=40), seed=2)
    entity = rows[(rows["framing"] == "entity") & rows["outcome"].isin(["correct", "wrong"])]
    z = entity.groupby("entity")["preference"].first()
    z = (z - z.mean()) / z.std(ddof=0)
    x = pd.DataFrame({"Intercept": 1.0, "preference_z": entity["entity"].map(z).to_numpy()})
    y = entity["correct"].to_numpy(dtype=float)
    ours = fit_gee_logit(y, x, entity["entity"].to_numpy())
    codes = pd.factorize(entity["entity"])[0]
    order = np.argsort(codes, kind="stable")
    direct = sm.GEE(
        y[order],
        x.to_numpy()[order],
        groups=codes[order],
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    ).fit()
    g = ours.clusters
    np.testing.assert_allclose(ours.terms["coef"], direct.params, rtol=1e-8)
    np.testing.assert_allclose(ours.terms["se"], direct.bse * math.sqrt(g / (g - 1)), rtol=1e-8)
    t = direct.params[1] / (direct.bse[1] * math.sqrt(g / (g - 1)))
    df = ours.terms["df"].iloc[1]
    assert ours.terms["p"].iloc[1] == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-8)
    # An entity-level covariate: the few entities far from the mean dominate, so the
    # effective degrees of freedom are well below clusters - 1 (about G/3 for normal z).
    assert 0.2 * g < df < 0.6 * g


def test_satterthwaite_df_is_clusters_minus_one_for_balanced_intercepts() -> None:
    from analysis.mixed import satterthwaite_df

    # Equal clusters and an intercept only: every cluster carries the same weight.
    codes = np.repeat(np.arange(10), 30)
    x = np.ones((300, 1))
    df = satterthwaite_df(x, np.full(300, 0.7), codes, 10)
    assert df[0] == pytest.approx(9.0)  # G = 10, clipped to G - 1


def test_mixed_model_agrees_with_glm_when_there_is_no_clustering() -> None:
    # Random intercepts with no real variance: fixed effects close to a plain GLM's.
    rng = np.random.default_rng(0)
    n = 4000
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 + 0.8 * x)))).astype(float)
    design = pd.DataFrame({"Intercept": 1.0, "x": x})
    fit = fit_mixed_logit(y, design, {"group": rng.integers(0, 40, n).astype(str)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glm = sm.GLM(y, design.to_numpy(), family=sm.families.Binomial()).fit()
    np.testing.assert_allclose(fit.terms["mean"], glm.params, atol=0.05)
    np.testing.assert_allclose(fit.terms["sd"], glm.bse, rtol=0.15)
    assert fit.converged


def test_mixed_model_refuses_degenerate_outcomes() -> None:
    design = pd.DataFrame({"Intercept": np.ones(10), "x": np.arange(10.0)})
    with pytest.raises(DegenerateInputError, match="no variance"):
        fit_mixed_logit(np.ones(10), design, {"g": np.arange(10) % 2})
    with pytest.raises(DegenerateInputError, match="2 or more levels"):
        fit_mixed_logit(np.arange(10) % 2, design, {"g": np.zeros(10)})


# ---------------------------------------------------------------------- robustness


def test_refusals_are_excluded_by_default_and_counted_on_request() -> None:
    rows = simulate_boolq(BoolQDesign(questions=30, refusal_rate=0.3, effect_pp=0.0), seed=4)
    answered = boolq_analysis(rows, bayes=False, bootstrap=0)
    counted = boolq_analysis(rows, bayes=False, bootstrap=0, include_refusals=True)
    # Refusals for disliked entities look like a positive "accuracy effect" only when counted
    # as wrong: the default analysis keeps the two behaviours apart.
    assert get(counted, "boolq_pref_effect").estimate > get(answered, "boolq_pref_effect").estimate
    assert get(answered, "boolq_refusal_rho").estimate < -0.5


def test_degenerate_inputs_become_notes() -> None:
    rows = simulate_boolq(BoolQDesign(questions=10, entities=5), seed=6)
    # Everything correct: no variance for any model.
    perfect = boolq_analysis(rows.assign(correct=True, outcome="correct"), bootstrap=0)
    for statistic in ("boolq_pref_effect", "boolq_pref_effect_bayes", "boolq_accuracy_rho"):
        result = get(perfect, statistic)
        assert not result.ok and result.note, statistic
    # No preference scores at all.
    unscored = boolq_analysis(rows.assign(preference=np.nan), bootstrap=0, bayes=False)
    assert "no preference" in get(unscored, "boolq_pref_effect").note
    # Controls only.
    controls = boolq_analysis(rows[rows["framing"] != "entity"], bootstrap=0)
    assert not get(controls, "boolq_pref_effect").ok
    assert get(controls, "boolq_high_stakes_minus_neutral").n == 10
    # Failed trials are dropped and counted.
    failed = rows.copy()
    failed.loc[failed.index[:25], "status"] = "error"
    result = boolq_analysis(failed, bootstrap=0, bayes=False)
    assert result.n_failed == 25 and any("25 failed" in n for n in result.notes)
    # One entity only: a preference slope cannot be estimated.
    one = rows[(rows["framing"] != "entity") | (rows["entity"] == "entity-000")]
    assert not get(boolq_analysis(one, bootstrap=0), "boolq_pref_effect").ok


def test_top_k_runs_get_a_top_minus_bottom_contrast() -> None:
    rows = simulate_boolq(BoolQDesign(questions=60, entities=10, effect_pp=8.0), seed=8)
    order = rows.dropna(subset=["entity"]).groupby("entity")["preference"].first().sort_values()
    groups = {e: "bottom" for e in order.index[:5]} | {e: "top" for e in order.index[5:]}
    rows["group"] = rows["entity"].map(groups)
    result = boolq_analysis(rows, bootstrap=0, bayes=False)
    contrast = get(result, "boolq_top_minus_bottom")
    assert contrast.estimate > 0 and contrast.n == 60
    assert result.per_entity["group"].notna().all()


def test_group_level_slope_sd_accounts_for_group_intercepts() -> None:
    # 40 entities with large intercepts (SD 1) and an entity-level covariate: the data inform
    # the slope only through 40 entity means, so its SD is about sigma / sqrt(sum (z - zbar)^2),
    # far above what mean-field VB reports when it treats slope and intercepts as independent.
    rng = np.random.default_rng(9)
    n_entities, per = 40, 200
    z = rng.normal(size=n_entities)
    entity = np.repeat(np.arange(n_entities), per)
    eta = 0.5 + rng.normal(scale=1.0, size=n_entities)[entity]
    y = (rng.random(len(entity)) < 1 / (1 + np.exp(-eta))).astype(float)
    design = pd.DataFrame({"Intercept": 1.0, "z": z[entity]})
    fit = fit_mixed_logit(y, design, {"entity": entity.astype(str)})
    row = fit.term("z")
    sigma = fit.components.set_index("component").loc["entity", "sd"]
    expected = sigma / np.sqrt(((z - z.mean()) ** 2).sum())
    assert row["sd"] > 2 * row["sd_vb"]
    assert row["sd"] == pytest.approx(expected, rel=0.1)
    assert row["ci_low"] < 0 < row["ci_high"]
