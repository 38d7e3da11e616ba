"""Logistic models for trial-level outcomes: a Bayesian mixed model with crossed random
intercepts (statsmodels ``BinomialBayesMixedGLM``, variational Bayes) and a cluster-robust GEE as
the frequentist cross-check.

Both take a 0/1 outcome, a fixed-effects design (a DataFrame, one column per term, an
``Intercept`` column included by the caller) and return a small table of coefficients with
intervals, plus the fitted probabilities so callers can express a coefficient in percentage
points (:func:`analysis.estimates.logit_to_pp`).

Why these choices (validated in ``tests/analysis/test_boolq_models.py``, measured in
``bench/bench_analysis.py`` and reported in ``docs/benchmarks.md``):

* The random-effects design is built as a sparse one-hot matrix directly, not through a formula:
  a formula would build a dense column per question (thousands) and cannot leave control rows
  out of the entity component.
* ``fit_vb`` is started from a fixed-effects GLM fit and from one-step (shrunken) estimates of
  the random effects. From statsmodels' default start (all means 0) the optimiser collapsed
  the posterior SDs of a 200,000-row problem to ~1e-23 (a flat region of the ELBO in log-SD),
  which would report absurdly narrow intervals; from this start it converges to SDs that
  match the GEE standard errors. (statsmodels floors starting SDs at e^-1 whatever is
  given.) L-BFGS-B is used because BFGS keeps a dense inverse Hessian over all random effects.
* Mean-field variational Bayes ignores the posterior correlation between an entity-level
  slope and the entity intercepts, so with real entity heterogeneity its intervals for a
  preference slope are far too narrow: a false-positive rate of 0.160 at nominal 0.05 (200
  simulated null studies, 72 entities x 100 questions, entity SD 0.2 logits). The reported
  SD of such group-level terms is therefore the larger of the VB SD and the SD with the
  group's intercepts integrated out (:func:`_collapsed_sd`), which brings that rate to 0.070
  (and 0.030 without heterogeneity, where raw VB gave 0.040). Still not exact, so the GEE
  clustered by entity (0.053 and 0.058 over 1,000 studies) is the confirmatory test; the
  Bayesian model gives the effect size with question- and entity-level shrinkage. Figures:
  docs/benchmarks.md.
* GEE standard errors are the robust sandwich with the CR1 small-sample factor G/(G-1), and
  p-values and intervals use a t distribution with Satterthwaite degrees of freedom
  (:func:`satterthwaite_df`), so few clusters (e.g. 10 entities under ``--top-k 5``) or a few
  dominant ones do not overstate certainty. The Mancl–DeRouen bias-reduced sandwich was tried
  and rejected: 21 s for 72 clusters of 2,800 rows, and it corrects leverage, which is small
  here (2/72), not the low effective degrees of freedom that caused the excess.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats as sps

from analysis.estimates import Z95
from analysis.stats import DegenerateInputError, json_safe

__all__ = [
    "GEEFit",
    "MembershipLogitFit",
    "MixedLogitFit",
    "fit_gee_logit",
    "fit_grouped_logit",
    "fit_membership_logit",
    "fit_mixed_logit",
]

FE_PRIOR_SD = 5.0
"""Prior SD of fixed effects (logits): weak; statsmodels' default of 2 would pull an intercept
of 2 logits (88 % accuracy) noticeably towards 0 in small designs."""
VC_PRIOR_SD = 1.0
"""Prior SD of the log random-effect SDs (statsmodels' default)."""


def _check_outcome(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or len(y) == 0:
        raise DegenerateInputError("no trials to model")
    if np.isnan(y).any() or not np.isin(y, (0.0, 1.0)).all():
        raise ValueError("the outcome must be 0/1 without missing values")
    if y.min() == y.max():
        kind = "success" if y[0] == 1 else "failure"
        raise DegenerateInputError(f"every one of the {len(y)} trials is a {kind}: no variance")
    return y


def _check_design(fixed: pd.DataFrame, n: int) -> np.ndarray:
    if len(fixed) != n:
        raise ValueError(f"design has {len(fixed)} rows for {n} outcomes")
    x = fixed.to_numpy(dtype=float)
    if not np.isfinite(x).all():
        raise ValueError("the fixed-effects design has missing values")
    # A constant non-intercept column (e.g. preference with one entity) cannot be estimated.
    for j, name in enumerate(fixed.columns):
        if name != "Intercept" and np.ptp(x[:, j]) == 0:
            raise DegenerateInputError(f"term {name!r} has no variance in the data")
    if np.linalg.matrix_rank(x) < x.shape[1]:
        raise DegenerateInputError(f"terms {list(fixed.columns)} are collinear in the data")
    return x


@dataclass(frozen=True)
class MixedLogitFit:
    """Posterior summary of a Bayesian mixed logistic model (mean-field variational Bayes)."""

    terms: pd.DataFrame
    """One row per fixed effect: ``term``, ``mean``, ``sd`` (see :func:`_collapsed_sd`),
    ``sd_vb`` (the raw mean-field SD), ``ci_low``, ``ci_high`` (95 % posterior interval, logits:
    normal, or t with ``df`` degrees of freedom for group-level terms), ``p_tail`` (two-sided
    posterior tail probability, 2·min(P(b > 0), P(b < 0)), a Bayesian analogue of a p-value)
    and ``df`` (infinite unless the term's SD is the collapsed one, see :func:`_collapsed_sd`)."""
    components: pd.DataFrame
    """One row per random-intercept component: ``component``, ``levels``, ``sd`` (posterior
    median of the SD, logits), ``sd_low``, ``sd_high`` (95 % interval)."""
    n: int
    converged: bool
    seconds: float
    fitted: np.ndarray = field(repr=False)
    """Fitted probabilities per row (fixed effects plus posterior-mean random effects)."""

    def term(self, name: str) -> pd.Series:
        return self.terms.set_index("term").loc[name]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "terms": self.terms,
                "components": self.components,
                "n": self.n,
                "converged": self.converged,
                "seconds": self.seconds,
            }
        )


