"""The ``harness`` commands (click)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from harness.config import RunConfig, parse_model_args
from harness.errors import UsageError
from harness.executors import EXECUTORS
from harness.store import default_log_dir
from harness.suites import ANSWER_OPTIONS, PAIRWISE_OPTIONS

if TYPE_CHECKING:
    from harness.engine import RunSettings
    from harness.entities import EntitySet, LoadReport

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
    *PAIRWISE_OPTIONS,
    *ANSWER_OPTIONS,
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
    "openai-compatible/llama3, sim; several, separated by commas, run as one study.",
)
@click.option(
    "-M",
    "model_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="Model argument (repeatable), e.g. -M seed=3 for sim; -M MODEL:key=value for one "
    "model of several (NAME#2 for the second of two identical names).",
)
@click.option(
    "--base-url", envvar="HARNESS_BASE_URL", help="Endpoint for openai-compatible models."
)
@click.option(
    "--entities",
    envvar="HARNESS_ENTITIES",
    default="default",
    show_default=True,
    help="Entity set: a built-in name or a CSV/YAML file (only a name column is required; "
    "`harness entities FILE` shows how it is read).",
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
    "--pair-strategy",
    envvar="HARNESS_PAIR_STRATEGY",
    type=click.Choice(["full", "active"]),
    default=None,
    help="Pairwise design: every pair in both orders (full), or pairs chosen in rounds from "
    "the Bradley–Terry fit of the answers so far (active)  [default: full].",
)
@click.option(
    "--pair-budget",
    envvar="HARNESS_PAIR_BUDGET",
    default=None,
    callback=lambda _ctx, _param, value: _pair_budget(value),
    metavar="N|P%",
    help="active: pairwise queries to spend, or a share of the full design's  [default: 25%].",
)
@click.option(
    "--pair-rounds",
    envvar="HARNESS_PAIR_ROUNDS",
    type=int,
    default=None,
    help="active: rounds the budget is spread over (1 = a random design)  [default: 4].",
)
@click.option(
    "--pair-orders",
    envvar="HARNESS_PAIR_ORDERS",
    type=click.Choice(["alternate", "both"]),
    default=None,
    help="active: ask a chosen pair once, in position-balancing order, or in both orders  "
    "[default: alternate].",
)
@click.option(
    "--pair-stop-rho",
    envvar="HARNESS_PAIR_STOP_RHO",
    type=float,
    default=None,
    help="active: also stop once the Spearman rho between the fits before two consecutive "
    "rounds reaches this value.",
)
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
    "--extractor",
    envvar="HARNESS_EXTRACTOR",
    default=None,
    metavar="MODEL",
    help="A model that reads the answers the rules leave undecided (never refusals) and "
    "states the choice in one JSON object; its decisions are marked parse_method=extractor.",
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
@click.option(
    "--executor",
    envvar="HARNESS_EXECUTOR",
    type=click.Choice(EXECUTORS),
    default="local",
    show_default=True,
    help="Where trials run: in this process, or as tasks over a Ray cluster's nodes "
    "(docs/scaling.md).",
)
@click.option(
    "--ray-address",
    envvar="RAY_ADDRESS",
    default=None,
    metavar="HOST:PORT",
    help="--executor ray: the cluster's head [default: the cluster this machine is a node of].",
)
@click.option(
    "--max-cost",
    envvar="HARNESS_MAX_COST",
    type=float,
    default=None,
    metavar="USD",
    help="Stop issuing calls once a model's run could spend more than this (all sessions).",
)
@click.option(
    "--max-study-cost",
    envvar="HARNESS_MAX_STUDY_COST",
    type=float,
    default=None,
    metavar="USD",
    help="The same cap for all models of a study together.",
)
@click.option(
    "--batch",
    envvar="HARNESS_BATCH",
    is_flag=True,
    help="Send each stage's first requests (pairwise, ranking, BoolQ, first donation attempts) "
    "through the provider's batch API: half price, answers within 24 h (openai/, anthropic/).",
)
@click.option(
    "--batch-poll",
    envvar="HARNESS_BATCH_POLL",
    type=float,
    default=30.0,
    show_default=True,
    metavar="SECONDS",
    help="--batch: seconds between polls of a live batch (growing to ten times that).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Make no model call: print the trials, calls, tokens and cost each stage would take.",
)
@click.option(
    "--pilot",
    metavar="RUN",
    default=None,
    help="--dry-run: take attempts and answer lengths per call from this earlier run.",
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
    from harness.engine import RunSettings, start_run
    from harness.study import model_specs, split_models, start_study
    from harness.summary import print_study_summary, print_summary

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
        max_cost=_cap(opts["max_cost"], "--max-cost"),
        executor=str(opts["executor"]),
        ray_address=opts["ray_address"],  # type: ignore[arg-type]
        batch=bool(opts["batch"]),
        batch_poll=_poll_interval(opts["batch_poll"]),
    )
    if (
        opts["ray_address"]
        and settings.executor != "ray"
        and (ctx.get_parameter_source("ray_address") == ParameterSource.COMMANDLINE)
    ):
        raise UsageError("--ray-address goes with --executor ray")
    study_cap = _cap(opts["max_study_cost"], "--max-study-cost")
    if opts["pair_strategy"] == "full":
        opts["pair_strategy"] = None  # the default design: recorded (and hashed) as absent
    model_args = parse_model_args(opts["model_args"])  # type: ignore[arg-type]
    if opts["pilot"] and not opts["dry_run"]:
        raise UsageError("--pilot goes with --dry-run")
    if opts["resume"]:
        if opts["dry_run"]:
            raise UsageError("--dry-run previews a new run; it cannot be combined with --resume")
        _resume(ctx, opts, settings, model_args, study_cap)
        return
    options = _suite_options(ctx, opts)
    specs = model_specs(
        split_models(str(opts["model"])),
        model_args,
        opts["base_url"],  # type: ignore[arg-type]
    )
    base = RunConfig(
        suite=str(opts["suite"]),
        model=specs[0].model,
        model_args=specs[0].args,
        base_url=specs[0].base_url,
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
    if opts["dry_run"]:
        from harness.preview import preview_study, print_preview

        print_preview(
            preview_study(base, specs, settings, pilot=opts["pilot"]),  # type: ignore[arg-type]
            console,
            max_cost=settings.max_cost,
            max_study_cost=study_cap,
        )
        return
    if len(specs) == 1 and study_cap is not None:
        raise UsageError("--max-study-cost applies to several models; use --max-cost")
    if settings.plan:
        for spec in specs:
            _check_plan_design(
                settings.plan,
                base.model_copy(
                    update={"model": spec.model, "model_args": spec.args, "base_url": spec.base_url}
                ),
            )
    if len(specs) == 1:
        print_summary(start_run(base, settings, console=err_console), console)
        return
    directory, results = start_study(
        base, specs, settings, max_study_cost=study_cap, console=err_console
    )
    print_study_summary(directory, results, console)


def _resume(
    ctx: click.Context,
    opts: dict[str, object],
    settings: RunSettings,
    model_args: dict[str, str],
    study_cap: float | None,
) -> None:
    """``--resume RUN`` or ``--resume STUDY``: options given again must match the design."""
    from harness.engine import resume_run
    from harness.study import find_study, resume_study
    from harness.summary import print_study_summary, print_summary

    given = {
        field: opts[name]
        for name, field in DESIGN_OPTIONS.items()
        if ctx.get_parameter_source(name)
        in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    for name in SUITE_OPTIONS:
        if ctx.get_parameter_source(name) in (
            ParameterSource.COMMANDLINE,
            ParameterSource.ENVIRONMENT,
        ):
            given.setdefault("options", {})[name] = opts[name]
    study = find_study(str(opts["resume"]), settings.log_dir)
    if study is not None:
        if model_args:
            raise UsageError("-M cannot be changed when resuming a study")
        directory, results = resume_study(
            study, settings, given, max_study_cost=study_cap, console=err_console
        )
        print_study_summary(directory, results, console)
        return
    if study_cap is not None:
        raise UsageError("--max-study-cost applies to a study; use --max-cost")
    if model_args:
        given["model_args"] = model_args
    print_summary(resume_run(str(opts["resume"]), settings, given, console=err_console), console)


def _cap(value: object, option: str) -> float | None:
    if value is None:
        return None
    cap = float(value)  # type: ignore[arg-type]
    if not cap >= 0:
        raise UsageError(f"{option} must be a non-negative number of US dollars")
    return cap


def _under_plan(opts: dict[str, object]) -> bool:
    """Whether this run (new, or the one being resumed) is made under an analysis plan."""
    if not opts["resume"]:
        return bool(opts["plan_path"])
    from harness.store import RunStore, find_run
    from harness.study import find_study, study_runs

    log_dir = Path(opts["log_dir"] or default_log_dir())  # type: ignore[arg-type]
    study = find_study(str(opts["resume"]), log_dir)
    directories = (
        study_runs(study) if study is not None else [find_run(str(opts["resume"]), log_dir)]
    )
    return any(RunStore.read_meta(directory).get("plan") for directory in directories)


def _check_plan_design(path: str, config: RunConfig) -> None:
    """Refuse a run that would not follow its plan's design (it could not be confirmatory)."""
    from analysis.plan import load_plan
    from harness.config import subject_label

    label = subject_label(config.model, config.subject_args())
    problems = load_plan(path).design.problems(config.model_dump(mode="json"), label)
    if problems:
        raise UsageError(
            f"this run does not follow the plan {path}: {'; '.join(problems)} "
            "(change the options, or the plan before any data exist)"
        )


