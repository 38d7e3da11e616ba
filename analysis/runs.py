"""Analysing whole runs: every per-probe analysis of each run, gathered into one results table
with one row per model x probe x statistic, confirmatory labels from each run's preregistered
plan, and multiple-comparison corrections across models and probes.

This is the layer that knows the run store (:class:`harness.store.Run`); everything below it
works on DataFrames. Nothing here raises for a run with missing probes, failed samples or
degenerate data: those become notes (per run, and in the table's ``note`` column).

Confirmatory rows: a statistic is confirmatory when the plan its run was made under names it,
the run follows the plan's design (:meth:`analysis.plan.Design.problems`), none of the run's
answers came from the response cache, and the run is the one that supplies the hypothesis for
its model: the earliest such run of the hypothesis's suite (so a preference hypothesis is taken
from the advice run, not from every run that elicits preferences). Everything else is
exploratory, with a note saying why when a plan was involved.

Corrections: the confirmatory family of a plan is fixed by the plan, never by the runs
analysed: every hypothesis for every model it names (``m = plan.family_size``). A planned test
that no analysed run supplies (or that could not be computed) is a row with a note, and counts
in ``m`` as a test that did not reject (p = 1 for Holm). Exploratory rows form one family
across every model and probe. For a directional hypothesis the table's ``p`` is one-sided in
the planned direction; every other ``p`` is two-sided.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.agentic import AgenticAnalysis, agentic_analysis
from analysis.boolq import BoolQAnalysis, boolq_analysis
from analysis.donation import (
    DonationAnalysis,
    RefusalAnalysis,
    donation_analysis,
    refusal_analysis,
)
from analysis.elicitation import PreferenceAnalysis, preference_analysis
from analysis.estimates import Estimate, one_sided_p
from analysis.plan import AnalysisPlan, PlanError, plan_from_meta
from analysis.stats import DegenerateInputError, bonferroni, holm, json_safe
from harness.config import subject_label

__all__ = [
    "COLUMNS",
    "PROBES",
    "ResultsTable",
    "RunAnalysis",
    "analyze_run",
    "analyze_runs",
    "downstream_preference",
]

PROBES = ("preferences", "donation", "refusal", "boolq", "agentic")
"""Analysis sections, in table order (refusal is measured inside the donation probe)."""
COLUMNS = (
    "model",
    "run_id",
    "probe",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "p_bonferroni",
    "p_holm",
    "n",
    "confirmatory",
    "hypothesis",
    "plan_hash",
    "alternative",
    "supported",
    "family",
    "units",
    "method",
    "note",
)


@dataclass
class RunAnalysis:
    """Every analysis of one run (None for probes the run does not have)."""

    run_id: str
    directory: str
    model: str
    config: dict[str, Any]
    plan: AnalysisPlan | None
    plan_hash: str | None
    preferences: PreferenceAnalysis | None = None
    donation: DonationAnalysis | None = None
    refusal: RefusalAnalysis | None = None
    boolq: BoolQAnalysis | None = None
    agentic: AgenticAnalysis | None = None
    notes: dict[str, list[str]] = field(default_factory=dict)
    """Per section (a probe, or ``"run"``): why something is missing or was left out."""
    entity_names: dict[str, str] = field(default_factory=dict)
    created: str = ""
    not_confirmatory: list[str] = field(default_factory=list)
    """Why a run made under a plan cannot supply confirmatory tests (design differs from the
    plan's, answers from the response cache); empty when it can."""

    def note(self, section: str, text: str) -> None:
        self.notes.setdefault(section, []).append(text)

    def section(self, probe: str) -> Any:
        return getattr(self, probe)

    @property
    def probes(self) -> list[str]:
        """Sections with a result."""
        return [p for p in PROBES if self.section(p) is not None]

    def estimates(self) -> list[tuple[str, Estimate]]:
        return [(p, e) for p in self.probes for e in self.section(p).estimates()]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "run_id": self.run_id,
                "directory": self.directory,
                "model": self.model,
                "plan_hash": self.plan_hash,
                "notes": self.notes,
                **{
                    p: (None if self.section(p) is None else self.section(p).to_dict())
                    for p in PROBES
                },
            }
        )


def model_label(config: dict[str, Any], meta: dict[str, Any] | None = None) -> str:
    """The model a run evaluated, with the model arguments its subject was built with (sim
    variants differ only there; sim's effective seed is one of them)."""
    if meta is not None and config:
        from harness.probes._preferences import recorded_subject_args

        args = recorded_subject_args({**meta, "config": config})
    else:
        args = config.get("model_args") or {}
    return subject_label(str(config.get("model", "?")), args)


