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


class StageBar:
    """One stage's bar: counts its trials, errors and rate. Several may advance at once
    (the runs of a study share one display)."""

    def __init__(self, progress: Progress, task: TaskID):
        self._progress = progress
        self._task = task
        self._errors = 0
        self._done = 0
        self._started = time.monotonic()

    def advance(self, error: bool) -> None:
        self._errors += error
        self._done += 1
        # Our own rate: rich's task.speed walks its sample window on every call.
        rate = self._done / max(time.monotonic() - self._started, 1e-9)
        self._progress.update(self._task, advance=1, errors=self._errors, rate=rate)

    def grow(self, extra: int) -> None:
        """More trials for this stage (an adaptive probe planned another round)."""
        if extra:
            task = next(t for t in self._progress.tasks if t.id == self._task)
            self._progress.update(self._task, total=(task.total or 0) + extra)


class RunProgress:
    """One bar per probe stage (of every run shown). Quiet (no live display) when output is
    not a terminal."""

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

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)  # type: ignore[arg-type]

    def stage(self, description: str, total: int, done: int) -> StageBar:
        task = self._progress.add_task(description, total=total, completed=done, errors=0, rate=0.0)
        return StageBar(self._progress, task)

    @property
    def console(self) -> Console:
        return self.console_
