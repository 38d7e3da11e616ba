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
from typing import TYPE_CHECKING, Any

from harness.batching import prefetch_batches
from harness.config import RunConfig, environment_versions, redact
from harness.entities import EntityMatcher, EntitySet, read_entity_set
from harness.errors import ConfigError, HarnessError, UsageError
from harness.model import (
    Accountant,
    Budget,
    BudgetExhausted,
    ConcurrencyLimits,
    GenerateConfig,
    Model,
    ModelError,
    PermanentModelError,
    PriceTable,
    ResponseCache,
    RetryPolicy,
    check_batch,
    check_model,
    get_model,
    price_table,
)
from harness.probes import Probe, ProbeFailure, RunContext, Trial, TrialContext, create_probe
from harness.progress import RunProgress, StageBar
from harness.store import RunStore, TrialOutcome, default_log_dir, find_run
from harness.suites import ELICITATION, get_suite

if TYPE_CHECKING:
    from harness.executors import Executor


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
    max_cost: float | None = None
    """US dollars this run may spend (all roles, all sessions); None for no cap."""
    executor: str = "local"
    """Where trials run: ``local`` (this process) or ``ray`` (a Ray cluster's nodes)."""
    ray_address: str | None = None
    """The Ray cluster to use with ``executor="ray"`` (None: ``RAY_ADDRESS`` or this
    machine's cluster)."""
    batch: bool = False
    """Send the requests trials send first through the provider's batch API
    (:mod:`harness.batching`). Batches a run already has are collected either way."""
    batch_poll: float = 30.0
    """Seconds between polls of a live batch (growing to ten times that)."""


@dataclass
class RunResult:
    run_id: str
    directory: Path
    status: str
    seconds: float
    trials_run: int
    errors: int
    accountant: Accountant
    label: str = ""
    stop_reason: str | None = None
    """Why a run ended early (budget, authentication, an error), if it did."""
    spent: float = 0.0
    """US dollars spent on this run in every session so far."""


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


ROLE_OPTIONS = {"user": "user_model", "judge": "judge_model", "extractor": "extractor"}
"""Roles besides the subject, and the probe option naming each one's model."""


def build_models(
    config: RunConfig,
    settings: RunSettings,
    accountant: Accountant,
    limits: ConcurrencyLimits,
    cache: ResponseCache | None,
    budget: Budget | None = None,
) -> dict[str, Model]:
    """The run's models by role, wrapped in limits, retries, metering, cache and accounting.
    Every role spends from the run's budget."""
    common: dict[str, Any] = {
        "timeout": settings.timeout,
        "limits": limits,
        "retry": RetryPolicy(max_retries=settings.max_retries),
        "cache": cache,
        "accountant": accountant,
        "budget": budget,
    }
    models = {
        "subject": get_model(
            config.model, base_url=config.base_url, args=config.subject_args(), batch=True, **common
        )
    }
    for role, option in ROLE_OPTIONS.items():
        name = config.options.get(option)
        if name:
            models[role] = get_model(name, **common)
    return models


@dataclass
class Preparation:
    """A validated configuration and everything built while validating it."""

    config: RunConfig
    stages: list[list[Probe]]
    entities: EntitySet
    warnings: list[str]
    """Problems worth telling the user that do not stop the run (e.g. entities without a
    description)."""


def prepare(config: RunConfig, *, need_keys: bool = True, batch: bool = False) -> Preparation:
    """Validate everything that can be validated before a run directory exists.

    ``need_keys=False`` (a cost preview) checks model names and arguments but not API keys;
    ``batch`` that the model's provider has a batch API.
    """
    suite = get_suite(config.suite)
    if batch:
        check_batch(config.model)
    subject = check_model(
        config.model, base_url=config.base_url, args=config.subject_args(), need_key=need_keys
    )
    for option in ROLE_OPTIONS.values():
        if name := config.options.get(option):
            check_model(name, need_key=need_keys)
    if config.options.get("prefill") and subject is not None and not subject.supports_prefill:
        raise UsageError(
            subject.prefill_refusal
            or f"{config.model} does not support assistant prefill, so --prefill cannot be honoured "
            "(it is native on anthropic/ models; openai-compatible servers need -M prefill=continue_final_message)"
        )
    if subject is not None:
        subject.check_config(
            GenerateConfig(temperature=config.temperature, max_tokens=config.max_tokens)
        )
    entity_set, entity_report = read_entity_set(config.entities)
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
    if source := config.options.get("preferences"):
        from harness.probes._preferences import checked_preferences_source

        # Refused now, before a run directory exists, rather than when its stage is planned.
        checked_preferences_source(str(source), config)
    if config.options.get("preferences") and stage_names and stage_names[0] == ELICITATION:
        # Preferences come from an earlier run of the same model: do not elicit them again.
        stage_names = stage_names[1:]
    stages = [[create_probe(name, config) for name in stage] for stage in stage_names]
    # Probes may resolve their design options (defaults filled in), so they are hashed.
    resolved = {
        k: v for s in stages for p in s for k, v in getattr(p, "design_options", {}).items()
    }
    config = config.model_copy(
        update={
            "templates": {p.name: p.templates for s in stages for p in s},
            "options": {**config.options, **resolved},
        }
    )
    return Preparation(config, stages, entity_set, entity_report.warnings)


