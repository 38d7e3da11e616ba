"""Parse audit: how each probe's answers were read, what was read from them, a sample of raw
answers for every way of reading them, and whether the answers left unread are spread evenly
over the entities or pile up on the liked or the disliked ones.

A parse rate alone does not say whether parsing can be trusted: a parser that fails more often
on answers about disliked entities biases exactly the relationship the study measures, even at
a 98 % parse rate. The audit makes that visible, per probe:

* **methods**: answers by parse method (the vocabulary of :mod:`harness.parsing.methods`, plus
  ``extractor`` for answers an extractor model decided) and by what was read (the class):
  pairwise ``A`` / ``B`` / ``none``; ranking ``complete`` / ``partial`` (entities left out) /
  ``none``; BoolQ ``correct`` / ``wrong`` / ``refusal`` / ``unparseable``; donation attempts
  ``valid`` / ``hedge`` / ``refusal`` / ``unparseable``. When an extractor was used, a second
  table says which rule methods it was asked about and how often it decided.
* **samples**: up to ``samples`` raw answers per parse method, drawn with a fixed seed and
  spread evenly over the preference terciles (low, middle, high), so a reader sees what each
  method does on answers about disliked and liked entities alike.
* **terciles** and **trend**: the share of *undecided* answers by preference tercile, and a
  logistic regression of undecided (0/1) on the preference score in SD units, with standard
  errors clustered by the unit the score belongs to; the slope is the log-odds per SD, its
  exponent the odds ratio. A negative slope means answers about disliked entities are left
  unread more often. Both are taken over the answers that are not recognised refusals (nor,
  for donation, hedges): a model that refuses disliked entities more often leaves fewer of
  their answers to be read, which must not pass for a parser that reads them better.

Undecided means the rules found no answer *and* recognised no behaviour: parse methods
``ambiguous``, ``conflict``, ``unparseable`` and ``empty``. A recognised refusal is behaviour
the study measures (sim plants refusals that depend on preference), so it is reported beside
the undecided share, never inside it; for the same reason a donation hedge (method
``ambiguous``, class ``hedge``) is behaviour, and donation's undecided answers are the class
``unparseable`` (methods ``unparseable``, ``conflict``, ``empty``).

Preference strata: the pair's mean standardised preference for pairwise questions and donation
attempts, the entity's for BoolQ (entity framing only; the controls name no entity); rankings
name every entity at once and are not stratified. Tercile cut points are taken over the units
(each unordered pair, or each entity, counted once), so every tercile holds a third of them.

Inputs are DataFrames (a probe's sample rows, or the donation attempt records) and preference
scores per entity; :func:`audit_run` reads them from a run store.
"""

from __future__ import annotations

import math
import random
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.estimates import Z95, Estimate, failed, standardise
from analysis.stats import json_safe

__all__ = [
    "PROBES",
    "TERCILES",
    "UNDECIDED",
    "ProbeAudit",
    "RunAudit",
    "audit_probe",
    "audit_run",
    "parse_summary",
    "set_extracted_apart",
    "undecided_trend",
]

PROBES = ("pairwise", "ranking", "boolq", "donation")
TERCILES = ("low", "middle", "high")
UNDECIDED: dict[str, frozenset[str]] = {
    "pairwise": frozenset({"ambiguous", "conflict", "unparseable", "empty"}),
    "ranking": frozenset({"ambiguous", "conflict", "unparseable", "empty"}),
    "boolq": frozenset({"ambiguous", "conflict", "unparseable", "empty"}),
    "donation": frozenset({"conflict", "unparseable", "empty"}),
}
"""Per probe, the parse methods of answers the rules could not read (see the module doc)."""
CLASSES: dict[str, tuple[str, ...]] = {
    "pairwise": ("A", "B", "none"),
    "ranking": ("complete", "partial", "none"),
    "boolq": ("correct", "wrong", "refusal", "unparseable"),
    "donation": ("valid", "hedge", "refusal", "unparseable"),
}
MIN_CLUSTERS = 20
"""Fewer clusters than this and cluster-robust standard errors are unreliable: the trend test
then uses model-based ones and says so."""
TREND_UNITS = "log-odds of an undecided answer per SD of preference"


