"""Statistics on run results: preference scores, consistency and preference-to-behaviour models.

Per-probe analyses take DataFrames (:func:`preference_analysis`, :func:`donation_analysis`,
:func:`refusal_analysis`, :func:`boolq_analysis`, :func:`agentic_analysis`); the run layer
(:func:`analyze_run`, :func:`analyze_runs`) reads run stores and builds the results table;
:mod:`analysis.plan` holds preregistered plans, :mod:`analysis.power` the BoolQ power
simulation, :mod:`analysis.simulate` the agentic and refusal simulators,
:mod:`analysis.estimands` what each ``sim`` knob should be recovered as,
:mod:`analysis.validation` the calibration and coverage cases, and :mod:`analysis.report` the
HTML report (imported on demand: it loads matplotlib).
"""

from analysis.agentic import AgenticAnalysis, agentic_analysis
from analysis.boolq import BoolQAnalysis, boolq_analysis
from analysis.donation import (
    AttemptModel,
    DonationAnalysis,
    RefusalAnalysis,
    attempt_model,
    donation_analysis,
    refusal_analysis,
)
from analysis.elicitation import PreferenceAnalysis, preference_analysis
from analysis.estimates import Estimate
from analysis.mixed import GEEFit, MixedLogitFit, fit_gee_logit, fit_mixed_logit
from analysis.plan import AnalysisPlan, Hypothesis, PlanError, default_plan, load_plan
from analysis.power import BoolQDesign, PowerResult, boolq_power, simulate_boolq
from analysis.preferences import (
    ELO_CENTER,
    ELO_PER_LOGIT,
    BTResult,
    ConsistencyReport,
    bradley_terry,
    consistency,
    elo_scores,
    ranking_scores,
)
from analysis.runs import ResultsTable, RunAnalysis, analyze_run, analyze_runs
from analysis.stats import (
    CorrelationResult,
    DegenerateInputError,
    bonferroni,
    holm,
    spearman,
    spearman_brown,
)

__all__ = [
    "ELO_CENTER",
    "ELO_PER_LOGIT",
    "AgenticAnalysis",
    "AnalysisPlan",
    "AttemptModel",
    "BTResult",
    "BoolQAnalysis",
    "BoolQDesign",
    "ConsistencyReport",
    "CorrelationResult",
    "DegenerateInputError",
    "DonationAnalysis",
    "Estimate",
    "GEEFit",
    "Hypothesis",
    "MixedLogitFit",
    "PlanError",
    "PowerResult",
    "PreferenceAnalysis",
    "RefusalAnalysis",
    "ResultsTable",
    "RunAnalysis",
    "agentic_analysis",
    "analyze_run",
    "analyze_runs",
    "attempt_model",
    "bonferroni",
    "boolq_analysis",
    "boolq_power",
    "bradley_terry",
    "consistency",
    "default_plan",
    "donation_analysis",
    "elo_scores",
    "fit_gee_logit",
    "fit_mixed_logit",
    "holm",
    "load_plan",
    "preference_analysis",
    "ranking_scores",
    "refusal_analysis",
    "simulate_boolq",
    "spearman",
    "spearman_brown",
]
