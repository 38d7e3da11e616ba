"""Fast, vectorised stand-ins for ``sim``'s agentic and refusal behaviour at the data-frame
level, for validating the statistics over hundreds of simulated studies (BoolQ's is
:func:`analysis.power.simulate_boolq`).

Each simulator uses sim's knobs with the same meaning and defaults, adds what sim does not have
but real models do (``entity_sd``: entity log-odds that preference does not explain;
``task_sd``: tasks of different difficulty), and replaces the elicitation by its result:
the estimated preference is the planted utility plus Gaussian error of SD
``preference_noise`` (0.2 gives the Spearman of about 0.98 with the truth that sim's default
elicitation reaches), on the Elo scale. Draws come from numpy, not from sim's hash of the
seed and call key, so a simulated study has sim's design and behaviour, not the same sample
as a ``harness run``. The rows have the columns the per-probe analyses read, plus the planted
truth (``utility``...) for :mod:`analysis.estimands`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from analysis.preferences import ELO_CENTER, ELO_PER_LOGIT

__all__ = [
    "AgenticDesign",
    "RefusalDesign",
    "agentic_truth",
    "refusal_truth",
    "simulate_agentic",
    "simulate_refusal",
]


@cache
def _sim_defaults() -> dict[str, float]:
    from harness.sim._knobs import SimKnobs
    from harness.sim.agentic import AgentKnobs
    from harness.sim.donation import DonationKnobs

    base, agent, donation = SimKnobs(), AgentKnobs(), DonationKnobs()
    return {
        "choice_noise": base.choice_noise,
        "base_success": agent.agent_base_success,
        "refusal_base": donation.refusal_base,
        "refusal_slope": donation.refusal_slope,
        "refusal_interaction": donation.refusal_interaction,
    }


def _names(n: int) -> np.ndarray:
    return np.array([f"entity-{i:03d}" for i in range(n)], dtype=object)


def _preferences(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Planted utilities and their estimate on the Elo scale (what an elicitation gives)."""
    utility = rng.normal(size=n)
    estimated = utility + (rng.normal(scale=noise, size=n) if noise else 0.0)
    return utility, ELO_CENTER + ELO_PER_LOGIT * estimated / _sim_defaults()["choice_noise"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class AgenticDesign:
    """The agentic suite's design (``--top-k`` entities per group, tasks, phrasings, a neutral
    control per task and epoch) and the subject's behaviour: sim's
    ``agent_preference_effect`` (``effect``, log-odds per SD of utility) and
    ``agent_base_success``."""

    entities: int = 72
    top_k: int = 5
    tasks: int = 14
    phrasings: int = 3
    epochs: int = 1
    effect: float = 0.0
    base_success: float = _sim_defaults()["base_success"]
    task_sd: float = 0.0
    entity_sd: float = 0.0
    preference_noise: float = 0.2


def simulate_agentic(design: AgenticDesign, seed: int = 0) -> pd.DataFrame:
    """One simulated agentic run as probe-shaped rows (``task_id``, ``entity``, ``group``,
    ``preference``, ``passed``, ``template_id``, ``epoch``, ``status``) plus the truth
    (``utility``, ``task_logit``)."""
    rng = np.random.default_rng(seed)
    utility, preference = _preferences(rng, design.entities, design.preference_noise)
    order = np.argsort(-preference, kind="stable")
    chosen = np.concatenate([order[: design.top_k], order[-design.top_k :]])
    group = np.array(["top"] * design.top_k + ["bottom"] * design.top_k, dtype=object)
    offset = (
        rng.normal(scale=design.entity_sd, size=len(chosen))
        if design.entity_sd
        else np.zeros(len(chosen))
    )
    centre = np.log(design.base_success / (1.0 - design.base_success))
    task_logit = centre + (
        rng.normal(scale=design.task_sd, size=design.tasks)
        if design.task_sd
        else np.zeros(design.tasks)
    )
    # Slots per task and epoch: every chosen entity in every phrasing, then the neutral control.
    slots = len(chosen) * design.phrasings + 1
    n = design.tasks * design.epochs * slots
    task = np.repeat(np.arange(design.tasks), design.epochs * slots)
    epoch = np.tile(np.repeat(np.arange(design.epochs), slots), design.tasks)
    slot = np.tile(np.arange(slots), design.tasks * design.epochs)
    is_entity = slot < slots - 1
    member = np.where(is_entity, slot // design.phrasings, 0)
    shift = design.effect * utility[chosen][member] + offset[member]
    eta = task_logit[task] + np.where(is_entity, shift, 0.0)
    passed = rng.random(n) < _sigmoid(eta)
    names = _names(design.entities)
    phrasing = np.where(is_entity, slot % design.phrasings, 0)
    return pd.DataFrame(
        {
            "task_id": np.array([f"task-{t:02d}" for t in range(design.tasks)], object)[task],
            "entity": np.where(is_entity, names[chosen][member], None),
            "group": np.where(is_entity, group[member], "neutral"),
            "preference": np.where(is_entity, preference[chosen][member], np.nan),
            "passed": passed,
            "template_id": np.where(is_entity, [f"agentic-behalf-{p}" for p in phrasing], "n"),
            "epoch": epoch,
            "status": "ok",
            "utility": np.where(is_entity, utility[chosen][member], np.nan),
            "task_logit": task_logit[task],
        }
    )


def agentic_truth(design: AgenticDesign, rows: pd.DataFrame) -> float:
    """The pp difference the run's ``agentic_top_minus_bottom`` estimates (see
    :func:`analysis.estimands.agentic_top_minus_bottom`)."""
    from analysis.estimands import agentic_top_minus_bottom

    entities = rows.dropna(subset=["entity"]).groupby("entity")[["group", "utility"]].first()
    tasks = rows.groupby("task_id")["task_logit"].first().to_numpy()
    return agentic_top_minus_bottom(
        design.effect,
        entities.loc[entities["group"] == "top", "utility"].to_numpy(),
        entities.loc[entities["group"] == "bottom", "utility"].to_numpy(),
        base_success=design.base_success,
        task_logits=tasks,
        entity_sd=design.entity_sd,
    )


@dataclass(frozen=True)
class RefusalDesign:
    """The advice suite's refusal measure (every ordered pair, ``samples`` times, each query
    retried until a valid answer or ``max_attempts``) with sim's donation refusal knobs."""

    entities: int = 72
    samples: int = 1
    max_attempts: int = 100
    refusal_base: float = _sim_defaults()["refusal_base"]
    refusal_slope: float = _sim_defaults()["refusal_slope"]
    refusal_interaction: float = _sim_defaults()["refusal_interaction"]
    entity_sd: float = 0.0
    preference_noise: float = 0.2


def simulate_refusal(design: RefusalDesign, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Donation queries (``entity_a``, ``entity_b``, ``attempts``, ``valid``, ``cap_reached``,
    ``recommended``, ``status``, truth ``utility_a``, ``utility_b``) and the estimated
    preference per entity (Elo scale)."""
    rng = np.random.default_rng(seed)
    n = design.entities
    utility, preference = _preferences(rng, n, design.preference_noise)
    offset = rng.normal(scale=design.entity_sd, size=n) if design.entity_sd else np.zeros(n)
    a, b = np.nonzero(~np.eye(n, dtype=bool))
    a, b = np.tile(a, design.samples), np.tile(b, design.samples)
    ua, ub = utility[a], utility[b]
    eta = (
        design.refusal_base
        - design.refusal_slope * (ua + ub) / 2.0
        + design.refusal_interaction * np.maximum(0.0, -ua) * np.maximum(0.0, -ub)
        + offset[a]
        + offset[b]
    )
    first_valid = rng.geometric(1.0 - _sigmoid(eta))
    valid = first_valid <= design.max_attempts
    names = _names(n)
    rows = pd.DataFrame(
        {
            "entity_a": names[a],
            "entity_b": names[b],
            "attempts": np.minimum(first_valid, design.max_attempts),
            "valid": valid,
            "cap_reached": ~valid,
            "recommended": np.where(valid, names[a], None),
            "status": "ok",
            "utility_a": ua,
            "utility_b": ub,
        }
    )
    return rows, pd.Series(preference, index=names, name="preference")


def refusal_truth(
    design: RefusalDesign, rows: pd.DataFrame, preference: pd.Series
) -> dict[str, float]:
    """The log rate ratios the refusal hazard model estimates (see
    :func:`analysis.estimands.refusal_rate_ratios`)."""
    from analysis.estimands import refusal_rate_ratios
    from analysis.estimates import standardise

    z = standardise(preference)
    return refusal_rate_ratios(
        rows["utility_a"].to_numpy(),
        rows["utility_b"].to_numpy(),
        rows["entity_a"].map(z).to_numpy(),
        rows["entity_b"].map(z).to_numpy(),
        refusal_base=design.refusal_base,
        refusal_slope=design.refusal_slope,
        refusal_interaction=design.refusal_interaction,
        max_attempts=design.max_attempts,
    )
