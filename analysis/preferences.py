"""Preference scores from pairwise and ranking trials (Elo, Bradley–Terry, mean rank) and their
consistency (method agreement, split-half reliability, position bias, transitivity).

Inputs are the run store's per-trial DataFrames for **one model** (filter or ``groupby("model")``
first; a frame with several models raises):

* pairwise: ``entity_a``, ``entity_b`` (options A and B as presented), ``chosen`` (the chosen
  entity id, or None/NaN when unparseable or refused), optional ``sample`` and ``model``.
* ranking (long): ``sample``, ``entity``, ``rank`` (1 = most preferred, NaN if missing).

Unparseable pairwise answers are excluded from every score (they are *not* losses for either
side) and reported as a rate. All scores are oriented so that higher = more preferred, and Elo
and Bradley–Terry share the Elo scale (400·log10 odds, mean 1500) so they can be compared.
Results are deterministic given ``seed`` and do not depend on the row order of the input.
Degenerate inputs (no rows, fewer than two entities with parsed comparisons) raise
``ValueError`` / ``DegenerateInputError`` rather than returning NaN.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import expit

from analysis.stats import (
    CorrelationResult,
    DegenerateInputError,
    check_ci,
    json_safe,
    percentile_interval,
    spearman,
    spearman_brown,
)

__all__ = [
    "ELO_CENTER",
    "ELO_PER_LOGIT",
    "BTResult",
    "ConsistencyReport",
    "bradley_terry",
    "consistency",
    "elo_scores",
    "ranking_scores",
]

ELO_CENTER = 1500.0
"""Mean score of the entities on the Elo scale (Elo's conventional initial rating)."""
ELO_PER_LOGIT = 400.0 / math.log(10.0)
"""Elo points per unit of log-odds: Elo's win probability is 1 / (1 + 10**(-diff / 400))."""

_PAIRWISE_COLUMNS = ("entity_a", "entity_b", "chosen")
_RANKING_COLUMNS = ("sample", "entity", "rank")
# Elo steps are processed in blocks so the per-permutation index arrays stay small.
_ELO_BLOCK = 2048


# --------------------------------------------------------------------------- input handling


def _require_columns(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what} is missing required column(s) {missing}")
    if df.empty:
        raise DegenerateInputError(f"{what} has no rows")


def _require_single_model(df: pd.DataFrame, what: str) -> None:
    # Pooling models would silently average different preference orders.
    if "model" in df.columns and df["model"].nunique(dropna=True) > 1:
        models = sorted(map(str, df["model"].dropna().unique()))[:5]
        raise ValueError(
            f"{what} holds several models ({models}...); score each model separately, "
            "e.g. via df.groupby('model')"
        )


def _entity_index(values: np.ndarray) -> pd.Index:
    """Unique entity ids, sorted when comparable so codes do not depend on row order."""
    index = pd.Index(pd.unique(values))
    try:
        return index.sort_values()
    except TypeError:  # mixed id types: fall back to first appearance
        return index


@dataclass(frozen=True)
class _Comparisons:
    """Parsed pairwise trials as integer codes, canonically sorted (row-order independent)."""

    entities: pd.Index
    a: np.ndarray  # code of option A, parsed trials only
    b: np.ndarray  # code of option B
    a_chosen: np.ndarray  # bool: option A was chosen
    sample: np.ndarray | None  # sample id of each parsed trial, if the column exists
    n_trials: int  # all trials, parsed or not
    n_unparseable: int

    @property
    def n(self) -> int:
        return len(self.entities)

    @property
    def winners(self) -> np.ndarray:
        return np.where(self.a_chosen, self.a, self.b)

    @property
    def losers(self) -> np.ndarray:
        return np.where(self.a_chosen, self.b, self.a)

    def subset(self, mask: np.ndarray) -> _Comparisons:
        return _Comparisons(
            entities=self.entities,
            a=self.a[mask],
            b=self.b[mask],
            a_chosen=self.a_chosen[mask],
            sample=None if self.sample is None else self.sample[mask],
            n_trials=int(mask.sum()),
            n_unparseable=0,
        )

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Matrices ``(C, T)``: T[a, b] trials with a as option A vs b; C[a, b] A chosen."""
        cell = self.a * self.n + self.b
        size = self.n * self.n
        total = np.bincount(cell, minlength=size).astype(float)
        chose_a = np.bincount(cell, weights=self.a_chosen.astype(float), minlength=size)
        return chose_a.reshape(self.n, self.n), total.reshape(self.n, self.n)

    def wins_matrix(self) -> np.ndarray:
        """W[i, j] = number of parsed trials in which i was chosen over j (either order)."""
        cell = self.winners * self.n + self.losers
        return np.bincount(cell, minlength=self.n * self.n).reshape(self.n, self.n)

    def active(self) -> np.ndarray:
        """Boolean mask of entities with at least one parsed comparison."""
        seen = np.zeros(self.n, dtype=bool)
        seen[self.a] = True
        seen[self.b] = True
        return seen


def _prepare_pairwise(pairwise: pd.DataFrame) -> _Comparisons:
    """Validate the pairwise frame and encode parsed trials as integer codes."""
    _require_columns(pairwise, _PAIRWISE_COLUMNS, "pairwise")
    _require_single_model(pairwise, "pairwise")
    a_raw = pairwise["entity_a"].to_numpy(dtype=object)
    b_raw = pairwise["entity_b"].to_numpy(dtype=object)
    if pd.isna(a_raw).any() or pd.isna(b_raw).any():
        raise ValueError("pairwise has rows with a missing entity_a/entity_b")
    if (a_raw == b_raw).any():
        raise ValueError("pairwise has rows comparing an entity with itself")
    chosen = pairwise["chosen"].to_numpy(dtype=object)
    parsed = ~pd.isna(chosen)
    # Compare only parsed rows: pd.NA has no truth value, so `NA == "x"` cannot be used.
    a_won = (chosen[parsed] == a_raw[parsed]).astype(bool)
    stray = ~a_won & (chosen[parsed] != b_raw[parsed]).astype(bool)
    if stray.any():
        example = pairwise.loc[parsed, list(_PAIRWISE_COLUMNS)].iloc[np.argmax(stray)].to_dict()
        raise ValueError(
            f"{int(stray.sum())} pairwise rows have a `chosen` that is neither option "
            f"(e.g. {example}); unparseable answers must be None/NaN"
        )
    entities = _entity_index(np.concatenate([a_raw, b_raw]))
    a = entities.get_indexer(a_raw[parsed])
    b = entities.get_indexer(b_raw[parsed])
    sample = pairwise["sample"].to_numpy()[parsed] if "sample" in pairwise.columns else None
    # Canonical order, so seeded permutations/bootstraps see the same sequence for any row
    # order of the input (np.lexsort: the last key is the primary one).
    keys = [a_won, b, a] if sample is None else [sample, a_won, b, a]
    order = np.lexsort(keys)
    return _Comparisons(
        entities=entities,
        a=a[order],
        b=b[order],
        a_chosen=a_won[order],
        sample=None if sample is None else sample[order],
        n_trials=len(pairwise),
        n_unparseable=int((~parsed).sum()),
    )


def _require_comparisons(comps: _Comparisons) -> None:
    if comps.active().sum() < 2:
        raise DegenerateInputError(
            f"need parsed comparisons between at least 2 entities; got {len(comps.a)} parsed "
            f"of {comps.n_trials} trials"
        )


# --------------------------------------------------------------------------------------- Elo


def elo_scores(
    pairwise: pd.DataFrame,
    *,
    initial: float = ELO_CENTER,
    k: float = 32.0,
    permutations: int = 200,
    seed: int = 0,
) -> pd.Series:
    """Elo ratings averaged over ``permutations`` random orders of the parsed comparisons.

    Each pass starts every entity at ``initial`` (1500) and applies the standard update
    ``R_w += k * (1 - E_w)``, ``R_l -= k * (1 - E_w)`` with
    ``E_w = 1 / (1 + 10 ** ((R_l - R_w) / 400))`` and K-factor ``k`` (32). Sequential Elo
    depends on match order, which is arbitrary here, so the ratings are averaged over random
    orders. Updates are zero-sum, so the mean rating stays ``initial``.

    Returns a Series named ``"elo"`` indexed by entity, sorted from most to least preferred.
    Entities that appear only in unparseable trials get NaN.
    """
    if permutations < 1:
        raise ValueError(f"permutations must be >= 1, got {permutations}")
    comps = _prepare_pairwise(pairwise)
    _require_comparisons(comps)
    winners, losers = comps.winners, comps.losers
    n, m = comps.n, len(winners)
    rng = np.random.default_rng(seed)
    orders = rng.permuted(np.tile(np.arange(m, dtype=np.int32), (permutations, 1)), axis=1)
    # All permutations advance together: ratings is one flat array of `permutations` blocks
    # of n entities, so each match step is a handful of vector operations.
    offsets = (np.arange(permutations) * n)[:, None]
    ratings = np.full(permutations * n, float(initial))
    for start in range(0, m, _ELO_BLOCK):
        block = orders[:, start : start + _ELO_BLOCK]
        w_steps = (winners[block] + offsets).T
        l_steps = (losers[block] + offsets).T
        for w, lo in zip(w_steps, l_steps, strict=True):
            expected = 1.0 / (1.0 + 10.0 ** ((ratings[lo] - ratings[w]) / 400.0))
            delta = k * (1.0 - expected)
            ratings[w] += delta
            ratings[lo] -= delta
    mean = ratings.reshape(permutations, n).mean(axis=0)
    mean[~comps.active()] = np.nan
    scores = pd.Series(mean, index=comps.entities, name="elo")
    scores.index.name = "entity"
    return _sort_desc(scores)


def _sort_desc(scores: pd.Series) -> pd.Series:
    # Stable sort on a canonically ordered index keeps ties deterministic.
    return scores.sort_values(ascending=False, kind="stable", na_position="last")


# ----------------------------------------------------------------------------- Bradley–Terry


@dataclass(frozen=True)
class _BTFit:
    theta: np.ndarray  # log-strengths of the fitted entities (mean 0)
    gamma: float  # position effect in logits (0 when not fitted)
    log_likelihood: float
    iterations: int


def _bt_objective(
    theta: np.ndarray, gamma: float, chose_a: np.ndarray, total: np.ndarray, ridge: float
) -> tuple[float, float]:
    """(penalised, unpenalised) log-likelihood of the position-effect BT model."""
    eta = theta[:, None] - theta[None, :] + gamma
    # -log σ(η) = log(1 + e^-η), written to stay finite for separated data; then
    # C·log σ(η) + (T − C)·log σ(−η) = −T·(−log σ(η)) − (T − C)·η.
    neg_log_sigma = np.log1p(np.exp(-np.abs(eta))) + np.maximum(-eta, 0.0)
    loglik = -float((total * neg_log_sigma + (total - chose_a) * eta).sum())
    return loglik - 0.5 * ridge * float(theta @ theta + gamma * gamma), loglik


def _bt_newton(
    chose_a: np.ndarray,
    total: np.ndarray,
    *,
    ridge: float,
    position_effect: bool,
    start: np.ndarray | None = None,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> _BTFit:
    """Penalised maximum likelihood for P(A chosen) = σ(θ_A − θ_B + γ) by damped Newton.

    The objective is strictly concave (log-likelihood of a logistic model plus a ridge), so
    Newton steps with step-halving converge to the unique optimum.
    """
    n = chose_a.shape[0]
    k = n + 1 if position_effect else n
    params = np.zeros(k) if start is None else start.astype(float).copy()

    def split(p: np.ndarray) -> tuple[np.ndarray, float]:
        return p[:n], (float(p[n]) if position_effect else 0.0)

    current, loglik = _bt_objective(*split(params), chose_a, total, ridge)
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 (count is reported below)
        theta, gamma = split(params)
        prob = expit(theta[:, None] - theta[None, :] + gamma)
        resid = chose_a - total * prob
        weight = total * prob * (1.0 - prob)
        row_w, col_w = weight.sum(axis=1), weight.sum(axis=0)
        grad = np.empty(k)
        grad[:n] = resid.sum(axis=1) - resid.sum(axis=0)
        hess = np.diag(row_w + col_w) - weight - weight.T  # Fisher information
        if position_effect:
            grad[n] = resid.sum()
            hess = np.block([[hess, np.zeros((n, 1))], [np.zeros((1, n + 1))]])
            hess[:n, n] = hess[n, :n] = row_w - col_w
            hess[n, n] = weight.sum()
        grad -= ridge * params
        hess[np.diag_indices(k)] += ridge
        step = np.linalg.solve(hess, grad)
        for _ in range(60):
            proposal = params + step
            value, value_loglik = _bt_objective(*split(proposal), chose_a, total, ridge)
            if value >= current - 1e-12 * abs(current):
                break
            step = step / 2.0
        params, current, loglik = proposal, value, value_loglik
        if np.max(np.abs(step)) < tol:
            break
    else:
        warnings.warn("Bradley–Terry fit did not converge", RuntimeWarning, stacklevel=3)
    theta, gamma = split(params)
    return _BTFit(theta=theta, gamma=gamma, log_likelihood=loglik, iterations=iterations)


def _active_counts(comps: _Comparisons) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask of entities with parsed comparisons, and the count matrices restricted to them."""
    active = comps.active()
    chose_a, total = comps.counts()
    keep = np.ix_(active, active)
    return active, chose_a[keep], total[keep]


def _bt_theta(comps: _Comparisons, ridge: float, position_effect: bool) -> np.ndarray:
    """Log-strength per entity (NaN for entities without parsed comparisons)."""
    active, chose_a, total = _active_counts(comps)
    fit = _bt_newton(chose_a, total, ridge=ridge, position_effect=position_effect)
    theta = np.full(comps.n, np.nan)
    theta[active] = fit.theta
    return theta


def _warn_if_disconnected(total: np.ndarray) -> None:
    n_parts, _ = connected_components(csr_matrix(total + total.T), directed=False)
    if n_parts > 1:
        # Scores in different components are only tied together by the ridge prior.
        warnings.warn(
            f"the comparison graph has {n_parts} disconnected components; scores are not "
            "comparable across components",
            RuntimeWarning,
            stacklevel=3,
        )


@dataclass(frozen=True)
class BTResult:
    """Bradley–Terry scores on the Elo scale, with bootstrap CIs and fit diagnostics."""

    scores: pd.DataFrame
    """Columns ``entity, score, ci_low, ci_high, wins, comparisons``; best first. Entities with
    no parsed comparison have NaN score and CI."""
    log_likelihood: float
    """Unpenalised log-likelihood of the parsed trials at the fitted parameters."""
    position_bias: float | None
    """Fitted advantage of being option A, in Elo points (None when not modelled)."""
    position_bias_ci: tuple[float, float] | None
    n_comparisons: int
    """Parsed trials used in the fit."""
    n_unparseable: int
    """Trials excluded because ``chosen`` was missing."""
    ridge: float
    bootstrap: int
    ci: float
    iterations: int

    @property
    def score(self) -> pd.Series:
        """Scores as a Series indexed by entity (ready for :func:`analysis.stats.spearman`)."""
        return self.scores.set_index("entity")["score"].rename("bt")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation (scores as a list of records)."""
        out = {key: getattr(self, key) for key in self.__dataclass_fields__}
        return json_safe(out)


def bradley_terry(
    pairwise: pd.DataFrame,
    *,
    ridge: float = 0.01,
    position_effect: bool = True,
    bootstrap: int = 200,
    ci: float = 0.95,
    seed: int = 0,
) -> BTResult:
    """Maximum-likelihood Bradley–Terry scores on the Elo scale, with bootstrap CIs.

    Model: P(option A chosen) = σ(θ_A − θ_B + γ), where θ is each entity's log-strength and γ an
    optional position effect (``position_effect=True``): a shared bonus for being shown first.
    Fitting γ keeps a position bias from shrinking the scores and, with both presentation
    orders asked, costs nothing otherwise (if each pair is shown in one order only, γ is
    identified only through the rest of the comparison network); with ``False`` this is the
    plain BT model.

    The fit maximises the log-likelihood minus ``ridge/2 · (Σθ² + γ²)``, i.e. a Gaussian prior
    with SD ``1/sqrt(ridge)`` logits (10 logits ≈ 1,737 Elo points at the default 0.01). The
    ridge keeps entities that always win or always lose finite and, because the likelihood
    gradient sums to zero over entities, it also centres θ at exactly 0; its pull on
    non-separated data is negligible (1.3 Elo points on a 3–1 record between two entities).
    Scores are ``1500 + 400·log10(e)·θ``, comparable with :func:`elo_scores`.

    CIs are percentile intervals over ``bootstrap`` resamples of the parsed comparisons (with
    replacement), each refitted from the point estimate; they describe scores relative to the
    mean of the entities. ``bootstrap=0`` skips them (NaN). Unparseable trials are excluded.
    """
    check_ci(ci)
    if ridge <= 0:
        raise ValueError(f"ridge must be > 0 to keep separated data finite, got {ridge}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    comps = _prepare_pairwise(pairwise)
    _require_comparisons(comps)
    active, chose_a, total = _active_counts(comps)
    _warn_if_disconnected(total)
    fit = _bt_newton(chose_a, total, ridge=ridge, position_effect=position_effect)

    boot = _bt_bootstrap(comps, active, fit, ridge, position_effect, bootstrap, seed)
    low = np.full(active.sum() + 1, np.nan)
    high = low.copy()
    if boot is not None:
        low, high = percentile_interval(boot, ci)

    def to_elo(values: np.ndarray) -> np.ndarray:
        out = np.full(comps.n, np.nan)
        out[active] = ELO_CENTER + ELO_PER_LOGIT * values[: active.sum()]
        return out

    wins = np.bincount(comps.winners, minlength=comps.n)
    appearances = np.bincount(np.concatenate([comps.a, comps.b]), minlength=comps.n)
    table = pd.DataFrame(
        {
            "entity": comps.entities,
            "score": to_elo(fit.theta),
            "ci_low": to_elo(low),
            "ci_high": to_elo(high),
            "wins": wins,
            "comparisons": appearances,
        }
    )
    table = table.sort_values("score", ascending=False, kind="stable", na_position="last")
    position_bias = position_ci = None
    if position_effect:
        position_bias = ELO_PER_LOGIT * fit.gamma
        position_ci = (float(ELO_PER_LOGIT * low[-1]), float(ELO_PER_LOGIT * high[-1]))
    return BTResult(
        scores=table.reset_index(drop=True),
        log_likelihood=fit.log_likelihood,
        position_bias=position_bias,
        position_bias_ci=position_ci,
        n_comparisons=len(comps.a),
        n_unparseable=comps.n_unparseable,
        ridge=ridge,
        bootstrap=bootstrap,
        ci=ci,
        iterations=fit.iterations,
    )


def _bt_bootstrap(
    comps: _Comparisons,
    active: np.ndarray,
    fit: _BTFit,
    ridge: float,
    position_effect: bool,
    reps: int,
    seed: int,
) -> np.ndarray | None:
    """Bootstrap replicates: one row per replicate, θ of active entities then γ (if fitted)."""
    if reps == 0:
        return None
    # Re-code to active entities so each replicate only needs two bincounts.
    recode = np.cumsum(active) - 1
    n = int(active.sum())
    cell = recode[comps.a] * n + recode[comps.b]
    chose = comps.a_chosen.astype(float)
    start = np.append(fit.theta, fit.gamma) if position_effect else fit.theta
    rng = np.random.default_rng(seed)
    out = np.empty((reps, n + 1 if position_effect else n))
    for r in range(reps):
        idx = rng.integers(0, len(cell), size=len(cell))
        total = np.bincount(cell[idx], minlength=n * n).reshape(n, n).astype(float)
        chose_a = np.bincount(cell[idx], weights=chose[idx], minlength=n * n).reshape(n, n)
        rep = _bt_newton(chose_a, total, ridge=ridge, position_effect=position_effect, start=start)
        out[r, :n] = rep.theta
        if position_effect:
            out[r, n] = rep.gamma
    return out


# ---------------------------------------------------------------------------------- ranking


def ranking_scores(ranking: pd.DataFrame) -> pd.DataFrame:
    """Per-entity summary of direct-ranking answers, with a score where higher = preferred.

    Columns: ``entity``, ``mean_rank`` (mean over samples where the entity was ranked),
    ``sd_rank``, ``n_ranked``, ``n_missing`` (samples whose answer left the entity out: a NaN
    rank or no row at all) and ``score``. ``score`` is the mean over samples of the entity's
    normalised position ``(depth - rank) / (depth - 1)`` in [0, 1] (1 = top, 0 = bottom), where
    ``depth`` is how many entities that answer ranked. It equals ``(N - mean_rank)/(N - 1)``
    when every answer is complete, and stays comparable when answers are partial. Missing
    entries are never imputed. Sorted by score, best first.
    """
    _require_columns(ranking, _RANKING_COLUMNS, "ranking")
    _require_single_model(ranking, "ranking")
    if ranking["entity"].isna().any():
        raise ValueError("ranking has rows with a missing entity")
    if ranking.duplicated(["sample", "entity"]).any():
        raise ValueError("ranking has duplicate (sample, entity) rows; deduplicate answers first")
    ranks = pd.to_numeric(ranking["rank"], errors="raise").astype(float)
    if (ranks < 1).any():
        raise ValueError("ranks must be >= 1 (1 = most preferred)")
    wide = (
        ranking.assign(rank=ranks)
        .pivot(index="sample", columns="entity", values="rank")
        .astype(float)
    )
    if wide.notna().sum().sum() == 0:
        raise DegenerateInputError("ranking has no non-missing ranks")
    depth = np.maximum(wide.notna().sum(axis=1), wide.max(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        # An answer that ranks a single entity carries no ordering information (0/0 -> NaN).
        position = (
            wide.rsub(depth, axis=0).div(depth - 1, axis=0).replace([np.inf, -np.inf], np.nan)
        )
    n_ranked = wide.notna().sum()
    table = pd.DataFrame(
        {
            "entity": wide.columns,
            "mean_rank": wide.mean().to_numpy(),
            "sd_rank": wide.std(ddof=1).to_numpy(),
            "n_ranked": n_ranked.to_numpy(),
            "n_missing": (len(wide) - n_ranked).to_numpy(),
            "score": position.mean().to_numpy(),
        }
    )
    table = table.sort_values("score", ascending=False, kind="stable", na_position="last")
    return table.reset_index(drop=True)


# ------------------------------------------------------------------------------ consistency


@dataclass(frozen=True)
class ConsistencyReport:
    """How coherent a model's stated preferences are, within and across elicitation methods."""

    method_agreement: CorrelationResult | None
    """Spearman between BT scores and ranking scores (None when no ranking was given)."""
    split_half_reliability: float
    """Spearman–Brown corrected split-half Spearman of BT scores, averaged over splits."""
    split_half_raw: float
    """Mean uncorrected Spearman between the two halves."""
    split_unit: str
    """``"sample"`` (halves of the sample ids) or ``"trial"`` (fewer than 2 sample ids)."""
    n_splits: int
    """Splits that produced two usable halves (of the ``splits`` requested)."""
    position_bias_rate: float
    """Share of parsed answers choosing option A (0.5 = no position bias)."""
    position_bias_p: float
    """Two-sided exact binomial test of ``position_bias_rate`` against 0.5."""
    n_parsed: int
    n_trials: int
    unparseable_rate: float
    intransitive_rate: float
    """Share of evaluated triads whose majority preferences form a cycle (random ≈ 0.25)."""
    n_triads: int
    """Triads evaluated (all three pairs have a strict majority)."""
    n_triads_undecided: int
    """Sampled triads skipped because some pair was tied or never compared."""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return json_safe(asdict(self))


def _split_half(
    comps: _Comparisons, splits: int, rng: np.random.Generator, ridge: float
) -> tuple[float, float, str, int]:
    """Mean raw and Spearman–Brown corrected split-half Spearman of BT scores, the split unit
    and the number of usable splits."""
    samples = None if comps.sample is None else np.unique(comps.sample)
    unit = "sample" if samples is not None and len(samples) >= 2 else "trial"
    raw, corrected = [], []
    for _ in range(splits):
        if unit == "sample":
            first = rng.permutation(samples)[: len(samples) // 2]
            mask = np.isin(comps.sample, first)
        else:
            mask = rng.permutation(len(comps.a)) < len(comps.a) // 2
        halves = [comps.subset(mask), comps.subset(~mask)]
        if any(h.active().sum() < 2 for h in halves):
            continue
        theta = [_bt_theta(h, ridge, position_effect=True) for h in halves]
        both = np.isfinite(theta[0]) & np.isfinite(theta[1])
        if both.sum() < 3:
            continue
        r = float(sps.spearmanr(theta[0][both], theta[1][both]).statistic)
        if math.isfinite(r):
            raw.append(r)
            corrected.append(spearman_brown(r))
    if not raw:
        raise DegenerateInputError("no split produced two halves with >= 3 common entities")
    return float(np.mean(raw)), float(np.mean(corrected)), unit, len(raw)


def _sample_triads(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random triads of distinct entities, or all of them if there are fewer."""
    if math.comb(n, 3) <= count:
        return np.array(list(itertools.combinations(range(n), 3)), dtype=int).reshape(-1, 3)
    # Three smallest of n uniform keys = a uniformly random 3-subset.
    return np.argpartition(rng.random((count, n)), 3, axis=1)[:, :3]


def _intransitivity(
    comps: _Comparisons, triads: int, rng: np.random.Generator
) -> tuple[float, int, int]:
    """Share of cyclic triads in the majority-preference tournament."""
    active = comps.active()
    wins = comps.wins_matrix()[np.ix_(active, active)]
    beats = wins > wins.T
    decided = wins != wins.T  # ties, including never-compared pairs, have no majority
    tri = _sample_triads(int(active.sum()), triads, rng)
    i, j, k = tri.T
    ok = decided[i, j] & decided[j, k] & decided[k, i]
    # Given strict majorities, (i,j,k) is a cycle iff i>j, j>k, k>i or the reverse, i.e. the
    # three "beats" flags agree.
    cyclic = (beats[i, j] == beats[j, k]) & (beats[j, k] == beats[k, i])
    n_ok = int(ok.sum())
    rate = float(cyclic[ok].mean()) if n_ok else math.nan
    return rate, n_ok, int((~ok).sum())


def consistency(
    pairwise: pd.DataFrame,
    ranking: pd.DataFrame | None = None,
    seed: int = 0,
    *,
    splits: int = 50,
    triads: int = 10_000,
    bootstrap: int = 1000,
    ci: float = 0.95,
    ridge: float = 0.01,
) -> ConsistencyReport:
    """Consistency diagnostics for one model's preference data.

    * method agreement: :func:`analysis.stats.spearman` of Bradley–Terry scores against
      :func:`ranking_scores` (skipped when ``ranking`` is None), CI from ``bootstrap`` resamples
      of entities;
    * split-half reliability: ``splits`` random halvings of the sample ids (of the parsed
      trials if there is only one sample id or no ``sample`` column), BT fitted on each half,
      Spearman between halves, Spearman–Brown corrected, averaged;
    * position bias: share of parsed answers choosing option A, exact binomial test vs 0.5;
    * unparseable rate over all trials;
    * transitivity: share of cyclic triads among up to ``triads`` sampled entity triples whose
      three pairs all have a strict majority preference.
    """
    if splits < 1 or triads < 1:
        raise ValueError("splits and triads must be >= 1")
    comps = _prepare_pairwise(pairwise)
    _require_comparisons(comps)
    rng = np.random.default_rng(seed)
    agreement = None
    if ranking is not None:
        bt = pd.Series(_bt_theta(comps, ridge, position_effect=True), index=comps.entities)
        ranked = ranking_scores(ranking).set_index("entity")["score"]
        agreement = spearman(bt, ranked, bootstrap=bootstrap, seed=seed, ci=ci)
    raw, corrected, unit, used = _split_half(comps, splits, rng, ridge)
    n_parsed = len(comps.a)
    chose_a = int(comps.a_chosen.sum())
    intransitive, n_triads, undecided = _intransitivity(comps, triads, rng)
    return ConsistencyReport(
        method_agreement=agreement,
        split_half_reliability=corrected,
        split_half_raw=raw,
        split_unit=unit,
        n_splits=used,
        position_bias_rate=chose_a / n_parsed,
        position_bias_p=float(sps.binomtest(chose_a, n_parsed, 0.5).pvalue),
        n_parsed=n_parsed,
        n_trials=comps.n_trials,
        unparseable_rate=comps.n_unparseable / comps.n_trials,
        intransitive_rate=intransitive,
        n_triads=n_triads,
        n_triads_undecided=undecided,
    )
