"""The ``harness`` commands (click)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from harness.config import RunConfig, parse_model_args
from harness.errors import UsageError
from harness.store import default_log_dir

# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True)

# Options that define a run's design; given again with --resume they must match the stored run.
DESIGN_OPTIONS = {
    "suite": "suite",
    "model": "model",
    "base_url": "base_url",
    "entities": "entities",
    "seed": "seed",
    "samples": "samples",
    "ranking_samples": "ranking_samples",
    "epochs": "epochs",
    "limit": "limit",
    "temperature": "temperature",
    "max_tokens": "max_tokens",
}

# Probe options: part of the design (hashed), stored in RunConfig.options under these names.
SUITE_OPTIONS = (
    "pairs",
    "max_attempts",
    "prefill",
    "user_model",
    "turns",
    "judge_model",
    "boolq_path",
    "preferences",
    "top_k",
    "task_filter",
    "task_dir",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="harness")
def cli() -> None:
    """Do a model's stated preferences about entities predict what it does?

    The default model is `sim`, a seeded simulated subject (not a language model) that makes
    every command runnable offline.
    """


@cli.command()
@click.option(
    "--suite",
    envvar="HARNESS_SUITE",
    default="elicitation",
    show_default=True,
    help="Suite to run: elicitation, advice, boolq, agentic.",
)
@click.option(
    "--model",
    envvar="HARNESS_MODEL",
    default="sim",
    show_default=True,
    help="provider/model, e.g. openai/gpt-4o, anthropic/claude-sonnet-4-5, "
    "openai-compatible/llama3, sim.",
)
@click.option(
    "-M",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Model argument (repeatable), e.g. -M seed=3 for sim.",
)
@click.option(
    "--base-url", envvar="HARNESS_BASE_URL", help="Endpoint for openai-compatible models."
)
@click.option(
    "--entities",
    envvar="HARNESS_ENTITIES",
    default="default",
    show_default=True,
    help="Entity set: a built-in name or a CSV/YAML file.",
)
@click.option(
    "--samples",
    envvar="HARNESS_SAMPLES",
    type=int,
    default=1,
    show_default=True,
    help="Samples per ordered pair.",
)
@click.option(
    "--ranking-samples",
    envvar="HARNESS_RANKING_SAMPLES",
    type=int,
    default=10,
    show_default=True,
    help="Direct-ranking samples (each with a fresh shuffle).",
)
@click.option("--epochs", envvar="HARNESS_EPOCHS", type=int, default=1, show_default=True)
@click.option("--seed", envvar="HARNESS_SEED", type=int, default=0, show_default=True)
@click.option(
    "--limit",
    envvar="HARNESS_LIMIT",
    type=int,
    default=None,
    help="Use only the first N entities (elicitation).",
)
@click.option(
    "--temperature", envvar="HARNESS_TEMPERATURE", type=float, default=1.0, show_default=True
)
@click.option("--max-tokens", envvar="HARNESS_MAX_TOKENS", type=int, default=None)
@click.option(
    "--max-connections",
    envvar="HARNESS_MAX_CONNECTIONS",
    type=int,
    default=32,
    show_default=True,
    help="Concurrent requests per provider endpoint.",
)
@click.option(
    "--timeout",
    envvar="HARNESS_TIMEOUT",
    type=float,
    default=120.0,
    show_default=True,
    help="Request timeout in seconds.",
)
@click.option("--max-retries", envvar="HARNESS_MAX_RETRIES", type=int, default=6, show_default=True)
@click.option(
    "--no-cache",
    envvar="HARNESS_NO_CACHE",
    is_flag=True,
    help="Do not read or write the response cache.",
)
@click.option(
    "--prices",
    envvar="HARNESS_PRICES",
    type=click.Path(dir_okay=False),
    help="Price table (YAML/JSON) for cost accounting.",
)
@click.option(
    "--log-dir",
    envvar="HARNESS_LOG_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where run directories go [default: ./runs].",
)
@click.option("--resume", "resume", metavar="RUN", help="Continue an interrupted run (id or path).")
@click.option(
    "--pairs",
    envvar="HARNESS_PAIRS",
    type=int,
    default=None,
    help="advice: sample this many unordered pairs instead of all.",
)
@click.option(
    "--max-attempts",
    envvar="HARNESS_MAX_ATTEMPTS",
    type=int,
    default=100,
    show_default=True,
    help="advice: attempts per query before giving up (each a fresh conversation).",
)
@click.option(
    "--prefill",
    envvar="HARNESS_PREFILL",
    default=None,
    help="advice: start of the assistant's answer (providers with native prefill only).",
)
@click.option(
    "--user-model",
    envvar="HARNESS_USER_MODEL",
    default=None,
    help="advice: a model that plays the user in multi-turn conversations.",
)
@click.option(
    "--turns",
    envvar="HARNESS_TURNS",
    type=int,
    default=1,
    show_default=True,
    help="advice: user turns per conversation (needs --user-model when > 1).",
)
@click.option(
    "--judge-model",
    envvar="HARNESS_JUDGE_MODEL",
    default=None,
    help="advice: classify answers with this model instead of the transparent rules.",
)
@click.option(
    "--boolq-path",
    envvar="HARNESS_BOOLQ_PATH",
    default=None,
    help="boolq: BoolQ validation split as JSONL or Parquet.",
)
@click.option(
    "--preferences",
    envvar="HARNESS_PREFERENCES",
    default=None,
    metavar="RUN",
    help="boolq/agentic: take preferences from this earlier run instead of eliciting them.",
)
@click.option(
    "--top-k",
    envvar="HARNESS_TOP_K",
    type=int,
    default=None,
    help="boolq/agentic: use the K most and K least preferred entities (default: boolq all, "
    "agentic 5).",
)
@click.option(
    "--tasks",
    "task_filter",
    envvar="HARNESS_TASKS",
    default=None,
    help="agentic: comma-separated task ids (default: all).",
)
@click.option(
    "--task-dir",
    envvar="HARNESS_TASK_DIR",
    default=None,
    help="agentic: a folder of task folders to use instead of the built-in suite "
    "(tasks/README.md describes the format).",
)
@click.option(
    "--max-sandboxes",
    envvar="HARNESS_MAX_SANDBOXES",
    type=int,
    default=4,
    show_default=True,
    help="agentic: containers running at once.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--plan",
    "plan_path",
    envvar="HARNESS_PLAN",
    type=click.Path(dir_okay=False),
    default=None,
    help="Analysis plan (from `harness plan`) this run is made under; recorded with its hash.",
)
@click.pass_context
def run(ctx: click.Context, **opts: object) -> None:
    """Run a suite and print its summary; the run directory is printed last."""
    from harness.engine import RunSettings, resume_run, start_run
    from harness.summary import print_summary

    planned = _under_plan(opts)
    if planned and not opts["no_cache"]:
        err_console.print(
            "[dim]run under an analysis plan: it does not read the response cache (answers "
            "recorded by earlier runs would not be this run's)[/]"
        )
    settings = RunSettings(
        log_dir=opts["log_dir"] or default_log_dir(),  # type: ignore[arg-type]
        max_connections=_positive(opts["max_connections"], "--max-connections"),
        timeout=float(opts["timeout"]),  # type: ignore[arg-type]
        max_retries=int(opts["max_retries"]),  # type: ignore[call-overload]
        cache=not opts["no_cache"] and not planned,
        prices=opts["prices"],  # type: ignore[arg-type]
        progress=not opts["no_progress"],
        command=shlex.join(["harness", *sys.argv[1:]]),
        max_sandboxes=_positive(opts["max_sandboxes"], "--max-sandboxes"),
        plan=opts["plan_path"],  # type: ignore[arg-type]
    )
    options = _suite_options(ctx, opts)
    model_args = parse_model_args(opts["model_args"])  # type: ignore[arg-type]
    if opts["resume"]:
        given = {
            field: opts[name]
            for name, field in DESIGN_OPTIONS.items()
            if ctx.get_parameter_source(name)
            in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
        }
        if model_args:
            given["model_args"] = model_args
        for name in SUITE_OPTIONS:
            if ctx.get_parameter_source(name) in (
                ParameterSource.COMMANDLINE,
                ParameterSource.ENVIRONMENT,
            ):
                given.setdefault("options", {})[name] = opts[name]
        result = resume_run(str(opts["resume"]), settings, given, console=err_console)
    else:
        config = RunConfig(
            suite=str(opts["suite"]),
            model=str(opts["model"]),
            model_args=model_args,
            base_url=opts["base_url"],  # type: ignore[arg-type]
            entities=str(opts["entities"]),
            seed=int(opts["seed"]),  # type: ignore[call-overload]
            samples=int(opts["samples"]),
            ranking_samples=int(opts["ranking_samples"]),  # type: ignore[call-overload]
            epochs=int(opts["epochs"]),
            limit=opts["limit"],  # type: ignore[call-overload, arg-type]
            temperature=opts["temperature"],
            max_tokens=opts["max_tokens"],  # type: ignore[arg-type]
            options=options,
        )
        if settings.plan:
            _check_plan_design(settings.plan, config)
        result = start_run(config, settings, console=err_console)
    print_summary(result, console)


def _under_plan(opts: dict[str, object]) -> bool:
    """Whether this run (new, or the one being resumed) is made under an analysis plan."""
    if not opts["resume"]:
        return bool(opts["plan_path"])
    from harness.store import RunStore, find_run

    log_dir = opts["log_dir"] or default_log_dir()
    store = RunStore.open(find_run(str(opts["resume"]), log_dir))  # type: ignore[arg-type]
    try:
        return bool(store.meta().get("plan"))
    finally:
        store.close()


def _check_plan_design(path: str, config: RunConfig) -> None:
    """Refuse a run that would not follow its plan's design (it could not be confirmatory)."""
    from analysis.plan import load_plan
    from analysis.runs import subject_label

    label = subject_label(config.model, config.subject_args())
    problems = load_plan(path).design.problems(config.model_dump(mode="json"), label)
    if problems:
        raise UsageError(
            f"this run does not follow the plan {path}: {'; '.join(problems)} "
            "(change the options, or the plan before any data exist)"
        )