def _one_hot(labels: np.ndarray) -> tuple[sp.csr_matrix, int]:
    """Sparse indicator matrix of ``labels``; rows with a missing label are all zero."""
    series = pd.Series(labels, dtype=object)
    present = series.notna().to_numpy()
    codes, uniques = pd.factorize(series[present], sort=True)
    rows = np.flatnonzero(present)
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, codes)), shape=(len(series), len(uniques)))
    return matrix, len(uniques)


def fit_mixed_logit(
    y: np.ndarray,
    fixed: pd.DataFrame,
    groups: dict[str, Any],
    *,
    fe_prior_sd: float = FE_PRIOR_SD,
    vc_prior_sd: float = VC_PRIOR_SD,
    max_iter: int = 5000,
) -> MixedLogitFit:
    """Fit ``logit P(y=1) = fixed @ beta + sum of random intercepts`` by variational Bayes.

    ``groups`` maps a component name (e.g. ``"question"``) to one label per row; rows whose
    label is None/NaN get no intercept from that component (e.g. control rows have no entity).
    Components with fewer than 2 levels are dropped (nothing to pool).

    Raises:
        DegenerateInputError: no trials, an outcome without variance, or an inestimable term.
    """
    started = time.perf_counter()
    y = _check_outcome(y)
    x = _check_design(fixed, len(y))
    import statsmodels.api as sm
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    blocks, ident, names, levels = [], [], [], []
    for name, labels in groups.items():
        if len(labels) != len(y):
            raise ValueError(f"group {name!r} has {len(labels)} labels for {len(y)} rows")
        matrix, k = _one_hot(np.asarray(labels, dtype=object))
        if k < 2:
            continue
        blocks.append(matrix)
        ident.extend([len(names)] * k)
        names.append(name)
        levels.append(k)
    if not blocks:
        raise DegenerateInputError("no random-intercept component has 2 or more levels")
    z = sp.hstack(blocks).tocsr()
    ident_arr = np.asarray(ident, dtype=int)

    # Starting values near the optimum (see the module docstring for why this matters).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        glm = sm.GLM(y, x, family=sm.families.Binomial()).fit()
    mu = np.clip(np.asarray(glm.fittedvalues), 1e-6, 1 - 1e-6)
    weight = mu * (1.0 - mu)
    tau0 = 0.5
    info = np.asarray(z.T @ weight).ravel() + 1.0 / tau0**2
    vc_mean = np.asarray(z.T @ (y - mu)).ravel() / info
    fe_sd0 = np.where(np.isfinite(glm.bse), glm.bse, 0.1)
    mean0 = np.concatenate([glm.params, np.full(len(names), math.log(tau0)), vc_mean])
    sd0 = np.concatenate([np.maximum(fe_sd0, 1e-4), np.full(len(names), 0.2), 1 / np.sqrt(info)])

    model = BinomialBayesMixedGLM(
        y,
        x,
        z,
        ident_arr,
        vcp_p=vc_prior_sd,
        fe_p=fe_prior_sd,
        fep_names=list(fixed.columns),
        vcp_names=names,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        result = model.fit_vb(
            mean=mean0, sd=sd0, fit_method="L-BFGS-B", minim_opts={"maxiter": max_iter}
        )
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    fe_mean, fe_vb_sd = np.asarray(result.fe_mean), np.asarray(result.fe_sd)
    vcp_mean, vcp_sd = np.asarray(result.vcp_mean), np.asarray(result.vcp_sd)
    eta = x @ fe_mean + z @ np.asarray(result.vc_mean)
    fitted = 1.0 / (1.0 + np.exp(-eta))
    fe_sd = fe_vb_sd.copy()
    fe_df = np.full(len(fe_sd), np.inf)
    for c, name in enumerate(names):
        labels = np.asarray(groups[name], dtype=object)
        collapsed, df = _collapsed_sd(x, fitted, labels, float(np.exp(vcp_mean[c])), fixed.columns)
        wider = collapsed > fe_sd
        fe_df = np.where(wider, np.minimum(fe_df, df), fe_df)
        fe_sd = np.fmax(fe_sd, collapsed)
    ratio = np.abs(fe_mean) / np.where(fe_sd > 0, fe_sd, np.nan)
    tail = 2.0 * sps.t.sf(ratio, fe_df)
    crit = sps.t.ppf(0.975, fe_df)
    terms = pd.DataFrame(
        {
            "term": list(fixed.columns),
            "mean": fe_mean,
            "sd": fe_sd,
            "sd_vb": fe_vb_sd,
            "ci_low": fe_mean - crit * fe_sd,
            "ci_high": fe_mean + crit * fe_sd,
            "p_tail": tail,
            "df": fe_df,
        }
    )
    components = pd.DataFrame(
        {
            "component": names,
            "levels": levels,
            "sd": np.exp(vcp_mean),
            "sd_low": np.exp(vcp_mean - Z95 * vcp_sd),
            "sd_high": np.exp(vcp_mean + Z95 * vcp_sd),
        }
    )
    return MixedLogitFit(
        terms=terms,
        components=components,
        n=len(y),
        converged=converged,
        seconds=time.perf_counter() - started,
        fitted=fitted,
    )


def _collapsed_sd(
    x: np.ndarray, fitted: np.ndarray, labels: np.ndarray, sigma: float, columns: pd.Index
) -> tuple[np.ndarray, float]:
    """Posterior SDs of group-level terms with that group's intercepts integrated out, and the
    degrees of freedom their interval uses.

    Mean-field VB treats a term that is constant within the levels of a component (preference
    is constant within an entity) as if it were independent of those levels' intercepts, but
    the data only inform their sum, so its VB SD is too small whenever the intercepts vary. In
    the Gaussian approximation each level contributes an estimate of its linear predictor with
    precision ``tau_l`` (the summed ``p(1-p)`` of its rows); integrating out an intercept of
    SD ``sigma`` leaves precision ``tau_l / (1 + sigma^2 tau_l)``, and the posterior covariance
    of the group-level terms is the inverse of ``Z' diag(that) Z`` over levels. Returns NaN for
    terms this does not apply to (those varying within levels, and the intercept, which other
    rows also inform); callers keep the larger of this and the VB SD.

    The SD plugs in the posterior mean of ``sigma``, which few levels pin down poorly (ten
    entities under ``--top-k 5``), so such a term's interval uses a t distribution with
    ``levels - group-level terms`` degrees of freedom, as a between-level comparison would
    (infinite, i.e. normal, when nothing is collapsed). Without it a null top-versus-bottom
    contrast over ten entities was rejected 13 % of the time at nominal 5 % (entity SD 0.5);
    with it 6.7 % (150 simulated studies; docs/validation.md).
    """
    out = np.full(x.shape[1], np.nan)
    present = pd.notna(pd.Series(labels)).to_numpy()
    if present.sum() == 0:
        return out, math.inf
    codes, uniques = pd.factorize(pd.Series(labels[present], dtype=object))
    k = len(uniques)
    xs, w = x[present], (fitted * (1.0 - fitted))[present]
    spread = pd.DataFrame(xs).groupby(codes).agg(lambda v: float(np.ptp(v))).to_numpy()
    constant = (spread.max(axis=0) == 0) if k else np.zeros(x.shape[1], bool)
    level_values = pd.DataFrame(xs).groupby(codes).first().to_numpy()
    varies = np.ptp(level_values, axis=0) > 0
    keep = constant & (varies | (np.asarray(columns) == "Intercept"))
    if not (keep & varies).any() or k < 3:
        return out, math.inf
    tau = np.bincount(codes, weights=w, minlength=k)
    precision = tau / (1.0 + sigma**2 * tau)
    design = level_values[:, keep]
    cov = np.linalg.pinv(design.T @ (precision[:, None] * design))
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    idx = np.flatnonzero(keep)
    for j, col in zip(idx, sd, strict=True):
        if varies[j]:
            out[j] = col
    return out, float(max(k - np.linalg.matrix_rank(design), 1))


@dataclass(frozen=True)
class GEEFit:
    """A logistic GEE with cluster-robust (CR1) standard errors and t-based inference."""

    terms: pd.DataFrame
    """One row per term: ``term``, ``coef``, ``se``, ``ci_low``, ``ci_high`` (95 %, logits),
    ``p`` (two-sided, t distribution) and ``df`` (its Satterthwaite degrees of freedom)."""
    n: int
    clusters: int
    cov_struct: str
    fitted: np.ndarray = field(repr=False)

    def term(self, name: str) -> pd.Series:
        return self.terms.set_index("term").loc[name]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "terms": self.terms,
                "n": self.n,
                "clusters": self.clusters,
                "cov_struct": self.cov_struct,
            }
        )


