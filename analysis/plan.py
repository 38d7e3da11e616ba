"""Preregistered analysis plans: which statistics are confirmatory hypotheses, with their test,
direction, alpha and multiple-comparison correction, *and the design they are tested on* (the
models, entity set, seed and sample sizes of each suite), fixed by a content hash before data
exist.

A plan is a YAML file (``harness plan -o plan.yaml`` writes the study's default). A run made
with ``harness run --plan plan.yaml`` (or ``HARNESS_PLAN``) is checked against the plan's
design before it starts, does not read the response cache, and stores the plan's text and hash
in its metadata under ``"plan"`` (:func:`plan_meta`). ``harness analyze`` then labels a
statistic confirmatory only if the run's plan names it, the run follows the plan's design and
none of its answers came from the cache; otherwise it is exploratory, with a note saying why.

The confirmatory family is fixed by the plan, not by the runs analysed: every hypothesis for
every model the plan names (:attr:`AnalysisPlan.family_size`), each supplied by one run of the
hypothesis's suite. A planned test that no analysed run supplies is listed as missing and still
counts in the correction (as a test that did not reject).

The hash is the SHA-256 of the plan's *content* in canonical form (parsed, then serialised as
JSON with sorted keys), so comments and formatting can change without changing it, but any
change to a hypothesis, alpha, correction, model or sample size does. Statistics a plan can
name are listed in :data:`STATISTICS`; a plan naming anything else is rejected when it is
loaded, not at analysis time.
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
    "SUITE_DESIGN",
    "AnalysisPlan",
    "Design",
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
PLAN_VERSION = 2
"""Version 2 added the design; a version-1 plan (hypotheses only) is no longer accepted, so
runs recorded under one are analysed as exploratory, with a note."""
CORRECTIONS = ("bonferroni", "holm")

SUITE_DESIGN: dict[str, tuple[str, ...]] = {
    "elicitation": ("samples", "ranking_samples", "epochs", "limit"),
    "advice": ("samples", "ranking_samples", "epochs", "limit", "pairs", "max_attempts", "turns"),
    "boolq": ("samples", "ranking_samples", "epochs", "limit", "top_k"),
    "agentic": ("samples", "ranking_samples", "epochs", "limit", "top_k", "task_filter"),
}
"""The sample-size settings of each suite a plan fixes: RunConfig fields or probe options."""
_OPTION_DEFAULTS: dict[tuple[str, str], Any] = {
    # What the probes use when an option is not given (harness/probes/donation.py, agentic.py),
    # so a run that relies on a default matches a plan that states it.
    ("advice", "max_attempts"): 100,
    ("advice", "turns"): 1,
    ("agentic", "top_k"): 5,
}
PROBE_SUITE = {
    "preferences": "advice",
    "donation": "advice",
    "refusal": "advice",
    "boolq": "boolq",
    "agentic": "agentic",
}
"""The suite whose run supplies a probe's hypotheses unless the hypothesis names another
(every suite elicits preferences; the plan takes them from one)."""


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
        "refusal", "hazard-model", "extra attempts: rate ratio per SD of entity A's preference"
    ),
    "attempts_pref_b": StatisticInfo(
        "refusal", "hazard-model", "extra attempts: rate ratio per SD of entity B's preference"
    ),
    "attempts_interaction": StatisticInfo(
        "refusal", "hazard-model", "extra attempts: both-disliked hinge term (superadditivity)"
    ),
    "attempts_interaction_product": StatisticInfo(
        "refusal", "hazard-model", "extra attempts: pref_a x pref_b product term"
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
        "agentic",
        "entity-permutation",
        "success rate, top minus bottom entities (pp; entities are the units)",
    ),
    "agentic_top_minus_neutral": StatisticInfo(
        "agentic", "entity-t", "success rate, top entities minus neutral (pp)"
    ),
    "agentic_bottom_minus_neutral": StatisticInfo(
        "agentic", "entity-t", "success rate, bottom entities minus neutral (pp)"
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
    suite: str = ""
    """The suite whose run supplies this test (default: :data:`PROBE_SUITE` of its probe)."""

    def __post_init__(self) -> None:
        if not self.suite:
            object.__setattr__(self, "suite", PROBE_SUITE[self.probe])


def _design_value(config: dict[str, Any], suite: str, name: str) -> Any:
    """A run's recorded value of a design setting (a probe's default when it relied on it)."""
    if name in ("samples", "ranking_samples", "epochs", "limit"):
        return config.get(name)
    value = (config.get("options") or {}).get(name)
    return _OPTION_DEFAULTS.get((suite, name)) if value is None else value


@dataclass(frozen=True)
class Design:
    """What the hypotheses are tested on: the models (as ``harness analyze`` labels them, with
    their effective model arguments, e.g. ``sim[seed=0]``), the entity set, the seed, the
    sampling temperature and each suite's sample sizes."""

    models: tuple[str, ...]
    suites: dict[str, dict[str, Any]]
    entities: str = "default"
    seed: int = 0
    temperature: float | None = 1.0

    def content(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "entities": self.entities,
            "seed": self.seed,
            "temperature": self.temperature,
            "suites": {name: dict(values) for name, values in self.suites.items()},
        }

    def problems(self, config: dict[str, Any], model: str) -> list[str]:
        """How a run (its stored configuration and model label) departs from this design;
        empty when it follows it."""
        found = []
        if model not in self.models:
            found.append(f"model {model} is not one the plan names ({', '.join(self.models)})")
        suite = str(config.get("suite", "?"))
        if suite not in self.suites:
            found.append(f"the plan has no design for suite {suite!r}")
        for name, planned in (
            ("entities", self.entities),
            ("seed", self.seed),
            ("temperature", self.temperature),
        ):
            if config.get(name) != planned:
                found.append(f"{name} {config.get(name)!r}, the plan says {planned!r}")
        for name, planned in self.suites.get(suite, {}).items():
            actual = _design_value(config, suite, name)
            if actual != planned:
                found.append(f"{suite} {name} {actual!r}, the plan says {planned!r}")
        return found

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Design:
        where = f"{source}: design"
        if not isinstance(data, dict):
            raise PlanError(f"{where} must be a mapping with 'models' and 'suites'")
        unknown = set(data) - {"models", "entities", "seed", "temperature", "suites"}
        if unknown:
            raise PlanError(f"{where} has unknown key(s) {sorted(unknown)}")
        models = data.get("models")
        if (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) and m for m in models)
        ):
            raise PlanError(f"{where}: 'models' must be a non-empty list of model labels")
        if len(set(models)) != len(models):
            raise PlanError(f"{where}: a model is listed twice")
        suites = data.get("suites")
        if not isinstance(suites, dict) or not suites:
            raise PlanError(f"{where}: 'suites' must map suite names to their sample sizes")
        for name, values in suites.items():
            if name not in SUITE_DESIGN:
                raise PlanError(f"{where}: unknown suite {name!r} (known: {sorted(SUITE_DESIGN)})")
            if not isinstance(values, dict):
                raise PlanError(f"{where}: suite {name} must map settings to values")
            extra = set(values) - set(SUITE_DESIGN[name])
            if extra:
                raise PlanError(
                    f"{where}: suite {name} has unknown setting(s) {sorted(extra)} "
                    f"(known: {', '.join(SUITE_DESIGN[name])})"
                )
        seed = data.get("seed", 0)
        if not isinstance(seed, int):
            raise PlanError(f"{where}: 'seed' must be an integer")
        return cls(
            models=tuple(models),
            suites={k: dict(v) for k, v in suites.items()},
            entities=str(data.get("entities", "default")),
            seed=seed,
            temperature=data.get("temperature", 1.0),
        )