@dataclass(frozen=True)
class ProbeAudit:
    """The audit of one probe of one run (see the module doc)."""

    probe: str
    n: int
    """Answers audited (ok samples; donation: attempts)."""
    methods: pd.DataFrame
    """Index: parse method; columns: the probe's classes (counts), ``n`` and ``share``."""
    samples: pd.DataFrame
    """``parse_method``, ``tercile``, ``class``, ``trial_id`` (and ``attempt``), the entities,
    ``preference`` (the stratifying score, SD units) and ``text``."""
    stratified_by: str | None = None
    """``pair mean preference``, ``entity preference``, or None (not stratified)."""
    terciles: pd.DataFrame | None = None
    """Index: tercile; columns ``n``, ``refusal_share`` (donation: ``hedge_share`` too) of
    them, ``undecided`` and ``undecided_share`` of the answers that are not refusals (or
    hedges), ``score_low``, ``score_high``."""
    trend: Estimate | None = None
    """``undecided_trend``: log-odds of an undecided answer per SD of preference."""
    extracted: pd.DataFrame | None = None
    """With an extractor: index the rules' method, columns ``asked``, ``decided``, ``failed``."""
    notes: list[str] = field(default_factory=list)

    @property
    def undecided_share(self) -> float:
        undecided = self.methods.loc[self.methods.index.isin(UNDECIDED[self.probe]), "n"].sum()
        return float(undecided / self.n) if self.n else math.nan

    @property
    def odds_ratio(self) -> tuple[float, float, float]:
        """The trend as an odds ratio per SD, with its interval (NaN when not computed)."""
        if self.trend is None or not self.trend.ok:
            return (math.nan, math.nan, math.nan)
        return tuple(
            math.exp(v) for v in (self.trend.estimate, self.trend.ci_low, self.trend.ci_high)
        )  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "probe": self.probe,
                "n": self.n,
                "undecided_share": self.undecided_share,
                "methods": self.methods.reset_index(),
                "extracted": None if self.extracted is None else self.extracted.reset_index(),
                "stratified_by": self.stratified_by,
                "terciles": None if self.terciles is None else self.terciles.reset_index(),
                "trend": None if self.trend is None else self.trend.to_dict(),
                "odds_ratio": dict(
                    zip(("estimate", "ci_low", "ci_high"), self.odds_ratio, strict=True)
                ),
                "samples": self.samples,
                "notes": self.notes,
            }
        )


@dataclass
class RunAudit:
    """Every probe's audit of one run."""

    run_id: str
    model: str
    probes: dict[str, ProbeAudit]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "notes": self.notes,
            "probes": {name: audit.to_dict() for name, audit in self.probes.items()},
        }


# -- one probe ------------------------------------------------------------------------------
def _classes(probe: str, rows: pd.DataFrame) -> pd.Series:
    """What was read from each answer, on the probe's scale (see the module doc)."""
    if probe == "pairwise":
        return rows["choice"].where(rows["choice"].isin(["A", "B"]), "none")
    if probe == "ranking":
        ranked = pd.to_numeric(rows["n_ranked"], errors="coerce").fillna(0) > 0
        missing = rows["missing"].map(lambda m: len(m) if isinstance(m, list | tuple) else 0)
        return pd.Series(
            np.where(~ranked, "none", np.where(missing > 0, "partial", "complete")),
            index=rows.index,
        )
    if probe == "boolq":
        return rows["outcome"].astype(str)
    return rows["class"].astype(str)


