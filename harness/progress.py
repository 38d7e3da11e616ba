"""Progress display for long runs: a bar with rate, ETA and error count (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class RunProgress:
    """One bar per probe stage. Quiet (no live display) when output is not a terminal."""

    def __init__(self, console: Console, enabled: bool = True):
        self.console_ = console
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7.1f}/s"),
            TextColumn("[red]{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled or not console.is_terminal,
            refresh_per_second=4,
        )
        self._task: TaskID | None = None
        self._errors = 0
        self._done = 0
        self._started = 0.0

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)  # type: ignore[arg-type]

    def start_stage(self, description: str, total: int, done: int) -> None:
        self._errors = 0
        self._done = 0
        self._started = time.monotonic()
        self._task = self._progress.add_task(
            description, total=total, completed=done, errors=0, rate=0.0
        )

    def grow(self, extra: int) -> None:
        """More trials for the current stage (an adaptive probe planned another round)."""
        if self._task is not None and extra:
            task = next(t for t in self._progress.tasks if t.id == self._task)
            self._progress.update(self._task, total=(task.total or 0) + extra)

    def advance(self, error: bool) -> None:
        if self._task is None:
            return
        self._errors += error
        self._done += 1
        # Our own rate: rich's task.speed walks its sample window on every call.
        rate = self._done / max(time.monotonic() - self._started, 1e-9)
        self._progress.update(self._task, advance=1, errors=self._errors, rate=rate)

    @property
    def console(self) -> Console:
        return self.console_
