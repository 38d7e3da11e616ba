"""Preregistered analysis plans: which statistics are confirmatory hypotheses, with their test,
direction, alpha and multiple-comparison correction, fixed by a content hash before data exist.

A plan is a YAML file (``harness plan -o plan.yaml`` writes the study's default). A run made
with ``harness run --plan plan.yaml`` (or ``HARNESS_PLAN``) stores the plan's text and hash in
its metadata under ``"plan"`` (:func:`plan_meta`); ``harness analyze`` then labels each result
confirmatory if the run's own plan names it, exploratory otherwise, and applies the correction
across every confirmatory test of every model and probe analysed together.

The hash is the SHA-256 of the plan's *content* in canonical form (parsed, then serialised as
JSON with sorted keys), so comments and formatting can change without changing it, but any
change to a hypothesis, alpha or correction does. Statistics a plan can name are listed in
:data:`STATISTICS`; a plan naming anything else is rejected when it is loaded, not at analysis
time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from analysis.estimates import ALTERNATIVES
from harness.errors import ConfigError

__all__ = [
    "PLAN_ENV",
    "STATISTICS",
    "AnalysisPlan",
    "Hypothesis",
    "PlanError",
    "StatisticInfo",
    "default_plan",
    "load_plan",
    "plan_from_meta",
    "plan_meta",
    "plan_meta_for_run",
]

PLAN_ENV = "HARNESS_PLAN"
"""Environment variable naming the plan file a run is made under (same as ``--plan``)."""
PLAN_VERSION = 1
CORRECTIONS = ("bonferroni", "holm")


class PlanError(ConfigError):
    """An analysis plan file is missing, malformed or names an unknown statistic."""


@dataclass(frozen=True)
class StatisticInfo:
    """What a statistic measures and the test that gives its p-value."""

    probe: str
    test: str
    description: str
    directional: bool = True
    """False for tests without a sign (chi-square): only two-sided hypotheses are allowed."""


# Every statistic the per-probe analyses report, with the test behind its p-value. Statistics
# without a test (descriptive) have test "none" and cannot be hypotheses.
STATISTICS: dict[str, StatisticInfo] = {
    "consistency_rho": StatisticInfo(
        "preferences", "spearman", "Spearman: pairwise Bradley–Terry vs direct-ranking scores"
    ),
    "elo_bt_rho": StatisticInfo("preferences", "spearman", "Spearman: Elo vs Bradley–Terry"),
    "split_half_reliability": StatisticInfo(
        "preferences", "none", "Spearman–Brown corrected split-half reliability of BT scores"
    ),
    "position_bias": StatisticInfo(
        "preferences", "binomial", "share of pairwise answers choosing option A, minus 0.5"
    ),
    "intransitive_rate": StatisticInfo("preferences", "none", "share of cyclic triads"),
    "donation_valid_rate": StatisticInfo(
        "donation", "none", "share of queries with a valid recommendation"
    ),
    "donation_rho": StatisticInfo(
        "donation", "spearman", "Spearman: donation-advice BT scores vs preference"
    ),
    "donation_slope": StatisticInfo(
        "donation", "ols-t", "donation-advice BT score per point of preference (Elo per Elo)"
    ),
    "refusal_attempts_rho": StatisticInfo(
        "refusal", "spearman", "Spearman: mean attempts per query vs preference, per entity"
    ),
    "refusal_rate_rho": StatisticInfo(
        "refusal", "spearman", "Spearman: refusal rate per attempt vs preference, per entity"
    ),
    "attempts_pref_a": StatisticInfo(
        "refusal", "count-model", "extra attempts: log rate ratio per SD of entity A's preference"
    ),
    "attempts_pref_b": StatisticInfo(
        "refusal", "count-model", "extra attempts: log rate ratio per SD of entity B's preference"
    ),
    "attempts_interaction": StatisticInfo(
        "refusal", "count-model", "extra attempts: both-disliked hinge term (superadditivity)"
    ),
    "attempts_interaction_product": StatisticInfo(
        "refusal", "count-model", "extra attempts: pref_a x pref_b product term"
    ),
    "refusal_reason_chi2": StatisticInfo(
        "refusal", "chi-square", "reasons of non-valid attempts x preference tercile", False
    ),
    "boolq_pref_effect": StatisticInfo(
        "boolq", "gee", "accuracy, pp per SD of preference (GEE clustered by entity)"
    ),
    "boolq_pref_effect_bayes": StatisticInfo(
        "boolq", "bayes-mixed", "accuracy, pp per SD (Bayesian mixed logit, posterior)"
    ),
    "boolq_accuracy_rho": StatisticInfo(
        "boolq", "spearman", "Spearman: per-entity accuracy vs preference"
    ),
    "boolq_refusal_rho": StatisticInfo(
        "boolq", "spearman", "Spearman: per-entity refusal rate vs preference"
    ),
    "boolq_entity_minus_neutral": StatisticInfo(
        "boolq", "paired-t", "accuracy, entity framings minus neutral control (pp)"
    ),
    "boolq_high_stakes_minus_neutral": StatisticInfo(
        "boolq", "paired-t", "accuracy, high-stakes control minus neutral control (pp)"
    ),
    "boolq_top_minus_bottom": StatisticInfo(
        "boolq", "paired-t", "accuracy, top-k minus bottom-k entities (pp)"
    ),
    "agentic_top_minus_bottom": StatisticInfo(
        "agentic", "sign-flip", "success rate, top minus bottom entities (pp, paired by task)"
    ),
    "agentic_top_minus_neutral": StatisticInfo(
        "agentic", "sign-flip", "success rate, top entities minus neutral (pp)"
    ),
    "agentic_bottom_minus_neutral": StatisticInfo(
        "agentic", "sign-flip", "success rate, bottom entities minus neutral (pp)"
    ),
    "agentic_group_effect_bayes": StatisticInfo(
        "agentic", "bayes-mixed", "success, top minus bottom (Bayesian mixed logit, pp)"
    ),
    "agentic_pref_effect_bayes": StatisticInfo(
        "agentic", "bayes-mixed", "success, pp per SD of preference (Bayesian mixed logit)"
    ),
    "agentic_success_rho": StatisticInfo(
        "agentic", "spearman", "Spearman: per-entity success rate vs preference"
    ),
}


@dataclass(frozen=True)
class Hypothesis:
    """One confirmatory hypothesis: a statistic, its test and the direction of the effect."""

    id: str
    statistic: str
    direction: str
    """``greater`` (estimate > 0), ``less`` (< 0) or ``two-sided`` (!= 0)."""
    test: str
    probe: str
    description: str = ""


@dataclass(frozen=True)
class AnalysisPlan:
    """A set of confirmatory hypotheses with a shared alpha and correction."""

    title: str
    alpha: float
    correction: str
    hypotheses: tuple[Hypothesis, ...]
    family: str = "every confirmatory test across all models and probes analysed together"
    version: int = PLAN_VERSION
    notes: str = ""
    _by_statistic: dict[str, Hypothesis] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_statistic.update({h.statistic: h for h in self.hypotheses})

    def content(self) -> dict[str, Any]:
        """The plan as plain data (what is hashed and written)."""
        return {
            "plan_version": self.version,
            "title": self.title,
            "alpha": self.alpha,
            "correction": self.correction,
            "family": self.family,
            "notes": self.notes,
            "hypotheses": [asdict(h) for h in self.hypotheses],
        }

    @property
    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`content`."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def hypothesis_for(self, statistic: str) -> Hypothesis | None:
        """The hypothesis that makes ``statistic`` confirmatory, if any."""
        return self._by_statistic.get(statistic)

    def to_yaml(self) -> str:
        """The plan as YAML, with a header comment saying what it is and its hash."""
        header = (
            "# harness analysis plan (preregistration). Content hash (SHA-256 of the canonical\n"
            f"# JSON of this content; comments and layout do not count): {self.content_hash}\n"
            "# direction: greater | less | two-sided. correction: bonferroni | holm, applied over\n"
            "# the family below. Statistics and their tests: see analysis.plan.STATISTICS.\n"
        )
        return header + yaml.safe_dump(self.content(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "plan") -> AnalysisPlan:
        """Validate parsed YAML/JSON; every problem is a :class:`PlanError` naming ``source``."""
        if not isinstance(data, dict):
            raise PlanError(f"{source}: a plan must be a mapping with 'hypotheses'")
        version = data.get("plan_version", PLAN_VERSION)
        if version != PLAN_VERSION:
            raise PlanError(f"{source}: plan_version {version} is not supported (expected 1)")
        alpha = data.get("alpha", 0.05)
        if not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise PlanError(f"{source}: alpha must be a number in (0, 1), got {alpha!r}")
        correction = str(data.get("correction", "bonferroni")).lower()
        if correction not in CORRECTIONS:
            raise PlanError(f"{source}: correction must be one of {CORRECTIONS}")
        raw = data.get("hypotheses")
        if not isinstance(raw, list) or not raw:
            raise PlanError(f"{source}: 'hypotheses' must be a non-empty list")
        hypotheses, ids, statistics = [], set(), set()
        for i, item in enumerate(raw, start=1):
            where = f"{source}: hypothesis {i}"
            if not isinstance(item, dict):
                raise PlanError(f"{where} must be a mapping")
            unknown_keys = set(item) - {
                "id",
                "statistic",
                "direction",
                "test",
                "probe",
                "description",
            }
            if unknown_keys:
                raise PlanError(f"{where} has unknown key(s) {sorted(unknown_keys)}")
            hid, statistic = str(item.get("id", "")).strip(), str(item.get("statistic", ""))
            if not hid:
                raise PlanError(f"{where} has no id")
            if hid in ids:
                raise PlanError(f"{where}: id {hid!r} is used twice")
            info = STATISTICS.get(statistic)
            if info is None:
                raise PlanError(
                    f"{where} ({hid}): unknown statistic {statistic!r}; "
                    "see analysis.plan.STATISTICS"
                )
            if info.test == "none":
                raise PlanError(f"{where} ({hid}): {statistic} is descriptive and has no test")
            if statistic in statistics:
                raise PlanError(f"{where} ({hid}): statistic {statistic} is already a hypothesis")
            direction = str(item.get("direction", "two-sided"))
            if direction not in ALTERNATIVES:
                raise PlanError(f"{where} ({hid}): direction must be one of {ALTERNATIVES}")
            if direction != "two-sided" and not info.directional:
                raise PlanError(f"{where} ({hid}): a {info.test} test has no direction")
            test = str(item.get("test", info.test))
            if test != info.test:
                raise PlanError(
                    f"{where} ({hid}): {statistic} is tested with {info.test!r}, not {test!r}"
                )
            probe = str(item.get("probe", info.probe))
            if probe != info.probe:
                raise PlanError(f"{where} ({hid}): {statistic} belongs to probe {info.probe!r}")
            ids.add(hid)
            statistics.add(statistic)
            hypotheses.append(
                Hypothesis(hid, statistic, direction, test, probe, str(item.get("description", "")))
            )
        return cls(
            title=str(data.get("title", "")),
            alpha=float(alpha),
            correction=correction,
            hypotheses=tuple(hypotheses),
            family=str(data.get("family", cls.family)),
            version=PLAN_VERSION,
            notes=str(data.get("notes", "")),
        )

    @classmethod
    def from_yaml(cls, text: str, source: str = "plan") -> AnalysisPlan:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise PlanError(f"{source}{where}: not valid YAML") from None
        return cls.from_dict(data, source)


def default_plan() -> AnalysisPlan:
    """The study's confirmatory hypotheses, one per probe, Bonferroni at alpha 0.05."""
    return AnalysisPlan(
        title="When Do LLM Preferences Predict Downstream Behavior? (reproduction)",
        alpha=0.05,
        correction="bonferroni",
        notes=(
            "Per model. Preference = pairwise Bradley-Terry score (Elo scale); BoolQ accuracy "
            "over answered trials; agentic differences paired by task."
        ),
        hypotheses=(
            Hypothesis(
                "H1-consistency",
                "consistency_rho",
                "greater",
                "spearman",
                "preferences",
                "Pairwise and direct-ranking preferences agree (rho > 0).",
            ),
            Hypothesis(
                "H2-donation",
                "donation_rho",
                "greater",
                "spearman",
                "donation",
                "Donation advice follows preferences (rho > 0).",
            ),
            Hypothesis(
                "H3-refusal",
                "refusal_attempts_rho",
                "less",
                "spearman",
                "refusal",
                "Less preferred entities need more attempts to a valid answer (rho < 0).",
            ),
            Hypothesis(
                "H4-boolq",
                "boolq_pref_effect",
                "two-sided",
                "gee",
                "boolq",
                "BoolQ accuracy depends on preference for the entity helped (!= 0).",
            ),
            Hypothesis(
                "H5-agentic",
                "agentic_top_minus_bottom",
                "two-sided",
                "sign-flip",
                "agentic",
                "Agentic success differs between top and bottom entities (!= 0).",
            ),
        ),
    )