@dataclass
class PreparedRun:
    """A run whose directory exists and whose plan is ready: what :func:`execute_runs` runs."""

    store: RunStore
    preparation: Preparation
    resumed: bool = False
    label: str = ""
    """The model's label within a study (empty for a single run)."""

    @property
    def config(self) -> RunConfig:
        return self.preparation.config

    @property
    def stages(self) -> list[list[Probe]]:
        return self.preparation.stages


def check_settings(settings: RunSettings) -> dict[str, Any] | None:
    """Validate the execution settings (executor, log directory, prices, plan) before anything
    is written; returns the plan's metadata to record."""
    from analysis.plan import plan_meta_for_run
    from harness.executors import check_executor

    check_executor(settings)
    check_writable(settings.log_dir)
    if settings.prices:
        price_table(settings.prices)
    return plan_meta_for_run(settings.plan)


def create_run(
    config: RunConfig,
    settings: RunSettings,
    *,
    directory: Path | None = None,
    label: str = "",
    extra_meta: dict[str, Any] | None = None,
    preparation: Preparation | None = None,
) -> PreparedRun:
    """Validate ``config`` (unless its ``preparation`` is given, already validated) and create
    its run directory (``directory``, or a new id under the log directory). Nothing is written
    when validation fails."""
    preparation = preparation or prepare(config, batch=settings.batch)
    config = preparation.config
    plan = check_settings(settings)
    if directory is None:
        run_id = new_run_id(config)
    else:
        # A study's run is addressed as <study-id>/<model>, which is also its path under the
        # log directory.
        run_id = f"{directory.parent.name}/{directory.name}"
    store = RunStore.create(
        directory or settings.log_dir / run_id,
        {
            "run_id": run_id,
            "config": config.model_dump(mode="json"),
            "config_hash": config.digest(),
            "versions": environment_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": settings.command,
            "status": "pending",
            "model_args": redact(config.model_args),
            "subject_args": redact(config.subject_args()),
            "plan": plan,
            "entity_set": preparation.entities.model_dump(mode="json"),
            **(extra_meta or {}),
        },
    )
    return PreparedRun(store, preparation, label=label)


def reopen_run(
    directory: Path, overrides: dict[str, Any], *, label: str = "", batch: bool = False
) -> PreparedRun:
    """Open a run to resume it. ``overrides`` are design options given again on the command
    line; any that differ from the stored configuration are refused; ``batch`` (``--batch``)
    must suit its model."""
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
    try:
        preparation = prepare(
            stored.model_copy(update={"entity_set": {}, "templates": {}}), batch=batch
        )
    except HarnessError:
        store.close()
        raise
    if preparation.config.digest() != meta["config_hash"]:
        store.close()
        raise UsageError(
            f"run {meta['run_id']} cannot be resumed: its entity set or templates changed since "
            "it started (the configuration hash differs)"
        )
    if "entity_set" not in meta:
        # Runs made before the set was stored; the hash check above says it is the same set.
        store.set_meta(entity_set=preparation.entities.model_dump(mode="json"))
    return PreparedRun(store, preparation, resumed=True, label=label)


def start_run(config: RunConfig, settings: RunSettings, *, console: Any = None) -> RunResult:
    from harness.preview import announce_cost

    prepared = create_run(config, settings)
    announce_cost([prepared], settings, run_console(console))
    return execute_runs([prepared], settings, console=console)[0]


