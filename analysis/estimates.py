"""The common currency of the per-probe analyses: one :class:`Estimate` per statistic (value,
interval, p-value, n and a note), plus small helpers they share (Wilson intervals,
standardising preferences, one-sided p-values, marginal effects in percentage points).

Every per-probe analysis returns a result dataclass with an ``estimates()`` method; the
multi-run layer (:mod:`analysis.runs`) turns those into the rows of a results table. A statistic
that could not be computed is still an :class:`Estimate`, with NaN values and a ``note`` saying
why, so a table never silently loses a row.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.stats import CorrelationResult, json_safe

__all__ = [
    "ALTERNATIVES",
    "Estimate",
    "completed",
    "failed",
    "from_correlation",
    "one_sided_p",
    "standardise",
    "wilson_interval",
]

ALTERNATIVES = ("two-sided", "greater", "less")
"""Directions a hypothesis can take: the estimate differs from 0, is above it, or below it."""

Z95 = float(sps.norm.ppf(0.975))


@dataclass(frozen=True)
class Estimate:
    """One statistic of one analysis.

    ``p`` is two-sided; :func:`one_sided_p` converts it when a preregistered hypothesis has a
    direction (valid because every test used here has a null distribution symmetric about 0).
    ``directional`` is False for tests without a sign (chi-square), which only admit
    two-sided hypotheses. ``null`` is the estimate's no-effect value (1 for a rate ratio):
    a direction means above or below it. Statistics that are descriptive only have ``p`` NaN.
    """

    statistic: str
    estimate: float
    ci_low: float = math.nan
    ci_high: float = math.nan
    p: float = math.nan
    n: int = 0
    units: str = ""
    method: str = ""
    note: str = ""
    directional: bool = True
    null: float = 0.0
    """The value of no effect: 0 for differences, slopes and correlations, 1 for ratios."""

    @property
    def ok(self) -> bool:
        """True when the statistic was computed (a finite estimate)."""
        return bool(np.isfinite(self.estimate))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (NaN becomes None)."""
        return json_safe(asdict(self))


def completed(
    samples: pd.DataFrame, required: tuple[str, ...], what: str
) -> tuple[pd.DataFrame, int]:
    """The completed rows (``status == "ok"``, all rows without a status column) and the number
    of failed ones, checked for ``required`` columns.

    Raises:
        DegenerateInputError: no completed rows at all (a store only has the result columns of
            trials that completed, so this is checked before the columns).
        ValueError: completed rows lack a required column.
    """
    from analysis.stats import DegenerateInputError

    ok = samples[samples["status"] == "ok"] if "status" in samples.columns else samples
    n_failed = len(samples) - len(ok)
    if ok.empty:
        raise DegenerateInputError(f"no completed {what} ({n_failed} failed)")
    missing = [c for c in required if c not in ok.columns]
    if missing:
        raise ValueError(f"{what} are missing column(s) {missing}")
    return ok, n_failed


def failed(statistic: str, note: str, *, units: str = "", method: str = "") -> Estimate:
    """An estimate that could not be computed, with the reason in ``note``."""
    return Estimate(statistic, math.nan, units=units, method=method, note=note)


def from_correlation(
    statistic: str, result: CorrelationResult, *, method: str, note: str = ""
) -> Estimate:
    """An :class:`Estimate` from a :func:`analysis.stats.spearman` result."""
    return Estimate(
        statistic,
        result.rho,
        result.ci_low,
        result.ci_high,
        result.p_value,
        result.n,
        units="Spearman rho",
        method=method,
        note=note,
    )


def one_sided_p(estimate: float, p_two_sided: float, alternative: str) -> float:
    """p-value for ``alternative`` from a two-sided p of a test symmetric under the null.

    Half the two-sided p when the estimate lies in the hypothesised direction, else one minus
    that half. NaN stays NaN.
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if alternative == "two-sided" or not np.isfinite(p_two_sided):
        return p_two_sided
    in_direction = estimate > 0 if alternative == "greater" else estimate < 0
    half = p_two_sided / 2.0
    return half if in_direction else 1.0 - half


def wilson_interval(successes: Any, trials: Any, ci: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval of a binomial proportion (vectorised; NaN where trials == 0).

    Preferred over the Wald interval because it stays inside [0, 1] and keeps its coverage for
    rates near 0 or 1, which refusal and accuracy rates often are.
    """
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    z = float(sps.norm.ppf(0.5 + ci / 2.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = k / n
        denom = 1.0 + z * z / n
        centre = (phat + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(phat * (1.0 - phat) / n + z * z / (4.0 * n * n)) / denom
    low, high = centre - half, centre + half
    return np.where(n > 0, low, np.nan), np.where(n > 0, high, np.nan)


def standardise(scores: pd.Series) -> pd.Series:
    """Preference scores as z-scores over the entities given (mean 0, population SD 1).

    The SD is taken over *all* scored entities of the run's elicitation, not over the rows of a
    probe, so "per SD" means the same unit in every probe of a model even when a probe used
    only the most and least preferred entities.
    """
    values = pd.to_numeric(scores, errors="coerce").astype(float).dropna()
    if len(values) < 2:
        raise ValueError("need preference scores for at least 2 entities to standardise")
    sd = float(values.std(ddof=0))
    if not sd > 0:
        raise ValueError("preference scores have no variance across entities")
    return ((values - values.mean()) / sd).rename("preference_z")


def logit_to_pp(coefficient: float, fitted: np.ndarray) -> float:
    """Average marginal effect in percentage points of a logit coefficient.

    d p / d x = beta * p * (1 - p), averaged over the rows' fitted probabilities: the change in
    accuracy (or success rate) per unit of x, on the scale people read. Used with its interval
    endpoints too (the factor is treated as fixed, a first-order delta-method approximation).
    """
    fitted = np.asarray(fitted, dtype=float)
    return float(100.0 * coefficient * np.mean(fitted * (1.0 - fitted)))


def contrast_to_pp(baseline_logits: np.ndarray, difference: float) -> float:
    """Average discrete change in percentage points of a binary contrast worth ``difference``
    logits, from each row's linear predictor under the baseline level.

    For a group contrast (top versus bottom) the slope used by :func:`logit_to_pp` is a poor
    approximation once the difference is more than a logit or so: it understates a 5-logit
    gap by more than half. Monotone in ``difference``, so interval endpoints map to endpoints.
    """
    base = np.asarray(baseline_logits, dtype=float)
    shifted = 1.0 / (1.0 + np.exp(-(base + difference)))
    return float(100.0 * np.mean(shifted - 1.0 / (1.0 + np.exp(-base))))