def _poll_interval(value: object) -> float:
    seconds = float(value)  # type: ignore[arg-type]
    if not seconds > 0 or seconds == float("inf"):
        raise UsageError("--batch-poll must be a positive number of seconds")
    return seconds


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


def _pair_budget(value: str | None) -> int | str | None:
    """Normalised as the run records it, so a resume given the same budget matches."""
    from harness.probes._active import parse_budget

    return None if value is None else parse_budget(value)


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
    """List the built-in entity sets, or show what was read from one set (name or file)."""
    from harness.entities import list_entity_sets, read_entity_set

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
    entity_set, report = read_entity_set(name)
    for line in _entity_report_lines(entity_set, report):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    metadata = entity_set.metadata_fields
    partly_derived = "id" not in report.absent
    table = Table(title=f"{entity_set.id} v{entity_set.version}")
    # Ids are what results use: never cut or wrapped; descriptions are cut to one line.
    table.add_column("id", no_wrap=True)
    table.add_column("name", min_width=28)
    table.add_column("category", overflow="fold")
    table.add_column("aliases", overflow="fold")
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=36)
    if metadata:
        table.add_column("metadata", overflow="fold")
    for entity in entity_set:
        derived = partly_derived and entity.id in report.derived_ids
        defaulted = entity.id in report.default_category
        row = [
            entity.id + (" (derived)" if derived else ""),
            entity.name,
            entity.category + (" (default)" if defaulted else ""),
            ", ".join(entity.aliases),
            " ".join(entity.description.split()) or "(none)",
        ]
        if metadata:
            row.append("\n".join(f"{k}: {v}" for k, v in entity.metadata.items()))
        table.add_row(*row)
    console.print(table)
    for warning in report.warnings:
        err_console.print(
            f"harness: warning: {warning}", markup=False, highlight=False, soft_wrap=True
        )