def run_console(console: Any) -> Any:
    """The console a run reports on: the caller's, or standard error."""
    from rich.console import Console

    return console or Console(stderr=True)


def resume_run(
    run: str, settings: RunSettings, overrides: dict[str, Any], *, console: Any = None
) -> RunResult:
    """Continue an interrupted run."""
    prepared = reopen_run(find_run(run, settings.log_dir), overrides, batch=settings.batch)
    return execute_runs([prepared], settings, console=console)[0]


def execute_runs(
    runs: list[PreparedRun],
    settings: RunSettings,
    *,
    console: Any = None,
    study_budget: Budget | None = None,
) -> list[RunResult]:
    """Run every prepared run to its end, concurrently, in one event loop.

    The runs share one connection limit per endpoint (two models of one provider share its
    ``--max-connections``) and, when given, one study budget. With several runs, one run's
    failure (a revoked key, an exhausted budget, a broken plan) ends only that run; a single
    run's error propagates as it always has.
    """
    from harness.executors import create_executor

    console = run_console(console)
    prices = price_table(settings.prices)
    try:
        executor = create_executor(settings, console)
    except HarnessError:
        for run in runs:
            run.store.close()
        raise
    limits = executor.limits(settings.max_connections)
    cache = ResponseCache() if settings.cache else None
    isolate = len(runs) > 1

    async def all_runs(progress: RunProgress) -> list[RunResult]:
        return list(
            await asyncio.gather(
                *(
                    _execute(
                        run,
                        settings,
                        progress,
                        prices,
                        limits,
                        cache,
                        study_budget,
                        isolate,
                        executor,
                    )
                    for run in runs
                )
            )
        )

    try:
        with RunProgress(console, settings.progress) as progress:
            return asyncio.run(all_runs(progress))
    finally:
        executor.close()
        for run in runs:
            run.store.close()
        if cache is not None:
            cache.close()


