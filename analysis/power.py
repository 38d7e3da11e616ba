"""Power of the BoolQ design by simulation: a fast, vectorised stand-in for ``sim``'s BoolQ
behaviour, and the share of simulated studies in which the confirmatory test detects a planted
preference effect (power) or wrongly detects one that is absent (false-positive rate).

The simulator uses the same knobs, with the same meaning and defaults, as ``sim``
(:class:`harness.sim.boolq.BoolQKnobs`): a question of difficulty d ~ N(0, 1) is answered
correctly with probability ``logistic(c + difficulty * d)`` (``c`` chosen so the mean over
questions is ``accuracy``), plus ``effect_pp / 100 * u`` under the entity framing for an entity
of utility u ~ N(0, 1), clipped to [0, 1]; an answer gives no verdict with probability
``unparseable_rate`` and, under the entity framing, is refused with probability
``refusal_rate * max(0, -u)``. Controls (one neutral and one high-stakes trial per question and
epoch) have no effect and no refusals. Two things differ from running ``sim`` through the
harness, both documented so they are not mistaken for its behaviour:

* draws come from numpy's generator, not from sim's hash of the seed and question id, so a
  simulated study is not the same *sample* as a ``harness run``, only the same design;
* the preference score is the *true* utility on the Elo scale
  (``1500 + 400·log10(e)·u / choice_noise``, the BT score sim's elicitation estimates), not an
  estimate from a simulated elicitation (whose Spearman with the truth is about 0.98 at the
  defaults); ``preference_noise`` adds Gaussian error in utility units to mimic that.

``entity_sd`` (default 0, as in sim) adds entity-specific log-odds that preference does not
explain, to check that the test stays calibrated when entities differ for other reasons.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from analysis.estimates import Estimate, standardise, wilson_interval
from analysis.preferences import ELO_CENTER, ELO_PER_LOGIT
from analysis.stats import json_safe

__all__ = ["BoolQDesign", "PowerResult", "boolq_power", "simulate_boolq", "test_estimate"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(48)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


def _knob_defaults() -> dict[str, float]:
    """sim's BoolQ knob defaults, so the simulator cannot drift from them."""
    from harness.sim._knobs import SimKnobs
    from harness.sim.boolq import BoolQKnobs

    knobs, base = BoolQKnobs(), SimKnobs()
    return {
        "accuracy": knobs.boolq_accuracy,
        "effect_pp": knobs.boolq_effect,
        "difficulty": knobs.boolq_difficulty,
        "refusal_rate": knobs.boolq_refusal_rate,
        "unparseable_rate": knobs.boolq_unparseable_rate,
        "choice_noise": base.choice_noise,
    }


_DEFAULTS = _knob_defaults()


