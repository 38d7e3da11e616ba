"""Studies: one suite, one configuration and seed, several models, each as its own run.

``harness run --suite advice --model openai/gpt-4o,anthropic/claude-sonnet-4-5`` makes a study
directory ``runs/<study-id>/`` holding ``study.json`` and one run directory per model. Every
run has the same configuration but for its model (and the model's own arguments), so their
plans are the same trials. The runs execute concurrently (one event loop, one connection limit
per endpoint); one run's failure ends only that run, and ``--resume STUDY`` continues every run
that did not complete.

Model arguments: ``-M key=value`` applies to every model; ``-M MODEL:key=value`` to one, where
MODEL is a name from ``--model`` (or ``NAME#2`` for the second of two identical names).
``base_url`` may be given per model this way too.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config import RunConfig, redact
from harness.errors import ConfigError, HarnessError, UsageError
from harness.model import Budget

STUDY_FILE = "study.json"
STUDY_VERSION = 1


@dataclass(frozen=True)
class ModelSpec:
    """One model of a study: how it is named there and what it runs with."""

    label: str
    """Unique within the study: the model name, or ``NAME#k`` for a repeated name."""
    model: str
    args: dict[str, str] = field(default_factory=dict)
    base_url: str | None = None

    @property
    def directory_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "-", self.label).strip("-") or "model"


def split_models(value: str) -> list[str]:
    """``"a, b ,c"`` -> ``["a", "b", "c"]``; an empty entry is a usage error."""
    names = [part.strip() for part in value.split(",")]
    if not names or any(not name for name in names):
        raise UsageError(f"--model '{value}' has an empty model name (separate names by commas)")
    return names


def model_specs(
    names: list[str], args: dict[str, str], base_url: str | None = None
) -> list[ModelSpec]:
    """Resolve ``-M`` arguments (already split at ``=``) over the models named.

    Keys without a ``MODEL:`` prefix apply to every model; prefixed keys to the model whose
    label matches. An unknown prefix is a usage error, not silently ignored.
    """
    labels: list[str] = []
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    shared: dict[str, str] = {}
    own: dict[str, dict[str, str]] = {label: {} for label in labels}
    for key, value in args.items():
        target, sep, arg = key.rpartition(":")
        if not sep:
            shared[key] = value
            continue
        if target not in own:
            raise UsageError(
                f"-M {key}={value}: '{target}' is not one of the models given ({', '.join(labels)})"
            )
        if not arg:
            raise UsageError(f"-M {key}={value} names no argument after '{target}:'")
        own[target][arg] = value
    specs = []
    for name, label in zip(names, labels, strict=True):
        merged = {**shared, **own[label]}
        specs.append(
            ModelSpec(
                label=label,
                model=name,
                args={k: v for k, v in merged.items() if k != "base_url"},
                base_url=merged.get("base_url", base_url),
            )
        )
    return specs


def new_study_id(suite: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{suite}-study-{secrets.token_hex(2)}"


def is_study(directory: Path) -> bool:
    return (directory / STUDY_FILE).is_file()


def find_study(name: str | Path, log_dir: Path) -> Path | None:
    """The study directory ``name`` refers to (a path or an id in the log directory)."""
    for candidate in (Path(name), log_dir / str(name)):
        if is_study(candidate):
            return candidate
    return None


def read_study(directory: Path) -> dict[str, Any]:
    try:
        study = json.loads((directory / STUDY_FILE).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"cannot read study {directory / STUDY_FILE}: {error}") from None
    if not isinstance(study, dict) or not isinstance(study.get("models"), list):
        raise ConfigError(f"{directory / STUDY_FILE} is not a study file")
    return study


def study_runs(directory: Path) -> list[Path]:
    """The run directories of a study, in the order its models were given."""
    study = read_study(directory)
    return [directory / entry["run"] for entry in study["models"]]


def _write_study(directory: Path, study: dict[str, Any]) -> None:
    partial = directory / f"{STUDY_FILE}.partial"
    partial.write_text(json.dumps(study, indent=2, sort_keys=True))
    partial.replace(directory / STUDY_FILE)


def start_study(
    base: RunConfig,
    specs: list[ModelSpec],
    settings: Any,
    *,
    max_study_cost: float | None = None,
    console: Any = None,
) -> tuple[Path, list[Any]]:
    """Validate every model's configuration, create the study and its runs, run them all.

    Validation comes first and covers every model (names, arguments, keys), so a bad model
    refuses the study before anything is written or spent.
    """
    from harness.engine import check_settings, create_run, execute_runs, prepare, run_console
    from harness.preview import announce_cost

    preparations = [
        prepare(
            base.model_copy(
                update={"model": s.model, "model_args": s.args, "base_url": s.base_url}
            ),
            batch=settings.batch,
        )
        for s in specs
    ]
    check_settings(settings)
    study_id = new_study_id(base.suite)
    directory = settings.log_dir / study_id
    try:
        directory.mkdir(parents=True)
    except OSError as error:
        raise ConfigError(f"cannot create study directory {directory}: {error}") from None
    shared = base.model_copy(update={"model": "", "model_args": {}, "base_url": None})
    study = {
        "study_id": study_id,
        "version": STUDY_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": settings.command,
        "suite": base.suite,
        "config": shared.model_dump(mode="json"),
        "config_hash": shared.digest(),
        "max_cost": settings.max_cost,
        "max_study_cost": max_study_cost,
        "models": [
            {
                "label": s.label,
                "model": s.model,
                "model_args": redact(s.args),
                "base_url": s.base_url,
                "run": s.directory_name,
            }
            for s in specs
        ],
    }
    _write_study(directory, study)
    prepared = [
        create_run(
            preparation.config,
            settings,
            directory=directory / spec.directory_name,
            label=spec.label,
            extra_meta={"study_id": study_id, "study_label": spec.label},
            preparation=preparation,
        )
        for spec, preparation in zip(specs, preparations, strict=True)
    ]
    budget = Budget(max_study_cost, label="study") if max_study_cost is not None else None
    announce_cost(prepared, settings, run_console(console))
    return directory, execute_runs(prepared, settings, console=console, study_budget=budget)


def resume_study(
    directory: Path,
    settings: Any,
    overrides: dict[str, Any],
    *,
    max_study_cost: float | None = None,
    console: Any = None,
) -> tuple[Path, list[Any]]:
    """Continue every run of a study that did not complete (interrupted, failed, or stopped
    by a budget); completed runs are left as they are."""
    from harness.engine import execute_runs, reopen_run
    from harness.store import RunStore

    study = read_study(directory)
    if "model" in overrides:
        raise UsageError("--model cannot be changed when resuming a study")
    prepared = []
    spent = 0.0
    try:
        for entry in study["models"]:
            run_directory = directory / entry["run"]
            store = RunStore.open(run_directory)
            try:
                status = store.meta().get("status")
                spent += store.spent()
            finally:
                store.close()
            if status == "complete":
                continue
            prepared.append(
                reopen_run(run_directory, overrides, label=entry["label"], batch=settings.batch)
            )
    except HarnessError:
        for run in prepared:
            run.store.close()
        raise
    if not prepared:
        raise UsageError(f"every run of study {study['study_id']} has completed")
    cap = max_study_cost if max_study_cost is not None else study.get("max_study_cost")
    budget = Budget(cap, spent=spent, label="study") if cap is not None else None
    return directory, execute_runs(prepared, settings, console=console, study_budget=budget)