@dataclass(frozen=True)
class AnalysisPlan:
    """A set of confirmatory hypotheses with a shared alpha and correction."""

    title: str
    alpha: float
    correction: str
    hypotheses: tuple[Hypothesis, ...]
    design: Design
    version: int = PLAN_VERSION
    notes: str = ""
    _by_statistic: dict[str, Hypothesis] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_statistic.update({h.statistic: h for h in self.hypotheses})

    @property
    def family_size(self) -> int:
        """m of the correction: every hypothesis for every model the plan names, whether or
        not the runs analysed supply it."""
        return len(self.hypotheses) * len(self.design.models)

    @property
    def family(self) -> str:
        return (
            f"{len(self.hypotheses)} hypotheses x {len(self.design.models)} model(s) = "
            f"{self.family_size} tests; a planned test no run supplies counts as not rejected"
        )

    def content(self) -> dict[str, Any]:
        """The plan as plain data (what is hashed and written)."""
        return {
            "plan_version": self.version,
            "title": self.title,
            "alpha": self.alpha,
            "correction": self.correction,
            "family": self.family,
            "notes": self.notes,
            "design": self.design.content(),
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
            "# the family: every hypothesis for every model of the design. A run made under this\n"
            "# plan must match its design (models as `harness analyze` labels them, entities,\n"
            "# seed, temperature, each suite's sample sizes). Statistics and their tests: see\n"
            "# analysis.plan.STATISTICS.\n"
        )
        return header + yaml.safe_dump(self.content(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any, source: str = "plan") -> AnalysisPlan:
        """Validate parsed YAML/JSON; every problem is a :class:`PlanError` naming ``source``."""
        if not isinstance(data, dict):
            raise PlanError(f"{source}: a plan must be a mapping with 'hypotheses'")
        version = data.get("plan_version", PLAN_VERSION)
        if version != PLAN_VERSION:
            raise PlanError(
                f"{source}: plan_version {version} is not supported (expected {PLAN_VERSION}: "
                "a plan fixes its design, models and sample sizes as well as its hypotheses)"
            )
        design = Design.from_dict(data.get("design"), source)
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
                "suite",
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
            suite = str(item.get("suite") or PROBE_SUITE[probe])
            if suite not in design.suites:
                raise PlanError(
                    f"{where} ({hid}): suite {suite!r} that supplies it has no design in the plan"
                )
            ids.add(hid)
            statistics.add(statistic)
            hypotheses.append(
                Hypothesis(
                    hid,
                    statistic,
                    direction,
                    test,
                    probe,
                    str(item.get("description", "")),
                    suite,
                )
            )
        return cls(
            title=str(data.get("title", "")),
            alpha=float(alpha),
            correction=correction,
            hypotheses=tuple(hypotheses),
            design=design,
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


DEFAULT_SUITES: dict[str, dict[str, Any]] = {
    "advice": {
        "samples": 1,
        "ranking_samples": 10,
        "epochs": 1,
        "limit": None,
        "pairs": None,
        "max_attempts": 100,
        "turns": 1,
    },
    # 100 questions x every entity: the design whose power docs/benchmarks.md reports.
    "boolq": {"samples": 1, "ranking_samples": 10, "epochs": 1, "limit": 100, "top_k": None},
    "agentic": {
        "samples": 1,
        "ranking_samples": 10,
        "epochs": 1,
        "limit": None,
        "top_k": 5,
        "task_filter": None,
    },
}
"""The study's design per suite: the CLI's defaults, with BoolQ at 100 questions."""


def default_plan(models: tuple[str, ...] = ("sim[seed=0]",), seed: int = 0) -> AnalysisPlan:
    """The study's confirmatory hypotheses, one per probe, Bonferroni at alpha 0.05, for
    ``models`` (labels as ``harness analyze`` prints them) on the default entity set."""
    return AnalysisPlan(
        title="When Do LLM Preferences Predict Downstream Behavior? (reproduction)",
        alpha=0.05,
        correction="bonferroni",
        notes=(
            "Preference = pairwise Bradley-Terry score (Elo scale) from the advice run; BoolQ "
            "accuracy over answered trials; agentic differences over entities."
        ),
        design=Design(
            models=tuple(models),
            suites={k: dict(v) for k, v in DEFAULT_SUITES.items()},
            seed=seed,
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
                "entity-permutation",
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