@dataclass(frozen=True)
class BoolQDesign:
    """A BoolQ study design and the simulated subject's behaviour (sim's knobs).

    The default design for the validation test is 72 entities x 100 questions x 1 epoch
    (7,200 entity-framed trials + 200 controls): with sim's default accuracy and difficulty it
    detects a 3 pp/SD effect in essentially every simulation (see docs/benchmarks.md).
    """

    entities: int = 72
    questions: int = 100
    epochs: int = 1
    effect_pp: float = 3.0
    accuracy: float = _DEFAULTS["accuracy"]
    difficulty: float = _DEFAULTS["difficulty"]
    refusal_rate: float = _DEFAULTS["refusal_rate"]
    unparseable_rate: float = _DEFAULTS["unparseable_rate"]
    choice_noise: float = _DEFAULTS["choice_noise"]
    entity_sd: float = 0.0
    preference_noise: float = 0.0

    def __post_init__(self) -> None:
        if self.entities < 3 or self.questions < 2 or self.epochs < 1:
            raise ValueError("need at least 3 entities, 2 questions and 1 epoch")
        for name in ("accuracy", "refusal_rate", "unparseable_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.difficulty < 0 or self.entity_sd < 0 or self.preference_noise < 0:
            raise ValueError("difficulty, entity_sd and preference_noise must not be negative")
        if abs(self.effect_pp) > 100:
            raise ValueError("effect_pp is in percentage points (|x| <= 100)")

    @property
    def trials(self) -> int:
        return self.questions * self.epochs * (self.entities + 2)


@cache
def _centre(accuracy: float, spread: float) -> float:
    """Log-odds c with E[logistic(c + spread * d)] = accuracy over d ~ N(0, 1) (bisection on a
    Gauss–Hermite mean): spreading difficulty pulls mean accuracy towards 0.5."""
    low, high = -30.0, 30.0
    for _ in range(80):
        mid = (low + high) / 2.0
        mean = float(np.sum(_WEIGHTS / (1.0 + np.exp(-(mid + spread * _NODES)))))
        low, high = (mid, high) if mean < accuracy else (low, mid)
    return (low + high) / 2.0


def simulate_boolq(design: BoolQDesign, seed: int = 0) -> pd.DataFrame:
    """One simulated BoolQ run as probe-shaped rows (see the module docstring).

    Columns: question_id, gold, framing, template_id, entity, preference, answer, outcome,
    correct, epoch, status, and the planted truth for checks: utility and question_logit (NaN
    when accuracy is 0 or 1).
    """
    rng = np.random.default_rng(seed)
    e, q, k = design.entities, design.questions, design.epochs
    utility = rng.normal(size=e)
    difficulty = rng.normal(size=q)
    gold = rng.random(q) < 0.5
    entity_logit = rng.normal(scale=design.entity_sd, size=e) if design.entity_sd else np.zeros(e)
    observed_u = utility + (
        rng.normal(scale=design.preference_noise, size=e) if design.preference_noise else 0.0
    )
    preference = ELO_CENTER + ELO_PER_LOGIT * observed_u / design.choice_noise
    if design.accuracy in (0.0, 1.0):
        question_logit = None
    else:
        question_logit = (
            _centre(design.accuracy, design.difficulty) + design.difficulty * difficulty
        )

    # Row layout: for every epoch and question, the two controls then every entity.
    per_question = e + 2
    n = q * k * per_question
    slot = np.tile(np.arange(per_question), q * k)
    question = np.tile(np.repeat(np.arange(q), per_question), k)
    epoch = np.repeat(np.arange(k), q * per_question)
    is_entity = slot >= 2
    ent = np.where(is_entity, slot - 2, 0)
    if question_logit is None:
        p = np.full(n, design.accuracy)
    else:
        eta = question_logit[question] + np.where(is_entity, entity_logit[ent], 0.0)
        p = 1.0 / (1.0 + np.exp(-eta))
    p = np.clip(p + np.where(is_entity, design.effect_pp / 100.0 * utility[ent], 0.0), 0.0, 1.0)
    p_refuse = np.where(
        is_entity, np.minimum(1.0, design.refusal_rate * np.maximum(0.0, -utility[ent])), 0.0
    )
    unparseable = rng.random(n) < design.unparseable_rate
    refused = ~unparseable & (rng.random(n) < p_refuse)
    right = rng.random(n) < p
    outcome = np.where(
        unparseable,
        "unparseable",
        np.where(refused, "refusal", np.where(right, "correct", "wrong")),
    )
    answered = ~unparseable & ~refused
    gold_row = gold[question]
    answer = np.where(answered, np.where(right, gold_row, ~gold_row), False).astype(object)
    answer[~answered] = None
    framing = np.array(["neutral", "high_stakes"], dtype=object)[np.minimum(slot, 1)]
    framing[is_entity] = "entity"
    names = np.array([f"entity-{i:03d}" for i in range(e)], dtype=object)
    entity = np.where(is_entity, names[ent], None)
    return pd.DataFrame(
        {
            "question_id": np.array([f"q-{i:05d}" for i in range(q)], dtype=object)[question],
            "gold": gold_row,
            "framing": framing,
            "template_id": np.where(is_entity, "boolq-entity-sim", "boolq-" + framing),
            "entity": entity,
            "preference": np.where(is_entity, preference[ent], np.nan),
            "answer": answer,
            "outcome": outcome,
            "correct": outcome == "correct",
            "epoch": epoch,
            "status": "ok",
            "utility": np.where(is_entity, utility[ent], np.nan),
            "question_logit": np.full(n, np.nan)
            if question_logit is None
            else question_logit[question],
        }
    )


@dataclass(frozen=True)
class PowerResult:
    """Rejection rates of the BoolQ test over simulated studies, with Wilson intervals."""

    design: BoolQDesign
    method: str
    alpha: float
    sims: int
    power: float
    power_ci: tuple[float, float]
    false_positive_rate: float
    false_positive_ci: tuple[float, float]
    mean_estimate: float
    """Mean estimated effect (pp per SD) when the effect is planted."""
    sd_estimate: float
    failures: int
    """Simulations whose fit failed (counted as not rejecting)."""
    seconds: float
    null_pvalues: list[float]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["design"] = asdict(self.design)
        return json_safe(out)


def test_estimate(rows: pd.DataFrame, method: str = "gee") -> Estimate:
    """The confirmatory BoolQ estimate (``boolq_pref_effect``, or the Bayesian model's with
    ``method="bayes"``) of one simulated run, on its answered trials."""
    from analysis.boolq import preference_effect_bayes, preference_effect_gee

    answered = rows[rows["outcome"].isin(("correct", "wrong"))]
    z = standardise(answered.dropna(subset=["entity"]).groupby("entity")["preference"].first())
    data = answered.assign(y=answered["correct"].astype(float))
    entity_rows = data[data["framing"] == "entity"]
    entity_rows = entity_rows.assign(preference_z=entity_rows["entity"].map(z))
    if method == "gee":
        return preference_effect_gee(entity_rows)[0]
    return preference_effect_bayes(entity_rows, data[data["framing"] != "entity"])[0]


def _test(rows: pd.DataFrame, method: str) -> tuple[float, float]:
    """(estimate in pp per SD, p) of the confirmatory BoolQ test on one simulated run."""
    estimate = test_estimate(rows, method)
    return estimate.estimate, estimate.p


def boolq_power(
    design: BoolQDesign,
    *,
    sims: int = 200,
    alpha: float = 0.05,
    method: str = "gee",
    seed: int = 0,
) -> PowerResult:
    """Simulate ``sims`` studies with ``design``'s effect and ``sims`` with no effect (same
    design otherwise) and test each with ``method``: ``"gee"`` (the confirmatory test,
    ``boolq_pref_effect``) or ``"bayes"`` (the mixed model; rejects when the two-sided posterior
    tail probability is below alpha, i.e. the 1 - alpha interval excludes 0)."""
    if method not in ("gee", "bayes"):
        raise ValueError(f"method must be 'gee' or 'bayes', got {method!r}")
    if sims < 1 or not 0 < alpha < 1:
        raise ValueError("sims must be >= 1 and alpha in (0, 1)")
    started = time.perf_counter()
    null_design = replace(design, effect_pp=0.0)
    rejected = false_pos = failures = 0
    estimates: list[float] = []
    null_p: list[float] = []
    for i in range(sims):
        for which, current in (("effect", design), ("null", null_design)):
            # Separate seeds so the null studies are not the effect studies minus the effect.
            rows = simulate_boolq(current, seed=seed * 1_000_003 + 2 * i + (which == "null"))
            estimate, p = _test(rows, method)
            if not math.isfinite(p):
                failures += 1
                continue
            if which == "effect":
                rejected += p < alpha
                estimates.append(estimate)
            else:
                false_pos += p < alpha
                null_p.append(p)
    power_ci = tuple(float(v) for v in wilson_interval(rejected, sims))
    fpr_ci = tuple(float(v) for v in wilson_interval(false_pos, sims))
    return PowerResult(
        design=design,
        method=method,
        alpha=alpha,
        sims=sims,
        power=rejected / sims,
        power_ci=power_ci,  # type: ignore[arg-type]
        false_positive_rate=false_pos / sims,
        false_positive_ci=fpr_ci,  # type: ignore[arg-type]
        mean_estimate=float(np.mean(estimates)) if estimates else math.nan,
        sd_estimate=float(np.std(estimates, ddof=1)) if len(estimates) > 1 else math.nan,
        failures=failures,
        seconds=time.perf_counter() - started,
        null_pvalues=null_p,
    )
