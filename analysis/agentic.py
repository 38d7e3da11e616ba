"""Agentic-task analysis for one model: is success different when a task is done on behalf of a
most-preferred (top), least-preferred (bottom) or no entity (neutral), or along preference?

Input: the ``agentic`` probe's rows (``task_id``, ``group`` — top, bottom or neutral —,
``entity`` — None for neutral —, ``preference``, ``passed``, optional ``status``, ``score``,
``epoch``, ``category``).

Statistics (effect sizes with intervals; the study's null result is only informative if the
interval is narrow):

Preference varies between entities, not within them, and a run has only ``--top-k`` (5)
entities per group: the entities, not the tasks or trials, are the replicates. A test that
treated the 14 tasks as independent (the sign-flip test this module used to run) rejected a true
null 28/200 times at nominal 5 % when entities differ for reasons preference does not explain
(SD 0.5 logits); docs/validation.md has the figures for the tests below.

* ``agentic_top_minus_bottom`` (the confirmatory test): the top entities' mean success minus
  the bottom entities', in percentage points, each entity's success adjusted for the tasks it
  ran (:func:`entity_scores`; with every entity on every task, its plain rate, so the estimate
  equals the task-paired difference). p: permutation test over the ways to split the entities
  into the two groups (exact: C(10, 5) = 252 for --top-k 5). Interval: the shifts the test
  does not reject at 5 % (test inversion), so it excludes 0 exactly when p < 0.05; its width
  is in the note, and a non-significant result with an interval wider than 20 pp says it
  cannot rule out differences of that size. When every entity of each group has the same
  success there is no spread to estimate uncertainty from: no interval, and the note says so.
* ``agentic_top_minus_neutral``, ``agentic_bottom_minus_neutral``: the group's entities minus
  the neutral control, per entity over tasks, t interval with the entities' spread and the
  control's own binomial variance (:func:`neutral_difference`).
* ``agentic_group_effect_bayes``: top versus bottom in a Bayesian mixed logistic regression
  ``passed ~ top + (1 | task) + (1 | entity)`` on the entity rows, in pp (the average discrete
  change from bottom to top over the rows); the contrast's SD has the entity intercepts
  integrated out and a t interval with entities - 2 df (:mod:`analysis.mixed`).
* ``agentic_pref_effect_bayes``: ``passed ~ preference_z + (1 | task) + (1 | entity)`` on the
  entity rows, pp per SD of preference.
* ``agentic_success_rho``: Spearman of per-entity success rate against preference.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.estimates import (
    Estimate,
    completed,
    contrast_to_pp,
    failed,
    from_correlation,
    logit_to_pp,
    standardise,
    wilson_interval,
)
from analysis.mixed import MixedLogitFit, fit_mixed_logit
from analysis.stats import DegenerateInputError, json_safe, spearman

__all__ = [
    "AgenticAnalysis",
    "PermutationResult",
    "agentic_analysis",
    "entity_group_difference",
    "entity_scores",
    "neutral_difference",
    "permutation_difference",
]

GROUPS = ("top", "bottom", "neutral")
PERMUTATIONS = 20_000
"""Relabellings enumerated exactly up to this many (C(10, 5) = 252 for --top-k 5), else drawn."""
WIDE_NULL_PP = 20.0
"""A non-significant difference whose interval is wider than this (cannot exclude +-10 pp) is
reported as uninformative rather than as no effect."""


@dataclass(frozen=True)
class AgenticAnalysis:
    """Success by group and by preference, with paired task-level differences."""

    by_group: pd.DataFrame
    """group, n, successes, rate, ci_low, ci_high (Wilson), tasks."""
    per_entity: pd.DataFrame
    """entity, group, n, rate, preference, preference_z."""
    estimates_list: list[Estimate]
    group_model: MixedLogitFit | None = field(repr=False)
    preference_model: MixedLogitFit | None = field(repr=False)
    n_trials: int
    n_failed: int
    notes: list[str]

    def estimates(self) -> list[Estimate]:
        return list(self.estimates_list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "by_group": self.by_group,
                "per_entity": self.per_entity,
                "estimates": [e.to_dict() for e in self.estimates_list],
                "group_model": None if self.group_model is None else self.group_model.to_dict(),
                "preference_model": None
                if self.preference_model is None
                else self.preference_model.to_dict(),
                "n_trials": self.n_trials,
                "n_failed": self.n_failed,
                "notes": self.notes,
            }
        )


def entity_scores(rows: pd.DataFrame, groups: tuple[str, ...] = ("top", "bottom")) -> pd.DataFrame:
    """Per entity of ``groups``: its success rate in pp, adjusted for the tasks it ran (each
    task's rate for the entity minus that task's mean over every entity of ``groups``, averaged
    over the entity's tasks, plus the grand mean), and its group. With every entity running
    every task this is its plain success rate; the adjustment keeps a task that only some
    entities reached (an errored trial) from moving them."""
    part = rows[rows["group"].isin(groups)].dropna(subset=["entity"])
    rate = part.groupby(["entity", "task_id"])["y"].mean().unstack("task_id") * 100.0
    task_mean = rate.mean(axis=0)
    score = (rate - task_mean).mean(axis=1) + float(task_mean.mean())
    group = part.groupby("entity")["group"].first()
    return pd.DataFrame(
        {"group": group, "score": score, "tasks": rate.notna().sum(axis=1)}
    ).rename_axis("entity")


@dataclass(frozen=True)
class PermutationResult:
    """An entity-level permutation test of a difference in means, with its inverted interval."""

    estimate: float
    ci_low: float
    ci_high: float
    p: float
    arrangements: int
    exact: bool
    smallest_p: float
    """The smallest p-value any arrangement can give (at most 2 / arrangements for a
    two-sided test): with few entities the test may be unable to reject at all."""


def _relabellings(n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """Membership matrix of every way to pick ``k`` of ``n`` units for the first group (the
    observed one first), or of the observed one and ``PERMUTATIONS`` random ones when there
    are more than that."""
    total = math.comb(n, k)
    if total <= PERMUTATIONS:
        members = np.zeros((total, n), dtype=bool)
        for r, chosen in enumerate(itertools.combinations(range(n), k)):
            members[r, list(chosen)] = True
        # combinations() starts with the first k units: the observed labelling.
        return members, True
    members = np.zeros((PERMUTATIONS + 1, n), dtype=bool)
    members[0, :k] = True
    order = np.argsort(rng.random((PERMUTATIONS, n)), axis=1)[:, :k]
    np.put_along_axis(members[1:], order, True, axis=1)
    return members, False


def permutation_difference(
    a: np.ndarray, b: np.ndarray, *, alpha: float = 0.05, seed: int = 0
) -> PermutationResult:
    """Mean of ``a`` minus mean of ``b`` with a two-sided permutation p-value (relabelling
    units between the groups: exact up to ``PERMUTATIONS`` arrangements) and the interval of
    shifts the test does not reject at ``alpha`` (test inversion under a shift model), so the
    interval excludes 0 exactly when p < alpha."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ka, kb = len(a), len(b)
    values = np.concatenate([a, b])
    members, exact = _relabellings(ka + kb, ka, np.random.default_rng(seed))
    weights = np.where(members, 1.0 / ka, -1.0 / kb)
    stats = weights @ values
    # Shifting group a by d moves arrangement r's statistic by -d * its share of a's units.
    share = weights[:, :ka].sum(axis=1)
    observed = float(stats[0])
    tolerance = 1e-9 * max(1.0, float(np.abs(values).max()))

    def p_at(shift: float) -> float:
        extreme = np.abs(stats - shift * share) >= abs(observed - shift) - tolerance
        if exact:
            return float(extreme.mean())
        return float((extreme[1:].sum() + 1) / len(stats))

    def bound(direction: float) -> float:
        inside, outside = observed, observed + direction * (np.ptp(values) + 1.0) * 4.0
        for _ in range(60):
            middle = (inside + outside) / 2.0
            inside, outside = (middle, outside) if p_at(middle) > alpha else (inside, middle)
        return inside

    smallest = 2.0 / len(stats) if exact else 1.0 / len(stats)
    if smallest > alpha:
        low = high = math.nan
    else:
        low, high = bound(-1.0), bound(1.0)
    return PermutationResult(observed, low, high, p_at(0.0), len(stats), exact, smallest)


def _width_note(low: float, high: float, p: float, alpha: float = 0.05) -> str:
    """Say how wide an interval is and, for a null result with a wide one, what it cannot
    rule out: a non-significant difference is only evidence of no effect if it is narrow."""
    width = high - low
    note = f"interval {width:.0f} pp wide"
    if p >= alpha and width > WIDE_NULL_PP:
        bigger = max(abs(low), abs(high))
        note += (
            f"; not significant, but the data cannot rule out differences of up to "
            f"{bigger:.0f} pp: a null with an interval this wide is not evidence of no effect"
        )
    return note


def entity_group_difference(
    rows: pd.DataFrame, a: str, b: str, *, statistic: str, seed: int = 0
) -> Estimate:
    """Success of group ``a`` minus group ``b`` in pp over their entities (module docstring)."""
    method = (
        f"{a} - {b} over entities (task-adjusted success per entity); "
        "entity-level permutation test, interval by test inversion"
    )
    scores = entity_scores(rows, (a, b))
    sa = scores.loc[scores["group"] == a, "score"].to_numpy()
    sb = scores.loc[scores["group"] == b, "score"].to_numpy()
    if len(sa) < 2 or len(sb) < 2:
        return failed(
            statistic,
            f"needs 2+ entities in each group (have {len(sa)} {a}, {len(sb)} {b})",
            units="pp",
            method=method,
        )
    result = permutation_difference(sa, sb, seed=seed)
    tasks = rows.loc[rows["group"].isin((a, b)), "task_id"].nunique()
    kind = "exact" if result.exact else "Monte Carlo"
    note = f"{len(sa)} + {len(sb)} entities over {tasks} task(s); {kind} over {result.arrangements:,} relabellings"
    low, high = result.ci_low, result.ci_high
    if result.smallest_p > 0.05:
        note += (
            f"; with this few entities no arrangement gives p below {result.smallest_p:.2f}, "
            "so the test cannot reject and has no finite interval"
        )
    elif np.ptp(sa) == 0 and np.ptp(sb) == 0:
        low = high = math.nan
        note += (
            "; degenerate interval: the entities of each group have the same success, so there "
            "is no between-entity spread to estimate the uncertainty from (not a zero-width CI)"
        )
    else:
        note += "; " + _width_note(low, high, result.p)
    return Estimate(
        statistic, result.estimate, low, high, result.p, len(sa) + len(sb), "pp", method, note
    )


def neutral_difference(rows: pd.DataFrame, group: str, *, statistic: str) -> Estimate:
    """Success of ``group``'s entities minus the neutral control in pp: per entity, its mean
    over tasks of (its rate minus the neutral rate); t interval whose variance adds the
    spread over entities and the neutral control's own binomial variance (bounded above by
    p(1-p) / trials, which is conservative when tasks differ), Satterthwaite df."""
    method = (
        f"{group} - neutral over entities (per-task differences from the control); "
        "t interval with entity and control variance"
    )
    entity = rows[rows["group"] == group].dropna(subset=["entity"])
    neutral = rows[rows["group"] == "neutral"]
    if entity.empty or neutral.empty:
        missing = group if entity.empty else "neutral"
        return failed(statistic, f"no {missing} trials", units="pp", method=method)
    control = neutral.groupby("task_id")["y"].mean() * 100.0
    rate = entity.groupby(["entity", "task_id"])["y"].mean().unstack("task_id") * 100.0
    shared = [t for t in rate.columns if t in control.index]
    if not shared:
        return failed(statistic, "no task run both framings", units="pp", method=method)
    per_entity = (rate[shared] - control[shared]).mean(axis=1).dropna().to_numpy()
    k = len(per_entity)
    if k < 2:
        return failed(statistic, f"needs 2+ {group} entities ({k})", units="pp", method=method)
    mean_control = float(control[shared].mean()) / 100.0
    control_trials = int(neutral["task_id"].isin(shared).sum())
    v_entities = float(per_entity.var(ddof=1)) / k
    v_control = 1e4 * mean_control * (1 - mean_control) / control_trials
    se = math.sqrt(v_entities + v_control)
    estimate = float(per_entity.mean())
    note = f"{k} entities, {control_trials} control trial(s) over {len(shared)} task(s)"
    if se == 0:
        note += "; degenerate interval: no spread over entities and no control variance"
        return Estimate(statistic, estimate, math.nan, math.nan, math.nan, k, "pp", method, note)
    parts = [(v_entities, k - 1), (v_control, max(control_trials - 1, 1))]
    df = se**4 / sum(v**2 / d for v, d in parts if v > 0)
    crit = float(sps.t.ppf(0.975, df))
    low, high = estimate - crit * se, estimate + crit * se
    p = float(2 * sps.t.sf(abs(estimate) / se, df))
    note += "; " + _width_note(low, high, p)
    return Estimate(statistic, estimate, low, high, p, k, "pp", method, note)


def _by_group(ok: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for group in [g for g in GROUPS if g in set(ok["group"])] + sorted(
        set(ok["group"].dropna()) - set(GROUPS)
    ):
        part = ok[ok["group"] == group]
        k, n = float(part["y"].sum()), len(part)
        low, high = wilson_interval(k, n)
        rows.append(
            {
                "group": group,
                "n": n,
                "successes": int(k),
                "rate": k / n if n else math.nan,
                "ci_low": float(low),
                "ci_high": float(high),
                "tasks": part["task_id"].nunique(),
            }
        )
    return pd.DataFrame(
        rows, columns=["group", "n", "successes", "rate", "ci_low", "ci_high", "tasks"]
    )


def agentic_analysis(
    samples: pd.DataFrame,
    preference: pd.Series | None = None,
    *,
    bayes: bool = True,
    bootstrap: int = 2000,
    seed: int = 0,
) -> AgenticAnalysis:
    """Analyse one model's agentic trials (see the module docstring). Degenerate data become
    notes on the statistics; only a run without any completed trial raises
    (:class:`DegenerateInputError`)."""
    ok, n_failed = completed(samples, ("task_id", "group", "passed"), "agentic trials")
    notes = [f"{n_failed} failed trial(s) excluded"] if n_failed else []
    ok = ok[ok["passed"].notna()].copy()
    ok["y"] = ok["passed"].astype(bool).astype(float)
    if "entity" not in ok.columns:
        ok["entity"] = None
    by_group = _by_group(ok)
    estimates = [
        entity_group_difference(
            ok, "top", "bottom", statistic="agentic_top_minus_bottom", seed=seed
        ),
        neutral_difference(ok, "top", statistic="agentic_top_minus_neutral"),
        neutral_difference(ok, "bottom", statistic="agentic_bottom_minus_neutral"),
    ]
    # Preference per entity: the elicitation's scores when given, else the rows' own column.
    z = None
    try:
        if preference is None and "preference" in ok.columns:
            scored = ok.dropna(subset=["entity"])
            preference = (
                pd.to_numeric(scored["preference"], errors="coerce")
                .groupby(scored["entity"])
                .first()
                .dropna()
            )
        if preference is not None:
            z = standardise(preference)
    except ValueError as error:
        notes.append(f"no usable preference scores: {error}")
    entity_rows = ok.dropna(subset=["entity"])
    per_entity = (
        entity_rows.groupby("entity")
        .agg(group=("group", "first"), n=("y", "size"), rate=("y", "mean"))
        .reset_index()
    )
    per_entity["preference"] = (
        per_entity["entity"].map(preference) if preference is not None else math.nan
    )
    per_entity["preference_z"] = per_entity["entity"].map(z) if z is not None else math.nan

    group_model = pref_model = None
    method = (
        "Bayesian mixed logit (VB): passed ~ top + (1|task) + (1|entity) on top and bottom "
        "trials; entity-level t interval"
    )
    groups_present = set(ok["group"].dropna())
    if not bayes:
        estimates.append(failed("agentic_group_effect_bayes", "skipped (bayes=False)", units="pp"))
    elif {"top", "bottom"} <= groups_present:
        # Top versus bottom is a contrast between entities: with a handful per group the
        # entity intercepts carry most of its uncertainty, so they must be in the model
        # (without them a chance difference between ten entities reads as an effect).
        rows = ok[ok["group"].isin(("top", "bottom"))].dropna(subset=["entity"])
        design = pd.DataFrame(
            {"Intercept": 1.0, "top": (rows["group"] == "top").to_numpy(dtype=float)}
        )
        try:
            group_model = fit_mixed_logit(
                rows["y"].to_numpy(),
                design,
                {
                    "task": rows["task_id"].to_numpy(dtype=object),
                    "entity": rows["entity"].to_numpy(dtype=object),
                },
            )
            row = group_model.term("top")
            diff = float(row["mean"])
            # Every row's linear predictor as if it were a bottom row, for the discrete change.
            fitted = np.clip(group_model.fitted, 1e-9, 1 - 1e-9)
            as_bottom = np.log(fitted / (1 - fitted)) - design["top"].to_numpy() * diff
            estimates.append(
                Estimate(
                    "agentic_group_effect_bayes",
                    *(contrast_to_pp(as_bottom, v) for v in row[["mean", "ci_low", "ci_high"]]),
                    p=float(row["p_tail"]),
                    n=group_model.n,
                    units="pp",
                    method=method,
                    note=f"top - bottom {diff:+.3f} logits (SD {row['sd']:.3f}, t with "
                    f"{row['df']:.0f} df); p is the posterior tail probability",
                )
            )
        except (DegenerateInputError, ValueError, np.linalg.LinAlgError) as error:
            estimates.append(
                failed("agentic_group_effect_bayes", str(error), units="pp", method=method)
            )
    else:
        estimates.append(
            failed(
                "agentic_group_effect_bayes",
                "needs top and bottom trials",
                units="pp",
                method=method,
            )
        )

    method = "Bayesian mixed logit (VB): passed ~ preference_z + (1|task) + (1|entity)"
    if not bayes:
        estimates.append(
            failed("agentic_pref_effect_bayes", "skipped (bayes=False)", units="pp per SD")
        )
    elif z is None:
        estimates.append(
            failed(
                "agentic_pref_effect_bayes",
                "no preference scores",
                units="pp per SD",
                method=method,
            )
        )
    else:
        rows = entity_rows.assign(preference_z=entity_rows["entity"].map(z)).dropna(
            subset=["preference_z"]
        )
        design = pd.DataFrame({"Intercept": 1.0, "preference_z": rows["preference_z"].to_numpy()})
        try:
            pref_model = fit_mixed_logit(
                rows["y"].to_numpy(),
                design,
                {
                    "task": rows["task_id"].to_numpy(dtype=object),
                    "entity": rows["entity"].to_numpy(dtype=object),
                },
            )
            row = pref_model.term("preference_z")
            estimates.append(
                Estimate(
                    "agentic_pref_effect_bayes",
                    *(
                        logit_to_pp(v, pref_model.fitted)
                        for v in row[["mean", "ci_low", "ci_high"]]
                    ),
                    p=float(row["p_tail"]),
                    n=pref_model.n,
                    units="pp per SD",
                    method=method,
                    note=f"posterior mean {row['mean']:+.3f} (SD {row['sd']:.3f}) logits",
                )
            )
        except (DegenerateInputError, ValueError, np.linalg.LinAlgError) as error:
            estimates.append(
                failed("agentic_pref_effect_bayes", str(error), units="pp per SD", method=method)
            )

    method = "Spearman: per-entity success rate vs preference, bootstrap CI over entities"
    if z is None:
        estimates.append(failed("agentic_success_rho", "no preference scores", method=method))
    else:
        try:
            indexed = per_entity.set_index("entity")
            result = spearman(indexed["rate"], indexed["preference_z"], seed=seed)
            estimates.append(from_correlation("agentic_success_rho", result, method=method))
        except DegenerateInputError as error:
            estimates.append(
                failed("agentic_success_rho", str(error), units="Spearman rho", method=method)
            )
    return AgenticAnalysis(
        by_group=by_group,
        per_entity=per_entity,
        estimates_list=estimates,
        group_model=group_model,
        preference_model=pref_model,
        n_trials=len(ok),
        n_failed=n_failed,
        notes=notes,
    )