def cached_calls(directory: str | Path) -> int:
    """How many of a run's stored model calls were answered from the response cache."""
    import sqlite3

    from harness.store._store import DB_NAME

    uri = f"file:{Path(directory) / DB_NAME}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM calls WHERE cached").fetchone()
    return int(count)


def _status_ok(samples: pd.DataFrame) -> pd.DataFrame:
    return samples[samples["status"] == "ok"] if "status" in samples.columns else samples


def _entity_names(config: dict[str, Any]) -> dict[str, str]:
    try:
        from harness.entities import load_entity_set

        return {e.id: e.name for e in load_entity_set(config["entities"])}
    except Exception:  # names are cosmetic: a missing entity set must not stop analysis
        return {}


def _other_run_preferences(source: str, config: dict[str, Any]) -> pd.Series | None:
    """BT scores (Elo scale) of every entity elicited in run ``source`` (for a study, its run
    of this run's model), or None."""
    from harness.config import RunConfig
    from harness.errors import HarnessError
    from harness.probes._preferences import preference_scores, preferences_source
    from harness.store import RunStore

    try:
        store = RunStore.open(preferences_source(source, RunConfig.model_validate(config)))
    except HarnessError:
        return None
    try:
        return preference_scores(store)
    except (HarnessError, DegenerateInputError, ValueError):
        return None
    finally:
        store.close()


def downstream_preference(
    config: dict[str, Any], own: pd.Series | None
) -> tuple[pd.Series | None, str | None]:
    """The preference scores BoolQ and agentic results are analysed against, and a note when
    they come from another run: ``own`` (this run's elicitation), or with ``--preferences RUN``
    that run's scores of all its entities (so "per SD" keeps its meaning under ``--top-k``);
    None means the rows' own preference column. The run summary uses this too, so it reports
    the very estimates ``harness analyze`` does."""
    source = (config.get("options") or {}).get("preferences")
    if not source:
        return own, None
    other = _other_run_preferences(str(source), config)
    where = "its elicitation" if other is not None else "the rows' preference column"
    return other, f"BoolQ/agentic preferences from run {source} ({where})"


