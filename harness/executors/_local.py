"""The local executor: a stage's trials run in this process's event loop, at most twice as
many at once as the connection limit (so a trial waiting for a connection has the next one
ready). The default, and what a Ray worker runs its share of a stage with."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.model import Accountant, Budget, ConcurrencyLimits

if TYPE_CHECKING:
    from harness.engine import ExecutionState
    from harness.probes import Probe, RunContext, Trial
    from harness.store import TrialOutcome


class LocalExecutor:
    name = "local"

    def __init__(self, max_connections: int):
        self.max_connections = max_connections

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "hostname": socket.gethostname()}

    def sandboxes(self, max_sandboxes: int) -> int:
        return max_sandboxes

    def limits(self, max_connections: int) -> ConcurrencyLimits:
        return ConcurrencyLimits(max_connections)

    def open_run(self, run_id: str, accountant: Accountant, budget: Budget) -> Budget:
        return budget

    async def run_trials(
        self,
        probe: Probe,
        trials: list[Trial],
        run: RunContext,
        state: ExecutionState,
        finished: Callable[[TrialOutcome], None],
    ) -> None:
        from harness.engine import run_trial

        queue = iter(trials)

        async def worker() -> None:
            for trial in queue:
                if state.stopping:
                    return
                finished(await run_trial(probe, trial, run, state))
                # Yield even when the model answered without awaiting (sim), so Ctrl-C is seen.
                await asyncio.sleep(0)

        workers = max(1, min(self.max_connections * 2, len(trials)))
        await asyncio.gather(*(worker() for _ in range(workers)))

    def close(self) -> None:
        pass
