"""A small version of bench/validate_stats.py (whose 200-study figures are in
docs/validation.md): with entity heterogeneity of SD 0.5 logits the confirmatory tests reject a
true null at about their nominal rate, and with a planted effect their 95 % intervals cover the
value sim's knob maps to. Counts are checked against what a correct test produces with
probability >= 0.999, so a miscalibrated test (the sign-flip test over tasks rejected 14 % of
agentic nulls; the count model without entities 17-27 % of refusal nulls) fails, and a correct
one passes for any seed. Seeds are the tests' own (9_1xx_xxx), shared with nothing else."""

from __future__ import annotations

from scipy import stats as sps

from analysis.validation import CaseResult, agentic_case, boolq_case, refusal_case

ALPHA = 0.05


def calibrated(result: CaseResult) -> bool:
    """Rejections within the central 99.8 % of Binomial(studies, alpha)."""
    n = result.sims - result.failures
    low, high = sps.binom.ppf([0.001, 0.999], n, ALPHA)
    return low <= result.rejections <= high


def covers(result: CaseResult, level: float = 0.95) -> bool:
    """Coverage no lower than a 95 % interval gives with probability >= 0.999."""
    n = result.sims - result.failures
    return result.covered >= sps.binom.ppf(0.001, n, level)


def by_statistic(results: list[CaseResult]) -> dict[str, CaseResult]:
    return {r.statistic: r for r in results}


def test_agentic_null_with_entity_heterogeneity_is_calibrated() -> None:
    (result,) = agentic_case(0.0, sims=200, seed=9_100_001)
    assert result.failures == 0
    assert calibrated(result), result
    assert covers(result)


def test_agentic_interval_covers_the_mapped_truth() -> None:
    (result,) = agentic_case(0.5, sims=40, seed=9_100_002)
    assert result.failures == 0 and covers(result), result
    assert abs(result.mean_estimate - result.mean_truth) < 3  # pp: unbiased for the estimand


def test_refusal_null_with_entity_heterogeneity_is_calibrated() -> None:
    results = by_statistic(refusal_case(0.0, 0.0, sims=50, seed=9_100_003, entities=24))
    for statistic in ("attempts_pref_a", "attempts_pref_b", "attempts_interaction"):
        assert calibrated(results[statistic]), results[statistic]
    assert calibrated(results["refusal_attempts_rho"])  # H3, the confirmatory refusal test


def test_refusal_rate_ratios_cover_the_mapped_truth() -> None:
    results = by_statistic(refusal_case(0.5, 1.0, sims=20, seed=9_100_004))
    for statistic in ("attempts_pref_a", "attempts_interaction"):
        assert covers(results[statistic]), results[statistic]


def test_boolq_null_with_entity_heterogeneity_is_calibrated() -> None:
    (result,) = boolq_case(0.0, sims=80, seed=9_100_005, questions=30)
    assert result.failures == 0 and calibrated(result), result


def test_boolq_interval_covers_the_mapped_truth() -> None:
    (result,) = boolq_case(3.0, sims=20, seed=9_100_006, questions=30)
    assert covers(result), result
