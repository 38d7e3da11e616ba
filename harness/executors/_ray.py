"""The Ray executor: the same plan, with its trials run as Ray tasks over a cluster's nodes.

The driver (the ``harness run`` process) connects to the cluster, ships each run's context
once and each stage's planned probe once (Ray's object store), and submits the stage's trials
as tasks: model-only trials in chunks (one CPU each, many trials at once inside), sandboxed
trials one per task, each holding one unit of the ``sandbox`` resource, so they run only on
nodes started with ``ray start --resources '{"sandbox": N}'``, at most N at once per node, on
that node's Docker daemon. Outcomes come back to the driver, which stores them as the local
executor's are (same trial ids, one transaction per trial).

Ray re-runs a task whose worker or node died (``max_retries``); a trial whose task failed more
often than that is stored as errored, so a resume runs it again. Every model call of every
worker goes through one connection limit per endpoint and one budget per run, held by the
coordinator actor on the driver's node (see :mod:`harness.executors._coordinator`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.batching import take_answers
from harness.errors import HarnessError, UsageError
from harness.executors._coordinator import LEASE_MARGIN, ClusterBudget, ClusterLimits, Coordinator
from harness.executors._ray_worker import (
    ChunkResult,
    RunPayload,
    Secrets,
    run_chunk,
    sweep_orphans,
)
from harness.model import Accountant, Budget, ConcurrencyLimits
from harness.store import TrialOutcome

if TYPE_CHECKING:
    from rich.console import Console

    from harness.engine import ExecutionState, RunSettings
    from harness.probes import Probe, RunContext, Trial

MAX_RETRIES = 3
"""Times Ray re-runs a task whose worker process or node died before storing it as errored."""
CHUNKS_PER_CPU = 4
"""Model-only trials are cut into about this many chunks per CPU of the cluster, so that a
lost chunk costs little and a slow one does not hold the stage up."""
MAX_CHUNK = 256
CONNECT_TIMEOUT = 5.0
SWEEP_TIMEOUT = 60.0
BASE_URL_VARIABLES = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "HARNESS_BASE_URL")
"""Environment variables the providers read besides their API keys."""


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(
            "--executor ray needs Ray on this machine and every node: "
            "pip install 'harness[ray]' (or 'ray[default]')"
        ) from None
    return ray


def _check_reachable(address: str) -> None:
    """Ray waits minutes for a head that is not there; say so at once instead."""
    if address == "auto":
        return
    if address.startswith("ray://"):
        raise UsageError(
            f"--ray-address {address}: Ray Client (ray://) addresses are not supported; run "
            "harness on a node of the cluster, or submit it with `ray job submit`"
        )
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray-address {address!r} is not HOST:PORT (the head's GCS port)")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise UsageError(
            f"--executor ray: no Ray cluster answers at {address} ({error.strerror or error})"
        ) from None


def _address(settings: RunSettings) -> str:
    return settings.ray_address or os.environ.get("RAY_ADDRESS") or "auto"


def check_ray_settings(settings: RunSettings) -> None:
    _import_ray()
    _check_reachable(_address(settings))


@dataclass
class _Run:
    """What the executor keeps per open run."""

    accountant: Accountant
    budget: Budget
    budget_key: str
    payload: Any = None
    """The run's :class:`RunPayload` in the object store, once its first stage ran."""