def analyze_run(
    run: Any, *, bayes: bool = True, bootstrap: int = 1000, seed: int = 0
) -> RunAnalysis:
    """Run every analysis that applies to ``run`` (a :class:`harness.store.Run`, or a run id or
    directory). ``bayes=False`` skips the variational-Bayes mixed models."""
    from harness.probes._preferences import pairwise_frame
    from harness.probes.elicitation import ranking_long
    from harness.store import Run

    opened = run if isinstance(run, Run) else Run(run)
    try:
        meta = opened.meta
        config = meta.get("config", {})
        plan, plan_hash, plan_problem = None, None, None
        try:
            plan = plan_from_meta(meta)
            plan_hash = plan.content_hash if plan else None
        except PlanError as error:
            plan_problem = f"recorded plan ignored, results are exploratory: {error}"
        result = RunAnalysis(
            run_id=str(meta.get("run_id", opened.directory.name)),
            directory=str(opened.directory),
            model=model_label(config, meta),
            config=config,
            plan=plan,
            plan_hash=plan_hash,
            entity_names=_entity_names(config),
            created=str(meta.get("created", "")),
        )
        if plan_problem:
            result.note("run", plan_problem)
        if plan is not None:
            result.not_confirmatory = plan.design.problems(config, result.model)
            cached = cached_calls(opened.directory)
            if cached:
                result.not_confirmatory.append(
                    f"{cached} answer(s) came from the response cache, i.e. from an earlier "
                    "run, not from this one"
                )
            if result.not_confirmatory:
                result.note(
                    "run",
                    "NOT CONFIRMATORY: made under a plan but "
                    + "; ".join(result.not_confirmatory)
                    + "; its results are exploratory",
                )
        status = meta.get("status")
        if status and status != "complete":
            result.note("run", f"run status is {status!r}: results cover the finished trials")
        frames = {
            name: opened.samples(name)
            for name in ("pairwise", "ranking", "donation", "boolq", "agentic")
        }
        probes = {name for name, frame in frames.items() if not frame.empty}

        def part(probe: str) -> pd.DataFrame:
            return frames[probe]

        def attempt(probe: str, fn: Any) -> Any:
            # One probe's failure (rows of an older or newer schema, data nobody foresaw) must
            # not stop the other probes' analyses or the table: record why and move on. The
            # note names the exception type so a bug is not mistaken for a data problem.
            try:
                return fn()
            except DegenerateInputError as error:
                result.note(probe, f"analysis not possible: {error}")
            except Exception as error:
                result.note(probe, f"analysis failed ({type(error).__name__}: {error})")
            return None

        preference = None
        if "pairwise" in probes:
            pairwise = part("pairwise")
            failed = len(pairwise) - len(_status_ok(pairwise))
            if failed:
                result.note("preferences", f"{failed} failed pairwise trial(s) excluded")
            ranking = None
            if "ranking" in probes:
                ranked = _status_ok(part("ranking"))
                if "parse" in ranked.columns:
                    ranked = ranked[ranked["parse"] == "ok"]
                ranking = ranking_long(ranked) if not ranked.empty else None
            result.preferences = attempt(
                "preferences",
                lambda: preference_analysis(
                    pairwise_frame(pairwise), ranking, seed=seed, consistency_bootstrap=bootstrap
                ),
            )
            if result.preferences is not None:
                preference = result.preferences.scores
        else:
            result.note("preferences", "no pairwise elicitation in this run")

        if "donation" in probes:
            donation = part("donation")
            attempts = opened.records("attempt")
            result.donation = attempt(
                "donation",
                lambda: donation_analysis(donation, preference, rho_bootstrap=bootstrap, seed=seed),
            )
            result.refusal = attempt(
                "refusal",
                lambda: refusal_analysis(
                    donation, attempts, preference, bootstrap=bootstrap, seed=seed
                ),
            )
        downstream, source_note = downstream_preference(config, preference)
        if source_note and {"boolq", "agentic"} & probes:
            result.note("run", source_note)
        if "boolq" in probes:
            result.boolq = attempt(
                "boolq",
                lambda: boolq_analysis(
                    part("boolq"), downstream, bayes=bayes, bootstrap=bootstrap, seed=seed
                ),
            )
        if "agentic" in probes:
            result.agentic = attempt(
                "agentic",
                lambda: agentic_analysis(part("agentic"), downstream, bayes=bayes, seed=seed),
            )
        for probe in PROBES:
            section = result.section(probe)
            for text in getattr(section, "notes", []) or []:
                result.note(probe, text)
        return result
    finally:
        if opened is not run:
            opened.close()


@dataclass
class ResultsTable:
    """One row per model x probe x statistic (see :data:`COLUMNS`), plus the run analyses."""

    frame: pd.DataFrame
    runs: list[RunAnalysis]
    plans: dict[str, AnalysisPlan]
    """Plans the runs were made under, by content hash."""

    def confirmatory(self) -> pd.DataFrame:
        return self.frame[self.frame["confirmatory"]]

    def probe(self, name: str) -> pd.DataFrame:
        return self.frame[self.frame["probe"] == name]

    def get(self, statistic: str, model: str | None = None) -> pd.Series:
        """The single row for ``statistic`` (and ``model``, if several models)."""
        rows = self.frame[self.frame["statistic"] == statistic]
        if model is not None:
            rows = rows[rows["model"] == model]
        if len(rows) != 1:
            raise KeyError(f"{len(rows)} rows for statistic {statistic!r} model {model!r}")
        return rows.iloc[0]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "results": self.frame,
                "plans": {
                    h: {
                        "title": p.title,
                        "alpha": p.alpha,
                        "correction": p.correction,
                        "hypotheses": [h.id for h in p.hypotheses],
                        "models": list(p.design.models),
                        "family_size": p.family_size,
                    }
                    for h, p in self.plans.items()
                },
                "runs": [
                    {
                        "run_id": r.run_id,
                        "model": r.model,
                        "directory": r.directory,
                        "probes": r.probes,
                        "plan_hash": r.plan_hash,
                        "not_confirmatory": r.not_confirmatory,
                        "notes": r.notes,
                    }
                    for r in self.runs
                ],
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)


Supplier = dict[tuple[str, str, str], RunAnalysis]
"""(plan hash, model, hypothesis id) -> the run whose row is the confirmatory test."""


def _suppliers(analyses: list[RunAnalysis]) -> Supplier:
    """For every planned test, the run that supplies it: the earliest run made under that
    plan, of that model and of the hypothesis's suite, that follows the plan (module
    docstring). Which runs are analysed can change who supplies a test, never the family."""
    chosen: Supplier = {}
    eligible = [a for a in analyses if a.plan is not None and not a.not_confirmatory]
    for analysis in sorted(eligible, key=lambda a: (a.created, a.run_id)):
        plan = analysis.plan
        assert plan is not None and analysis.plan_hash is not None
        for hypothesis in plan.hypotheses:
            if hypothesis.suite == analysis.config.get("suite"):
                chosen.setdefault((analysis.plan_hash, analysis.model, hypothesis.id), analysis)
    return chosen


