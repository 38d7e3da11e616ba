"""Commands for the agentic suite: ``debug`` a task in its container, ``sandbox cleanup``,
``envs build``, ``tasks list`` and ``tasks validate``.

Register them on the main group with :func:`register`. Everything that touches Docker or the
task suite is imported inside the commands, so ``harness --help`` stays fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.errors import UsageError

if TYPE_CHECKING:
    from envs.docker import DockerSandbox
    from harness.entities import Entity

console = Console() if sys.stdout.isatty() else Console(width=160)


class CommandFailed(click.ClickException):
    """A command that ran but found problems; exits with its own code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def _load_task(task_id: str, root: str | None = None) -> Any:
    import tasks

    everything = tasks.load_tasks(root)
    found = [t for t in everything if t.id == task_id]
    if not found:
        known = ", ".join(t.id for t in everything)
        raise UsageError(f"no agentic task {task_id!r} (tasks: {known})")
    return found[0]


def _task_cli(name: str) -> Any:
    """A helper from ``tasks/cli.py``, or None where that module or the helper is missing."""
    try:
        from tasks import cli as task_cli
    except ImportError:
        return None
    return getattr(task_cli, name, None)


def _find_entity(entity_set: str, wanted: str) -> Entity:
    """An entity by id, name or alias (case-insensitive)."""
    from harness.entities import load_entity_set

    needle = wanted.strip().casefold()
    for entity in load_entity_set(entity_set):
        names = [entity.id, entity.name, *entity.aliases]
        if needle in (n.casefold() for n in names):
            return entity
    raise UsageError(f"entity set {entity_set!r} has no entity {wanted!r} (id, name or alias)")


def _framed_prompt(task: Any, entity: Entity | None, framing: str | None) -> tuple[str, str]:
    """``(system, user)`` exactly as the agentic probe would send them."""
    from harness.prompts import get_template, templates_for

    templates = templates_for("agentic")
    agent = next(t for t in templates if t.tags.get("role") == "agent")
    if framing:
        template = get_template(framing)
    elif entity is None:
        template = next(t for t in templates if t.tags.get("framing") == "neutral")
    else:
        template = min(
            (t for t in templates if t.tags.get("framing") == "entity"), key=lambda t: t.id
        )
    if template.tags.get("framing") == "entity" and entity is None:
        raise UsageError(f"framing {template.id} names an entity: give --entity")
    system, _ = agent.render()
    _, user = template.render(
        task=task.prompt.strip(),
        entity=entity.name if entity else "",
        entity_description=entity.description if entity else "",
    )
    return system or "", user


def _recorded(run: str, sample: str, log_dir: Path | None) -> tuple[dict[str, Any], list[dict]]:
    """A stored agentic sample (by trial id or a unique prefix, plus the run's entity set
    as ``entity_set``) and its transcript entries."""
    from harness.store import RunStore, find_run

    store = RunStore.open(find_run(run, log_dir))
    try:
        samples = [s for s in store.iter_samples("agentic") if s["trial_id"].startswith(sample)]
        if len(samples) != 1:
            raise UsageError(
                f"run {run} has {len(samples)} agentic samples matching {sample!r}; "
                "give a (longer) trial id"
            )
        steps = store.records_df("agent_step")
        config = store.meta().get("config", {})
    finally:
        store.close()
    row = {
        **samples[0],
        "entity_set": config.get("entities", "default"),
        "task_dir": (config.get("options") or {}).get("task_dir"),
    }
    if steps.empty:
        return row, []
    mine = steps[steps["trial_id"] == row["trial_id"]].sort_values("idx")
    entries = [
        {k: v for k, v in entry.items() if not _missing(v)}
        for entry in mine.to_dict(orient="records")
    ]
    return row, entries


