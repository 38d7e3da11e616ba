"""``harness audit``: how a run's answers were parsed, per probe (the tables come from
:mod:`analysis.audit`; this module only prints them)."""

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

from harness.errors import UsageError

console = Console() if sys.stdout.isatty() else Console(width=160)
err_console = Console(stderr=True)

TEXT_WIDTH = 220
"""Characters of each sampled answer shown on the terminal (``--json`` has them whole)."""


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option(
    "--samples",
    "per_method",
    type=int,
    default=5,
    show_default=True,
    help="Raw answers shown per parse method, spread over the preference terciles.",
)
@click.option(
    "--probe",
    "probes",
    multiple=True,
    help="Audit only this probe (repeatable): pairwise, ranking, boolq, donation.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled answers.")
@click.option("--json", "as_json", is_flag=True, help="Print the audit as JSON instead.")
@click.option(
    "--log-dir",
    envvar="HARNESS_LOG_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where run ids are looked up [default: runs].",
)
def audit(
    runs: tuple[str, ...],
    per_method: int,
    probes: tuple[str, ...],
    seed: int,
    as_json: bool,
    log_dir: Path | None,
) -> None:
    """Audit how a run's answers were parsed: answers by parse method and class, sampled raw
    answers for each method (stratified by preference tercile), and the share of undecided
    answers by tercile with a trend test.

    RUN is a run id, a run directory, a study (every model's run) or a directory of runs.
    """
    from analysis.audit import PROBES, audit_run
    from analysis.runs import analysis_paths

    if per_method < 0:
        raise UsageError("--samples must be at least 0")
    chosen = tuple(p.strip() for given in probes for p in given.split(",") if p.strip())
    unknown = [p for p in chosen if p not in PROBES]
    if unknown:
        raise UsageError(f"--probe {unknown[0]!r} is not one of {', '.join(PROBES)}")
    audits = [
        audit_run(path, probes=chosen or None, samples=per_method, seed=seed)
        for path in analysis_paths(runs, log_dir)
    ]
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in audits], indent=2))
        return
    for result in audits:
        print_audit(result, console)


def _pct(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def print_audit(result: Any, out: Console) -> None:
    """One run's audit as rich tables."""
    out.rule(f"[bold]parse audit[/] · {escape(result.model)} · [dim]{escape(result.run_id)}[/]")
    for note in result.notes:
        out.print(f"[yellow]{escape(note)}[/]")
    for probe, audit in result.probes.items():
        methods = audit.methods
        classes = [c for c in methods.columns if c not in ("n", "share")]
        table = Table(
            "parse method",
            *classes,
            "n",
            "share",
            title=f"{probe}: {audit.n:,} answers by parse method and class "
            f"(undecided {_pct(audit.undecided_share)})",
        )
        for method, row in methods.iterrows():
            table.add_row(
                str(method),
                *(f"{int(row[c]):,}" for c in classes),
                f"{int(row['n']):,}",
                _pct(row["share"]),
            )
        out.print(table)
        if audit.extracted is not None:
            extracted = Table(
                "rules' method", "asked", "decided", "failed", title=f"{probe}: extractor"
            )
            for method, row in audit.extracted.iterrows():
                extracted.add_row(
                    str(method), *(f"{int(row[c]):,}" for c in ("asked", "decided", "failed"))
                )
            out.print(extracted)
        if audit.terciles is not None:
            extra = [c for c in ("hedge_share",) if c in audit.terciles.columns]
            terciles = Table(
                "tercile",
                "score range (SD)",
                "n",
                "undecided",
                "refusal",
                *(c.removesuffix("_share") for c in extra),
                title=f"{probe}: by {audit.stratified_by} tercile (undecided: share of the "
                f"answers that are not refusals{' or hedges' if probe == 'donation' else ''})",
            )
            for tercile, row in audit.terciles.iterrows():
                terciles.add_row(
                    str(tercile),
                    f"{row['score_low']:+.2f} to {row['score_high']:+.2f}",
                    f"{int(row['n']):,}",
                    f"{_pct(row['undecided_share'])} ({int(row['undecided'])})",
                    _pct(row["refusal_share"]),
                    *(_pct(row[c]) for c in extra),
                )
            out.print(terciles)
        if audit.trend is not None:
            out.print(_trend_line(audit), soft_wrap=True)
        for note in audit.notes:
            out.print(f"[yellow]{probe}: {escape(note)}[/]", soft_wrap=True)
        if not audit.samples.empty:
            sample = Table(
                "parse method",
                "tercile",
                "class",
                "about",
                "answer",
                title=f"{probe}: sampled answers",
            )
            for row in audit.samples.to_dict(orient="records"):
                text = str(row["text"]).replace("\n", " ⏎ ")
                if len(text) > TEXT_WIDTH:
                    text = text[: TEXT_WIDTH - 1] + "…"
                sample.add_row(
                    row["parse_method"],
                    row["tercile"],
                    str(row["class"]),
                    escape(_about(row)),
                    escape(text),
                )
            out.print(sample)


def _about(row: dict[str, Any]) -> str:
    """The entities a sampled answer is about, with its stratifying score."""
    if row.get("entity_a") is not None:
        who = f"{row['entity_a']} / {row['entity_b']}"
    elif isinstance(row.get("entity"), str):
        who = row["entity"]
    else:
        return ""
    score = row.get("preference")
    return who if score is None or not math.isfinite(score) else f"{who} ({score:+.2f})"


def _trend_line(audit: Any) -> str:
    trend = audit.trend
    if not trend.ok:
        return f"{audit.probe}: trend test not computed: {escape(trend.note)}"
    ratio, low, high = audit.odds_ratio
    verdict = (
        "[bold red]undecided answers depend on preference[/]"
        if trend.p < 0.05
        else "no evidence that undecided answers depend on preference"
    )
    return (
        f"{audit.probe}: trend of undecided answers with {audit.stratified_by}: "
        f"{trend.estimate:+.3f} log-odds per SD [{trend.ci_low:+.3f}, {trend.ci_high:+.3f}], "
        f"odds ratio {ratio:.2f} [{low:.2f}, {high:.2f}], p = {trend.p:.3g}, n = {trend.n:,}: "
        f"{verdict}" + (f" ({escape(trend.note)})" if trend.note else "")
    )
