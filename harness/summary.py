"""The readable end-of-run summary: usage, parse rates, biases and the preference ladder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.errors import HarnessError
from harness.store import RunStore

if TYPE_CHECKING:
    from harness.engine import RunResult


Section = Callable[[RunStore, dict, Console], None]
_SECTIONS: dict[str, Section] = {}


def summary_section(probe: str) -> Callable[[Section], Section]:
    """Register the summary printed when a run has samples of ``probe`` (decorator).

    Sections print in registration order, after usage and before the status line.
    """

    def register(section: Section) -> Section:
        _SECTIONS[probe] = section
        return section

    return register


def print_summary(result: RunResult, console: Console) -> None:
    store = RunStore.open(result.directory)
    try:
        meta = store.meta()
        config = meta["config"]
        console.rule(f"[bold]{config['suite']}[/] on [bold]{config['model']}[/]")
        if config["model"].split("/")[0] == "sim":
            console.print("[dim]model: sim is a seeded simulated subject, not a language model[/]")
        _usage(result, console)
        if store.has_batches():
            b = store.batch_summary()
            console.print(
                f"batches (all sessions): {b['batches']} batch(es) of {b['items']:,} requests; "
                f"{b['answered']:,} answered by batch, {b['failed']:,} failed"
                + (f", {b['online']:,} then asked online" if b["online"] else ""),
                highlight=False,
            )
        counts = store.counts()
        for probe, section in _SECTIONS.items():
            if probe in counts:
                try:
                    section(store, meta, console)
                except ValueError as error:
                    # Degenerate data (too few entities, no variance) must not hide the run.
                    console.print(f"[yellow]{probe}: summary not available: {error}[/]")
        console.print(
            f"status: [bold]{result.status}[/] in {result.seconds:.1f} s, "
            f"{result.trials_run} trials run this session, {result.errors} errors"
            + (f", ${result.spent:.4f} spent in all" if result.spent else "")
        )
        if result.stop_reason:
            console.print(f"[yellow]stopped: {result.stop_reason}[/]", soft_wrap=True)
    finally:
        store.close()
    # Soft wrap: the path must stay on one line so it can be copied.
    console.print(f"run directory: {result.directory}", soft_wrap=True, highlight=False)


def print_study_summary(directory: Path, results: list[RunResult], console: Console) -> None:
    """A study's end: one row per model (status, trials, spend), then the analysis table with
    a row per model (``harness analyze STUDY`` gives the full one)."""
    from harness.cli._analysis import print_results

    console.rule(f"[bold]study[/] {directory.name}")
    if any(r.directory and _is_sim(r.directory) for r in results):
        console.print("[dim]sim is a seeded simulated subject, not a language model[/]")
    table = Table(
        "model", "status", "trials run", "errors", "spent", "note", title="runs (this session)"
    )
    for r in results:
        table.add_row(
            escape(r.label),
            r.status,
            f"{r.trials_run:,}",
            str(r.errors),
            f"${r.spent:.4f}",
            escape(r.stop_reason or ""),
        )
    console.print(table)
    try:
        from analysis.runs import analyze_runs

        print_results(
            analyze_runs([r.directory for r in results], bayes=False, bootstrap=200), console
        )
    except (ValueError, HarnessError) as error:
        console.print(f"[yellow]analysis not available: {error}[/]")
    unfinished = [r for r in results if r.status != "complete"]
    if unfinished:
        console.print(
            f"{len(unfinished)} run(s) did not complete: harness run --resume {directory}",
            soft_wrap=True,
        )
    console.print(f"study directory: {directory}", soft_wrap=True, highlight=False)


def _is_sim(directory: Path) -> bool:
    return str(RunStore.read_meta(directory)["config"]["model"]).split("/")[0] == "sim"


def _usage(result: RunResult, console: Console) -> None:
    totals = result.accountant.totals
    # Only reasoning models report reasoning tokens, and only --batch runs have batch calls;
    # the columns would be all zeros otherwise.
    reasoning = any(t.usage.reasoning_tokens for t in totals.values())
    batched = any(t.batch_calls for t in totals.values())
    columns = ["model", "calls", "cached", *(["by batch"] if batched else [])]
    table = Table(
        *columns,
        "retries",
        "errors",
        "input tok",
        "output tok",
        *(["of which reasoning"] if reasoning else []),
        "cost",
        title="model usage (this session)",
    )
    for name, t in totals.items():
        cost = "n/a" if t.cost is None else f"${t.cost:.4f}"
        table.add_row(
            name,
            str(t.calls),
            str(t.cached_calls),
            *([str(t.batch_calls)] if batched else []),
            str(t.retries),
            str(t.errors),
            f"{t.usage.input_tokens:,}",
            f"{t.usage.output_tokens:,}",
            *([f"{t.usage.reasoning_tokens:,}"] if reasoning else []),
            cost,
        )
    if table.row_count:
        console.print(table)


@summary_section("pairwise")
def _elicitation(store: RunStore, meta: dict, console: Console) -> None:
    from analysis import bradley_terry, ranking_scores, spearman
    from harness.probes._active import META_KEY, describe
    from harness.probes._preferences import pairwise_frame
    from harness.probes.elicitation import ranking_long

    pairwise = store.samples_df("pairwise")
    ranking = store.samples_df("ranking")
    stats = Table("measure", "value", title="elicitation")
    bt = None
    if not pairwise.empty:
        ok = pairwise[pairwise["status"] == "ok"]
        parsed = ok[ok["choice"].notna()]
        stats.add_row("pairwise answers", f"{len(pairwise):,} ({len(pairwise) - len(ok)} errors)")
        if design := meta.get(META_KEY):
            config = meta.get("config", {})
            entities = len(set(pairwise["entity_a"]) | set(pairwise["entity_b"]))
            per_question = config.get("samples", 1) * config.get("epochs", 1)
            stats.add_row(
                "pairwise design", describe(design, len(pairwise), entities, per_question)
            )
        stats.add_row("pairwise parse rate", _pct(len(parsed), len(ok)))
        stats.add_row(
            "position bias (share choosing A)", _pct((parsed["choice"] == "A").sum(), len(parsed))
        )
        if len(parsed):
            bt = bradley_terry(pairwise_frame(ok), bootstrap=0).scores.set_index("entity")
    rank_scores = None
    if not ranking.empty:
        ok = ranking[ranking["status"] == "ok"]
        parsed = ok[ok["parse"] == "ok"]
        stats.add_row("rankings", f"{len(ranking)} ({len(ranking) - len(ok)} errors)")
        stats.add_row("ranking parse rate", _pct(len(parsed), len(ok)))
        if len(parsed):
            missing = parsed["missing"].map(len).mean()
            stats.add_row("entities missing per ranking (mean)", f"{missing:.2f}")
            rank_scores = ranking_scores(ranking_long(parsed)).set_index("entity")
    if bt is not None and rank_scores is not None:
        try:
            rho = spearman(bt["score"], rank_scores["score"], bootstrap=200)
            value = f"{rho.rho:.3f} [{rho.ci_low:.3f}, {rho.ci_high:.3f}]"
        except ValueError as error:
            value = f"n/a ({error})"
        stats.add_row("consistency: Spearman ρ (pairwise BT vs ranking)", value)
    console.print(stats)
    if bt is not None:
        names = entity_names(meta)
        ladder = Table("", "entity", "BT score (Elo scale)", "mean rank", title="preference ladder")
        ordered = bt.sort_values("score", ascending=False)
        shown = pd.concat([ordered.head(5), ordered.tail(5)]) if len(ordered) > 10 else ordered
        for position, (eid, row) in enumerate(shown.iterrows()):
            mean_rank = (
                ""
                if rank_scores is None or eid not in rank_scores.index
                else f"{rank_scores.loc[eid, 'mean_rank']:.1f}"
            )
            label = "top" if position < 5 else "bottom"
            ladder.add_row(
                label if len(ordered) > 10 else "",
                names.get(eid, eid),
                f"{row['score']:.0f}",
                mean_rank,
            )
        console.print(ladder)


def entity_names(meta: dict) -> dict[str, str]:
    """Entity id -> display name for a run's entity set (as stored with the run, so a user
    file changed or moved since does not matter; runs made before sets were stored re-read it)."""
    if stored := (meta.get("entity_set") or {}).get("entities"):
        return {e["id"]: e["name"] for e in stored}
    from harness.entities import load_entity_set

    return {e.id: e.name for e in load_entity_set(meta["config"]["entities"])}


def _pct(part: float, whole: float) -> str:
    return "n/a" if not whole else f"{100 * part / whole:.1f} % ({int(part):,}/{int(whole):,})"
