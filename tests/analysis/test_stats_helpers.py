"""Checks of the shared statistics helpers against scipy, statsmodels and textbook results."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from analysis import DegenerateInputError, bonferroni, holm, spearman, spearman_brown


def correlated(n: int, rho: float, seed: int) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)
    index = [f"e{i}" for i in range(n)]
    return pd.Series(x, index=index), pd.Series(y, index=index)


# --------------------------------------------------------------------------------- spearman


def test_spearman_matches_scipy_including_ties():
    x, y = correlated(72, 0.5, seed=1)
    x = x.round(1)  # plenty of ties
    result = spearman(x, y, bootstrap=0)
    expected = sps.spearmanr(x, y)
    assert result.rho == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.n == 72 and math.isnan(result.ci_low)


def test_spearman_aligns_on_index_and_drops_missing():
    x, y = correlated(40, 0.6, seed=2)
    y_shuffled = y.sample(frac=1.0, random_state=0)
    x_extra = pd.concat([x, pd.Series({"only_in_x": 9.0})])
    x_extra.iloc[0] = np.nan
    result = spearman(x_extra, y_shuffled, bootstrap=0)
    expected = sps.spearmanr(x.iloc[1:], y.iloc[1:])
    assert result.n == 39
    assert result.rho == pytest.approx(expected.statistic, abs=1e-12)


def test_spearman_bootstrap_ci_matches_fieller_interval():
    # Fieller, Hartley & Pearson (1957): atanh(r_s) has SE ≈ sqrt(1.06 / (n - 3)).
    x, y = correlated(72, 0.6, seed=3)
    result = spearman(x, y, bootstrap=2000, seed=0)
    half = 1.96 * math.sqrt(1.06 / (72 - 3))
    low, high = math.tanh(math.atanh(result.rho) - half), math.tanh(math.atanh(result.rho) + half)
    assert result.ci_low < result.rho < result.ci_high
    assert result.ci_low == pytest.approx(low, abs=0.06)
    assert result.ci_high == pytest.approx(high, abs=0.06)


def test_spearman_ci_coverage_in_repeated_samples():
    # Population Spearman of a bivariate normal: (6/π)·asin(ρ/2).
    rho = 0.5
    target = 6 / math.pi * math.asin(rho / 2)
    hits = [
        (r.ci_low <= target <= r.ci_high)
        for r in (spearman(*correlated(60, rho, seed=s), bootstrap=400, seed=s) for s in range(80))
    ]
    assert np.mean(hits) >= 0.85


def test_spearman_is_seeded():
    x, y = correlated(30, 0.4, seed=4)
    assert spearman(x, y, seed=1) == spearman(x, y, seed=1)
    assert spearman(x, y, seed=1).ci_low != spearman(x, y, seed=2).ci_low


def test_spearman_degenerate_inputs_raise():
    x, y = correlated(10, 0.5, seed=5)
    with pytest.raises(DegenerateInputError, match="at least 3"):
        spearman(x.iloc[:2], y.iloc[:2])
    with pytest.raises(DegenerateInputError, match="at least 3"):
        spearman(x.iloc[:0], y.iloc[:0])
    with pytest.raises(DegenerateInputError, match="no variance"):
        spearman(x * 0 + 1, y)
    with pytest.raises(ValueError, match="duplicate"):
        spearman(pd.concat([x, x]), y)
    with pytest.raises(TypeError):
        spearman(x.to_numpy(), y)  # type: ignore[arg-type]


def test_spearman_brown():
    assert spearman_brown(0.5) == pytest.approx(2 / 3)
    assert spearman_brown(1.0) == pytest.approx(1.0)
    assert spearman_brown(0.5, factor=3) == pytest.approx(0.75)


# ---------------------------------------------------------------------- multiple comparisons


@pytest.mark.parametrize("seed", range(5))
def test_corrections_match_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=15) ** 2
    p[3] = p[7]  # a tie
    for ours, method in ((holm, "holm"), (bonferroni, "bonferroni")):
        np.testing.assert_allclose(ours(p), multipletests(p, method=method)[1], rtol=1e-12)


def test_holm_hand_example_order_and_cap():
    # Sorted: .01·3 = .03, .03·2 = .06, .04·1 = .04 → running max .06.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert bonferroni([0.01, 0.04, 0.5]) == pytest.approx([0.03, 0.12, 1.0])
    assert holm([0.6, 0.9]).max() <= 1.0


def test_corrections_keep_series_labels():
    p = pd.Series({"model_a": 0.02, "model_b": 0.001, "model_c": 0.2}, name="p")
    adjusted = holm(p)
    assert isinstance(adjusted, pd.Series) and adjusted.name == "p"
    assert adjusted.index.tolist() == p.index.tolist()
    assert adjusted["model_b"] == pytest.approx(0.003)
    assert isinstance(bonferroni(p), pd.Series)


def test_corrections_edge_cases():
    assert holm([]).shape == (0,) and bonferroni([]).shape == (0,)
    with pytest.raises(ValueError, match="NaN"):
        holm([0.1, np.nan])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bonferroni([1.5])