def _as_int(value: Any) -> Any:
    """Whole numbers the DataFrame turned into floats (1.0) back into ints, for display."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _missing(value: Any) -> bool:
    return isinstance(value, float) and value != value  # NaN from the DataFrame's union of keys


@click.command()
@click.argument("task_id", metavar="TASK")
@click.option("--entity", default=None, help="Frame the prompt for this entity (id or name).")
@click.option(
    "--entities",
    "entity_set",
    envvar="HARNESS_ENTITIES",
    default="default",
    show_default=True,
    help="Entity set --entity is looked up in.",
)
@click.option("--framing", default=None, help="Framing template id (default: the probe's first).")
@click.option("--exec", "command", default=None, metavar="CMD", help="Run CMD instead of a shell.")
@click.option(
    "--grade", "grade", is_flag=True, help="Grade the container as it stands, at the end."
)
@click.option("--submission", default=None, help="The answer --grade grades (default: none).")
@click.option(
    "--replay",
    nargs=2,
    default=None,
    metavar="RUN SAMPLE",
    help="Replay a stored sample's tool calls in a fresh container, next to the recorded outputs.",
)
@click.option(
    "--log-dir", envvar="HARNESS_LOG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
def debug(
    task_id: str,
    entity: str | None,
    entity_set: str,
    framing: str | None,
    command: str | None,
    grade: bool,
    submission: str | None,
    replay: tuple[str, str] | None,
    log_dir: Path | None,
) -> None:
    """Start TASK's container, show its framed prompt, then open a shell in it (or run --exec,
    or --replay a stored sample). The container is removed at the end, whatever happens."""
    recorded: list[dict] = []
    row: dict[str, Any] = {}
    if replay:
        row, recorded = _recorded(replay[0], replay[1], log_dir)
    # A replayed sample's task comes from where its run took it (--task-dir), not from here.
    task = _load_task(task_id, row.get("task_dir"))
    if replay:
        if row.get("task_id") != task.id:
            raise UsageError(
                f"sample {row['trial_id']} is of task {row.get('task_id')}, not {task.id}"
            )
        entity = entity or row.get("entity")
        entity_set = row["entity_set"]
        framing = framing or row.get("template_id")
        if submission is None:
            submission = row.get("submission")
    chosen = _find_entity(entity_set, entity) if entity else None
    system, user = _framed_prompt(task, chosen, framing)
    with _exit_on_hangup():
        asyncio.run(_debug(task, system, user, command, grade, submission, recorded))


@contextlib.contextmanager
def _exit_on_hangup() -> Iterator[None]:
    """Turn SIGHUP and SIGTERM into ``SystemExit(128 + signal)`` while the block runs.

    Their default action kills the process on the spot, so closing the terminal of a
    ``debug`` shell (SIGHUP) left the container running. Raised as an exception instead,
    they unwind ``async with``, which removes the container; further ones are ignored so
    the removal is not cut short (a closed terminal sends more than one).
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    # Only where the default action (death) stands: `nohup harness debug` keeps its SIG_IGN.
    signums = [s for s in (signal.SIGHUP, signal.SIGTERM) if signal.getsignal(s) == signal.SIG_DFL]

    def leave(signum: int, frame: Any) -> None:
        for each in signums:
            signal.signal(each, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    for each in signums:
        signal.signal(each, leave)
    try:
        yield
    finally:
        for each in signums:
            signal.signal(each, signal.SIG_DFL)


async def _debug(
    task: Any,
    system: str,
    user: str,
    command: str | None,
    grade: bool,
    submission: str | None,
    recorded: list[dict],
) -> None:
    import tasks
    from envs import sandbox_provider

    console.print(f"[dim]building image for {task.id}...[/]")
    image = await tasks.task_image(task)
    factory = sandbox_provider("docker")
    box: DockerSandbox
    async with factory(tasks.sandbox_spec(task, image), run_id="debug", sample_id=task.id) as box:
        await tasks.setup_workspace(box, task)
        console.rule("system prompt")
        console.print(system, markup=False, highlight=False, soft_wrap=True)
        console.rule("task message")
        console.print(user, markup=False, highlight=False, soft_wrap=True)
        console.rule()
        if recorded:
            await _replay(box, task, recorded)
        elif command is not None:
            result = await box.exec(
                ["bash", "-c", command], timeout=float(task.limits.command_timeout)
            )
            sys.stdout.write(result.stdout)
            sys.stderr.write(result.stderr)
            console.print(f"[dim]exit code {result.exit_code}[/]")
        elif not grade:
            _interactive_shell(box)
        if grade:
            outcome = await tasks.grade(box, task, submission)
            console.print(
                f"grade: passed={outcome.passed} score={outcome.score} "
                f"error={outcome.error} ({outcome.duration:.1f} s)",
                markup=False,
            )
            if outcome.details:
                console.print(outcome.details, markup=False)
    console.print(f"[dim]container {box.container_name} removed[/]")


def _interactive_shell(box: DockerSandbox) -> None:
    """``docker exec`` a login shell in the container, as the agent, in the workspace."""
    tty = ["-it"] if sys.stdin.isatty() else ["-i"]
    console.print(f"[dim]shell in {box.container_name}; exit it to remove the container[/]")
    with _terminal_modes_kept():
        subprocess.run(
            [
                "docker",
                "exec",
                *tty,
                "-u",
                box.spec.user,
                "-w",
                box.spec.workdir,
                box.container_name,
                "bash",
                "-l",
            ],
            check=False,
        )


@contextlib.contextmanager
def _terminal_modes_kept() -> Iterator[None]:
    """Put the terminal's modes back afterwards: ``docker exec -it`` makes it raw and only
    restores it when it exits by itself, not when killed (as a SIGTERM to us has it be)."""
    if not sys.stdin.isatty():
        yield
        return
    import termios

    fd = sys.stdin.fileno()
    modes = termios.tcgetattr(fd)
    try:
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):  # e.g. the terminal hung up
            termios.tcsetattr(fd, termios.TCSADRAIN, modes)