def _method_table(probe: str, rows: pd.DataFrame) -> pd.DataFrame:
    from harness.parsing.methods import METHODS

    counts = pd.crosstab(rows["parse_method"], rows["class"])
    classes = [c for c in CLASSES[probe] if c in counts.columns]
    classes += [c for c in counts.columns if c not in classes]
    counts = counts.reindex(columns=classes, fill_value=0)
    order = [m for m in METHODS if m in counts.index] + [
        m for m in counts.index if m not in METHODS
    ]
    table = counts.reindex(order)
    table["n"] = table.sum(axis=1)
    table["share"] = table["n"] / table["n"].sum()
    table.index.name = "parse_method"
    table.columns.name = None
    return table


def _extracted_table(rows: pd.DataFrame) -> pd.DataFrame | None:
    if "extractor_status" not in rows.columns or "rules_parse_method" not in rows.columns:
        return None
    asked = rows[rows["extractor_status"].notna()]
    if asked.empty:
        return None
    status = asked["extractor_status"]
    table = pd.DataFrame(
        {
            "asked": asked.groupby("rules_parse_method").size(),
            "decided": (status == "decided").groupby(asked["rules_parse_method"]).sum(),
            "failed": (status == "failed").groupby(asked["rules_parse_method"]).sum(),
        }
    ).astype(int)
    table.index.name = "rules_parse_method"
    return table


def _scores(probe: str, rows: pd.DataFrame, z: pd.Series) -> tuple[pd.Series, pd.Series, str]:
    """Each row's stratifying score, its unit (the pair or the entity) and what it is."""
    if probe == "boolq":
        return rows["entity"].map(z), rows["entity"], "entity preference"
    score = (rows["entity_a"].map(z) + rows["entity_b"].map(z)) / 2
    unit = pd.Series(
        [
            "|".join(sorted((str(a), str(b))))
            for a, b in zip(rows["entity_a"], rows["entity_b"], strict=True)
        ],
        index=rows.index,
    )
    return score, unit, "pair mean preference"


def _terciles(score: pd.Series, unit: pd.Series) -> pd.Series:
    """Low / middle / high, with cut points over the units (each counted once)."""
    per_unit = score.groupby(unit).first()
    cuts = per_unit.quantile([1 / 3, 2 / 3]).to_list()
    if not cuts[0] < cuts[1]:
        # Too few distinct scores for three strata: split the units by rank instead.
        ranks = per_unit.rank(method="first")
        bins = pd.qcut(ranks, 3, labels=list(TERCILES))
        return unit.map(bins).astype(str)
    return pd.cut(
        score, [-math.inf, *cuts, math.inf], labels=list(TERCILES), include_lowest=True
    ).astype(str)


def undecided_trend(
    undecided: pd.Series, score: pd.Series, clusters: pd.Series | None = None
) -> Estimate:
    """Logistic regression of ``undecided`` (bool) on ``score`` (SD units): the slope in
    log-odds per SD with a 95 % Wald interval and two-sided p, standard errors clustered by
    ``clusters`` when there are at least :data:`MIN_CLUSTERS` of them."""
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    method = "logistic regression of undecided on the preference score (SD units)"
    keep = score.notna()
    y = undecided[keep].astype(float).to_numpy()
    x = score[keep].astype(float).to_numpy()
    n, events = len(y), int(y.sum())
    if n < 10:
        return failed("undecided_trend", f"only {n} answers with a score", units=TREND_UNITS)
    if events == 0:
        return failed("undecided_trend", "no undecided answers", units=TREND_UNITS, method=method)
    if events == n:
        return failed("undecided_trend", "every answer undecided", units=TREND_UNITS, method=method)
    if not np.std(x) > 0:
        return failed(
            "undecided_trend", "the score does not vary", units=TREND_UNITS, method=method
        )
    notes = []
    fit_kwargs: dict[str, Any] = {}
    groups = None if clusters is None else pd.factorize(clusters[keep])[0]
    if groups is not None and len(set(groups)) >= MIN_CLUSTERS:
        fit_kwargs = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
        method += ", standard errors clustered by pair or entity"
    else:
        method += ", model-based standard errors"
        if groups is not None:
            notes.append(f"only {len(set(groups))} clusters: model-based standard errors")
    if events < 5:
        notes.append(f"only {events} undecided answers: the test has little power")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            fit = sm.GLM(y, sm.add_constant(x), family=sm.families.Binomial()).fit(**fit_kwargs)
        except (ValueError, np.linalg.LinAlgError) as error:
            return failed(
                "undecided_trend", f"fit failed: {error}", units=TREND_UNITS, method=method
            )
    slope, se = float(fit.params[1]), float(fit.bse[1])
    if not (math.isfinite(slope) and math.isfinite(se)):
        return failed("undecided_trend", "fit did not converge", units=TREND_UNITS, method=method)
    return Estimate(
        "undecided_trend",
        slope,
        slope - Z95 * se,
        slope + Z95 * se,
        float(fit.pvalues[1]),
        n,
        units=TREND_UNITS,
        method=method,
        note="; ".join(notes),
    )


