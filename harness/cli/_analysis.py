"""The analysis commands: ``analyze``, ``report``, ``plan`` and ``power`` (click commands that
the ``harness`` group registers with ``cli.add_command``)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.errors import HarnessError, UsageError

# Same convention as the other commands: wide tables when piped, rich's width on a terminal.
console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True)

__all__ = ["analysis_commands", "analyze", "plan", "power", "report"]

_LOG_DIR = click.option(
    "--log-dir",
    envvar="HARNESS_LOG_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where run ids are looked up [default: runs].",
)
_NO_BAYES = click.option(
    "--no-bayes",
    is_flag=True,
    help="Skip the variational-Bayes mixed models (the slow part on large BoolQ runs).",
)
_BOOTSTRAP = click.option(
    "--bootstrap",
    type=int,
    default=1000,
    show_default=True,
    help="Bootstrap resamples for Spearman and consistency intervals.",
)
_SEED = click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of every bootstrap and randomisation.",
)


def _analyse(
    runs: tuple[str, ...], log_dir: Path | None, no_bayes: bool, bootstrap: int, seed: int
) -> Any:
    from analysis.runs import analysis_paths, analyze_runs

    if bootstrap < 0:
        raise UsageError("--bootstrap must be at least 0")
    paths = analysis_paths(runs, log_dir)
    with err_console.status(f"analysing {len(paths)} run(s)"):
        return analyze_runs(paths, bayes=not no_bayes, bootstrap=bootstrap, seed=seed)


def _num(value: Any, fmt: str = "+.3g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


def _cell(row: Any) -> str:
    if not (isinstance(row.estimate, float) and math.isfinite(row.estimate)):
        return f"[dim]n/a: {escape(row.note or 'not computed')}[/]"
    lines = [f"[bold]{_num(row.estimate)}[/]"]
    if math.isfinite(row.ci_low):
        lines.append(f"[{_num(row.ci_low, '.3g')}, {_num(row.ci_high, '.3g')}]")
    if math.isfinite(row.p):
        lines.append(f"p {_num(row.p, '.2g')}")
        lines.append(f"holm {_num(row.p_holm, '.2g')}")
    if row.confirmatory:
        verdict = {True: "supported", False: "not supported", None: ""}.get(row.supported, "")
        lines.append(f"[bold yellow]{escape(row.hypothesis)}[/] {verdict}".rstrip())
    return "\n".join(lines)


def print_results(table: Any, out: Console) -> None:
    """Rich tables: one per probe with a row per model (run) and a column per statistic, then
    the confirmatory hypotheses and every run's notes."""
    from analysis.runs import PROBES

    frame = table.frame
    for probe in (*PROBES, "run"):
        rows = frame[frame["probe"] == probe]
        if rows.empty:
            continue
        statistics = list(dict.fromkeys(rows["statistic"]))
        # Headers without the probe's own prefix, wrapped at underscores, to keep columns narrow.
        headers = [
            s.removeprefix(f"{probe}_").removeprefix("agentic_").replace("_", " ")
            for s in statistics
        ]
        grid = Table("model / run", *headers, title=probe, show_lines=True)
        for (model, run_id), part in rows.groupby(["model", "run_id"], sort=False):
            by_stat = {r.statistic: r for r in part.itertuples(index=False)}
            grid.add_row(
                f"{escape(model)}\n[dim]{escape(run_id)}[/]",
                *(_cell(by_stat[s]) if s in by_stat else "" for s in statistics),
            )
        out.print(grid)
    confirmatory = table.confirmatory()
    if confirmatory.empty:
        out.print("[dim]no run was made under an analysis plan: every result is exploratory[/]")
    else:
        hyp = Table(
            "hypothesis",
            "model",
            "statistic",
            "alternative",
            "estimate [95 % CI]",
            "p",
            "p bonferroni",
            "p holm",
            "supported",
            "note",
            title="confirmatory hypotheses (corrected across models and probes)",
        )
        for r in confirmatory.itertuples(index=False):
            hyp.add_row(
                escape(str(r.hypothesis)),
                escape(r.model),
                r.statistic,
                r.alternative,
                f"{_num(r.estimate)} [{_num(r.ci_low)}, {_num(r.ci_high)}]",
                _num(r.p, ".3g"),
                _num(r.p_bonferroni, ".3g"),
                _num(r.p_holm, ".3g"),
                {True: "yes", False: "no"}.get(r.supported, "–"),
                escape(r.note),
            )
        out.print(hyp)
    for run in table.runs:
        for section, texts in run.notes.items():
            for text in texts:
                out.print(
                    f"[yellow]{escape(run.run_id)}[/] {section}: {escape(text)}", soft_wrap=True
                )


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON instead.")
@_NO_BAYES
@_BOOTSTRAP
@_SEED
@_LOG_DIR
def analyze(
    runs: tuple[str, ...],
    as_json: bool,
    no_bayes: bool,
    bootstrap: int,
    seed: int,
    log_dir: Path | None,
) -> None:
    """Analyse runs: a table per probe with a row per model, corrected across models and
    probes, each result labelled confirmatory (in the run's plan) or exploratory.

    RUN is a run id, a run directory, or a directory of runs (all of them).
    """
    table = _analyse(runs, log_dir, no_bayes, bootstrap, seed)
    if as_json:
        click.echo(table.to_json())
        return
    print_results(table, console)


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write.",
)
@click.option("--title", default="", help="Report title.")
@_NO_BAYES
@_BOOTSTRAP
@_SEED
@_LOG_DIR
def report(
    runs: tuple[str, ...],
    output: Path,
    title: str,
    no_bayes: bool,
    bootstrap: int,
    seed: int,
    log_dir: Path | None,
) -> None:
    """Write one self-contained HTML report (figures embedded) and the figures as PNGs
    beside it."""
    from analysis.report import write_report

    table = _analyse(runs, log_dir, no_bayes, bootstrap, seed)
    try:
        written = write_report(table, output, title=title)
    except OSError as error:
        raise HarnessError(f"cannot write report {output}: {error.strerror or error}") from None
    console.print(f"report: {written[0]} ({len(written) - 1} figures beside it)", soft_wrap=True)


