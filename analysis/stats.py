"""Shared statistics helpers: Spearman correlation with bootstrap CIs, multiple-comparison
corrections and JSON-safe conversion of results.

Everything here works on plain numpy / pandas objects so the analysis layer stays independent
of how runs were produced and stored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, overload

import numpy as np
import pandas as pd
from scipy import stats as sps

__all__ = [
    "CorrelationResult",
    "DegenerateInputError",
    "bonferroni",
    "check_ci",
    "holm",
    "json_safe",
    "percentile_interval",
    "spearman",
    "spearman_brown",
]

# Bootstrap replicates are processed in blocks of at most this many cells so memory stays
# bounded when correlating long vectors (e.g. item-level data rather than 72 entities).
_BLOCK_CELLS = 2_000_000


class DegenerateInputError(ValueError):
    """Input on which a statistic is undefined: empty, too few units or no variance.

    Policy for the whole ``analysis`` package: such inputs raise (never return a silent NaN), so
    a broken run cannot masquerade as "no effect". It subclasses ``ValueError`` so callers that
    batch many models can ``except DegenerateInputError`` and record the reason themselves.
    """


def check_ci(ci: float) -> None:
    """Raise ``ValueError`` unless ``ci`` is a coverage level strictly between 0 and 1."""
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be strictly between 0 and 1, got {ci!r}")


def percentile_interval(replicates: np.ndarray, ci: float, axis: int = 0) -> tuple[Any, Any]:
    """Percentile bootstrap interval of ``replicates`` along ``axis``, ignoring NaN replicates."""
    check_ci(ci)
    tail = (1.0 - ci) / 2.0
    low, high = np.nanquantile(replicates, [tail, 1.0 - tail], axis=axis)
    return low, high


def json_safe(value: Any) -> Any:
    """Convert numpy / pandas values into plain JSON types; NaN and infinities become ``None``.

    ``json.dumps`` would otherwise write ``NaN``, which is not valid JSON.
    """
    if isinstance(value, pd.DataFrame):
        return [json_safe(row) for row in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


@dataclass(frozen=True)
class CorrelationResult:
    """A Spearman correlation with its percentile-bootstrap CI and analytic p-value."""

    rho: float
    ci_low: float
    ci_high: float
    p_value: float
    """Two-sided p-value of ``scipy.stats.spearmanr`` (t approximation with n - 2 df)."""
    n: int
    """Number of aligned, non-missing pairs (entities) the correlation used."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return json_safe(asdict(self))


