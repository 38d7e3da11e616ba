"""Benchmark: accuracy of adaptive pairwise elicitation (``--pair-strategy active``) against the
queries it spends, on ``sim`` with the 72 default entities and the default sim knobs.

For each seed ``s`` (sim's ``-M seed=s``, which plants the utilities and seeds every answer, and
the run's ``--seed s``, which seeds round 0) it runs, through :func:`harness.engine.start_run`:

* the **full design** with ``--samples 2``. Its ``sample == 0`` trials are exactly the trials
  (same ids, so the same sim answers) of the default full design (``--samples 1``); its
  ``sample == 1`` trials are an independent **replicate** of the full design;
* the **active design** at each budget, for ``--pair-orders alternate`` and ``both``, and the
  **random design** of the same budget (``--pair-rounds 1``: round 0 only, a seeded random
  near-regular design), through the same harness code;
* the active design (alternate) at the default budget with other round counts, and with a
  generous budget (50 %, 10 rounds) and the stability stop ``--pair-stop-rho 0.99``.

Every design is scored as the harness scores it (Bradley–Terry, :func:`analysis.bradley_terry`)
and compared by Spearman ρ with the full design's scores, with the replicate's scores and with
sim's planted utilities. An active trial is the same question as the full design's trial of the
same id, so on sim it gets the same answer: ρ against the full design measures how well the
subset reproduces what the full design found; ρ against the replicate is the comparison with
independent answers, and ρ against the planted utilities is the scientific measure.

    .venv/bin/python bench/bench_active.py [--seeds 8] [--json out.json]
        [--figure docs/figures/active-elicitation.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

# Run from a checkout without installing: make ``analysis`` and ``harness`` importable.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis import bradley_terry, spearman  # noqa: E402
from harness.config import RunConfig  # noqa: E402
from harness.engine import RunSettings, start_run  # noqa: E402
from harness.probes import _active as active_design  # noqa: E402
from harness.probes._preferences import pairwise_frame  # noqa: E402
from harness.sim import SimKnobs, Utilities  # noqa: E402
from harness.store import Run  # noqa: E402

BUDGETS = ("5%", "10%", "15%", "20%", "25%", "30%", "40%")
ROUNDS = (2, 4, 8)
DEFAULT_BUDGET = "25%"


def scores(samples: pd.DataFrame) -> pd.Series:
    """Bradley–Terry scores as the harness computes them (summary, later stages)."""
    return bradley_terry(pairwise_frame(samples), bootstrap=0).score


def rho(x: pd.Series, y: pd.Series) -> float:
    return float(spearman(x, y, bootstrap=0).rho)


def run(config: RunConfig, log_dir: Path) -> pd.DataFrame:
    result = start_run(config, RunSettings(log_dir=log_dir, progress=False, cache=False))
    with Run(result.directory) as stored:
        return stored.samples("pairwise")


def one_seed(seed: int, log_dir: Path) -> list[dict[str, Any]]:
    base = {
        "suite": "elicitation",
        "model": "sim",
        "model_args": {"seed": str(seed)},
        "seed": seed,
        "ranking_samples": 1,
    }
    full_samples = run(RunConfig(**base, samples=2), log_dir)
    full = scores(full_samples[full_samples["sample"] == 0])
    replicate = scores(full_samples[full_samples["sample"] == 1])
    planted_of = Utilities(SimKnobs(seed=seed))
    planted = pd.Series({eid: planted_of(eid) for eid in full.index})
    full_queries = int((full_samples["sample"] == 0).sum())
    rows = [
        {
            "seed": seed,
            "design": "full",
            "budget": "100%",
            "rounds": 1,
            "queries": full_queries,
            "rho_full": 1.0,
            "rho_replicate": rho(full, replicate),
            "rho_planted": rho(full, planted),
        }
    ]
    variants = [("active-alternate", budget, {"pair_orders": "alternate"}) for budget in BUDGETS]
    variants += [("active-both", budget, {"pair_orders": "both"}) for budget in BUDGETS]
    variants += [("random", budget, {"pair_rounds": 1}) for budget in BUDGETS]
    variants += [
        ("active-alternate", DEFAULT_BUDGET, {"pair_orders": "alternate", "pair_rounds": r})
        for r in ROUNDS
        if r != 4
    ]
    variants += [("active-stop-0.99", "50%", {"pair_rounds": 10, "pair_stop_rho": 0.99})]
    for design, budget, options in variants:
        config = RunConfig(
            **base, options={"pair_strategy": "active", "pair_budget": budget, **options}
        )
        samples = run(config, log_dir)
        active = scores(samples)
        rows.append(
            {
                "seed": seed,
                "design": design,
                "budget": budget,
                "rounds": options.get("pair_rounds", 4),
                "queries": len(samples),
                "rho_full": rho(active, full),
                "rho_replicate": rho(active, replicate),
                "rho_planted": rho(active, planted),
            }
        )
    return rows


def table(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and range over seeds, per design, budget and round count."""
    grouped = results.groupby(["design", "budget", "rounds"], sort=False)
    out = grouped.agg(
        seeds=("seed", "nunique"),
        queries=("queries", "mean"),
        queries_max=("queries", "max"),
        rho_full=("rho_full", "mean"),
        rho_full_min=("rho_full", "min"),
        rho_replicate=("rho_replicate", "mean"),
        rho_planted=("rho_planted", "mean"),
        rho_planted_min=("rho_planted", "min"),
    ).reset_index()
    full = results.loc[results["design"] == "full", "queries"].iloc[0]
    out.insert(4, "share", out["queries"] / full)
    return out