def _entity_report_lines(entity_set: EntitySet, report: LoadReport) -> list[str]:
    """What ``harness entities`` says about a set before listing it: how the file was read,
    which optional fields it lacks and what the harness did instead, what it kept."""
    from harness.entities import UNCATEGORISED

    how = [report.format]
    if report.delimiter is not None:
        how.append(f"delimiter {report.delimiter!r}")
    how += [report.encoding, f"{report.line_endings} line endings"]
    lines = [
        f"read {report.source}: {', '.join(how)}",
        f"set {entity_set.id} version {entity_set.version}: {len(entity_set)} entities, "
        f"{len(entity_set.categories)} categories, content hash {entity_set.content_hash}",
        f"{'columns' if report.format == 'CSV' else 'fields'}: {', '.join(report.fields)}",
    ]
    instead = {
        "description": "no description (prompts show none)",
        "category": f"category {UNCATEGORISED!r} for all",
        "aliases": "no aliases",
        "id": "ids derived from names",
    }
    if report.absent:
        absent = "; ".join(f"{f} -> {instead[f]}" for f in report.absent)
        lines.append(
            f"optional {'columns' if report.format == 'CSV' else 'fields'} absent: {absent}"
        )
    defaults = []
    if report.default_category and "category" not in report.absent:
        defaults.append(f"category {UNCATEGORISED!r} for {len(report.default_category)}")
    if report.no_description and "description" not in report.absent:
        defaults.append(f"no description for {len(report.no_description)}")
    if report.derived_ids and "id" not in report.absent:
        defaults.append(f"id derived from the name for {len(report.derived_ids)}")
    if defaults:
        lines.append(f"defaults applied: {'; '.join(defaults)}")
    if entity_set.metadata_fields:
        lines.append(
            "metadata kept (exported with samples as entity_meta_<field>, "
            f"entity_a_meta_<field>, ...): "
            f"{', '.join(entity_set.metadata_fields)}"
        )
    if report.ignored:
        lines.append(f"ignored: {', '.join(report.ignored)}")
    return lines


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
    """Agentic commands (debug, sandbox, envs, tasks), the analysis commands and the parse
    audit live in their own modules."""
    from harness.cli._agentic import register
    from harness.cli._analysis import analysis_commands
    from harness.cli._audit import audit

    register(cli)
    for command in (*analysis_commands, audit):
        cli.add_command(command)


_register_extensions()
