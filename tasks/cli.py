"""Plain functions behind `harness tasks list` and `harness tasks validate` (registered by the CLI)."""

from __future__ import annotations

import asyncio
import time

from rich.console import Console
from rich.table import Table

from tasks._spec import load_tasks
from tasks._validate import ValidationResult, validate_all


def list_tasks_table(console: Console) -> None:
    """Print the built-in tasks: id, category, difficulty, answer kind, limits and title."""
    tasks = load_tasks()
    table = Table(title=f"{len(tasks)} tasks", title_justify="left")
    for column in ("id", "category", "difficulty", "answer", "image", "steps", "title"):
        table.add_column(column, justify="right" if column == "steps" else "left")
    for task in tasks:
        table.add_row(
            task.id,
            task.category,
            task.difficulty,
            task.answer,
            "own" if task.needs_docker else "base",
            str(task.limits.steps),
            task.title,
        )
    console.print(table)


def _status(result: ValidationResult) -> str:
    if result.skipped:
        return "[yellow]skipped[/yellow]"
    return "[green]ok[/green]" if result.ok else "[red]FAILED[/red]"


def validate_tasks(console: Console, ids: list[str] | None, provider: str) -> int:
    """Validate the chosen tasks (all when ``ids`` is empty); returns the exit code.

    0 when every task validated (skipped ones included), 1 when any failed.  Malformed
    tasks or unknown ids raise ConfigError before anything runs.
    """
    tasks = load_tasks(ids=ids or None)
    started = time.monotonic()

    def report(result: ValidationResult) -> None:
        line = f"{_status(result)} {result.task_id} ({result.seconds:.1f} s)"
        if result.skipped:
            line += f": {result.skipped}"
        console.print(line)
        for problem in result.problems:
            console.print(f"    {problem}", markup=False, highlight=False)

    def build_note(message: str) -> None:
        # Build logs indent their detail lines; only the headline ones are worth showing.
        if not message.startswith(" "):
            console.print(message, markup=False, highlight=False)

    results = asyncio.run(validate_all(tasks, provider, on_result=report, progress=build_note))
    table = Table(title=f"validation on {provider}", title_justify="left")
    for column in ("task", "status", "untouched", "reference", "wrong", "seconds"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for result in results:
        cells = {check.name: ("ok" if check.ok else "[red]bad[/red]") for check in result.checks}
        table.add_row(
            result.task_id,
            _status(result),
            cells.get("untouched", "-"),
            cells.get("reference", "-"),
            cells.get("wrong", "-"),
            f"{result.seconds:.1f}",
        )
    console.print(table)
    failed = [result.task_id for result in results if not result.ok and not result.skipped]
    elapsed = time.monotonic() - started
    if failed:
        console.print(f"[red]{len(failed)} task(s) failed validation:[/red] {', '.join(failed)}")
        return 1
    console.print(f"all {len(results)} task(s) validated in {elapsed:.1f} s")
    return 0