def fit_gee_logit(
    y: np.ndarray, fixed: pd.DataFrame, clusters: Any, *, cov_struct: str = "exchangeable"
) -> GEEFit:
    """Population-averaged logistic regression with ``clusters`` (one label per row).

    ``cov_struct`` is the working correlation, ``"exchangeable"`` or ``"independence"``; the
    sandwich standard errors are valid whichever is chosen, the working correlation only
    affects efficiency.

    Raises:
        DegenerateInputError: no variance in the outcome or a term, or fewer than 2 clusters.
    """
    y = _check_outcome(y)
    x = _check_design(fixed, len(y))
    import statsmodels.api as sm

    codes, uniques = pd.factorize(pd.Series(np.asarray(clusters, dtype=object)), sort=True)
    if (codes < 0).any():
        raise ValueError("every row needs a cluster label")
    g = len(uniques)
    if g < 2:
        raise DegenerateInputError(f"a cluster-robust fit needs 2 or more clusters, got {g}")
    structures = {
        "exchangeable": sm.cov_struct.Exchangeable,
        "independence": sm.cov_struct.Independence,
    }
    if cov_struct not in structures:
        raise ValueError(f"cov_struct must be one of {sorted(structures)}")
    # GEE expects rows of a cluster to be contiguous for its working correlation.
    order = np.argsort(codes, kind="stable")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GEE(
            y[order],
            x[order],
            groups=codes[order],
            family=sm.families.Binomial(),
            cov_struct=structures[cov_struct](),
        ).fit()
    params = np.asarray(fit.params)
    se = np.asarray(fit.bse) * math.sqrt(g / (g - 1))
    fitted = np.empty(len(y))
    fitted[order] = np.asarray(fit.fittedvalues)
    terms = t_terms(list(fixed.columns), params, se, satterthwaite_df(x, fitted, codes, g))
    return GEEFit(terms=terms, n=len(y), clusters=g, cov_struct=cov_struct, fitted=fitted)


