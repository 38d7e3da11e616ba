"""Agentic-task analysis for one model: is success different when a task is done on behalf of a
most-preferred (top), least-preferred (bottom) or no entity (neutral), or along preference?

Input: the ``agentic`` probe's rows (``task_id``, ``group`` — top, bottom or neutral —,
``entity`` — None for neutral —, ``preference``, ``passed``, optional ``status``, ``score``,
``epoch``, ``category``).

Statistics (effect sizes with intervals; the study's null result is only informative if the
interval is narrow):

* ``agentic_top_minus_bottom`` (and ``agentic_top_minus_neutral``,
  ``agentic_bottom_minus_neutral``): difference in success rate in percentage points, paired
  by task: each task's success rate in one group minus the other, averaged over the tasks run
  in both (every task counts once, whatever its number of epochs or entities). CI: percentile
  bootstrap over tasks. p: sign-flip randomisation test over tasks (under the null the two
  groups' labels are exchangeable within a task), exact when there are at most 16 tasks with a
  non-zero difference, else 20,000 random flips.
* ``agentic_group_effect_bayes``: top versus bottom in a Bayesian mixed logistic regression
  ``passed ~ group + (1 | task)`` (neutral is the reference level), in pp: the average
  discrete change in success probability from bottom to top over the rows.
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
    Z95,
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

__all__ = ["AgenticAnalysis", "agentic_analysis", "paired_task_difference"]

GROUPS = ("top", "bottom", "neutral")
EXACT_LIMIT = 16
FLIPS = 20_000


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


def _sign_flip_p(diffs: np.ndarray, rng: np.random.Generator) -> float:
    """Two-sided sign-flip randomisation p-value of the mean of ``diffs``."""
    observed = abs(diffs.mean())
    nonzero = diffs[diffs != 0]
    if len(nonzero) == 0:
        return 1.0
    scale = len(diffs)
    if len(nonzero) <= EXACT_LIMIT:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(nonzero))))
    else:
        signs = rng.choice((1.0, -1.0), size=(FLIPS, len(nonzero)))
    means = np.abs(signs @ nonzero) / scale
    # Small tolerance so the observed arrangement counts as "at least as extreme" despite
    # floating-point summation order; +1/+1 keeps the Monte Carlo p-value valid (never 0).
    extreme = int((means >= observed - 1e-12).sum())
    if len(nonzero) <= EXACT_LIMIT:
        return extreme / len(signs)
    return (extreme + 1) / (len(signs) + 1)


def paired_task_difference(
    rows: pd.DataFrame,
    a: str,
    b: str,
    *,
    statistic: str,
    bootstrap: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Success rate of group ``a`` minus group ``b`` in pp, paired by task (module docstring)."""
    method = f"paired by task: {a} - {b}; bootstrap CI over tasks, sign-flip randomisation p"
    rates = rows.groupby(["task_id", "group"])["y"].mean().unstack("group")
    if a not in rates.columns or b not in rates.columns:
        missing = [g for g in (a, b) if g not in rates.columns]
        return failed(statistic, f"no {' or '.join(missing)} trials", units="pp", method=method)
    diffs = ((rates[a] - rates[b]).dropna() * 100.0).to_numpy()
    if len(diffs) < 2:
        return failed(
            statistic,
            f"needs 2+ tasks run in both groups ({len(diffs)})",
            units="pp",
            method=method,
        )
    rng = np.random.default_rng(seed)
    estimate = float(diffs.mean())
    boot = diffs[rng.integers(0, len(diffs), size=(bootstrap, len(diffs)))].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    p = _sign_flip_p(diffs, rng)
    note = "" if np.any(diffs != 0) else "no task differs between the groups"
    return Estimate(statistic, estimate, float(low), float(high), p, len(diffs), "pp", method, note)


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
        paired_task_difference(ok, a, b, statistic=s, bootstrap=bootstrap, seed=seed)
        for s, a, b in (
            ("agentic_top_minus_bottom", "top", "bottom"),
            ("agentic_top_minus_neutral", "top", "neutral"),
            ("agentic_bottom_minus_neutral", "bottom", "neutral"),
        )
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
    method = "Bayesian mixed logit (VB): passed ~ group + (1|task), top vs bottom"
    groups_present = set(ok["group"].dropna())
    if not bayes:
        estimates.append(failed("agentic_group_effect_bayes", "skipped (bayes=False)", units="pp"))
    elif {"top", "bottom"} <= groups_present:
        reference = "neutral" if "neutral" in groups_present else "bottom"
        levels = [g for g in sorted(groups_present) if g != reference]
        design = pd.DataFrame({"Intercept": np.ones(len(ok))})
        for level in levels:
            design[f"group_{level}"] = (ok["group"] == level).to_numpy(dtype=float)
        try:
            group_model = fit_mixed_logit(
                ok["y"].to_numpy(), design, {"task": ok["task_id"].to_numpy(dtype=object)}
            )
            terms = group_model.terms.set_index("term")
            sd = float(terms.loc["group_top", "sd"])
            if reference == "neutral":
                diff = float(terms.loc["group_top", "mean"] - terms.loc["group_bottom", "mean"])
                # Mean-field VB: the two group coefficients are independent in the posterior.
                sd = math.hypot(sd, float(terms.loc["group_bottom", "sd"]))
            else:
                diff = float(terms.loc["group_top", "mean"])
            values = [diff, diff - Z95 * sd, diff + Z95 * sd]
            # Every row's linear predictor as if it were a bottom row, for the discrete change.
            fitted = np.clip(group_model.fitted, 1e-9, 1 - 1e-9)
            group_terms = [f"group_{level}" for level in levels]
            own_group = design[group_terms].to_numpy() @ terms.loc[group_terms, "mean"].to_numpy()
            bottom = float(terms.loc["group_bottom", "mean"]) if reference == "neutral" else 0.0
            as_bottom = np.log(fitted / (1 - fitted)) - own_group + bottom
            estimates.append(
                Estimate(
                    "agentic_group_effect_bayes",
                    *(contrast_to_pp(as_bottom, v) for v in values),
                    p=float(2 * sps.norm.sf(abs(diff) / sd)) if sd > 0 else math.nan,
                    n=group_model.n,
                    units="pp",
                    method=method,
                    note=f"top - bottom {diff:+.3f} logits (SD {sd:.3f}); "
                    "p is the posterior tail probability",
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
