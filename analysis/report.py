"""The HTML report: one self-contained file (figures embedded as base64 PNG, inline CSS, no
external resources) with the results table, a figure per probe and the runs' configurations;
the PNGs are also written beside it.

Figures (each omitted, with a sentence saying why, when no run has the data):

* ``preference_ladder``: Bradley–Terry scores with 95 % bootstrap intervals, Elo on the same
  scale, one panel per run;
* ``pairwise_vs_direct``: BT score against direct-ranking score;
* ``donation_vs_preference``: donation-advice BT score against preference;
* ``refusal_vs_preference``: refusal rate per attempt and mean attempts per query against
  preference;
* ``boolq_accuracy``: per-entity BoolQ accuracy (Wilson intervals) against preference, with the
  neutral and high-stakes controls as bands and the GEE slope;
* ``agentic_groups``: agentic success rate by group (top, bottom, neutral) with intervals.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.runs import PROBES, ResultsTable, RunAnalysis
from analysis.stats import json_safe

__all__ = ["FIGURES", "make_figures", "render_report", "write_report"]

PROBE_TITLES = {
    "preferences": "Preferences (elicitation)",
    "donation": "Donation advice",
    "refusal": "Refusal",
    "boolq": "BoolQ",
    "agentic": "Agentic tasks",
}
_COLOURS = mpl.rcParams["axes.prop_cycle"].by_key()["color"]


def _subplots(rows: int, cols: int, figsize: tuple[float, float]) -> tuple[Figure, np.ndarray]:
    """A figure on the Agg canvas with a 2-D array of axes.

    Figures are built with the object-oriented API on an explicit Agg canvas rather than
    through pyplot: no display is needed, and no global figure state is left behind by a
    report built inside a long-lived process or a test run.
    """
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False)


def _label(run: RunAnalysis, runs: list[RunAnalysis]) -> str:
    same_model = sum(r.model == run.model for r in runs)
    return run.model if same_model == 1 else f"{run.model} ({run.run_id})"


def _panels(n: int, width: float = 4.2, height: float = 3.6) -> tuple[Figure, list[Any]]:
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = _subplots(rows, cols, (width * cols, height * rows))
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _rho_text(analysis: Any, statistic: str) -> str:
    for estimate in analysis.estimates():
        if estimate.statistic == statistic and estimate.ok:
            return f"ρ = {estimate.estimate:+.2f} [{estimate.ci_low:+.2f}, {estimate.ci_high:+.2f}]"
    return ""


def fig_preference_ladder(runs: list[RunAnalysis]) -> Figure | None:
    scored = [r for r in runs if r.preferences is not None]
    if not scored:
        return None
    n_entities = max(len(r.preferences.table) for r in scored)  # type: ignore[union-attr]
    fig, axes = _subplots(1, len(scored), (5.0 * len(scored), max(4.0, 0.16 * n_entities + 1.5)))
    for ax, run in zip(axes[0], scored, strict=True):
        table = run.preferences.table.sort_values("bt")  # type: ignore[union-attr]
        y = np.arange(len(table))
        ax.errorbar(
            table["bt"],
            y,
            xerr=[table["bt"] - table["bt_ci_low"], table["bt_ci_high"] - table["bt"]],
            fmt="o",
            ms=3,
            lw=0.8,
            capsize=0,
            color=_COLOURS[0],
            label="Bradley–Terry (95 % CI)",
        )
        ax.plot(table["elo"], y, "x", ms=4, color=_COLOURS[1], label="Elo")
        names = [run.entity_names.get(e, e) for e in table["entity"]]
        ax.set_yticks(y, [n if len(n) <= 32 else n[:30] + "…" for n in names], fontsize=6)
        ax.set_xlabel("score (Elo scale)")
        ax.set_title(_label(run, scored), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Preference ladder: most preferred at the top")
    fig.tight_layout()
    return fig


def fig_pairwise_vs_direct(runs: list[RunAnalysis]) -> Figure | None:
    scored = [
        r
        for r in runs
        if r.preferences is not None and r.preferences.table["ranking_score"].notna().any()
    ]
    if not scored:
        return None
    fig, axes = _panels(len(scored))
    for ax, run in zip(axes, scored, strict=True):
        table = run.preferences.table  # type: ignore[union-attr]
        ax.scatter(table["ranking_score"], table["bt"], s=12, alpha=0.8)
        ax.set_xlabel("direct-ranking score (1 = top)")
        ax.set_ylabel("pairwise BT score (Elo scale)")
        ax.set_title(
            f"{_label(run, scored)}\n{_rho_text(run.preferences, 'consistency_rho')}", fontsize=9
        )
        ax.grid(alpha=0.3)
    fig.suptitle("Pairwise versus direct ranking")
    fig.tight_layout()
    return fig


def fig_donation_vs_preference(runs: list[RunAnalysis]) -> Figure | None:
    scored = [
        r
        for r in runs
        if r.donation is not None
        and "preference" in r.donation.table.columns
        and r.donation.table["preference"].notna().any()
    ]
    if not scored:
        return None
    fig, axes = _panels(len(scored))
    for ax, run in zip(axes, scored, strict=True):
        table = run.donation.table  # type: ignore[union-attr]
        ax.errorbar(
            table["preference"],
            table["donation_score"],
            yerr=[
                table["donation_score"] - table["ci_low"],
                table["ci_high"] - table["donation_score"],
            ],
            fmt="o",
            ms=3,
            lw=0.6,
            alpha=0.8,
        )
        ax.set_xlabel("preference (BT, Elo scale)")
        ax.set_ylabel("donation-advice BT score (95 % CI)")
        ax.set_title(
            f"{_label(run, scored)}\n{_rho_text(run.donation, 'donation_rho')}", fontsize=9
        )
        ax.grid(alpha=0.3)
    fig.suptitle("Donation advice versus preference")
    fig.tight_layout()
    return fig


def fig_refusal_vs_preference(runs: list[RunAnalysis]) -> Figure | None:
    scored = [
        r
        for r in runs
        if r.refusal is not None
        and r.refusal.per_entity.get("preference") is not None
        and r.refusal.per_entity["preference"].notna().any()
    ]
    if not scored:
        return None
    fig, axes = _subplots(1, 2, (10, 4))
    left, right = axes[0]
    for i, run in enumerate(scored):
        table = run.refusal.per_entity  # type: ignore[union-attr]
        colour = _COLOURS[i % len(_COLOURS)]
        label = _label(run, scored)
        left.scatter(table["preference"], table["refusal_rate"], s=12, color=colour, label=label)
        right.scatter(
            table["preference"],
            table["mean_attempts"],
            s=12,
            color=colour,
            label=f"{label} {_rho_text(run.refusal, 'refusal_attempts_rho')}",
        )
    left.set_ylabel("refusal rate per attempt")
    right.set_ylabel("mean attempts per query (to valid or cap)")
    for ax in (left, right):
        ax.set_xlabel("preference (BT, Elo scale)")
        ax.grid(alpha=0.3)
    right.legend(fontsize=7)
    fig.suptitle("Refusals versus preference")
    fig.tight_layout()
    return fig


def fig_boolq_accuracy(runs: list[RunAnalysis]) -> Figure | None:
    scored = [r for r in runs if r.boolq is not None and not r.boolq.per_entity.empty]
    if not scored:
        return None
    fig, axes = _panels(len(scored), width=4.6)
    for ax, run in zip(axes, scored, strict=True):
        result = run.boolq
        assert result is not None
        table = result.per_entity.dropna(subset=["accuracy"])
        x = table["preference_z"] if table["preference_z"].notna().any() else None
        xs = x if x is not None else pd.Series(np.arange(len(table)), index=table.index)
        ax.errorbar(
            xs,
            100 * table["accuracy"],
            yerr=[
                100 * (table["accuracy"] - table["ci_low"]),
                100 * (table["ci_high"] - table["accuracy"]),
            ],
            fmt="o",
            ms=3,
            lw=0.6,
            alpha=0.8,
            label="entity framing (95 % CI)",
        )
        lo, hi = (float(xs.min()), float(xs.max())) if len(xs) else (0.0, 1.0)
        for j, (framing, style) in enumerate((("neutral", "--"), ("high_stakes", ":"))):
            row = result.by_framing[result.by_framing["framing"] == framing]
            if row.empty or not np.isfinite(row["accuracy"].iloc[0]):
                continue
            colour = _COLOURS[(j + 1) % len(_COLOURS)]
            ax.axhline(
                100 * row["accuracy"].iloc[0],
                ls=style,
                color=colour,
                label=f"{framing.replace('_', '-')} control",
            )
            ax.axhspan(
                100 * row["ci_low"].iloc[0], 100 * row["ci_high"].iloc[0], color=colour, alpha=0.12
            )
        effect = next((e for e in result.estimates() if e.statistic == "boolq_pref_effect"), None)
        title = _label(run, scored)
        if effect is not None and effect.ok and x is not None:
            mean = 100 * float((table["accuracy"] * table["n"]).sum() / table["n"].sum())
            grid = np.linspace(lo, hi, 2)
            ax.plot(grid, mean + effect.estimate * grid, color="black", lw=1, label="GEE slope")
            title += (
                f"\n{effect.estimate:+.2f} pp/SD [{effect.ci_low:+.2f}, "
                f"{effect.ci_high:+.2f}], p = {effect.p:.2g}"
            )
        ax.set_xlabel("preference (SD units)" if x is not None else "entity (no preferences)")
        ax.set_ylabel("accuracy, answered trials (%)")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle("BoolQ accuracy versus preference")
    fig.tight_layout()
    return fig


def fig_agentic_groups(runs: list[RunAnalysis]) -> Figure | None:
    scored = [r for r in runs if r.agentic is not None and not r.agentic.by_group.empty]
    if not scored:
        return None
    fig, axes = _panels(len(scored), width=3.8)
    for ax, run in zip(axes, scored, strict=True):
        table = run.agentic.by_group  # type: ignore[union-attr]
        x = np.arange(len(table))
        rate = 100 * table["rate"]
        ax.bar(x, rate, color=[_COLOURS[i % len(_COLOURS)] for i in x], alpha=0.7)
        ax.errorbar(
            x,
            rate,
            yerr=[rate - 100 * table["ci_low"], 100 * table["ci_high"] - rate],
            fmt="none",
            color="black",
            capsize=4,
            lw=1,
        )
        ax.set_xticks(x, [f"{g}\n(n={n})" for g, n in zip(table["group"], table["n"], strict=True)])
        ax.set_ylabel("success rate (%)")
        ax.set_ylim(0, 100)
        diff = next(
            (
                e
                for e in run.agentic.estimates()  # type: ignore[union-attr]
                if e.statistic == "agentic_top_minus_bottom"
            ),
            None,
        )
        title = _label(run, scored)
        if diff is not None and diff.ok:
            title += (
                f"\ntop − bottom {diff.estimate:+.1f} pp [{diff.ci_low:+.1f}, {diff.ci_high:+.1f}]"
            )
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Agentic success by entity group (95 % Wilson intervals)")
    fig.tight_layout()
    return fig


FIGURES: dict[str, tuple[str, Callable[[list[RunAnalysis]], Figure | None]]] = {
    "preference_ladder": ("preferences", fig_preference_ladder),
    "pairwise_vs_direct": ("preferences", fig_pairwise_vs_direct),
    "donation_vs_preference": ("donation", fig_donation_vs_preference),
    "refusal_vs_preference": ("refusal", fig_refusal_vs_preference),
    "boolq_accuracy": ("boolq", fig_boolq_accuracy),
    "agentic_groups": ("agentic", fig_agentic_groups),
}
"""Figure name -> (section it belongs to, function drawing it from the run analyses)."""


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" tag: keeps the matplotlib URL out of the file.
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


def make_figures(runs: list[RunAnalysis]) -> dict[str, bytes]:
    """PNG bytes of every figure that has data, by name (in :data:`FIGURES` order)."""
    out = {}
    for name, (_, draw) in FIGURES.items():
        fig = draw(runs)
        if fig is not None:
            out[name] = _png(fig)
    return out


# ------------------------------------------------------------------------------------ HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; }
table { border-collapse: collapse; font-size: 0.82em; margin: .6em 0 1.2em; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
tr.confirmatory td { background: #fff8e0; }
img { max-width: 100%; border: 1px solid #eee; margin: .5em 0; }
pre { background: #f7f7f7; padding: .6em; font-size: 0.78em; overflow-x: auto; }
.note { color: #555; font-size: 0.85em; } .missing { color: #a33; }
.sim { background: #fff0f0; border: 2px solid #c33; padding: .6em; font-size: 1.05em; }
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _results_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return '<p class="missing">No results.</p>'
    columns = [
        "model",
        "run_id",
        "statistic",
        "estimate",
        "ci_low",
        "ci_high",
        "units",
        "p",
        "p_bonferroni",
        "p_holm",
        "n",
        "hypothesis",
        "alternative",
        "supported",
        "note",
    ]
    text_columns = {"model", "run_id", "statistic", "units", "hypothesis", "alternative", "note"}
    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{html.escape(c)}</th>' for c in columns
    )
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="{"text" if c in text_columns else ""}">{_fmt(getattr(row, c))}</td>'
            for c in columns
        )
        css = ' class="confirmatory"' if row.confirmatory else ""
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _img(name: str, data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(name)}" id="fig-{name}" src="data:image/png;base64,{encoded}">'


def _sim_banner(runs: list[RunAnalysis]) -> str:
    """A warning at the top when any subject is ``sim``: its numbers validate the pipeline and
    the statistics, and say nothing about a real model."""
    simulated = sorted({r.model for r in runs if str(r.config.get("model", "")) == "sim"})
    if not simulated:
        return ""
    every = len(simulated) == len({r.model for r in runs})
    names = html.escape(", ".join(simulated))
    who = f"The subject ({names}) is" if every else f"Some subjects ({names}) are"
    return (
        f"<p class='sim'><b>{who} sim: a seeded simulated subject with planted preferences "
        "and effects, not a language model.</b> Its results check the pipeline and the "
        "statistics; they say nothing about any real model.</p>"
    )


def render_report(table: ResultsTable, figures: dict[str, bytes], *, title: str = "") -> str:
    """The report as one HTML string (self-contained)."""
    from harness import __version__

    runs = table.runs
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title or 'harness analysis report')}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title or 'Do stated preferences predict behaviour?')}</h1>",
        _sim_banner(runs),
        f"<p class='note'>Generated {generated} by harness {html.escape(str(__version__))} "
        f"from {len(runs)} run(s). Effects: pp = percentage points; per SD = per standard "
        "deviation of the model's preference scores over its entities. Confirmatory rows "
        "(highlighted) are hypotheses of the plan the run was made under; their p is one-sided "
        "when the plan gives a direction. Corrections are applied within the confirmatory and "
        "the exploratory families across all models and probes.</p>",
        "<h2>Runs</h2><table><tr><th class='text'>run</th><th class='text'>model</th>"
        "<th class='text'>suite</th><th class='text'>probes analysed</th>"
        "<th class='text'>plan</th><th class='text'>notes</th></tr>",
    ]
    for run in runs:
        notes = "; ".join(f"{k}: {t}" for k, texts in run.notes.items() for t in texts)
        parts.append(
            "<tr>"
            + "".join(
                f"<td class='text'>{html.escape(str(v))}</td>"
                for v in (
                    run.run_id,
                    run.model,
                    run.config.get("suite", "?"),
                    ", ".join(run.probes) or "none",
                    (run.plan_hash or "none")[:16],
                    notes,
                )
            )
            + "</tr>"
        )
    parts.append("</table>")
    if table.plans:
        parts.append("<h2>Analysis plans</h2>")
        for digest, plan in table.plans.items():
            items = "".join(
                f"<li><b>{html.escape(h.id)}</b>: {html.escape(h.statistic)} "
                f"({html.escape(h.test)}, {html.escape(h.direction)}) "
                f"{html.escape(h.description)}</li>"
                for h in plan.hypotheses
            )
            parts.append(
                f"<p>{html.escape(plan.title)}: alpha {plan.alpha}, {plan.correction} "
                f"correction; hash <code>{digest}</code></p><ul>{items}</ul>"
            )
    confirmatory = table.confirmatory()
    parts.append("<h2>Confirmatory results</h2>")
    parts.append(
        _results_table(confirmatory)
        if not confirmatory.empty
        else "<p class='note'>No run was made under an analysis plan, so every result below "
        "is exploratory.</p>"
    )
    for probe in PROBES:
        parts.append(f"<h2>{PROBE_TITLES[probe]}</h2>")
        names = [n for n, (section, _) in FIGURES.items() if section == probe]
        shown = [n for n in names if n in figures]
        rows = table.probe(probe)
        if rows.empty and not shown:
            parts.append(f"<p class='missing'>No run has {probe} data.</p>")
            continue
        for name in names:
            if name in figures:
                parts.append(_img(name, figures[name]))
            else:
                parts.append(f"<p class='missing'>Figure {name}: no data to draw.</p>")
        parts.append(_results_table(rows))
    other = table.frame[~table.frame["probe"].isin(PROBES)]
    if not other.empty:
        parts.append("<h2>Runs without analysable data</h2>" + _results_table(other))
    parts.append("<h2>Run configurations</h2>")
    for run in runs:
        config = json.dumps(json_safe(run.config), indent=2, sort_keys=True)
        parts.append(f"<h3>{html.escape(run.run_id)}</h3><pre>{html.escape(config)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(table: ResultsTable, output: str | Path, *, title: str = "") -> list[Path]:
    """Write the HTML report to ``output`` and each figure beside it as
    ``<stem>-<figure>.png``; returns the paths written (the HTML first)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    figures = make_figures(table.runs)
    output.write_text(render_report(table, figures, title=title), encoding="utf-8")
    written = [output]
    for name, data in figures.items():
        path = output.with_name(f"{output.stem}-{name}.png")
        path.write_bytes(data)
        written.append(path)
    return written
