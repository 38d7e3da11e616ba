"""The refusal hazard model: attempts until a valid answer are a geometric count censored at the
attempt cap, modelled per attempt with entity intercepts. Null studies with entity heterogeneity
are not mistaken for effects, the cap does not bias the rate ratios, the reported rate ratio
covers the value sim's knobs map to, and the fit equals a direct maximisation of the censored
geometric likelihood."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps

from analysis.donation import attempt_model, refusal_analysis
from analysis.estimates import standardise
from analysis.simulate import RefusalDesign, refusal_truth, simulate_refusal

ALPHA = 0.05
NO_ATTEMPTS = pd.DataFrame(columns=["entity_a", "entity_b", "class", "reason"])


def get(result, statistic: str):
    (found,) = [e for e in result.estimates() if e.statistic == statistic]
    return found


def test_entity_heterogeneity_without_preference_effects_is_not_an_effect() -> None:
    # 60 null studies (no slope, no interaction) with entity offsets of SD 0.5 logits that
    # preference does not explain. Queries sharing an entity are not independent; a model
    # that treats them as such rejected 20-30 % of these at nominal 5 %.
    design = RefusalDesign(entities=24, refusal_slope=0.0, refusal_interaction=0.0, entity_sd=0.5)
    sims = 60
    rejected = dict.fromkeys(("attempts_pref_a", "attempts_pref_b", "attempts_interaction"), 0)
    for i in range(sims):
        rows, preference = simulate_refusal(design, seed=81_000 + i)
        result = refusal_analysis(rows, NO_ATTEMPTS, preference, bootstrap=0)
        for statistic in rejected:
            rejected[statistic] += get(result, statistic).p < ALPHA
    # Accept any count a true 5 % rate produces with probability >= 0.999.
    upper = int(sps.binom.ppf(0.999, sims, ALPHA))
    assert max(rejected.values()) <= upper, rejected


def test_the_attempt_cap_does_not_bias_the_rate_ratios() -> None:
    # The same subject under a cap of 3 attempts and of 100: a censored-geometric model
    # estimates the same per-attempt rate ratios; counting capped queries "at the cap" does not.
    base = RefusalDesign(entities=30, samples=2, refusal_base=0.0)
    for cap in (3, 100):
        design = RefusalDesign(**{**base.__dict__, "max_attempts": cap})
        rows, preference = simulate_refusal(design, seed=82_000)
        model = attempt_model(rows, preference)
        truth = refusal_truth(design, rows, preference)
        assert (rows["cap_reached"].mean() > 0.05) == (cap == 3)
        for term in ("pref_a", "pref_b", "both_low"):
            row = model.terms.set_index("term").loc[term]
            assert row["ci_low"] < truth[term] < row["ci_high"], (cap, term)


def test_rate_ratios_are_reported_with_intervals_and_cover_the_mapped_truth() -> None:
    design = RefusalDesign(entity_sd=0.5)
    rows, preference = simulate_refusal(design, seed=83_000)
    truth = refusal_truth(design, rows, preference)
    result = refusal_analysis(rows, NO_ATTEMPTS, preference, bootstrap=0)
    for statistic, term in (
        ("attempts_pref_a", "pref_a"),
        ("attempts_pref_b", "pref_b"),
        ("attempts_interaction", "both_low"),
    ):
        found = get(result, statistic)
        assert found.units.startswith("rate ratio") and found.null == 1.0
        assert found.ci_low < math.exp(truth[term]) < found.ci_high, statistic
        assert found.ci_low < found.estimate < found.ci_high
    # sim's defaults: fewer extra attempts the more both entities are liked, more when both
    # are disliked (superadditive).
    assert get(result, "attempts_pref_a").ci_high < 1
    assert get(result, "attempts_interaction").ci_low > 1
    model = result.attempt_model
    assert 0.3 < model.sigma < 0.7  # the planted entity SD is recovered


def censored_geometric_mle(rows: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """Direct maximisation of the censored geometric likelihood (independent of the model
    code): a query that became valid at attempt k contributes (1 - h) h^(k-1), one that hit
    the cap C without a valid answer h^C, with logit h = x @ beta."""
    k = rows["attempts"].to_numpy(float)
    valid = rows["valid"].to_numpy(bool)

    def negative(beta: np.ndarray) -> float:
        eta = x @ beta
        log_h, log_1mh = -np.logaddexp(0, -eta), -np.logaddexp(0, eta)
        return -float(np.sum(np.where(valid, log_1mh + (k - 1) * log_h, k * log_h)))

    return optimize.minimize(negative, np.zeros(x.shape[1]), method="BFGS", tol=1e-10).x


def test_fixed_part_equals_the_censored_geometric_mle() -> None:
    design = RefusalDesign(entities=20, max_attempts=4, refusal_base=-0.5)
    rows, preference = simulate_refusal(design, seed=84_000)
    z = standardise(preference)
    za, zb = rows["entity_a"].map(z).to_numpy(), rows["entity_b"].map(z).to_numpy()
    x = np.column_stack([np.ones(len(rows)), za, zb, np.maximum(0, -za) * np.maximum(0, -zb)])
    direct = censored_geometric_mle(rows, x)
    model = attempt_model(rows, preference, entity_intercepts=False)
    np.testing.assert_allclose(model.terms["coef"], direct, atol=1e-5)
    # Without entity variance, the entity-intercept model shrinks to the same fit.
    with_entities = attempt_model(rows, preference)
    assert with_entities.sigma < 0.15
    np.testing.assert_allclose(with_entities.terms["coef"], direct, atol=0.05)


def test_count_model_refuses_degenerate_input() -> None:
    from analysis.stats import DegenerateInputError

    rows, preference = simulate_refusal(RefusalDesign(entities=12), seed=85_000)
    with pytest.raises(DegenerateInputError, match="no variance"):
        attempt_model(rows.assign(attempts=1, valid=True), preference)
    with pytest.raises(DegenerateInputError, match="10\\+ queries"):
        attempt_model(rows.head(5), preference)