def figure(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full_queries = results.loc[results["design"] == "full", "queries"].iloc[0]
    curves = results[(results["rounds"] == 4) | (results["design"] == "random")]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    styles = {
        "active-alternate": ("tab:blue", "active, alternate orders (default)"),
        "active-both": ("tab:orange", "active, both orders"),
        "random": ("tab:gray", "random design, same budget"),
    }
    for ax, column, title in (
        (axes[0], "rho_full", "vs the full design's BT scores"),
        (axes[1], "rho_planted", "vs sim's planted utilities"),
    ):
        for design, (colour, label) in styles.items():
            part = curves[curves["design"] == design]
            stats = part.groupby("budget", sort=False).agg(
                x=("queries", "mean"),
                mean=(column, "mean"),
                low=(column, "min"),
                high=(column, "max"),
            )
            x = 100 * stats["x"] / full_queries
            ax.plot(x, stats["mean"], "o-", color=colour, label=label)
            ax.fill_between(x, stats["low"], stats["high"], color=colour, alpha=0.15)
        if column == "rho_planted":
            full = results[results["design"] == "full"][column]
            ax.axhline(full.mean(), color="black", ls=":", label="full design (mean)")
        ax.axhline(0.97, color="tab:red", lw=0.8, ls="--")
        ax.axvline(30, color="tab:red", lw=0.8, ls="--")
        ax.set_title(title)
        ax.set_xlabel("pairwise queries, % of the full design's 5,112")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Spearman ρ (mean; band = min–max over seeds)")
    axes[0].set_ylim(0.75, 1.0)
    axes[1].legend(loc="lower right", fontsize=8)
    fig.suptitle(
        f"Adaptive pairwise elicitation on sim, 72 entities, {results['seed'].nunique()} seeds"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None, help="write per-run results here")
    parser.add_argument("--figure", type=Path, default=None, help="write the curve as a PNG")
    parser.add_argument(
        "--planning-ridge",
        type=float,
        default=None,
        help="sensitivity analysis: replace the planner's prior precision (harness default "
        f"{active_design.PLANNING_RIDGE:g})",
    )
    args = parser.parse_args()
    if args.planning_ridge is not None:
        active_design.PLANNING_RIDGE = args.planning_ridge
        print(f"planning ridge {args.planning_ridge:g} (not the harness default)")
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            rows += one_seed(seed, Path(tmp) / str(seed))
            print(f"seed {seed} done ({time.perf_counter() - started:.0f} s)", flush=True)
    results = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table(results).round(4).to_string(index=False))
    passed = results[(results["design"] == "active-alternate") & (results["budget"] == "25%")]
    passed = passed[passed["rounds"] == 4]
    full_queries = results.loc[results["design"] == "full", "queries"].iloc[0]
    print(
        f"default active design (25 %): rho vs full min {passed['rho_full'].min():.4f}, "
        f"share {passed['queries'].max() / full_queries:.3f} of the full design's queries; "
        f"wall {time.perf_counter() - started:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    if args.figure:
        figure(results, args.figure)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
