"""Calibration and coverage of the confirmatory tests over simulated studies: how often each
rejects a true null with entity heterogeneity, and how often its interval covers the value
sim's knob maps to (:mod:`analysis.estimands`) when an effect is planted.

Each ``*_case`` function simulates ``sims`` studies at the data-frame level
(:mod:`analysis.simulate`, :func:`analysis.power.simulate_boolq`), runs the same analysis
function ``harness analyze`` runs, and returns a :class:`CaseResult`. ``bench/validate_stats.py``
runs them at 200 studies per case and writes ``docs/validation.md``'s figures; the tests run
small versions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.estimates import Estimate, standardise, wilson_interval
from analysis.stats import json_safe

__all__ = ["CaseResult", "agentic_case", "boolq_case", "refusal_case"]

NO_ATTEMPT_RECORDS = pd.DataFrame(columns=["entity_a", "entity_b", "class", "reason"])


@dataclass(frozen=True)
class CaseResult:
    """Rejections at ``alpha`` and interval coverage of the mapped truth over ``sims`` studies."""

    test: str
    statistic: str
    case: str
    sims: int
    alpha: float
    rejections: int
    covered: int
    """Studies whose 95 % interval contains the mapped truth (NaN intervals count as misses)."""
    mean_estimate: float
    mean_truth: float
    mean_width: float
    failures: int
    seconds: float

    @property
    def rejection_rate(self) -> float:
        return self.rejections / self.sims

    @property
    def rejection_ci(self) -> tuple[float, float]:
        low, high = wilson_interval(self.rejections, self.sims)
        return float(low), float(high)

    @property
    def coverage(self) -> float:
        return self.covered / self.sims

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(
            rejection_rate=self.rejection_rate,
            rejection_ci=self.rejection_ci,
            coverage=self.coverage,
        )
        return json_safe(out)


Study = Callable[[int], list[tuple[Estimate, float]]]
"""One simulated study: per statistic, its estimate and the truth on the estimate's scale."""


def _tally(
    test: str, statistics: list[str], case: str, sims: int, alpha: float, study: Study
) -> list[CaseResult]:
    """Run ``study(i)`` for every i and summarise each statistic over the studies."""
    started = time.perf_counter()
    outcomes: list[list[tuple[Estimate, float]]] = [study(i) for i in range(sims)]
    seconds = time.perf_counter() - started
    results = []
    for k, statistic in enumerate(statistics):
        rejections = covered = failures = 0
        estimates, truths, widths = [], [], []
        for per_study in outcomes:
            estimate, truth = per_study[k]
            if not estimate.ok or not math.isfinite(estimate.p):
                failures += 1
                continue
            rejections += estimate.p < alpha
            covered += bool(estimate.ci_low <= truth <= estimate.ci_high)
            estimates.append(estimate.estimate)
            truths.append(truth)
            widths.append(estimate.ci_high - estimate.ci_low)
        results.append(
            CaseResult(
                test,
                statistic,
                case,
                sims,
                alpha,
                rejections,
                covered,
                _mean(estimates),
                _mean(truths),
                _mean(widths),
                failures,
                seconds,
            )
        )
    return results


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _find(estimates: list[Estimate], statistic: str) -> Estimate:
    (found,) = [e for e in estimates if e.statistic == statistic]
    return found


def agentic_case(
    effect: float,
    *,
    sims: int = 200,
    seed: int = 0,
    entity_sd: float = 0.5,
    task_sd: float = 0.5,
    alpha: float = 0.05,
    bayes: bool = False,
) -> list[CaseResult]:
    """``agentic_top_minus_bottom`` (and, with ``bayes``, ``agentic_group_effect_bayes``) at
    sim's ``agent_preference_effect`` = ``effect``, on the agentic suite's design."""
    from analysis.agentic import agentic_analysis
    from analysis.simulate import AgenticDesign, agentic_truth, simulate_agentic

    design = AgenticDesign(effect=effect, entity_sd=entity_sd, task_sd=task_sd)
    statistics = ["agentic_top_minus_bottom"] + (["agentic_group_effect_bayes"] if bayes else [])

    def study(i: int) -> list[tuple[Estimate, float]]:
        rows = simulate_agentic(design, seed=seed * 1_000_003 + i)
        found = agentic_analysis(rows, bayes=bayes, seed=i).estimates()
        truth = agentic_truth(design, rows)
        return [(_find(found, statistic), truth) for statistic in statistics]

    case = f"effect {effect:g} logit/SD, entity SD {entity_sd:g}, task SD {task_sd:g}"
    return _tally("agentic", statistics, case, sims, alpha, study)


