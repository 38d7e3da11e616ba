"""Runs a suite: config -> plan of trials -> bounded concurrent execution -> run store.

Resume needs nothing but the plan: it is deterministic for a configuration, so a resumed run
recomputes it and skips the trial ids already stored.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.config import RunConfig, environment_versions, redact
from harness.entities import EntityMatcher, load_entity_set
from harness.errors import ConfigError, HarnessError, UsageError
from harness.model import (
    Accountant,
    ConcurrencyLimits,
    Model,
    ModelError,
    ResponseCache,
    RetryPolicy,
    create_provider,
    get_model,
    load_price_table,
)
from harness.probes import Probe, ProbeFailure, RunContext, Trial, TrialContext, create_probe
from harness.progress import RunProgress
from harness.store import RunStore, TrialOutcome, default_log_dir, find_run
from harness.suites import ELICITATION, get_suite


@dataclass
class RunSettings:
    """How a run executes. Not part of the configuration hash: changing these never changes
    results, so they may differ between a run and its resume."""

    log_dir: Path = field(default_factory=default_log_dir)
    max_connections: int = 32
    timeout: float = 120.0
    max_retries: int = 6
    cache: bool = True
    prices: str | None = None
    progress: bool = True
    command: str = ""
    max_sandboxes: int = 4
    plan: str | None = None
    """Path of the preregistered analysis plan the run is made under."""


@dataclass
class RunResult:
    run_id: str
    directory: Path
    status: str
    seconds: float
    trials_run: int
    errors: int
    accountant: Accountant


class BatchWriter:
    """Buffers finished trials and commits them together, at most ``max_delay`` seconds apart.

    Batching keeps store writes off the critical path at thousands of trials per second;
    a crash loses at most the uncommitted batch, which a resume simply runs again.
    """

    def __init__(self, store: RunStore, max_rows: int = 256, max_delay: float = 0.2):
        self.store = store
        self.max_rows = max_rows
        self.max_delay = max_delay
        self._buffer: list[TrialOutcome] = []
        self._last = time.monotonic()

    def add(self, outcome: TrialOutcome) -> None:
        self._buffer.append(outcome)
        if len(self._buffer) >= self.max_rows or time.monotonic() - self._last >= self.max_delay:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self.store.write(self._buffer)
            self._buffer = []
        self._last = time.monotonic()


def new_run_id(config: RunConfig) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    model = config.model.replace("/", "-").replace(":", "-")
    return f"{stamp}-{config.suite}-{model}-{secrets.token_hex(2)}"


def check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create log directory {directory}: {error.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"log directory {directory} is not writable")


def build_models(
    config: RunConfig, settings: RunSettings, accountant: Accountant
) -> dict[str, Model]:
    """The subject model, wrapped in limits, retries, cache and accounting."""
    limits = ConcurrencyLimits(settings.max_connections)
    cache = ResponseCache() if settings.cache else None
    common: dict[str, Any] = {
        "timeout": settings.timeout,
        "limits": limits,
        "retry": RetryPolicy(max_retries=settings.max_retries),
        "cache": cache,
        "accountant": accountant,
    }
    models = {
        "subject": get_model(
            config.model, base_url=config.base_url, args=config.subject_args(), **common
        )
    }
    for role in ("user", "judge"):
        name = config.options.get(f"{role}_model")
        if name:
            models[role] = get_model(name, **common)
    return models


def prepare(config: RunConfig) -> tuple[RunConfig, list[list[Probe]]]:
    """Validate everything that can be validated before a run directory exists."""
    suite = get_suite(config.suite)
    subject = create_provider(config.model, base_url=config.base_url, args=config.subject_args())
    for role in ("user", "judge"):
        if name := config.options.get(f"{role}_model"):
            create_provider(name)
    if config.options.get("prefill") and not subject.supports_prefill:
        raise UsageError(
            f"{config.model} does not support assistant prefill, so --prefill cannot be honoured "
            "(it is native on anthropic/ models; openai-compatible servers need -M prefill=continue_final_message)"
        )
    entity_set = load_entity_set(config.entities)
    if config.limit is not None and config.limit < 2 and suite.limit_means == "entities":
        raise UsageError("--limit must be at least 2 entities for this suite")
    for name, value in (
        ("samples", config.samples),
        ("ranking_samples", config.ranking_samples),
        ("epochs", config.epochs),
    ):
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    config = config.model_copy(
        update={
            "entity_set": {
                "id": entity_set.id,
                "version": entity_set.version,
                "hash": entity_set.content_hash,
                "size": len(entity_set),
            }
        }
    )
    stage_names = list(suite.stages)
    if config.options.get("preferences") and stage_names and stage_names[0] == ELICITATION:
        # Preferences come from an earlier run of the same model: do not elicit them again.
        stage_names = stage_names[1:]
    stages = [[create_probe(name, config) for name in stage] for stage in stage_names]
    config = config.model_copy(
        update={"templates": {p.name: p.templates for s in stages for p in s}}
    )
    return config, stages


def start_run(config: RunConfig, settings: RunSettings, *, console: Any = None) -> RunResult:
    config, stages = prepare(config)
    check_writable(settings.log_dir)
    if settings.prices:
        load_price_table(settings.prices)
    from analysis.plan import plan_meta_for_run

    plan = plan_meta_for_run(settings.plan)  # validated before the run directory exists
    run_id = new_run_id(config)
    store = RunStore.create(
        settings.log_dir / run_id,
        {
            "run_id": run_id,
            "config": config.model_dump(mode="json"),
            "config_hash": config.digest(),
            "versions": environment_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": settings.command,
            "status": "running",
            "model_args": redact(config.model_args),
            "subject_args": redact(config.subject_args()),
            "plan": plan,
        },
    )
    store.claim()
    return _execute(store, config, stages, settings, console)


def resume_run(
    run: str, settings: RunSettings, overrides: dict[str, Any], *, console: Any = None
) -> RunResult:
    """Continue an interrupted run. ``overrides`` are options given again on the command line;
    any that differ from the stored configuration are refused."""
    directory = find_run(run, settings.log_dir)
    store = RunStore.open(directory)
    try:
        store.claim()
    except HarnessError:
        store.close()
        raise
    meta = store.meta()
    stored = RunConfig.model_validate(meta["config"])
    for key, value in overrides.items():
        current = getattr(stored, key, None)
        if key == "options":
            current = {name: stored.options.get(name) for name in value}
        if current != value:
            store.close()
            raise UsageError(
                f"run {meta['run_id']} was made with {key}={current!r}, not "
                f"{value!r}: resume it without that option, or start a new run"
            )
    config, stages = prepare(stored.model_copy(update={"entity_set": {}, "templates": {}}))
    if config.digest() != meta["config_hash"]:
        store.close()
        raise UsageError(
            f"run {meta['run_id']} cannot be resumed: its entity set or templates changed since "
            "it started (the configuration hash differs)"
        )
    store.set_meta(status="running", resumed=datetime.now(UTC).isoformat(timespec="seconds"))
    return _execute(store, config, stages, settings, console, resumed=True)


def _execute(
    store: RunStore,
    config: RunConfig,
    stages: list[list[Probe]],
    settings: RunSettings,
    console: Any,
    resumed: bool = False,
) -> RunResult:
    from rich.console import Console

    console = console or Console(stderr=True)
    meta = store.meta()
    accountant = Accountant(load_price_table(settings.prices) if settings.prices else None)
    started = time.perf_counter()
    status = "failed"
    counters = {"run": 0, "errors": 0}
    try:
        models = build_models(config, settings, accountant)
        run = RunContext(
            run_id=meta["run_id"],
            config=config,
            entities=(entities := load_entity_set(config.entities)),
            matcher=EntityMatcher(entities),
            models=models,
            store=store,
            max_sandboxes=settings.max_sandboxes,
        )
        with RunProgress(console, settings.progress) as progress:
            asyncio.run(_run_stages(run, stages, settings, progress, counters))
        status = "complete"
    except (KeyboardInterrupt, asyncio.CancelledError):
        status = "interrupted"
        raise KeyboardInterrupt from None
    finally:
        totals = {
            name: {
                "calls": t.calls,
                "cached": t.cached_calls,
                "errors": t.errors,
                "retries": t.retries,
                "input_tokens": t.usage.input_tokens,
                "output_tokens": t.usage.output_tokens,
                "cost_usd": t.cost,
            }
            for name, t in accountant.totals.items()
        }
        previous = meta.get("usage_sessions", [])
        store.set_meta(
            status=status,
            usage_sessions=[*previous, totals],
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        store.close()
    return RunResult(
        meta["run_id"],
        store.directory,
        status,
        time.perf_counter() - started,
        counters["run"],
        counters["errors"],
        accountant,
    )


async def _run_stages(
    run: RunContext,
    stages: list[list[Probe]],
    settings: RunSettings,
    progress: RunProgress,
    counters: dict[str, int],
) -> None:
    writer = BatchWriter(run.store)
    try:
        for stage in stages:
            for probe in stage:
                trials = probe.plan(run)
                ids = [t.id for t in trials]
                if len(set(ids)) != len(ids):
                    raise RuntimeError(f"probe {probe.name} planned duplicate trials")
                done = run.store.completed_ids()
                pending = [t for t in trials if t.id not in done]
                estimate = getattr(probe, "estimate", None)
                if estimate is not None and pending and (text := estimate(run)):
                    progress.console.print(f"[dim]{text}[/]")
                progress.start_stage(probe.name, len(trials), len(trials) - len(pending))
                await _run_trials(probe, pending, run, settings, writer, progress, counters)
                writer.flush()
    finally:
        writer.flush()


async def _run_trials(
    probe: Probe,
    trials: list[Trial],
    run: RunContext,
    settings: RunSettings,
    writer: BatchWriter,
    progress: RunProgress,
    counters: dict[str, int],
) -> None:
    queue = iter(trials)

    async def worker() -> None:
        for trial in queue:
            outcome = await run_trial(probe, trial, run)
            writer.add(outcome)
            counters["run"] += 1
            counters["errors"] += outcome.status != "ok"
            progress.advance(outcome.status != "ok")
            # Yield even when the model answered without awaiting (sim), so Ctrl-C is seen.
            await asyncio.sleep(0)

    workers = max(1, min(settings.max_connections * 2, len(trials)))
    await asyncio.gather(*(worker() for _ in range(workers)))


async def run_trial(probe: Probe, trial: Trial, run: RunContext) -> TrialOutcome:
    """Run one trial; model failures that survive the retries become an errored sample."""
    ctx = TrialContext(trial=trial, run=run)
    started = time.time()
    status, error, data = "ok", None, {}
    try:
        data = await probe.run(trial, ctx)
    except (ModelError, ProbeFailure) as failure:
        status, error = "error", f"{type(failure).__name__}: {failure}"
    except HarnessError:
        raise
    except Exception as bug:
        status, error = "error", f"{type(bug).__name__}: {bug}"
        print(f"harness: trial {trial.id} of {probe.name} failed: {error}", file=sys.stderr)
    return TrialOutcome(
        trial_id=trial.id,
        probe=probe.name,
        key=trial.key,
        status=status,
        data=data,
        error=error,
        calls=ctx.calls,
        records=ctx.records,
        started=started,
        completed=time.time(),
    )