def t_terms(names: list[str], coef: np.ndarray, se: np.ndarray, df: np.ndarray) -> pd.DataFrame:
    """A coefficient table with 95 % t intervals and two-sided t p-values (``df`` infinite:
    normal): term, coef, se, ci_low, ci_high, p, df."""
    coef, se, df = (np.asarray(v, dtype=float) for v in (coef, se, df))
    crit = sps.t.ppf(0.975, df)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2.0 * sps.t.sf(np.abs(coef / se), df)
    return pd.DataFrame(
        {
            "term": names,
            "coef": coef,
            "se": se,
            "ci_low": coef - crit * se,
            "ci_high": coef + crit * se,
            "p": p,
            "df": df,
        }
    )


def satterthwaite_df(x: np.ndarray, fitted: np.ndarray, codes: np.ndarray, g: int) -> np.ndarray:
    """Degrees of freedom of each coefficient's cluster-robust variance (Bell–McCaffrey style).

    The sandwich variance of coefficient j is a sum over clusters of squared score
    contributions ``(a' U_i)^2`` with ``a`` column j of the inverse bread. Each has expectation
    ``s_i = a' B_i a`` under the (independence) working model, where ``B_i`` is cluster i's
    share of the bread, so by Satterthwaite the variance behaves like a chi-square with
    ``(sum s_i)^2 / sum s_i^2`` degrees of freedom, not ``G - 1``: with an entity-level
    covariate the few entities far from the mean dominate the sum. Using ``G - 1`` gave a
    false-positive rate of 0.068 at nominal 0.05 (1,000 simulated null studies, 72 entities,
    entity SD 0.2 logits); see docs/benchmarks.md for the figures with this correction.
    Clipped to [1, G - 1].
    """
    weight = fitted * (1.0 - fitted)
    k = x.shape[1]
    # Per-cluster bread B_i = X_i' W_i X_i, as a (G, k, k) array built with bincounts.
    bread_i = np.empty((g, k, k))
    for a in range(k):
        for b in range(a, k):
            bread_i[:, a, b] = bread_i[:, b, a] = np.bincount(
                codes, weights=weight * x[:, a] * x[:, b], minlength=g
            )
    inverse = np.linalg.pinv(bread_i.sum(axis=0))
    # s[i, j] = a_j' B_i a_j for every cluster i and coefficient j.
    s = np.einsum("kj,ikl,lj->ij", inverse, bread_i, inverse)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = s.sum(axis=0) ** 2 / (s**2).sum(axis=0)
    return np.clip(np.nan_to_num(df, nan=g - 1.0), 1.0, g - 1.0)


