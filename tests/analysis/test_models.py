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
from scipy import optimize
from scipy.special import gammaln

from analysis.donation import attempt_count_models, count_design
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
    models = advice.refusal.count_models
    # Attempts until valid are geometric, i.e. overdispersed: NB must beat Poisson on AIC.
    assert models.better == "negative binomial" and models.aic_negbin < models.aic_poisson
    assert models.alpha > 0.3
    for statistic in ("attempts_pref_a", "attempts_pref_b"):
        result = estimate(advice.refusal, statistic)
        assert result.ci_high < 0, statistic
    interaction = estimate(advice.refusal, "attempts_interaction")
    assert interaction.estimate > 0 and interaction.ci_low > 0
    assert estimate(advice.refusal, "attempts_interaction_product").estimate > 0


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


# ------------------------------------------------- count models against independent fits


def fixed_counts() -> pd.DataFrame:
    """A fixed dataset: 600 queries over 20 entities with geometric attempts."""
    rng = np.random.default_rng(2024)
    entities = [f"e{i:02d}" for i in range(20)]
    utility = dict(zip(entities, rng.normal(size=20), strict=True))
    a = rng.choice(entities, 600)
    b = np.array([rng.choice([e for e in entities if e != x]) for x in a])
    ua, ub = np.array([utility[x] for x in a]), np.array([utility[x] for x in b])
    p_valid = 1 / (
        1 + np.exp(-(1.5 + 0.4 * (ua + ub) - 0.8 * np.maximum(0, -ua) * np.maximum(0, -ub)))
    )
    attempts = rng.geometric(p_valid)
    return pd.DataFrame(
        {
            "entity_a": a,
            "entity_b": b,
            "attempts": attempts,
            "status": "ok",
            "cap_reached": False,
            "valid": True,
            "recommended": a,
        }
    ), pd.Series(utility)


def poisson_newton(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Poisson regression by plain Newton–Raphson (independent of statsmodels)."""
    beta = np.zeros(x.shape[1])
    beta[0] = math.log(y.mean())
    for _ in range(100):
        mu = np.exp(x @ beta)
        step = np.linalg.solve(x.T @ (mu[:, None] * x), x.T @ (y - mu))
        beta += step
        if np.abs(step).max() < 1e-12:
            break
    mu = np.exp(x @ beta)
    return beta, np.sqrt(np.diag(np.linalg.inv(x.T @ (mu[:, None] * x))))


def nb2_mle(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """NB2 by direct maximisation of its log-likelihood with scipy (independent of statsmodels)."""

    def negloglik(theta: np.ndarray) -> float:
        beta, alpha = theta[:-1], math.exp(theta[-1])
        mu = np.exp(x @ beta)
        r = 1 / alpha
        ll = (
            gammaln(y + r)
            - gammaln(r)
            - gammaln(y + 1)
            + r * np.log(r / (r + mu))
            + y * np.log(mu / (r + mu))
        )
        return -float(ll.sum())

    start = np.append(poisson_newton(y, x)[0], math.log(0.5))
    fit = optimize.minimize(negloglik, start, method="BFGS", options={"gtol": 1e-9})
    k = x.shape[1] + 1
    return fit.x[:-1], math.exp(fit.x[-1]), 2 * fit.fun + 2 * k


def test_count_models_match_independent_fits() -> None:
    samples, utility = fixed_counts()
    models = attempt_count_models(samples, utility)
    y, design = count_design(samples, (utility - utility.mean()) / utility.std(ddof=0))
    x = design.to_numpy()
    beta, se = poisson_newton(y, x)
    poisson = models.poisson.set_index("term")
    np.testing.assert_allclose(poisson["coef"], beta, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(poisson["se"], se, rtol=1e-6)
    mu = np.exp(x @ beta)
    loglik = float((y * np.log(mu) - mu - gammaln(y + 1)).sum())
    assert models.aic_poisson == pytest.approx(-2 * loglik + 2 * x.shape[1], rel=1e-9)
    nb_beta, alpha, aic = nb2_mle(y, x)
    negbin = models.negbin.set_index("term")
    np.testing.assert_allclose(negbin["coef"].iloc[:-1], nb_beta, atol=1e-6)
    assert models.alpha == pytest.approx(alpha, rel=1e-5)
    assert models.aic_negbin == pytest.approx(aic, rel=1e-9)


def test_count_models_reference_values() -> None:
    """Regression guard: the fits on the fixed dataset, as computed by statsmodels 0.15."""
    samples, utility = fixed_counts()
    models = attempt_count_models(samples, utility)
    poisson = models.poisson.set_index("term")["coef"]
    negbin = models.negbin.set_index("term")["coef"]
    np.testing.assert_allclose(poisson.to_numpy(), REFERENCE_POISSON, rtol=1e-6)
    np.testing.assert_allclose(negbin.to_numpy(), REFERENCE_NEGBIN, rtol=1e-5)
    assert models.better == REFERENCE_BETTER


REFERENCE_POISSON = [
    -1.5328131858969596,
    -0.46071214129977733,
    -0.44359828823707775,
    0.6714944590988139,
]
REFERENCE_NEGBIN = [
    -1.5066519177522155,
    -0.485237591043269,
    -0.5143608018679406,
    0.5360627129814712,
    1.0772172058007488,
]
REFERENCE_BETTER = "negative binomial"


def test_count_models_refuse_degenerate_input() -> None:
    from analysis.stats import DegenerateInputError

    samples, utility = fixed_counts()
    with pytest.raises(DegenerateInputError, match="no variance"):
        attempt_count_models(samples.assign(attempts=1), utility)
    with pytest.raises(DegenerateInputError, match="10\\+ queries"):
        attempt_count_models(samples.head(5), utility)


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