def _draw(
    rows: pd.DataFrame, per_method: int, seed: int, probe: str, stratified: bool
) -> pd.DataFrame:
    """Up to ``per_method`` rows per parse method, seeded, taken from the terciles in turn."""
    picked: list[Any] = []
    for method, group in rows.groupby("parse_method", sort=False):
        rng = random.Random(f"audit|{seed}|{probe}|{method}")
        if stratified:
            # Answers outside the strata (BoolQ controls) come last.
            pools = [list(group.index[group["tercile"] == t]) for t in (*TERCILES, "none")]
        else:
            pools = [list(group.index)]
        for pool in pools:
            rng.shuffle(pool)
        chosen: list[Any] = []
        while len(chosen) < per_method and any(pools):
            for pool in pools:
                if pool and len(chosen) < per_method:
                    chosen.append(pool.pop())
        picked.extend(chosen)
    columns = [
        c
        for c in (
            "parse_method",
            "tercile",
            "class",
            "trial_id",
            "attempt",
            "entity",
            "entity_a",
            "entity_b",
            "preference",
            "text",
        )
        if c in rows.columns
    ]
    return rows.loc[picked, columns].reset_index(drop=True)


def audit_probe(
    probe: str,
    rows: pd.DataFrame,
    preference: pd.Series | None = None,
    *,
    samples: int = 5,
    seed: int = 0,
) -> ProbeAudit:
    """Audit one probe's answers: ``rows`` are its sample rows (donation: the attempt
    records), ``preference`` the entity scores on any monotone scale (standardised here)."""
    if probe not in PROBES:
        raise ValueError(f"unknown probe {probe!r}; audited probes are {', '.join(PROBES)}")
    if samples < 0:
        raise ValueError("samples must be at least 0")
    notes: list[str] = []
    if "status" in rows.columns:
        failed_rows = int((rows["status"] != "ok").sum())
        rows = rows[rows["status"] == "ok"]
        if failed_rows:
            notes.append(f"{failed_rows} errored trial(s) left out")
    if "parse_method" not in rows.columns:
        raise ValueError(f"{probe} rows have no parse_method column (a run made before it existed)")
    rows = rows.assign(
        **{"class": _classes(probe, rows), "parse_method": rows["parse_method"].astype(str)}
    )
    stratified_by, terciles, trend = None, None, None
    if probe == "boolq" and "framing" in rows.columns:
        stratifiable = rows["framing"] == "entity"
    else:
        stratifiable = pd.Series(probe != "ranking", index=rows.index)
    z = None
    if probe != "ranking":
        try:
            z = standardise(preference) if preference is not None else None
        except ValueError as error:
            notes.append(f"not stratified by preference: {error}")
        if z is None and preference is None:
            notes.append("not stratified by preference: no preference scores")
    if z is not None and stratifiable.any():
        part = rows[stratifiable]
        score, unit, stratified_by = _scores(probe, part, z)
        unscored = int(score.isna().sum())
        if unscored:
            notes.append(
                f"{unscored} answer(s) about entities without a preference score left out of the terciles"
            )
        scored = score.notna()
        tercile = pd.Series("none", index=rows.index, dtype=object)
        tercile.loc[score[scored].index] = _terciles(score[scored], unit[scored])
        rows = rows.assign(tercile=tercile, preference=score.reindex(rows.index))
        undecided = part["parse_method"].isin(UNDECIDED[probe])
        behaviour = part["parse_method"] == "refusal"
        if probe == "donation":
            behaviour |= part["class"] == "hedge"
        terciles = _tercile_table(
            probe, part.assign(tercile=tercile, undecided=undecided, read=~behaviour), score
        )
        trend = undecided_trend(undecided[~behaviour], score[~behaviour], unit[~behaviour])
        if probe == "boolq" and (~stratifiable).any():
            notes.append(
                f"{int((~stratifiable).sum())} control answers (no entity) are not stratified"
            )
    else:
        rows = rows.assign(tercile="none")
    return ProbeAudit(
        probe=probe,
        n=len(rows),
        methods=_method_table(probe, rows),
        samples=_draw(rows, samples, seed, probe, stratified_by is not None),
        stratified_by=stratified_by,
        terciles=terciles,
        trend=trend,
        extracted=_extracted_table(rows),
        notes=notes,
    )