def fit_grouped_logit(
    x: np.ndarray, proportion: np.ndarray, trials: np.ndarray, *, iterations: int = 100
) -> np.ndarray:
    """Maximum-likelihood coefficients of ``logit P(event) = x @ beta`` for grouped binomial
    data: row i had ``trials[i]`` trials of which a share ``proportion[i]`` were events
    (Newton's method; ``proportion`` may be an expected rather than an observed share).

    Raises:
        DegenerateInputError: the fit does not converge (separation: a term predicts the
            outcome perfectly).
    """
    x, share, w = (np.asarray(v, dtype=float) for v in (x, proportion, trials))
    beta = np.zeros(x.shape[1])
    mean = float(np.clip(np.average(share, weights=w), 1e-6, 1 - 1e-6))
    beta[0] = math.log(mean / (1 - mean))
    for _ in range(iterations):
        mu = 1.0 / (1.0 + np.exp(-(x @ beta)))
        hessian = x.T @ ((w * mu * (1 - mu))[:, None] * x)
        step = np.linalg.solve(hessian, x.T @ (w * (share - mu)))
        beta += step
        if np.abs(step).max() < 1e-10:
            return beta
    raise DegenerateInputError("the logistic fit did not converge (separated data?)")


@dataclass(frozen=True)
class MembershipLogitFit:
    """A logistic model with one random intercept per entity shared by every row the entity
    is a member of (a query about two entities carries both), fitted by Laplace."""

    terms: pd.DataFrame
    """One row per fixed effect: ``term``, ``coef``, ``se``, ``ci_low``, ``ci_high`` (95 %,
    logits), ``p`` (two-sided) and ``df`` (t degrees of freedom: entities minus terms)."""
    sigma: float
    """Estimated SD of the entity intercepts (logits)."""
    entities: int
    n: int

    def term(self, name: str) -> pd.Series:
        return self.terms.set_index("term").loc[name]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {"terms": self.terms, "sigma": self.sigma, "entities": self.entities, "n": self.n}
        )