@click.command("plan")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the default plan here (without -o it is printed).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.option(
    "--check",
    "check",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Validate a plan file and print its hash and hypotheses instead.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    help="A model the plan covers (repeatable) [default: sim]; sim is recorded with its seed.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The runs' --seed.")
def plan(
    output: Path | None, force: bool, check: Path | None, models: tuple[str, ...], seed: int
) -> None:
    """Write the study's default analysis plan (preregistration) and print its content hash.

    The plan fixes the hypotheses and the design they are tested on: the models, entity set,
    seed and each suite's sample sizes (edit the file to change them). Give it to a run with
    `harness run --plan FILE` (or HARNESS_PLAN); `harness analyze` then labels the plan's
    hypotheses confirmatory for runs that follow it, and corrects over all of them.
    """
    from analysis.plan import default_plan, load_plan
    from harness.config import RunConfig, subject_label

    if check is not None:
        if output is not None:
            raise UsageError("give either -o or --check, not both")
        loaded = load_plan(check)
        table = Table(
            "id",
            "statistic",
            "test",
            "direction",
            "description",
            title=f"{check}: alpha {loaded.alpha}, {loaded.correction}",
        )
        for h in loaded.hypotheses:
            table.add_row(h.id, h.statistic, h.test, h.direction, h.description)
        console.print(table)
        click.echo(f"models: {', '.join(loaded.design.models)}; family: {loaded.family}")
        click.echo(f"plan hash: {loaded.content_hash}")
        return
    labels = tuple(
        subject_label(m, RunConfig(suite="advice", model=m, seed=seed).subject_args())
        for m in models or ("sim",)
    )
    chosen = default_plan(labels, seed=seed)
    text = chosen.to_yaml()
    if output is None:
        click.echo(text, nl=False)
        click.echo(f"plan hash: {chosen.content_hash}", err=True)
        return
    if output.exists() and not force:
        raise UsageError(
            f"{output} exists; a plan is a preregistration, so pass --force to replace it"
        )
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise HarnessError(f"cannot write plan {output}: {error.strerror or error}") from None
    click.echo(f"wrote {output}")
    click.echo(f"plan hash: {chosen.content_hash}")