def _tercile_table(probe: str, rows: pd.DataFrame, score: pd.Series) -> pd.DataFrame:
    rows = rows[rows["tercile"] != "none"]
    grouped = rows.groupby("tercile")
    table = pd.DataFrame(
        {
            "n": grouped.size(),
            "undecided": grouped["undecided"].sum().astype(int),
            "undecided_share": grouped["undecided"].sum()
            / grouped["read"].sum().where(grouped["read"].sum() > 0),
            "refusal_share": grouped["parse_method"].apply(
                lambda m: float((m == "refusal").mean())
            ),
        }
    )
    if probe == "donation":
        table["hedge_share"] = grouped["class"].apply(lambda c: float((c == "hedge").mean()))
    bounds = score.groupby(rows["tercile"])
    table["score_low"], table["score_high"] = bounds.min(), bounds.max()
    table = table.reindex([t for t in TERCILES if t in table.index])
    table.index.name = "tercile"
    return table


# -- a run ----------------------------------------------------------------------------------
def audit_run(
    run: Any, *, probes: tuple[str, ...] | None = None, samples: int = 5, seed: int = 0
) -> RunAudit:
    """Audit every probe of ``run`` (a :class:`harness.store.Run`, a run id or a directory).

    Preferences are the run's own pairwise Bradley–Terry scores; a run without elicitation
    (BoolQ with ``--preferences RUN``) is stratified by the preference each BoolQ row records.
    """
    from analysis.preferences import bradley_terry
    from analysis.stats import DegenerateInputError
    from harness.config import model_label
    from harness.probes._preferences import pairwise_frame
    from harness.store import Run

    wanted = probes or PROBES
    unknown = [p for p in wanted if p not in PROBES]
    if unknown:
        raise ValueError(f"unknown probe {unknown[0]!r}; audited probes are {', '.join(PROBES)}")
    opened = run if isinstance(run, Run) else Run(run)
    try:
        meta = opened.meta
        result = RunAudit(
            run_id=str(meta.get("run_id", opened.directory.name)),
            model=model_label(meta.get("config", {})),
            probes={},
        )
        frames = {
            p: (opened.records("attempt") if p == "donation" else opened.samples(p)) for p in PROBES
        }
        preference = None
        pairwise = frames["pairwise"]
        if not pairwise.empty and "chosen" in pairwise.columns:
            try:
                preference = bradley_terry(pairwise_frame(pairwise), bootstrap=0).score
            except (DegenerateInputError, ValueError) as error:
                result.notes.append(f"no preference scores: {error}")
        for probe in wanted:
            rows = frames[probe]
            if rows.empty:
                continue
            scores = preference
            if scores is None and probe == "boolq" and "preference" in rows.columns:
                scores = rows.dropna(subset=["preference"]).groupby("entity")["preference"].first()
                scores = scores if len(scores) >= 2 else None
            try:
                result.probes[probe] = audit_probe(probe, rows, scores, samples=samples, seed=seed)
            except ValueError as error:
                result.notes.append(f"{probe}: not audited: {error}")
        if not result.probes and not result.notes:
            result.notes.append("no samples of an audited probe in this run")
        return result
    finally:
        if opened is not run:
            opened.close()


