"""Inside a Ray worker process: run one chunk of a stage's trials and send the outcomes back.

A worker rebuilds what the driver's probes see (configuration, entity set, matcher, models)
once per run and keeps it, with the planned probe of each stage, for the chunks that follow.
Its models go through the coordinator's connection limit and budget; it never opens the run
store (the driver is its only writer). Trials run in one event loop per process, on a thread
of its own, so that models, connections and the probe's per-run state (image builds, the
orphan sweep) outlive a chunk.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.config import RunConfig
    from harness.engine import RunSettings
    from harness.entities import EntitySet
    from harness.model import Accountant, ModelTotals, PriceTable, ResponseCache
    from harness.probes import Probe, RunContext, Trial
    from harness.store import TrialOutcome

CANCEL_GRACE = 30.0
"""Seconds a cancelled chunk is given to stop its trials (and remove their sandboxes)."""
KEPT_RUNS = 4
KEPT_STAGES = 4


class Secrets:
    """Environment variables the workers' models need (API keys, base URLs), as the driver
    has them. Shipped through Ray's object store, never in a runtime environment (which the
    dashboard shows) or a log; its repr names no value."""

    def __init__(self, values: dict[str, str]):
        self._values = dict(values)

    def __repr__(self) -> str:
        return f"<Secrets: {', '.join(sorted(self._values)) or 'none'} (values withheld)>"

    def apply(self) -> None:
        os.environ.update(self._values)


@dataclass
class RunPayload:
    """What a worker needs of a run, sent once per run."""

    run_id: str
    config: RunConfig
    entities: EntitySet
    settings: RunSettings
    prices: PriceTable
    coordinator: Any
    budget_key: str
    budget_capped: bool
    budget_label: str
    secrets: Secrets
    versions: dict[str, str]
    """The driver's :func:`~harness.config.environment_versions`: a worker must match."""


@dataclass
class ChunkResult:
    outcomes: list[TrialOutcome]
    usage: dict[str, ModelTotals] = field(default_factory=dict)
    """What this chunk's calls used, by model (for the driver's accountant)."""
    stop: tuple[str, str] | None = None
    """Why the run must take no new trial (a budget cap, a revoked key), if it must."""


class _DriverOnlyStore:
    """Stands in for the run store in a worker: probes read the store in ``plan()``, which
    runs on the driver, never in ``run()``."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(
            "the run store is open only in the driver process; a probe may read it in "
            "plan(), not in run()"
        )


@dataclass
class _WorkerRun:
    context: RunContext
    accountant: Accountant
    settings: RunSettings
    coordinator: Any


_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_runs: OrderedDict[str, _WorkerRun] = OrderedDict()
_stages: OrderedDict[str, Probe] = OrderedDict()
_cache: ResponseCache | None = None
_where: dict[str, Any] | None = None


def _event_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="harness-trials", daemon=True).start()
            _loop = loop
        return _loop


def run_chunk(
    payload: list[Any], stage: list[Any], stage_id: str, trials: list[Trial]
) -> ChunkResult:
    """The Ray task. ``payload`` and ``stage`` hold one object reference each (wrapped, so
    that Ray does not fetch them for every chunk: a worker fetches each once)."""
    future = asyncio.run_coroutine_threadsafe(
        _run_chunk(payload[0], stage[0], stage_id, trials), _event_loop()
    )
    try:
        return future.result()
    except KeyboardInterrupt:
        # ray.cancel(): stop the trials, giving their sandboxes time to be removed.
        future.cancel()
        concurrent.futures.wait([future], timeout=CANCEL_GRACE)
        raise


async def _fetch(ref: Any) -> Any:
    return await asyncio.wrap_future(ref.future())


async def _run_chunk(payload_ref: Any, stage_ref: Any, stage_id: str, trials: list[Trial]) -> Any:
    from harness.batching import give_answers
    from harness.engine import ExecutionState
    from harness.executors._coordinator import call
    from harness.executors._local import LocalExecutor

    run = await _worker_run(payload_ref)
    if stage_id not in _stages:
        probe, answers = await _fetch(stage_ref)
        give_answers(run.context, answers)
        _stages[stage_id] = probe
        while len(_stages) > KEPT_STAGES:
            _stages.popitem(last=False)
    probe = _stages[stage_id]
    if await call(run.coordinator.stopped, run.context.run_id) is not None:
        return ChunkResult([])  # the run stopped while this chunk waited for a worker
    run.accountant.totals = {}
    state = ExecutionState()
    outcomes: list[TrialOutcome] = []
    executor = LocalExecutor(run.settings.max_connections)
    await executor.run_trials(probe, trials, run.context, state, outcomes.append)
    where = _placement()
    for outcome in outcomes:
        outcome.records.append(("placement", where))
    stop = (state.stop_status, state.stop_reason or "") if state.stop_status else None
    return ChunkResult(outcomes, run.accountant.totals, stop)


async def _worker_run(payload_ref: Any) -> _WorkerRun:
    key = payload_ref.hex()
    if key not in _runs:
        _runs[key] = _build_run(await _fetch(payload_ref))
        while len(_runs) > KEPT_RUNS:
            _runs.popitem(last=False)
    return _runs[key]


def _build_run(payload: RunPayload) -> _WorkerRun:
    from harness.config import environment_versions
    from harness.engine import build_models
    from harness.entities import EntityMatcher
    from harness.errors import HarnessError
    from harness.executors._coordinator import ClusterBudget, ClusterLimits
    from harness.model import Accountant
    from harness.probes import RunContext

    mine = environment_versions()
    differ = [
        f"{name} {mine.get(name)} (driver {version})"
        for name, version in payload.versions.items()
        if name != "platform" and mine.get(name) != version
    ]
    if differ:
        raise HarnessError(
            f"Ray node {socket.gethostname()} runs other versions than the driver: "
            f"{', '.join(differ)}; install the same versions on every node"
        )
    payload.secrets.apply()
    accountant = Accountant(payload.prices)
    models = build_models(
        payload.config,
        payload.settings,
        accountant,
        ClusterLimits(payload.coordinator, payload.settings.max_connections),
        _response_cache(payload.settings),
        ClusterBudget(
            payload.coordinator,
            payload.budget_key,
            capped=payload.budget_capped,
            label=payload.budget_label,
        ),
    )
    context = RunContext(
        run_id=payload.run_id,
        config=payload.config,
        entities=payload.entities,
        matcher=EntityMatcher(payload.entities),
        models=models,
        store=_DriverOnlyStore(),  # type: ignore[arg-type]
        max_sandboxes=payload.settings.max_sandboxes,
    )
    return _WorkerRun(context, accountant, payload.settings, payload.coordinator)


def _response_cache(settings: RunSettings) -> ResponseCache | None:
    """This machine's response cache (one per process, opened on first use)."""
    global _cache
    if not settings.cache:
        return None
    if _cache is None:
        from harness.model import ResponseCache

        _cache = ResponseCache()
    return _cache


def _placement() -> dict[str, Any]:
    """Where this process runs, recorded with every trial it runs (``placement`` records)."""
    global _where
    if _where is None:
        import ray

        context = ray.get_runtime_context()
        _where = {
            "executor": "ray",
            "node_id": context.get_node_id(),
            "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
        }
    return _where


def sweep_orphans(run_id: str) -> int:
    """The Ray task run on every sandbox node after a stage: remove the run's containers on
    this node's daemon whose process died (a node lost mid-sample and back since)."""
    import envs

    return envs.remove_orphans(run_id)
