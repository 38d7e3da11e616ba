"""Preference analysis for one model: Bradley–Terry and Elo scores on one scale, direct-ranking
scores, their consistency, and the statistics the results table reports about them.

This module composes :mod:`analysis.preferences` (which does the fitting) into one result.
The Bradley–Terry score (Elo scale) is the model's *preference score* that every downstream
analysis correlates with; Elo is reported alongside as the paper's method, and the Spearman
correlation between the two shows that the choice does not matter.

Statistics:

* ``consistency_rho``: Spearman between pairwise BT scores and direct-ranking scores (the
  paper's consistency measure, 0.91–0.92 there), bootstrap CI over entities.
* ``elo_bt_rho``: Spearman between Elo and BT scores (descriptive; expected near 1).
* ``split_half_reliability``: Spearman–Brown corrected split-half reliability of BT scores.
* ``position_bias``: share of parsed pairwise answers choosing option A, exact binomial test
  against 0.5 (the estimate is reported as share minus 0.5, so 0 means no bias).
* ``intransitive_rate``: share of cyclic majority triads (descriptive).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.estimates import Estimate, failed, from_correlation
from analysis.preferences import (
    BTResult,
    ConsistencyReport,
    bradley_terry,
    consistency,
    elo_scores,
    ranking_scores,
)
from analysis.stats import DegenerateInputError, json_safe, spearman

__all__ = ["PreferenceAnalysis", "preference_analysis"]


@dataclass(frozen=True)
class PreferenceAnalysis:
    """BT, Elo and ranking scores of one model, merged per entity, and their consistency."""

    table: pd.DataFrame
    """entity, bt, bt_ci_low, bt_ci_high, elo, ranking_score, mean_rank (NaN where a method has
    no data), sorted by bt."""
    bt: BTResult = field(repr=False)
    consistency: ConsistencyReport | None = field(repr=False)
    estimates_list: list[Estimate]
    notes: list[str]

    @property
    def scores(self) -> pd.Series:
        """The preference score per entity (BT on the Elo scale), for downstream analyses."""
        return self.table.set_index("entity")["bt"].dropna().rename("preference")

    def estimates(self) -> list[Estimate]:
        return list(self.estimates_list)

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "table": self.table,
                "consistency": None if self.consistency is None else self.consistency.to_dict(),
                "position_bias_elo": self.bt.position_bias,
                "estimates": [e.to_dict() for e in self.estimates_list],
                "notes": self.notes,
            }
        )


def preference_analysis(
    pairwise: pd.DataFrame,
    ranking: pd.DataFrame | None = None,
    *,
    bootstrap: int = 200,
    consistency_bootstrap: int = 1000,
    seed: int = 0,
) -> PreferenceAnalysis:
    """Score one model's elicitation and summarise its consistency.

    ``pairwise`` and ``ranking`` are in the shapes :mod:`analysis.preferences` documents
    (``ranking`` long: sample, entity, rank; None or empty when the run had no ranking).

    Raises:
        DegenerateInputError: no parsed pairwise comparisons between 2+ entities (without BT
            scores there is nothing to analyse); other degenerate parts become notes.
    """
    bt = bradley_terry(pairwise, bootstrap=bootstrap, seed=seed)
    notes: list[str] = []
    estimates: list[Estimate] = []
    table = bt.scores[["entity", "score", "ci_low", "ci_high"]].rename(
        columns={"score": "bt", "ci_low": "bt_ci_low", "ci_high": "bt_ci_high"}
    )
    elo = elo_scores(pairwise, seed=seed)
    table["elo"] = table["entity"].map(elo)
    rank_table = None
    if ranking is not None and not ranking.empty:
        try:
            rank_table = ranking_scores(ranking).set_index("entity")
        except (DegenerateInputError, ValueError) as error:
            notes.append(f"ranking scores unavailable: {error}")
    table["ranking_score"] = (
        table["entity"].map(rank_table["score"]) if rank_table is not None else math.nan
    )
    table["mean_rank"] = (
        table["entity"].map(rank_table["mean_rank"]) if rank_table is not None else math.nan
    )
    report = None
    try:
        report = consistency(
            pairwise,
            ranking if rank_table is not None else None,
            seed=seed,
            bootstrap=consistency_bootstrap,
        )
    except (DegenerateInputError, ValueError) as error:
        notes.append(f"consistency diagnostics unavailable: {error}")
    method = "Spearman: pairwise BT vs direct-ranking score, bootstrap CI over entities"
    if report is not None and report.method_agreement is not None:
        estimates.append(
            from_correlation("consistency_rho", report.method_agreement, method=method)
        )
    else:
        why = "no direct-ranking answers" if rank_table is None else "consistency failed"
        estimates.append(failed("consistency_rho", why, units="Spearman rho", method=method))
    try:
        scored = table.set_index("entity")
        result = spearman(scored["elo"], scored["bt"], bootstrap=0)
        estimates.append(
            from_correlation("elo_bt_rho", result, method="Spearman: Elo vs BT scores")
        )
    except DegenerateInputError as error:
        estimates.append(failed("elo_bt_rho", str(error), units="Spearman rho"))
    if report is not None:
        estimates.append(
            Estimate(
                "split_half_reliability",
                report.split_half_reliability,
                n=report.n_splits,
                units="Spearman-Brown r",
                method=f"split-half BT Spearman over {report.split_unit}s, corrected",
            )
        )
        estimates.append(
            Estimate(
                "position_bias",
                report.position_bias_rate - 0.5,
                p=report.position_bias_p,
                n=report.n_parsed,
                units="share choosing A minus 0.5",
                method="exact binomial test against 0.5",
            )
        )
        estimates.append(
            Estimate(
                "intransitive_rate",
                report.intransitive_rate,
                n=report.n_triads,
                units="share of triads",
                method="cyclic majority triads (random: 0.25)",
            )
        )
    if bt.n_unparseable:
        notes.append(f"{bt.n_unparseable} unparseable pairwise answer(s) excluded")
    return PreferenceAnalysis(
        table=table.reset_index(drop=True),
        bt=bt,
        consistency=report,
        estimates_list=estimates,
        notes=notes,
    )