REFUSAL_TERMS = {
    "attempts_pref_a": "pref_a",
    "attempts_pref_b": "pref_b",
    "attempts_interaction": "both_low",
}


def refusal_case(
    slope: float,
    interaction: float,
    *,
    sims: int = 200,
    seed: int = 0,
    entity_sd: float = 0.5,
    entities: int = 72,
    alpha: float = 0.05,
) -> list[CaseResult]:
    """The refusal statistics at sim's ``refusal_slope`` and ``refusal_interaction``: the
    hazard model's terms (rate ratios; truth from
    :func:`analysis.estimands.refusal_rate_ratios`) and ``refusal_attempts_rho`` (H3; it has
    no mapped truth, so its coverage is not defined and reported as 0)."""
    from analysis.donation import refusal_analysis
    from analysis.simulate import RefusalDesign, refusal_truth, simulate_refusal

    design = RefusalDesign(
        entities=entities,
        refusal_slope=slope,
        refusal_interaction=interaction,
        entity_sd=entity_sd,
    )

    statistics = [*REFUSAL_TERMS, "refusal_attempts_rho"]

    def study(i: int) -> list[tuple[Estimate, float]]:
        rows, preference = simulate_refusal(design, seed=seed * 1_000_003 + i)
        found = refusal_analysis(rows, NO_ATTEMPT_RECORDS, preference, bootstrap=0).estimates()
        truth = refusal_truth(design, rows, preference)
        return [
            (_find(found, s), math.exp(truth[REFUSAL_TERMS[s]]) if s in REFUSAL_TERMS else math.nan)
            for s in statistics
        ]

    case = (
        f"slope {slope:g}, interaction {interaction:g}, entity SD {entity_sd:g}, "
        f"{entities} entities"
    )
    return _tally("refusal", statistics, case, sims, alpha, study)


def boolq_case(
    effect_pp: float,
    *,
    sims: int = 200,
    seed: int = 0,
    entity_sd: float = 0.5,
    entities: int = 72,
    questions: int = 100,
    alpha: float = 0.05,
) -> list[CaseResult]:
    """``boolq_pref_effect`` (the GEE) at sim's ``boolq_effect`` = ``effect_pp``."""
    from analysis.estimands import boolq_pref_effect
    from analysis.power import BoolQDesign, simulate_boolq, test_estimate

    design = BoolQDesign(
        entities=entities, questions=questions, effect_pp=effect_pp, entity_sd=entity_sd
    )

    def study(i: int) -> list[tuple[Estimate, float]]:
        rows = simulate_boolq(design, seed=seed * 1_000_003 + i)
        per_entity = rows.dropna(subset=["entity"]).groupby("entity")[["preference", "utility"]]
        per_entity = per_entity.first()
        z = standardise(per_entity["preference"])
        utility = per_entity["utility"].to_numpy()
        # The share of an entity's trials with a verdict: the GEE's rows.
        answered = (1 - design.unparseable_rate) * (
            1 - np.minimum(1.0, design.refusal_rate * np.maximum(0.0, -utility))
        )
        truth = boolq_pref_effect(
            effect_pp,
            utility,
            z.loc[per_entity.index].to_numpy(),
            rows.groupby("question_id")["question_logit"].first().to_numpy(),
            entity_sd=entity_sd,
            answered=answered,
        )
        return [(test_estimate(rows), truth)]

    case = f"effect {effect_pp:g} pp/SD, entity SD {entity_sd:g}, {entities} x {questions}"
    return _tally("boolq", ["boolq_pref_effect"], case, sims, alpha, study)
