"""What each of ``sim``'s planted effects should be recovered as: one function per estimand,
mapping a knob (and the entities a study happened to use) to the value the analysis estimates.

A knob is defined on ``sim``'s own scale (per SD of the *planted utility*, on the probability or
log-odds scale sim uses); the analyses report effects per SD of the *estimated* preference, in
their own units (pp, log rate ratio, Elo per Elo). The two differ by the preference
estimate's error, by the entities' sample SD, by the link function and by clipping, so a
recovery test that compares an estimate with the raw knob compares unlike things. Each function
here returns the *pseudo-true* value: what the analysis would report with unlimited trials on
the same entities, with the same (estimated) preference scores, and with entity offsets that
preference does not explain integrated out where the analysis targets a population average
(BoolQ's GEE, the agentic group difference) and left out where it conditions on them (the
refusal model's entity intercepts). The validation script (``bench/validate_stats.py``) and
the recovery tests check coverage of these values; ``docs/validation.md`` lists the mapping.

=================  ===========================  =======================================
knob (``-M``)      statistic                    estimand (this module)
=================  ===========================  =======================================
``boolq_effect``   ``boolq_pref_effect``        :func:`boolq_pref_effect`: pp per SD of z
``refusal_slope``  ``attempts_pref_a``/``_b``   :func:`refusal_rate_ratios`: log RR per SD
``refusal_inter…`` ``attempts_interaction``     :func:`refusal_rate_ratios`: log RR per unit
``alignment``      ``donation_slope``           :func:`donation_slope`: Elo per Elo
``agent_pref…``    ``agentic_top_minus_bottom`` :func:`agentic_top_minus_bottom`: pp
=================  ===========================  =======================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "agentic_top_minus_bottom",
    "boolq_pref_effect",
    "donation_slope",
    "gauss_hermite",
    "pseudo_true_logit",
    "refusal_rate_ratios",
]


def gauss_hermite(n: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights (summing to 1) for expectations over a standard normal."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(n)
    return nodes, weights / weights.sum()


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def pseudo_true_logit(x: np.ndarray, p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Coefficients a logistic regression converges to when the rows' success probabilities
    are ``p`` and row i carries ``weights[i]`` expected trials (the maximum of the expected
    log-likelihood: the grouped-binomial fit on expected counts)."""
    from analysis.mixed import fit_grouped_logit

    return fit_grouped_logit(x, p, weights)


def boolq_pref_effect(
    effect_pp: float,
    utility: np.ndarray,
    preference_z: np.ndarray,
    question_logit: np.ndarray,
    *,
    entity_sd: float = 0.0,
    answered: np.ndarray | None = None,
) -> float:
    """``boolq_pref_effect`` (pp per SD of estimated preference) for sim's ``boolq_effect``.

    sim answers question q for entity e correctly with probability
    ``clip(logistic(question_logit[q] + b_e) + effect_pp / 100 * utility[e], 0, 1)`` (``b_e``
    an entity offset of SD ``entity_sd``, 0 in sim). The GEE fits
    ``logit P(correct) ~ preference_z`` over answered trials and reports the average marginal
    effect; this is that fit on the expected accuracies (offsets integrated out), so it
    includes the attenuation by preference-estimation error and clipping at 100 %.
    ``answered`` is each entity's probability of giving a verdict (the rows' weights).
    """
    u, z = np.asarray(utility, float), np.asarray(preference_z, float)
    logits = np.asarray(question_logit, float)
    nodes, weights = gauss_hermite()
    base = _sigmoid(logits[None, :, None] + entity_sd * nodes[None, None, :])
    shifted = np.clip(base + effect_pp / 100.0 * u[:, None, None], 0.0, 1.0) @ weights
    e, q = shifted.shape
    x = np.column_stack([np.ones(e * q), np.repeat(z, q)])
    w = np.repeat(np.ones(e) if answered is None else np.asarray(answered, float), q)
    beta = pseudo_true_logit(x, shifted.ravel(), w)
    fitted = _sigmoid(x @ beta)
    return float(100.0 * beta[1] * np.average(fitted * (1 - fitted), weights=w))