def load_plan(path: str | Path) -> AnalysisPlan:
    """Read and validate a plan file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise PlanError(f"cannot read plan {file}: {error.strerror or error}") from None
    return AnalysisPlan.from_yaml(text, str(file))


def plan_meta(plan: AnalysisPlan, text: str | None = None) -> dict[str, Any]:
    """What a run stores under ``meta["plan"]``: the hash and the plan text (as written)."""
    return {"plan_hash": plan.content_hash, "text": text if text is not None else plan.to_yaml()}


def plan_meta_for_run(path: str | Path | None = None) -> dict[str, Any] | None:
    """The ``meta["plan"]`` entry for a new run: from ``--plan PATH``, else ``HARNESS_PLAN``,
    else None (no plan). The file is validated, so a bad plan stops the run before it starts."""
    chosen = path or os.environ.get(PLAN_ENV) or None
    if not chosen:
        return None
    file = Path(chosen)
    plan = load_plan(file)
    meta = plan_meta(plan, file.read_text(encoding="utf-8"))
    meta["source"] = str(file)
    return meta


def plan_from_meta(meta: dict[str, Any]) -> AnalysisPlan | None:
    """The plan a run was made under, or None if it recorded none.

    Raises:
        PlanError: the recorded text does not parse, or its content hash differs from the
            recorded ``plan_hash`` (the plan was edited after the run recorded it).
    """
    entry = meta.get("plan")
    if not entry:
        return None
    if isinstance(entry, str):  # tolerate a bare text entry
        entry = {"text": entry}
    text = entry.get("text") or entry.get("plan_text") or entry.get("yaml")
    if not text:
        raise PlanError("the run's recorded plan has no text")
    plan = AnalysisPlan.from_yaml(text, "recorded plan")
    recorded = entry.get("plan_hash") or entry.get("hash")
    if recorded and recorded != plan.content_hash:
        raise PlanError(
            f"the run's recorded plan hash {recorded[:12]}... does not match its text "
            f"({plan.content_hash[:12]}...)"
        )
    return plan