def _rows_for(analysis: RunAnalysis, suppliers: Supplier) -> list[dict[str, Any]]:
    rows = []
    for probe, estimate in analysis.estimates():
        planned = analysis.plan.hypothesis_for(estimate.statistic) if analysis.plan else None
        note = estimate.note
        hypothesis = None
        if planned is not None:
            supplier = suppliers.get((str(analysis.plan_hash), analysis.model, planned.id))
            if supplier is analysis:
                hypothesis = planned
            else:
                if analysis.not_confirmatory:
                    why = "the run does not follow its plan (see the run's notes)"
                elif planned.suite != analysis.config.get("suite"):
                    why = f"the plan takes {planned.id} from the {planned.suite} run"
                    if supplier is not None:
                        why += f" ({supplier.run_id})"
                else:
                    why = f"{planned.id} of {analysis.model} is supplied by run {supplier.run_id}"
                note = f"exploratory here: {why}" + (f"; {note}" if note else "")
        alternative = hypothesis.direction if hypothesis else "two-sided"
        p = estimate.p
        if hypothesis and estimate.directional:
            p = one_sided_p(estimate.estimate - estimate.null, estimate.p, alternative)
        rows.append(
            {
                "model": analysis.model,
                "run_id": analysis.run_id,
                "probe": probe,
                "statistic": estimate.statistic,
                "estimate": estimate.estimate,
                "ci_low": estimate.ci_low,
                "ci_high": estimate.ci_high,
                "p": p,
                "n": estimate.n,
                "confirmatory": hypothesis is not None,
                "hypothesis": hypothesis.id if hypothesis else None,
                "plan_hash": analysis.plan_hash if hypothesis else None,
                "alternative": alternative,
                "units": estimate.units,
                "method": estimate.method,
                "note": note,
            }
        )
    return rows


def _missing_planned(
    analyses: list[RunAnalysis], plans: dict[str, AnalysisPlan], suppliers: Supplier
) -> list[dict[str, Any]]:
    """A row for every planned test (hypothesis x model of a plan) that no analysed run
    supplies, so it is visible, and counted in the family, rather than silently absent."""
    out = []
    for digest, plan in plans.items():
        under = [a for a in analyses if a.plan_hash == digest]
        for model in plan.design.models:
            for hypothesis in plan.hypotheses:
                if (digest, model, hypothesis.id) in suppliers:
                    continue
                candidates = [
                    a
                    for a in under
                    if a.model == model and a.config.get("suite") == hypothesis.suite
                ]
                if candidates:
                    reasons = "; ".join(
                        f"run {a.run_id}: " + "; ".join(a.not_confirmatory) for a in candidates
                    )
                else:
                    reasons = f"no {hypothesis.suite} run of {model} under this plan was analysed"
                out.append(
                    {
                        "model": model,
                        "run_id": ", ".join(a.run_id for a in candidates) or "(none)",
                        "probe": hypothesis.probe,
                        "statistic": hypothesis.statistic,
                        "estimate": math.nan,
                        "ci_low": math.nan,
                        "ci_high": math.nan,
                        "p": math.nan,
                        "n": 0,
                        "confirmatory": True,
                        "hypothesis": hypothesis.id,
                        "plan_hash": digest,
                        "alternative": hypothesis.direction,
                        "units": "",
                        "method": "",
                        "note": f"MISSING planned test ({reasons}); counted in the family of "
                        f"{plan.family_size} as not rejected",
                    }
                )
    return out


