"""Executors: where a run's trials run, in this process (``local``, the default) or spread
over the nodes of a Ray cluster (``ray``).

The engine plans a stage, skips what is stored, and stores and counts every outcome; an
executor only turns trials into :class:`~harness.store.TrialOutcome` objects and hands each
to ``finished`` as it arrives. Probes never learn which executor runs them: a probe that needs
more than a model connection says so in ``trial_resources`` (``{"sandbox": 1}``), and an
executor that places trials on machines places them where that is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import UsageError
from harness.executors._local import LocalExecutor

if TYPE_CHECKING:
    from rich.console import Console

    from harness.engine import ExecutionState, RunSettings
    from harness.model import Accountant, Budget, ConcurrencyLimits
    from harness.probes import Probe, RunContext, Trial
    from harness.store import TrialOutcome

EXECUTORS = ("local", "ray")

OutcomeSink = Callable[["TrialOutcome"], None]
"""Receives each finished trial, in the driver process: the engine stores and counts it."""


class Executor(Protocol):
    """Runs the trials of every run of one :func:`~harness.engine.execute_runs` call."""

    name: str

    def describe(self) -> dict[str, Any]:
        """Where the trials run (recorded with the run as ``executor``)."""
        ...

    def sandboxes(self, max_sandboxes: int) -> int:
        """How many sandboxes can run at once, given ``--max-sandboxes``."""
        ...

    def limits(self, max_connections: int) -> ConcurrencyLimits:
        """The connection limit per endpoint that every model of these runs goes through,
        wherever it runs."""
        ...

    def open_run(self, run_id: str, accountant: Accountant, budget: Budget) -> Budget:
        """A run is starting: the budget its models spend from (``budget`` itself, or one
        that holds for every worker together); ``accountant`` receives the usage of calls
        made elsewhere."""
        ...

    async def run_trials(
        self,
        probe: Probe,
        trials: list[Trial],
        run: RunContext,
        state: ExecutionState,
        finished: OutcomeSink,
    ) -> None:
        """Run ``trials`` of the planned ``probe``; ``finished(outcome)`` for each, once.

        Takes no new trial once ``state`` is stopping; a trial cut short by a budget stops
        ``state`` (as :func:`~harness.engine.run_trial` does).
        """
        ...

    def close(self) -> None: ...


def check_executor(settings: RunSettings) -> None:
    """Refuse settings no executor can run with, before anything is written: an unknown
    name, Ray missing, or a Ray address that is malformed or where nothing answers."""
    if settings.executor == "ray":
        from harness.executors._ray import check_ray_settings

        check_ray_settings(settings)
    elif settings.executor not in EXECUTORS:
        raise UsageError(
            f"unknown executor {settings.executor!r}; choose one of {', '.join(EXECUTORS)}"
        )


def create_executor(settings: RunSettings, console: Console | None = None) -> Executor:
    """The executor ``settings.executor`` names, connected and ready (one clear line if not)."""
    if settings.executor == "local":
        return LocalExecutor(settings.max_connections)
    if settings.executor == "ray":
        from harness.executors._ray import RayExecutor

        return RayExecutor(settings, console)
    raise UsageError(
        f"unknown executor {settings.executor!r}; choose one of {', '.join(EXECUTORS)}"
    )


__all__ = [
    "EXECUTORS",
    "Executor",
    "LocalExecutor",
    "OutcomeSink",
    "check_executor",
    "create_executor",
]