async def _execute(
    prepared: PreparedRun,
    settings: RunSettings,
    progress: RunProgress,
    prices: PriceTable,
    limits: ConcurrencyLimits,
    cache: ResponseCache | None,
    study_budget: Budget | None,
    isolate: bool,
    executor: Executor,
) -> RunResult:
    store, config = prepared.store, prepared.config
    for warning in prepared.preparation.warnings:
        progress.console.print(
            f"harness: warning: {warning}", markup=False, highlight=False, soft_wrap=True
        )
    store.claim()
    meta = store.meta()
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.set_meta(
        status="running",
        executor=executor.describe(),
        **({"resumed": now} if prepared.resumed else {}),
    )
    accountant = Accountant(prices)
    # A cap set when the run started holds on resume unless a new one is given.
    cap = settings.max_cost if settings.max_cost is not None else meta.get("max_cost")
    if cap is not None:
        store.set_meta(max_cost=cap)
    # The executor may hand back a budget that holds for all its workers together.
    budget = executor.open_run(
        meta["run_id"],
        accountant,
        Budget(
            cap,
            spent=store.spent(),
            parent=study_budget,
            label=f"{prepared.label or config.model} run",
        ),
    )
    state = ExecutionState(executor=executor)
    started = time.perf_counter()
    status, failure = "failed", None
    try:
        models = build_models(config, settings, accountant, limits, cache, budget)
        run = RunContext(
            run_id=meta["run_id"],
            config=config,
            entities=prepared.preparation.entities,
            matcher=EntityMatcher(prepared.preparation.entities),
            models=models,
            store=store,
            max_sandboxes=executor.sandboxes(settings.max_sandboxes),
        )
        await _run_stages(run, prepared, settings, progress, state)
        status = state.stop_status or "complete"
        failure = state.stop_reason
    except asyncio.CancelledError:
        status = "interrupted"
        raise
    except HarnessError as error:
        failure = str(error)
        if not isolate:
            raise
    finally:
        totals = {
            name: {
                "calls": t.calls,
                "cached": t.cached_calls,
                "batch": t.batch_calls,
                "errors": t.errors,
                "retries": t.retries,
                "input_tokens": t.usage.input_tokens,
                "output_tokens": t.usage.output_tokens,
                "reasoning_tokens": t.usage.reasoning_tokens,
                "cost_usd": t.cost,
            }
            for name, t in accountant.totals.items()
        }
        store.set_meta(
            status=status,
            stop_reason=failure,
            usage_sessions=[*meta.get("usage_sessions", []), totals],
            spent_usd=store.spent(),
            finished=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    return RunResult(
        meta["run_id"],
        store.directory,
        status,
        time.perf_counter() - started,
        state.trials_run,
        state.errors,
        accountant,
        label=prepared.label,
        stop_reason=failure,
        spent=store.spent(),
    )


@dataclass
class ExecutionState:
    """What one run's workers share while it executes: counts, why it stopped early, and
    the executor running its trials."""

    executor: Executor | None = None
    trials_run: int = 0
    errors: int = 0
    stop_status: str | None = None
    """``budget-exhausted`` or ``failed`` once the run must take no new trial."""
    stop_reason: str | None = None

    def stop(self, status: str, reason: str) -> None:
        if self.stop_status is None:
            self.stop_status, self.stop_reason = status, reason

    @property
    def stopping(self) -> bool:
        return self.stop_status is not None


async def _run_stages(
    run: RunContext,
    prepared: PreparedRun,
    settings: RunSettings,
    progress: RunProgress,
    state: ExecutionState,
) -> None:
    writer = BatchWriter(run.store)
    prefix = f"{prepared.label} · " if prepared.label else ""
    try:
        for stage in prepared.stages:
            await prefetch_batches(run, stage, settings, progress)
            for probe in stage:
                if state.stopping:
                    return
                trials = probe.plan(run)
                pending = _pending(probe, trials, run, set())
                estimate = getattr(probe, "estimate", None)
                if estimate is not None and pending and (text := estimate(run)):
                    progress.console.print(f"[dim]{prefix}{text}[/]")
                bar = progress.stage(prefix + probe.name, len(trials), len(trials) - len(pending))
                tried: set[str] = set()
                while pending:
                    await _run_trials(probe, pending, run, settings, writer, bar, state)
                    writer.flush()
                    if state.stopping or not getattr(probe, "adaptive", False):
                        break
                    # An adaptive probe plans its next round from the results just stored;
                    # trials tried in this process (errored ones too) are not run again.
                    tried.update(t.id for t in pending)
                    pending = _pending(probe, probe.plan(run), run, tried)
                    if pending:
                        # A round's questions do not depend on each other: batchable.
                        await prefetch_batches(run, [probe], settings, progress, skip=tried)
                    bar.grow(len(pending))
    finally:
        writer.flush()


def _pending(probe: Probe, trials: list[Trial], run: RunContext, tried: set[str]) -> list[Trial]:
    ids = [t.id for t in trials]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"probe {probe.name} planned duplicate trials")
    done = run.store.completed_ids()
    return [t for t in trials if t.id not in done and t.id not in tried]


async def _run_trials(
    probe: Probe,
    trials: list[Trial],
    run: RunContext,
    settings: RunSettings,
    writer: BatchWriter,
    bar: StageBar,
    state: ExecutionState,
) -> None:
    """Run ``trials`` on the run's executor; each outcome is stored and counted here, in
    this process, as it arrives (wherever the trial ran)."""

    def finished(outcome: TrialOutcome) -> None:
        writer.add(outcome)
        if not outcome.keep:
            return
        state.trials_run += 1
        state.errors += outcome.status != "ok"
        bar.advance(outcome.status != "ok")

    executor = state.executor
    if executor is None:
        from harness.executors import LocalExecutor

        executor = LocalExecutor(settings.max_connections)
    await executor.run_trials(probe, trials, run, state, finished)


async def run_trial(
    probe: Probe, trial: Trial, run: RunContext, state: ExecutionState | None = None
) -> TrialOutcome:
    """Run one trial; model failures that survive the retries become an errored sample.

    A call refused by a budget cap, or an authentication failure (which every later call
    would repeat), stops the run instead: the trial is not stored (only what its calls cost),
    so it runs again when the run is resumed.
    """
    ctx = TrialContext(trial=trial, run=run)
    started = time.time()
    status, error, data, keep = "ok", None, {}, True
    try:
        data = await probe.run(trial, ctx)
    except BudgetExhausted as exhausted:
        if state is None:
            raise
        state.stop("budget-exhausted", str(exhausted))
        status, error, keep = "error", str(exhausted), False
    except PermanentModelError as failure:
        status, error = "error", f"{type(failure).__name__}: {failure}"
        if failure.status in (401, 403) and state is not None:
            state.stop("failed", str(failure))
            keep = False
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
        keep=keep,
    )
