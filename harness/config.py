"""Run configuration: what a run measures (hashed, stored, checked on resume) and how it runs."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import platform
import re
import sys
from typing import Any

from pydantic import BaseModel, Field

from harness.errors import UsageError

SECRET_KEY_PATTERN = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.I)


RUN_SEEDED_PROVIDERS = {"sim": "seed"}
"""Providers whose model argument (the value) defaults to the run's ``--seed``."""


class RunConfig(BaseModel):
    """Everything that determines a run's results. Its hash identifies the design: a run can
    only be resumed with the same configuration."""

    suite: str
    model: str = "sim"
    model_args: dict[str, str] = Field(default_factory=dict)
    base_url: str | None = None
    entities: str = "default"
    entity_set: dict[str, Any] = Field(default_factory=dict)
    """id, version and content hash of the entity set actually used."""
    seed: int = 0
    samples: int = 1
    """Pairwise samples per ordered pair (and donation samples per ordered pair)."""
    ranking_samples: int = 10
    epochs: int = 1
    limit: int | None = None
    """Suite-specific cap: entities for elicitation/advice, questions for boolq, tasks for agentic."""
    temperature: float | None = 1.0
    max_tokens: int | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    """Probe options (e.g. max_attempts, prefill, pairs, judge_model)."""
    templates: dict[str, list[str]] = Field(default_factory=dict)
    """Template ids used per probe, each as ``id@version``."""

    def digest(self) -> str:
        return config_hash(self.model_dump(mode="json"))

    def subject_args(self) -> dict[str, str]:
        """The model arguments the subject's provider is built with: ``model_args``, plus the
        run's ``seed`` for providers seeded by it (``sim``) unless ``-M seed=`` was given, which
        then wins. Derived from the stored configuration, so a resume rebuilds the same subject
        and the configuration hash is unchanged."""
        provider = self.model.split("/", 1)[0]
        argument = RUN_SEEDED_PROVIDERS.get(provider)
        if argument is None or argument in self.model_args:
            return dict(self.model_args)
        return {**self.model_args, argument: str(self.seed)}


def subject_label(model: str, args: dict[str, Any]) -> str:
    """``model[k=v,...]`` with the subject's model arguments, sorted (secrets redacted)."""
    args = redact(args)
    if args:
        model += "[" + ",".join(f"{k}={v}" for k, v in sorted(args.items())) + "]"
    return model


def model_label(config: dict[str, Any]) -> str:
    """The model a run evaluated, with its model arguments as given (sim variants differ only
    there). :func:`analysis.runs.model_label` adds the arguments a run filled in (sim's seed)."""
    return subject_label(str(config.get("model", "?")), config.get("model_args") or {})


def config_hash(payload: dict[str, Any]) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def redact(values: dict[str, Any]) -> dict[str, Any]:
    """Replace values whose key looks secret, so keys never reach the store or the logs."""
    return {k: ("<redacted>" if SECRET_KEY_PATTERN.search(k) else v) for k, v in values.items()}


def parse_model_args(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``("seed=3", "utilities=u.csv")`` -> ``{"seed": "3", "utilities": "u.csv"}``."""
    args: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"model argument '{pair}' is not key=value")
        args[key.strip()] = value.strip()
    return args


PACKAGES = (
    "openai",
    "anthropic",
    "httpx2",
    "langgraph",
    "docker",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "pydantic",
)


def environment_versions() -> dict[str, str]:
    """Versions of Python, the platform and every package that can change a result."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("harness", *PACKAGES):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