def _aligned(x: pd.Series, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Inner-join two Series on their index and drop pairs where either value is missing."""
    for name, s in (("x", x), ("y", y)):
        if not isinstance(s, pd.Series):
            raise TypeError(f"{name} must be a pandas Series indexed by entity")
        if s.index.has_duplicates:
            dup = s.index[s.index.duplicated()].unique()[:3].tolist()
            raise ValueError(f"{name} has duplicate index labels (e.g. {dup}); cannot align")
    joined = pd.concat({"x": x, "y": y}, axis=1, join="inner").dropna()
    return joined["x"].to_numpy(dtype=float), joined["y"].to_numpy(dtype=float)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (NaN if constant)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(axis=1) / denom, np.nan)


def _bootstrap_spearman(
    x: np.ndarray, y: np.ndarray, reps: int, rng: np.random.Generator
) -> np.ndarray:
    """Spearman rho on ``reps`` resamples of the (x, y) pairs, drawn with replacement."""
    n = len(x)
    block = max(1, _BLOCK_CELLS // n)
    out = np.empty(reps)
    for start in range(0, reps, block):
        size = min(block, reps - start)
        idx = rng.integers(0, n, size=(size, n))
        # Resampling duplicates units, so ranks must use the average-tie convention, as
        # spearmanr does; Spearman's rho is then the Pearson correlation of the ranks.
        rx = sps.rankdata(x[idx], axis=1)
        ry = sps.rankdata(y[idx], axis=1)
        out[start : start + size] = _rowwise_pearson(rx, ry)
    return out


def spearman(
    x: pd.Series,
    y: pd.Series,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
) -> CorrelationResult:
    """Spearman correlation of two entity-indexed Series, with a bootstrap CI over entities.

    The Series are aligned on their index (inner join) and pairs with a missing value are
    dropped. ``rho`` and ``p_value`` are exactly those of ``scipy.stats.spearmanr``; the CI is
    the percentile interval of rho over ``bootstrap`` resamples of entities (``bootstrap=0``
    gives a NaN interval). Resamples in which one side is constant have no rho and are skipped.

    Raises:
        DegenerateInputError: fewer than 3 aligned pairs, or either side has no variance.
    """
    check_ci(ci)
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    xv, yv = _aligned(x, y)
    n = len(xv)
    if n < 3:
        raise DegenerateInputError(
            f"Spearman needs at least 3 entities present in both series, got {n}"
        )
    for name, v in (("x", xv), ("y", yv)):
        if np.all(v == v[0]):
            raise DegenerateInputError(f"{name} has no variance across the {n} entities")
    res = sps.spearmanr(xv, yv)
    low = high = math.nan
    if bootstrap:
        reps = _bootstrap_spearman(xv, yv, bootstrap, np.random.default_rng(seed))
        if np.isfinite(reps).any():
            low, high = (float(v) for v in percentile_interval(reps, ci))
    return CorrelationResult(
        rho=float(res.statistic),
        ci_low=low,
        ci_high=high,
        p_value=float(res.pvalue),
        n=n,
    )


def spearman_brown(r: float, factor: float = 2.0) -> float:
    """Reliability of a test ``factor`` times as long as one with reliability ``r``.

    With ``factor=2`` this corrects a split-half correlation to full-length reliability.
    """
    return factor * r / (1.0 + (factor - 1.0) * r)


PValues = Sequence[float] | np.ndarray


def _as_pvalues(pvalues: PValues | pd.Series) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.isnan(p).any():
        # Silently dropping NaNs would shrink the family and under-correct, so refuse.
        raise ValueError("p-values contain NaN; decide explicitly how to treat failed tests")
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    return p


@overload
def _like_input(adjusted: np.ndarray, pvalues: pd.Series) -> pd.Series: ...
@overload
def _like_input(adjusted: np.ndarray, pvalues: PValues) -> np.ndarray: ...
def _like_input(adjusted: np.ndarray, pvalues: PValues | pd.Series) -> np.ndarray | pd.Series:
    # Keep labels (e.g. model × probe) attached when the caller passed a Series.
    if isinstance(pvalues, pd.Series):
        return pd.Series(adjusted, index=pvalues.index, name=pvalues.name)
    return adjusted


@overload
def bonferroni(pvalues: pd.Series) -> pd.Series: ...
@overload
def bonferroni(pvalues: PValues) -> np.ndarray: ...
def bonferroni(pvalues: PValues | pd.Series) -> np.ndarray | pd.Series:
    """Bonferroni-adjusted p-values: ``min(1, m * p)``, in the input order.

    A Series input returns a Series with the same index; anything else returns an array.
    Raises ``ValueError`` for NaN or out-of-range p-values.
    """
    p = _as_pvalues(pvalues)
    return _like_input(np.minimum(1.0, p * len(p)), pvalues)


@overload
def holm(pvalues: pd.Series) -> pd.Series: ...
@overload
def holm(pvalues: PValues) -> np.ndarray: ...
def holm(pvalues: PValues | pd.Series) -> np.ndarray | pd.Series:
    """Holm step-down adjusted p-values (controls family-wise error), in the input order.

    The i-th smallest p-value (1-based) is multiplied by ``m - i + 1``; a running maximum keeps
    the adjusted values monotone in the raw ones, and they are capped at 1. A Series input
    returns a Series with the same index. Raises ``ValueError`` for NaN or out-of-range values.
    """
    p = _as_pvalues(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, stepped)
    return _like_input(adjusted, pvalues)