# -- extractor decisions in the analysis ----------------------------------------------------
_SECTIONS = {"pairwise": "preferences", "ranking": "preferences", "boolq": "boolq"}
"""Where the analysis reports a probe's notes (the donation probe feeds two sections)."""


def set_extracted_apart(
    frames: dict[str, pd.DataFrame], attempts: pd.DataFrame, *, exclude: bool
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, list[tuple[str, str]]]:
    """Count the samples an extractor model decided (``parse_method == "extractor"``) and,
    with ``exclude``, drop them: the sensitivity check of ``harness analyze
    --exclude-extracted``. A donation query is dropped with its attempt records when its
    valid answer was the extractor's reading.

    Returns the frames, the attempt records and ``(section, note)`` pairs saying what was
    included or excluded, for the analysis to report."""
    notes: list[tuple[str, str]] = []
    out = dict(frames)
    for probe, rows in frames.items():
        if rows.empty or "parse_method" not in rows.columns:
            continue
        ok = rows["status"] == "ok" if "status" in rows.columns else pd.Series(True, rows.index)
        decided = ok & (rows["parse_method"] == "extractor")
        count = int(decided.sum())
        if not count:
            continue
        sections = (
            ("donation", "refusal") if probe == "donation" else (_SECTIONS.get(probe, probe),)
        )
        if exclude:
            out[probe] = rows[~decided]
            if probe == "donation" and not attempts.empty:
                attempts = attempts[~attempts["trial_id"].isin(rows.loc[decided, "trial_id"])]
            text = (
                f"{count:,} of {int(ok.sum()):,} {probe} answers decided by the extractor "
                "model are excluded (--exclude-extracted)"
            )
        else:
            text = (
                f"{count:,} of {int(ok.sum()):,} {probe} answers were decided by the extractor "
                "model, not the rules; --exclude-extracted drops them as a sensitivity check"
            )
        notes.extend((section, text) for section in sections)
    return out, attempts, notes


def parse_summary(frames: dict[str, pd.DataFrame], attempts: pd.DataFrame) -> dict[str, float]:
    """A run's headline parse figures: per probe the share of ok answers read (a pick, a
    ranking, a verdict), and for donation the class shares of first attempts and the mean
    attempts per query. ``frames`` are the probes' sample rows, ``attempts`` the donation
    attempt records; probes without rows are left out."""
    out: dict[str, float] = {}

    def ok(rows: pd.DataFrame) -> pd.DataFrame:
        return rows[rows["status"] == "ok"] if "status" in rows.columns else rows

    read = {
        "pairwise": lambda r: r["choice"].isin(["A", "B"]),
        "ranking": lambda r: pd.to_numeric(r["n_ranked"], errors="coerce").fillna(0) > 0,
        "boolq": lambda r: r["outcome"].isin(["correct", "wrong"]),
    }
    for probe, is_read in read.items():
        rows = ok(frames.get(probe, pd.DataFrame()))
        if not rows.empty:
            out[f"{probe}_parse_rate"] = float(is_read(rows).mean())
    queries = ok(frames.get("donation", pd.DataFrame()))
    if not queries.empty:
        out["donation_mean_attempts"] = float(queries["attempts"].mean())
        first = attempts[
            (attempts["attempt"] == 1) & attempts["trial_id"].isin(queries["trial_id"])
        ]
        for klass in CLASSES["donation"]:
            out[f"donation_first_{klass}"] = float((first["class"] == klass).mean())
    return out