@click.command()
@click.option("--entities", type=int, default=72, show_default=True)
@click.option("--questions", type=int, default=100, show_default=True)
@click.option("--epochs", type=int, default=1, show_default=True)
@click.option(
    "--effect",
    type=float,
    default=3.0,
    show_default=True,
    help="Planted effect: accuracy points per SD of preference (sim's boolq_effect).",
)
@click.option(
    "--sims",
    type=int,
    default=200,
    show_default=True,
    help="Simulated studies with the effect, and as many without.",
)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option(
    "--method",
    type=click.Choice(["gee", "bayes"]),
    default="gee",
    show_default=True,
    help="gee: the confirmatory test; bayes: the mixed model's 95 % interval (about 20x slower).",
)
@click.option("--accuracy", type=float, default=None, help="Mean accuracy [sim's default].")
@click.option(
    "--difficulty", type=float, default=None, help="SD of question log-odds [sim's default]."
)
@click.option(
    "--refusal-rate",
    type=float,
    default=None,
    help="Refusals per SD below the mean preference [sim's default].",
)
@click.option(
    "--entity-sd",
    type=float,
    default=0.0,
    show_default=True,
    help="Entity log-odds SD unrelated to preference (sim has none).",
)
@_SEED
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def power(
    entities: int,
    questions: int,
    epochs: int,
    effect: float,
    sims: int,
    alpha: float,
    method: str,
    accuracy: float | None,
    difficulty: float | None,
    refusal_rate: float | None,
    entity_sd: float,
    seed: int,
    as_json: bool,
) -> None:
    """Estimate the power of the BoolQ design (and its false-positive rate at effect 0) by
    simulating sim's BoolQ behaviour in-process and testing each simulated study."""
    from analysis.power import BoolQDesign, boolq_power

    overrides = {
        k: v
        for k, v in {
            "accuracy": accuracy,
            "difficulty": difficulty,
            "refusal_rate": refusal_rate,
        }.items()
        if v is not None
    }
    if sims < 1:
        raise UsageError("--sims must be at least 1")
    if not 0 < alpha < 1:
        raise UsageError("--alpha must be between 0 and 1")
    try:
        design = BoolQDesign(
            entities=entities,
            questions=questions,
            epochs=epochs,
            effect_pp=effect,
            entity_sd=entity_sd,
            **overrides,
        )
    except ValueError as error:
        raise UsageError(f"power: {error}") from None
    with err_console.status(f"simulating {2 * sims} BoolQ studies"):
        result = boolq_power(design, sims=sims, alpha=alpha, method=method, seed=seed)
    if as_json:
        out = result.to_dict()
        out.pop("null_pvalues", None)
        click.echo(json.dumps(out, indent=2))
        return
    table = Table("measure", "value", title="BoolQ design power (simulated sim)")
    table.add_row(
        "design",
        f"{entities} entities x {questions} questions x {epochs} epoch(s) "
        f"= {design.trials:,} trials (incl. 2 controls per question)",
    )
    table.add_row(
        "subject",
        f"accuracy {design.accuracy}, difficulty SD {design.difficulty}, "
        f"refusal rate {design.refusal_rate}, entity SD {design.entity_sd}",
    )
    table.add_row("test", f"{method}, two-sided, alpha {alpha}")
    table.add_row(
        f"power at {effect:+g} pp/SD",
        f"{result.power:.3f} [{result.power_ci[0]:.3f}, {result.power_ci[1]:.3f}]",
    )
    table.add_row(
        "false-positive rate at 0 pp/SD",
        f"{result.false_positive_rate:.3f} [{result.false_positive_ci[0]:.3f}, "
        f"{result.false_positive_ci[1]:.3f}]",
    )
    table.add_row(
        "mean estimate (SD) at the effect",
        f"{result.mean_estimate:+.2f} ({result.sd_estimate:.2f}) pp/SD",
    )
    table.add_row(
        "simulations",
        f"{sims} with the effect + {sims} without; "
        f"{result.failures} failed fits; {result.seconds:.1f} s",
    )
    console.print(table)


analysis_commands = (analyze, report, plan, power)
"""Every command here, for ``for c in analysis_commands: cli.add_command(c)``."""