def _correct(frame: pd.DataFrame, plans: dict[str, AnalysisPlan]) -> pd.DataFrame:
    frame["family"] = np.where(frame["confirmatory"], "confirmatory", "exploratory")
    frame.loc[~frame["confirmatory"] & frame["p"].isna(), "family"] = None
    frame["p_bonferroni"] = math.nan
    frame["p_holm"] = math.nan
    explored = frame["family"] == "exploratory"
    if explored.any():
        frame.loc[explored, "p_bonferroni"] = bonferroni(frame.loc[explored, "p"].to_numpy())
        frame.loc[explored, "p_holm"] = holm(frame.loc[explored, "p"].to_numpy())
    supported = pd.Series(None, index=frame.index, dtype=object)
    for digest, plan in plans.items():
        rows = frame.index[frame["confirmatory"] & (frame["plan_hash"] == digest)]
        computed = [i for i in rows if np.isfinite(frame.at[i, "p"])]
        m = plan.family_size
        p = frame.loc[computed, "p"].to_numpy(dtype=float)
        # The family has m tests whatever was computed: missing ones enter as p = 1.
        padded = np.concatenate([p, np.ones(max(m - len(p), 0))])
        frame.loc[computed, "p_bonferroni"] = np.minimum(1.0, p * m)
        frame.loc[computed, "p_holm"] = holm(padded)[: len(p)]
        # "supported": the planned test rejects at the plan's alpha after its correction.
        # Two-sided hypotheses are supported in either direction; the estimate's sign says which.
        adjusted = frame.loc[computed, "p_holm" if plan.correction == "holm" else "p_bonferroni"]
        supported.loc[computed] = [bool(v < plan.alpha) for v in adjusted]
        supported.loc[[i for i in rows if i not in computed]] = False
    frame["supported"] = supported
    return frame


def analyze_runs(
    runs: Iterable[Any], *, bayes: bool = True, bootstrap: int = 1000, seed: int = 0
) -> ResultsTable:
    """Analyse several runs (runs, run ids/directories or finished :class:`RunAnalysis`) and
    gather the results table with corrections across models and probes."""
    analyses = [
        r
        if isinstance(r, RunAnalysis)
        else analyze_run(r, bayes=bayes, bootstrap=bootstrap, seed=seed)
        for r in runs
    ]
    plans = {a.plan_hash: a.plan for a in analyses if a.plan is not None and a.plan_hash}
    suppliers = _suppliers(analyses)
    rows = [row for analysis in analyses for row in _rows_for(analysis, suppliers)]
    rows += _missing_planned(analyses, plans, suppliers)
    for analysis in analyses:
        if not analysis.probes:
            reasons = "; ".join(t for texts in analysis.notes.values() for t in texts)
            rows.append(
                {
                    "model": analysis.model,
                    "run_id": analysis.run_id,
                    "probe": "run",
                    "statistic": "none",
                    "estimate": math.nan,
                    "n": 0,
                    "confirmatory": False,
                    "alternative": "two-sided",
                    "p": math.nan,
                    "note": f"nothing to analyse ({reasons or 'no samples'})",
                }
            )
    frame = pd.DataFrame(rows)
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = (
                None if column not in ("estimate", "ci_low", "ci_high", "p") else math.nan
            )
    if not frame.empty:
        frame["confirmatory"] = frame["confirmatory"].fillna(False).astype(bool)
        frame = _correct(frame, plans)
        order = {p: i for i, p in enumerate((*PROBES, "run"))}
        frame = frame.sort_values(
            ["probe", "confirmatory", "statistic", "model", "run_id"],
            key=lambda c: (
                c.map(order) if c.name == "probe" else (~c if c.name == "confirmatory" else c)
            ),
            kind="stable",
        )
    if len(plans) > 1:
        for analysis in analyses:
            analysis.note(
                "run",
                f"runs were made under {len(plans)} different plans; each plan's "
                "confirmatory tests are corrected within that plan's own family",
            )
    frame = frame.reindex(columns=list(COLUMNS)).reset_index(drop=True)
    frame["note"] = frame["note"].fillna("")
    return ResultsTable(frame=frame, runs=analyses, plans=plans)


def analysis_paths(paths: Iterable[str | Path], log_dir: Path | None = None) -> list[Path]:
    """Resolve run ids/paths; a study (id or directory) or a directory holding runs (not
    itself a run) expands to its runs."""
    from harness.errors import UsageError
    from harness.store import default_log_dir, find_run
    from harness.store._store import DB_NAME
    from harness.study import find_study, study_runs

    resolved: list[Path] = []
    for item in paths:
        candidate = Path(item)
        study = find_study(item, log_dir or default_log_dir())
        if study is not None:
            # A study's runs, in the order its models were given.
            resolved.extend(run for run in study_runs(study) if (run / DB_NAME).is_file())
            continue
        if candidate.is_dir() and not (candidate / DB_NAME).is_file():
            inner = sorted(d for d in candidate.iterdir() if (d / DB_NAME).is_file())
            if inner:
                resolved.extend(inner)
                continue
        resolved.append(find_run(item, log_dir))
    if not resolved:
        raise UsageError("no runs given")
    return resolved