class RayExecutor:
    name = "ray"

    def __init__(self, settings: RunSettings, console: Console | None = None):
        ray = _import_ray()
        address = _address(settings)
        _check_reachable(address)
        try:
            ray.init(
                address=address,
                namespace="harness",
                log_to_driver=True,
                logging_level=logging.WARNING,
            )
        except Exception as error:  # Ray raises ConnectionError, RuntimeError (versions), ...
            raise UsageError(
                f"--executor ray: cannot join the cluster at {address}: {error}"
            ) from None
        self.ray = ray
        self.settings = settings
        self.console = console
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self._affinity = NodeAffinitySchedulingStrategy
        # On the driver's node: it lives and dies with the driver, which owns it.
        self.coordinator = (
            ray.remote(Coordinator)
            .options(
                num_cpus=0,
                max_restarts=0,
                max_concurrency=10_000,
                scheduling_strategy=NodeAffinitySchedulingStrategy(
                    ray.get_runtime_context().get_node_id(), soft=False
                ),
            )
            .remote(settings.max_connections, settings.timeout + LEASE_MARGIN)
        )
        self._chunk = ray.remote(run_chunk)
        self._sweep = ray.remote(sweep_orphans)
        self._runs: dict[str, _Run] = {}
        self._budget_keys: dict[int, str] = {}
        self.address = ray.get_runtime_context().gcs_address
        if console is not None:
            console.print(f"[dim]ray: {self._capacity_text()}[/]")

    # -- the cluster ---------------------------------------------------------------------
    def _alive_nodes(self) -> list[dict[str, Any]]:
        return [node for node in self.ray.nodes() if node.get("Alive")]

    def _total(self, resource: str) -> float:
        return sum(node["Resources"].get(resource, 0.0) for node in self._alive_nodes())

    def _capacity_text(self) -> str:
        nodes = self._alive_nodes()
        return (
            f"{len(nodes)} node(s) at {self.address}: {self._total('CPU'):g} CPU(s), "
            f"{self._total('sandbox'):g} sandbox slot(s)"
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "ray_version": self.ray.__version__,
            "nodes": [
                {
                    "node_id": node["NodeID"],
                    "hostname": node.get("NodeManagerHostname"),
                    "resources": {
                        k: v for k, v in node["Resources"].items() if k in ("CPU", "sandbox")
                    },
                }
                for node in self._alive_nodes()
            ],
        }

    def _require(self, resources: dict[str, float]) -> None:
        for resource, amount in resources.items():
            if self._total(resource) < amount:
                raise UsageError(
                    f"no node of the Ray cluster at {self.address} offers the '{resource}' "
                    f"resource these trials need: start the nodes that may run them with "
                    f"`ray start --address ... --resources '{{\"{resource}\": N}}'`"
                    if resource != "CPU"
                    else f"the Ray cluster at {self.address} has no CPU to run trials on"
                )

    # -- runs ----------------------------------------------------------------------------
    def sandboxes(self, max_sandboxes: int) -> int:
        """The cluster's sandbox slots: the nodes' ``sandbox`` resources, not ``--max-sandboxes``
        (which bounds one process, and a worker process runs one sandbox at a time)."""
        return int(self._total("sandbox"))

    def limits(self, max_connections: int) -> ConcurrencyLimits:
        return ClusterLimits(self.coordinator, max_connections)

    def open_run(self, run_id: str, accountant: Accountant, budget: Budget) -> Budget:
        chain: list[Budget] = []
        cursor: Budget | None = budget
        while cursor is not None:
            chain.append(cursor)
            cursor = cursor.parent
        parent_key: str | None = None
        for item in reversed(chain):  # parents first: a study's budget is shared
            key = self._budget_keys.setdefault(id(item), f"budget-{len(self._budget_keys)}")
            self.ray.get(
                self.coordinator.register_budget.remote(
                    key, item.cap, item.spent, item.label, parent_key
                )
            )
            parent_key = key
        assert parent_key is not None
        self._runs[run_id] = _Run(accountant, budget, parent_key)
        return ClusterBudget(self.coordinator, parent_key, capped=budget.capped, label=budget.label)

    def _payload(self, run: RunContext) -> Any:
        entry = self._runs[run.run_id]
        if entry.payload is None:
            from harness.config import environment_versions

            entry.payload = self.ray.put(
                RunPayload(
                    run_id=run.run_id,
                    config=run.config,
                    entities=run.entities,
                    settings=self.settings,
                    prices=entry.accountant.prices,
                    coordinator=self.coordinator,
                    budget_key=entry.budget_key,
                    budget_capped=entry.budget.capped,
                    budget_label=entry.budget.label,
                    secrets=Secrets(_model_environment(run)),
                    versions=environment_versions(),
                )
            )
        return entry.payload

    # -- trials --------------------------------------------------------------------------
    async def run_trials(
        self,
        probe: Probe,
        trials: list[Trial],
        run: RunContext,
        state: ExecutionState,
        finished: Callable[[TrialOutcome], None],
    ) -> None:
        if not trials or state.stopping:
            return
        ray = self.ray
        entry = self._runs[run.run_id]
        resources = dict(getattr(probe, "trial_resources", None) or {})
        if resources:
            # Sandboxed trials are long: one per task, so each is placed (and re-run) alone.
            self._require(resources)
            options: dict[str, Any] = {"num_cpus": 0, "resources": resources}
            size = 1
        else:
            self._require({"CPU": 1})
            options = {"num_cpus": 1}
            slots = max(1.0, self._total("CPU")) * CHUNKS_PER_CPU
            size = max(1, min(MAX_CHUNK, math.ceil(len(trials) / slots)))
        payload = self._payload(run)
        # The probe as plan() left it (preferences, groups): what its trials run with; and
        # the batch answers they will use (fetched here, before the stage).
        stage = ray.put((probe, take_answers(run, probe, trials)))
        stage_id = uuid.uuid4().hex
        task = self._chunk.options(
            **options, max_retries=MAX_RETRIES, retry_exceptions=False, name=f"harness:{probe.name}"
        )
        pending: dict[asyncio.Future[Any], tuple[Any, list[Trial]]] = {}
        for start in range(0, len(trials), size):
            chunk = trials[start : start + size]
            ref = task.remote([payload], [stage], stage_id, chunk)
            pending[asyncio.wrap_future(ref.future())] = (ref, chunk)
        delivered: set[str] = set()
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    _, chunk = pending.pop(future)
                    result = self._result(future, chunk, probe)
                    entry.accountant.merge(result.usage)
                    for outcome in result.outcomes:
                        # A chunk Ray re-ran after its first attempt reported nothing: its
                        # trials can only arrive once, but never store one twice anyway.
                        if outcome.trial_id not in delivered:
                            delivered.add(outcome.trial_id)
                            finished(outcome)
                    if result.stop is not None and not state.stopping:
                        state.stop(*result.stop)
                        self.coordinator.stop.remote(run.run_id, *result.stop)
        finally:
            for ref, _ in pending.values():
                ray.cancel(ref)
        if "sandbox" in resources:
            await self._sweep_nodes(run.run_id)

    def _result(self, future: asyncio.Future[Any], chunk: list[Trial], probe: Probe) -> ChunkResult:
        exceptions = self.ray.exceptions
        try:
            return future.result()
        except exceptions.TaskCancelledError:
            return ChunkResult([])
        except exceptions.RayTaskError as failure:
            cause = failure.cause
            if isinstance(cause, HarnessError):
                raise cause from None  # no Docker there, an image that will not build, ...
            raise HarnessError(
                f"a Ray worker failed running {probe.name} trials: {type(cause).__name__}: {cause}"
            ) from None
        except exceptions.RayError as failure:
            # The task's worker or node died more often than Ray re-runs it: errored samples,
            # which a resume runs again.
            now = time.time()
            reason = str(failure).strip().splitlines()[0] if str(failure).strip() else ""
            error = f"ray: {type(failure).__name__}: {reason}"
            return ChunkResult(
                [
                    TrialOutcome(
                        trial.id,
                        probe.name,
                        trial.key,
                        "error",
                        error=error,
                        started=now,
                        completed=now,
                    )
                    for trial in chunk
                ]
            )

    async def _sweep_nodes(self, run_id: str) -> None:
        """Remove, on every sandbox node, the run's containers whose process died (a node
        that was lost mid-sample and came back, or a worker killed outright)."""
        refs = [
            self._sweep.options(
                num_cpus=0,
                max_retries=0,
                scheduling_strategy=self._affinity(node["NodeID"], soft=False),
            ).remote(run_id)
            for node in self._alive_nodes()
            if node["Resources"].get("sandbox")
        ]
        if not refs:
            return
        done, _ = await asyncio.wait(
            [asyncio.wrap_future(ref.future()) for ref in refs], timeout=SWEEP_TIMEOUT
        )
        removed = sum(f.result() for f in done if f.exception() is None)
        if removed and self.console is not None:
            self.console.print(
                f"removed {removed} container(s) and network(s) of run {run_id} left on "
                "Ray nodes by workers that died"
            )

    def close(self) -> None:
        try:
            self.ray.kill(self.coordinator)
        finally:
            self.ray.shutdown()


def _model_environment(run: RunContext) -> dict[str, str]:
    """The driver's values of what the run's providers read from the environment."""
    from harness.model import provider_class, split_model_name

    names = set(BASE_URL_VARIABLES)
    models = [run.config.model, *(run.config.options.get(f"{r}_model") for r in ("user", "judge"))]
    for model in filter(None, models):
        variable = provider_class(split_model_name(str(model))[0]).api_key_env
        if variable:
            names.add(variable)
    return {name: os.environ[name] for name in names if os.environ.get(name)}