async def _replay(box: DockerSandbox, task: Any, recorded: list[dict]) -> None:
    """Run the recorded tool calls again, in order, printing each new output beside the old."""
    from agents import AgentLimits, make_tools, run_tool_call
    from harness.model import ToolCall

    limits = AgentLimits.from_task(task.limits)
    tools = {tool.name: tool for tool in make_tools(box, limits)}
    calls = [e for e in recorded if e.get("type") == "tool" and not e.get("skipped")]
    same = 0
    for entry in calls:
        call = ToolCall(
            id=str(entry.get("call_id", "")),
            name=str(entry.get("name", "")),
            arguments=entry.get("arguments") or {},
            parse_error=entry.get("parse_error"),
        )
        output = await run_tool_call(call, tools, timeout=limits.command_timeout)
        now = output.content if output.submission is None else f"submitted: {output.submission}"
        then = str(entry.get("output", ""))
        if output.submission is not None:
            then = f"submitted: {entry.get('submission', '')}"
        same += now == then
        # Text objects, not strings: outputs and commands are full of "[...]", which rich
        # would otherwise read as markup and silently drop.
        heading = f"step {_as_int(entry.get('step'))}: {call.name} {call.arguments}"
        table = Table(
            "recorded",
            "replayed",
            title=Text(heading if len(heading) <= 300 else heading[:300] + " ..."),
            title_justify="left",
            expand=True,
        )
        table.add_row(Text(then), Text(now) if now != then else Text("(same)", style="dim"))
        console.print(table)
    console.print(f"{same} of {len(calls)} tool outputs replayed identically")


@click.group()
def sandbox() -> None:
    """Sandbox maintenance."""


@sandbox.command()
@click.option("--run", "run_id", default=None, help="Only this run's containers.")
@click.option(
    "--force", is_flag=True, help="Also remove the sandboxes of runs that are still going."
)
@click.option(
    "--log-dir", envvar="HARNESS_LOG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
def cleanup(run_id: str | None, force: bool, log_dir: Path | None) -> None:
    """Remove leftover harness containers and networks (all, or one run's).

    Sandboxes of runs still going (a live process holds their run in the log directory)
    are kept unless --force is given: removing them would fail their samples mid-task.
    """
    import envs
    from harness.store import default_log_dir, run_in_progress

    root = log_dir or default_log_dir()
    live = set() if force else {r for r in envs.managed_runs() if run_in_progress(root / r)}
    removed = envs.cleanup(run_id, keep_runs=live)
    console.print(f"removed {removed} container(s) and network(s)")
    kept = sorted(live if run_id is None else live & {run_id})
    if kept:
        console.print(
            f"kept the sandboxes of {len(kept)} run(s) still going ({', '.join(kept)}); "
            "--force removes them too"
        )


@click.group()
def envs() -> None:
    """Sandbox images."""


@envs.command()
@click.option("--tasks", "task_filter", default=None, help="Comma-separated task ids.")
def build(task_filter: str | None) -> None:
    """Build (or find cached) the base image and every task image."""
    import tasks
    from envs.images import ensure_base_image

    base = ensure_base_image()
    console.print(f"base image: {base}")
    ids = [p.strip() for p in task_filter.split(",") if p.strip()] if task_filter else None

    async def build_all() -> list[tuple[str, str]]:
        return [(t.id, await tasks.task_image(t)) for t in tasks.load_tasks(ids=ids)]

    for task_id, image in asyncio.run(build_all()):
        console.print(f"{task_id}: {image}")


@click.group("tasks")
def tasks_group() -> None:
    """The agentic task suite."""


@tasks_group.command("list")
def list_tasks() -> None:
    """List the tasks."""
    import tasks

    table_fn = _task_cli("list_tasks_table")
    if table_fn is not None:
        table_fn(console)
        return
    table = Table("id", "version", "category", "difficulty", "answer", "title")
    for task in tasks.load_tasks():
        table.add_row(
            task.id, str(task.version), task.category, str(task.difficulty), task.answer, task.title
        )
    console.print(table)


@tasks_group.command("validate")
@click.argument("ids", nargs=-1)
@click.option(
    "--provider", type=click.Choice(["docker", "local"]), default="docker", show_default=True
)
def validate(ids: tuple[str, ...], provider: str) -> None:
    """Check that each task's reference solution passes its grader and its wrong attempt fails."""
    validate_fn = _task_cli("validate_tasks")
    if validate_fn is None:
        raise UsageError("tasks validate is not available: tasks/cli.py has no validate_tasks")
    code = int(validate_fn(console, list(ids) or None, provider))
    if code:
        raise CommandFailed("task validation failed", code)


COMMANDS: tuple[click.Command, ...] = (debug, sandbox, envs, tasks_group)


def register(group: click.Group) -> None:
    """Add the agentic commands to the ``harness`` group."""
    for command in COMMANDS:
        group.add_command(command)
