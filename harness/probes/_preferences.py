"""Preference scores a later stage builds on: from this run's elicitation or an earlier run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.config import RunConfig, subject_label
from harness.errors import UsageError
from harness.probes._base import RunContext
from harness.store import RunStore, find_run


def pairwise_frame(samples: pd.DataFrame) -> pd.DataFrame:
    """Pairwise samples in the shape :mod:`analysis` expects (errored trials dropped)."""
    ok = samples[samples["status"] == "ok"]
    return pd.DataFrame(
        {
            "entity_a": ok["entity_a"],
            "entity_b": ok["entity_b"],
            "chosen": ok["chosen"],
            "sample": ok["sample"] + 1000 * ok["epoch"],
        }
    )


def preference_scores(store: RunStore) -> pd.Series:
    """Bradley–Terry scores (Elo scale) from a store's pairwise samples, by entity id."""
    from analysis import bradley_terry

    samples = store.samples_df("pairwise")
    if samples.empty:
        raise UsageError(f"run {store.directory.name} has no pairwise elicitation samples")
    frame = pairwise_frame(samples)
    if frame["chosen"].notna().sum() == 0:
        raise UsageError(f"run {store.directory.name} has no parseable pairwise answers")
    return bradley_terry(frame, bootstrap=0).scores.set_index("entity")["score"]


def run_preferences(run: RunContext) -> pd.Series:
    """The subject's preferences: from ``--preferences RUN`` (same model and model arguments,
    including sim's effective seed, required) or from this run's own elicitation stage."""
    source = run.config.options.get("preferences")
    if not source and run.preview:
        # Nothing is elicited in a preview: a stand-in order (the set's own) gives a plan of
        # the right size; only which entities are top and bottom differs.
        ids = [e.id for e in run.entities]
        return pd.Series(range(len(ids), 0, -1), index=ids, dtype=float)
    if not source:
        return preference_scores(run.store)
    other = RunStore.open(checked_preferences_source(source, run.config))
    try:
        return preference_scores(other)
    finally:
        other.close()


def checked_preferences_source(source: str, config: RunConfig) -> Path:
    """The run ``--preferences`` names, after checking it evaluated the same subject (model
    name and model arguments, sim's effective seed included); a usage error otherwise."""
    directory = preferences_source(source, config)
    meta = RunStore.read_meta(directory)
    model = meta.get("config", {}).get("model")
    if model != config.model:
        raise UsageError(
            f"--preferences run {source} was made with model {model}, not {config.model}"
        )
    theirs, ours = recorded_subject_args(meta), config.subject_args()
    if theirs != ours:
        differ = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        shown = ", ".join(f"{k}={theirs.get(k)!r} there, {ours.get(k)!r} here" for k in differ)
        raise UsageError(
            f"--preferences run {source} was made with other model arguments ({shown}): "
            "a differently configured model is a different subject"
        )
    return directory


def preferences_source(source: str, config: RunConfig) -> Path:
    """The run ``--preferences`` names for a run of ``config``: a run, or in a study the run of
    the same model (name and arguments), so a later suite of a study can build on an earlier
    study."""
    from harness.store import default_log_dir
    from harness.study import find_study, study_runs

    study = find_study(source, default_log_dir())
    if study is None:
        return find_run(source)
    ours = config.subject_args()
    offered = []
    for directory in study_runs(study):
        meta = RunStore.read_meta(directory)
        model = meta.get("config", {}).get("model")
        args = recorded_subject_args(meta)
        if model == config.model and args == ours:
            return directory
        offered.append(subject_label(str(model), args))
    raise UsageError(
        f"--preferences study {source} has no run of {subject_label(config.model, ours)} "
        f"(it has {', '.join(offered)})"
    )


def recorded_subject_args(meta: dict) -> dict[str, str]:
    """The model arguments a stored run's subject was built with. Runs recorded before
    ``subject_args`` existed seeded sim only from ``-M seed=`` (default 0)."""
    if "subject_args" in meta:
        return dict(meta["subject_args"])
    config = RunConfig.model_validate(meta["config"])
    return config.model_copy(update={"seed": 0}).subject_args()


def extremes(scores: pd.Series, k: int) -> tuple[list[str], list[str]]:
    """The ``k`` most and ``k`` least preferred entity ids (ties broken by id, for stability)."""
    if k < 1 or 2 * k > len(scores):
        raise UsageError(
            f"--top-k {k} needs at least {2 * k} entities with scores, have {len(scores)}"
        )
    ordered = scores.sort_index().sort_values(ascending=False, kind="stable")
    return list(ordered.index[:k]), list(ordered.index[-k:])
