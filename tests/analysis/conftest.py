"""Seeded simulators of pairwise and ranking trials with known utilities, for analysis tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import norm

N_ENTITIES = 72


def entity_names(n: int) -> np.ndarray:
    return np.array([f"org_{i:02d}" for i in range(n)], dtype=object)


def simulate_pairwise(
    utilities: np.ndarray,
    *,
    samples: int = 1,
    position_bias: float = 0.0,
    unparseable: float = 0.0,
    link: str = "logit",
    seed: int = 0,
) -> pd.DataFrame:
    """Every ordered pair (both presentation orders) ``samples`` times.

    P(option A chosen) = F(u_A − u_B + position_bias) with F logistic (Bradley–Terry) or the
    normal CDF (Thurstone case V); a share ``unparseable`` of answers is replaced by None.
    """
    rng = np.random.default_rng(seed)
    n = len(utilities)
    names = entity_names(n)
    a, b = np.nonzero(~np.eye(n, dtype=bool))
    a, b = np.tile(a, samples), np.tile(b, samples)
    eta = utilities[a] - utilities[b] + position_bias
    p_a = expit(eta) if link == "logit" else norm.cdf(eta)
    chosen = np.where(rng.random(len(a)) < p_a, names[a], names[b]).astype(object)
    chosen[rng.random(len(a)) < unparseable] = None
    return pd.DataFrame(
        {
            "entity_a": names[a],
            "entity_b": names[b],
            "chosen": chosen,
            "sample": np.repeat(np.arange(samples), n * (n - 1)),
            "model": "model-x",
        }
    )


def simulate_ranking(
    utilities: np.ndarray, *, samples: int = 5, missing: float = 0.0, seed: int = 0
) -> pd.DataFrame:
    """Plackett–Luce rankings (order of utility + Gumbel noise), some entries left missing."""
    rng = np.random.default_rng(seed)
    n = len(utilities)
    rows = []
    for s in range(samples):
        noisy = utilities + rng.gumbel(size=n)
        rank = np.empty(n)
        rank[np.argsort(-noisy)] = np.arange(1, n + 1)
        rank[rng.random(n) < missing] = np.nan
        rows.append(pd.DataFrame({"sample": s, "entity": entity_names(n), "rank": rank}))
    return pd.concat(rows, ignore_index=True)


def truth_series(utilities: np.ndarray) -> pd.Series:
    return pd.Series(utilities, index=entity_names(len(utilities)))


@pytest.fixture
def utilities() -> np.ndarray:
    return np.random.default_rng(12345).normal(0.0, 1.0, N_ENTITIES)


@pytest.fixture
def simulate() -> Callable[..., pd.DataFrame]:
    return simulate_pairwise


@pytest.fixture
def simulate_ranks() -> Callable[..., pd.DataFrame]:
    return simulate_ranking


@pytest.fixture
def truth_of() -> Callable[[np.ndarray], pd.Series]:
    return truth_series