def _suite_options(ctx: click.Context, opts: dict[str, object]) -> dict[str, object]:
    """The probe options the chosen suite uses; giving one it does not use is a usage error."""
    from harness.suites import get_suite

    suite = get_suite(str(opts["suite"]))
    options = {}
    for name in SUITE_OPTIONS:
        if name not in suite.options:
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                flag = "--" + ("tasks" if name == "task_filter" else name.replace("_", "-"))
                raise UsageError(f"{flag} does not apply to suite '{suite.name}'")
            continue
        if opts[name] is not None:
            # Absolute, so the recorded configuration (and a resume) does not depend on cwd.
            options[name] = (
                str(Path(str(opts[name])).resolve()) if name == "task_dir" else opts[name]
            )
    return options


def _positive(value: object, option: str) -> int:
    number = int(value)  # type: ignore[call-overload]
    if number < 1:
        raise UsageError(f"{option} must be at least 1")
    return number


@cli.command()
@click.option(
    "--log-dir", envvar="HARNESS_LOG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
def runs(log_dir: Path | None) -> None:
    """List the runs in the log directory."""
    from harness.store import list_runs

    infos = list_runs(log_dir)
    if not infos:
        console.print(f"no runs in {log_dir or default_log_dir()}")
        return
    table = Table("run", "suite", "model", "status", "samples", "errors", "created")
    for info in infos:
        table.add_row(
            info.run_id,
            info.suite,
            info.model,
            info.status,
            str(info.samples),
            str(info.errors),
            info.created,
        )
    console.print(table)


@cli.command()
def models() -> None:
    """List model providers, how to configure them, and sim's knobs."""
    from dataclasses import fields

    from harness.sim import knob_groups

    table = Table("provider", "model name", "configuration")
    table.add_row("sim", "sim", "simulated subject (NOT a language model); knobs below, via -M")
    table.add_row("openai", "openai/<model>", "OPENAI_API_KEY, optional OPENAI_BASE_URL")
    table.add_row(
        "anthropic", "anthropic/<model>", "ANTHROPIC_API_KEY, optional ANTHROPIC_BASE_URL"
    )
    table.add_row(
        "openai-compatible",
        "openai-compatible/<model>",
        "--base-url or HARNESS_BASE_URL; optional OPENAI_COMPATIBLE_API_KEY",
    )
    console.print(table)
    knobs = Table("sim knob (-M key=value)", "default", "group")
    for group in knob_groups():
        for f in fields(group):
            knobs.add_row(f.name, repr(getattr(group(), f.name)), group.__name__)
    console.print(knobs)
    console.print(
        "sim's seed defaults to the run's --seed; an explicit -M seed=N wins over --seed.",
        soft_wrap=True,
    )


@cli.command()
@click.argument("name", required=False)
def entities(name: str | None) -> None:
    """List the built-in entity sets, or the entities of one set (name or file)."""
    from harness.entities import list_entity_sets, load_entity_set

    if name is None:
        table = Table("set", "version", "entities", "categories", "hash")
        for entity_set in list_entity_sets():
            table.add_row(
                entity_set.id,
                entity_set.version,
                str(len(entity_set)),
                str(len(entity_set.categories)),
                entity_set.content_hash,
            )
        console.print(table)
        return
    entity_set = load_entity_set(name)
    table = Table(
        "id", "name", "category", "aliases", title=f"{entity_set.id} v{entity_set.version}"
    )
    for entity in entity_set:
        table.add_row(entity.id, entity.name, entity.category, ", ".join(entity.aliases))
    console.print(table)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option(
    "--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory [default: RUN/export].",
)
@click.option(
    "--log-dir", envvar="HARNESS_LOG_DIR", type=click.Path(file_okay=False, path_type=Path)
)
def export(run_id: str, fmt: str, output: Path | None, log_dir: Path | None) -> None:
    """Export a run's samples, calls and records to Parquet or CSV."""
    from harness.export import export_run

    written = export_run(run_id, fmt, output, log_dir)
    for path in written:
        console.print(str(path))


def _register_extensions() -> None:
    """Agentic commands (debug, sandbox, envs, tasks) live in their own module."""
    from harness.cli._agentic import register
    from harness.cli._analysis import analysis_commands

    register(cli)
    for command in analysis_commands:
        cli.add_command(command)


_register_extensions()