def expected_attempts(h: np.ndarray, cap: int) -> np.ndarray:
    """Mean attempts of a query whose every attempt is non-valid with probability ``h``,
    stopping at the first valid one or after ``cap`` attempts."""
    h = np.asarray(h, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(h < 1, (1 - h**cap) / (1 - h), float(cap))


def refusal_rate_ratios(
    utility_a: np.ndarray,
    utility_b: np.ndarray,
    z_a: np.ndarray,
    z_b: np.ndarray,
    *,
    refusal_base: float,
    refusal_slope: float,
    refusal_interaction: float,
    max_attempts: int = 100,
) -> dict[str, float]:
    """Log rate ratios of the refusal hazard model for sim's refusal knobs, by term
    (``Intercept``, ``pref_a``, ``pref_b``, ``both_low``); the reported rate ratio is exp().

    sim makes each attempt of a query non-valid with probability
    ``logistic(refusal_base - refusal_slope * (u_a + u_b) / 2 + refusal_interaction *
    max(0, -u_a) * max(0, -u_b))``. The analysis fits that logit on the *estimated*
    preferences' z-scores, with the hinge on z, over every attempt, with entity intercepts; a
    coefficient is the log ratio of the rate of non-valid attempts per valid answer (extra
    attempts, ``h / (1 - h)``), for a given entity (conditional on its intercept, so offsets
    that preference does not explain do not enter the estimand). With utilities standardised
    and measured without error it is ``-refusal_slope / 2`` per SD for each entity and
    ``refusal_interaction`` for the hinge; this function gives the exact value for the
    entities and pairs used (the fit on expected counts).
    """
    ua, ub = np.asarray(utility_a, float), np.asarray(utility_b, float)
    za, zb = np.asarray(z_a, float), np.asarray(z_b, float)
    h = _sigmoid(
        refusal_base
        - refusal_slope * (ua + ub) / 2.0
        + refusal_interaction * np.maximum(0.0, -ua) * np.maximum(0.0, -ub)
    )
    attempts = expected_attempts(h, max_attempts)
    hinge = np.maximum(0.0, -za) * np.maximum(0.0, -zb)
    x = np.column_stack([np.ones(len(za)), za, zb, hinge])
    beta = pseudo_true_logit(x, h, attempts)
    return dict(zip(("Intercept", "pref_a", "pref_b", "both_low"), map(float, beta), strict=True))


def donation_slope(
    alignment: float, utility: np.ndarray, preference: np.ndarray, *, choice_noise: float
) -> float:
    """``donation_slope`` (donation-advice score per point of preference score, both on the
    Elo scale) for sim's ``alignment``.

    sim recommends A with probability ``logistic(alignment * (u_A - u_B) / choice_noise +
    position_bias)`` and chooses A in elicitation with ``logistic((u_A - u_B) / choice_noise +
    position_bias)``, so the donation Bradley–Terry score is ``alignment`` times the true
    preference score. The slope on the *estimated* preference is that, times the least-squares
    slope of the true score on the estimated one over the entities used (the attenuation by
    elicitation error: 1 for a perfect elicitation).
    """
    from analysis.preferences import ELO_PER_LOGIT

    true_score = ELO_PER_LOGIT * np.asarray(utility, float) / choice_noise
    estimated = np.asarray(preference, float)
    spread = estimated - estimated.mean()
    return float(alignment * (spread @ (true_score - true_score.mean())) / (spread @ spread))


def agentic_top_minus_bottom(
    effect: float,
    utility_top: Sequence[float],
    utility_bottom: Sequence[float],
    *,
    base_success: float,
    task_logits: Sequence[float] | None = None,
    entity_sd: float = 0.0,
) -> float:
    """``agentic_top_minus_bottom`` (pp) for sim's ``agent_preference_effect``.

    sim attempts a task properly (and then passes its grader) with probability
    ``logistic(logit(agent_base_success) + agent_preference_effect * u + b_e)``; with task
    difficulties, ``task_logits`` replace the base log-odds per task. The estimand is the mean
    success of the top entities minus that of the bottom ones, averaged over tasks, with the
    entity offsets ``b_e`` (SD ``entity_sd``, 0 in sim) integrated out: the difference between
    entities *of these preferences*, not between these particular ten entities.
    """
    centre = np.log(base_success / (1.0 - base_success))
    tasks = np.array([centre] if task_logits is None else task_logits, dtype=float)
    nodes, weights = gauss_hermite()

    def mean_success(utilities: Sequence[float]) -> float:
        u = np.asarray(utilities, float)
        eta = tasks[None, :, None] + effect * u[:, None, None] + entity_sd * nodes
        return float((_sigmoid(eta) @ weights).mean())

    return 100.0 * (mean_success(utility_top) - mean_success(utility_bottom))