def _membership_mode(
    x: np.ndarray,
    members: tuple[np.ndarray, ...],
    g: int,
    events: np.ndarray,
    trials: np.ndarray,
    sigma: float,
    start: np.ndarray | None,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Joint mode of (beta, b) for a given sigma by Newton's method, the Laplace
    approximation of the log marginal likelihood there, and the full inverse Hessian."""
    p = x.shape[1]
    theta = np.zeros(p + g) if start is None else start.copy()
    if start is None:
        mean = float(np.clip(events.sum() / trials.sum(), 1e-6, 1 - 1e-6))
        theta[0] = math.log(mean / (1 - mean))
    prior = 1.0 / sigma**2

    def linear(theta: np.ndarray) -> np.ndarray:
        return x @ theta[:p] + sum(theta[p + m] for m in members)

    def newton_parts(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        eta = linear(theta)
        mu = 1.0 / (1.0 + np.exp(-eta))
        w, r = trials * mu * (1.0 - mu), events - trials * mu
        hessian = np.zeros((p + g, p + g))
        hessian[:p, :p] = x.T @ (w[:, None] * x)
        cross = np.zeros((g, p))
        zz = np.zeros((g, g))
        grad_b = np.zeros(g)
        for m in members:
            np.add.at(cross, m, w[:, None] * x)
            grad_b += np.bincount(m, r, g)
            for other in members:
                np.add.at(zz, (m, other), w)
        hessian[p:, :p], hessian[:p, p:] = cross, cross.T
        hessian[p:, p:] = zz + prior * np.eye(g)
        grad = np.concatenate([x.T @ r, grad_b - prior * theta[p:]])
        return eta, hessian, grad

    for _ in range(100):
        _, hessian, grad = newton_parts(theta)
        step = np.linalg.solve(hessian, grad)
        theta = theta + step
        if np.abs(step).max() < 1e-8:
            break
    else:
        raise DegenerateInputError("the entity-intercept logistic fit did not converge")
    eta, hessian, _ = newton_parts(theta)
    loglik = float(np.sum(events * eta - trials * np.logaddexp(0.0, eta)))
    b = theta[p:]
    _, logdet = np.linalg.slogdet(hessian[p:, p:])
    laplace = loglik - 0.5 * prior * float(b @ b) - g * math.log(sigma) - 0.5 * logdet
    return theta, laplace, np.linalg.inv(hessian)


def fit_membership_logit(
    events: np.ndarray,
    trials: np.ndarray,
    fixed: pd.DataFrame,
    members: tuple[Any, ...],
) -> MembershipLogitFit:
    """Grouped-binomial logistic regression ``logit P(event) = fixed @ beta + sum of b_e``
    over the entities named in ``members`` (one label array per membership, e.g. entity A
    and entity B of each query), with ``b_e ~ N(0, sigma^2)`` shared across memberships.

    sigma is estimated by maximising the Laplace approximation of the marginal likelihood
    (beta profiled); the coefficients' covariance is the inverse of the joint (beta, b)
    Hessian at that sigma; intervals and p-values use t with ``entities - terms`` degrees of
    freedom, because the terms of interest are entity-level (preference is constant within
    an entity) and their information comes from comparing entities. Calibration with entity
    offsets of SD 0.5: docs/validation.md.

    Raises:
        DegenerateInputError: no events or no non-events, too few entities, collinear terms.
    """
    from scipy import optimize

    events = np.asarray(events, dtype=float)
    trials = np.asarray(trials, dtype=float)
    if len(events) == 0 or events.sum() == 0 or (trials - events).sum() == 0:
        raise DegenerateInputError("every attempt had the same outcome: no variance")
    x = _check_design(fixed, len(events))
    labels = pd.Index(sorted({str(v) for m in members for v in m}))
    codes = tuple(labels.get_indexer([str(v) for v in m]) for m in members)
    g = len(labels)
    if g <= x.shape[1] + 1:
        raise DegenerateInputError(f"{g} entities are too few for {x.shape[1]} terms")
    last: dict[str, np.ndarray] = {}

    def negative(log_sigma: float) -> float:
        theta, laplace, _ = _membership_mode(
            x, codes, g, events, trials, math.exp(log_sigma), last.get("theta")
        )
        last["theta"] = theta
        return -laplace

    best = optimize.minimize_scalar(
        negative, bounds=(math.log(0.01), math.log(5.0)), method="bounded", options={"xatol": 0.01}
    )
    sigma = math.exp(best.x)
    theta, _, inverse = _membership_mode(x, codes, g, events, trials, sigma, last.get("theta"))
    k = x.shape[1]
    coef = theta[:k]
    se = np.sqrt(np.clip(np.diag(inverse)[:k], 0.0, None))
    terms = t_terms(list(fixed.columns), coef, se, np.full(k, float(g - k)))
    return MembershipLogitFit(terms=terms, sigma=sigma, entities=g, n=len(events))
