"""Benchmark: the BoolQ models at full scale, and the calibration of the BoolQ test.

``mixed``: 1,000,000+ BoolQ rows, 5 models x 72 entities x 2,800 questions (plus 2 controls per
question), simulated with :func:`analysis.power.simulate_boolq`. Each model is fitted
separately, as the analysis does (a model's preference scale is its own): the GEE clustered by
entity (the confirmatory test), the variational-Bayes mixed model (question and entity random
intercepts) and the whole :func:`analysis.boolq.boolq_analysis`. A pooled GEE over all
five models (model-specific intercepts and slopes, clusters = model x entity) shows the
scalable path in one fit. Wall time per fit; peak memory of each fit from ``tracemalloc``
(numpy buffers included) in a separate pass, and the process's peak RSS.

``calibration``: false-positive rate of the BoolQ test with no planted effect at the default
design (72 entities x 100 questions), for the GEE and the Bayesian model, with and without
entity heterogeneity; power curves of the GEE over planted effects and question counts; a
figure (null p-value QQ plot and power curves).

    .venv/bin/python bench/bench_analysis.py mixed [--models 5] [--questions 2800] [--no-bayes]
    .venv/bin/python bench/bench_analysis.py calibration [--sims 1000] [--bayes-sims 200]
        [--figure docs/figures/analysis-calibration.png]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import resource
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

# Run from a checkout without installing: make ``analysis`` and ``harness`` importable.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.boolq import (  # noqa: E402
    boolq_analysis,
    preference_effect_bayes,
    preference_effect_gee,
)
from analysis.estimates import standardise  # noqa: E402
from analysis.mixed import fit_gee_logit  # noqa: E402
from analysis.power import BoolQDesign, simulate_boolq  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepared(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entity rows with y and preference_z, and the control rows, as the analysis builds them."""
    answered = rows[rows["outcome"].isin(("correct", "wrong"))]
    z = standardise(answered.dropna(subset=["entity"]).groupby("entity")["preference"].first())
    data = answered.assign(y=answered["correct"].astype(float))
    entity = data[data["framing"] == "entity"]
    return entity.assign(preference_z=entity["entity"].map(z)), data[data["framing"] != "entity"]


def measure(fn: Any, memory: bool) -> tuple[float, float | None, Any]:
    gc.collect()
    if memory:
        tracemalloc.start()
    started = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - started
    peak = None
    if memory:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return seconds, peak, out


def bench_mixed(args: argparse.Namespace) -> dict[str, Any]:
    design = BoolQDesign(entities=args.entities, questions=args.questions)
    models = [simulate_boolq(design, seed=100 + m) for m in range(args.models)]
    total = sum(len(m) for m in models)
    print(f"{args.models} models x {design.trials:,} rows = {total:,} rows", flush=True)
    results: dict[str, Any] = {"rows": total, "rows_per_model": design.trials, "per_model": []}
    for m, rows in enumerate(models):
        entity, controls = prepared(rows)
        record: dict[str, Any] = {"model": m}
        steps = [("gee", lambda e=entity: preference_effect_gee(e))]
        if not args.no_bayes:
            steps.append(("bayes", lambda e=entity, c=controls: preference_effect_bayes(e, c)))
        for name, fn in steps:
            seconds, _, (estimate, fit) = measure(fn, memory=False)
            record[f"{name}_seconds"] = seconds
            record[f"{name}_estimate_pp"] = estimate.estimate
            record[f"{name}_ci"] = [estimate.ci_low, estimate.ci_high]
            if name == "bayes":
                record["bayes_converged"] = fit.converged
            print(
                f"model {m} {name}: {seconds:.1f} s, {estimate.estimate:+.3f} pp/SD "
                f"[{estimate.ci_low:+.3f}, {estimate.ci_high:+.3f}]",
                flush=True,
            )
        if m == 0:
            # Peak memory once (tracemalloc slows allocation-heavy code down).
            for name, fn in steps:
                _, peak, _ = measure(fn, memory=True)
                record[f"{name}_peak_mb"] = peak
                print(f"model {m} {name}: peak {peak:.0f} MiB (tracemalloc)", flush=True)
            seconds, peak, _ = measure(
                lambda r=rows: boolq_analysis(r, bayes=not args.no_bayes, bootstrap=1000),
                memory=False,
            )
            record["full_analysis_seconds"] = seconds
            print(f"model {m} full boolq_analysis: {seconds:.1f} s", flush=True)
        results["per_model"].append(record)
    # Pooled: one GEE over every model, slopes and intercepts per model, clusters model x entity.
    pooled = []
    for m, rows in enumerate(models):
        entity, _ = prepared(rows)
        pooled.append(entity.assign(model=f"m{m}", cluster=f"m{m}|" + entity["entity"]))
    data = pd.concat(pooled, ignore_index=True)
    design_matrix = pd.DataFrame(
        {
            f"{kind}_m{m}": (
                (data["model"] == f"m{m}") * (1.0 if kind == "Intercept" else data["preference_z"])
            ).to_numpy()
            for m in range(args.models)
            for kind in ("Intercept", "slope")
        }
    )
    seconds, peak, fit = measure(
        lambda: fit_gee_logit(data["y"].to_numpy(), design_matrix, data["cluster"].to_numpy()),
        memory=True,
    )
    results["pooled_gee"] = {
        "rows": len(data),
        "seconds_with_tracemalloc": seconds,
        "peak_mb": peak,
        "clusters": fit.clusters,
    }
    print(
        f"pooled GEE over {len(data):,} rows: {seconds:.1f} s (under tracemalloc), "
        f"peak {peak:.0f} MiB",
        flush=True,
    )
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def _null_p(design: BoolQDesign, method: str, seed: int) -> dict[str, float]:
    """p-values of one simulated null study: the reported test and a variant that shows why
    it was chosen (GEE clustered by question; the raw mean-field VB SD)."""
    entity, controls = prepared(simulate_boolq(design, seed=seed))
    if method == "gee":
        by_question = fit_gee_logit(
            entity["y"].to_numpy(),
            pd.DataFrame({"Intercept": 1.0, "preference_z": entity["preference_z"].to_numpy()}),
            entity["question_id"].to_numpy(),
        )
        return {
            "gee": preference_effect_gee(entity)[0].p,
            "gee clustered by question": float(by_question.terms["p"].iloc[1]),
        }
    estimate, fit = preference_effect_bayes(entity, controls)
    if fit is None:
        return {"bayes": estimate.p, "bayes, raw VB SD": float("nan")}
    row = fit.term("preference_z")
    raw = 2 * sps.norm.sf(abs(row["mean"]) / row["sd_vb"])
    return {"bayes": estimate.p, "bayes, raw VB SD": float(raw)}


def bench_calibration(args: argparse.Namespace) -> dict[str, Any]:
    base = BoolQDesign(effect_pp=0.0)
    settings = [
        ("gee", "sim (no entity heterogeneity)", base, args.sims),
        ("gee", "entity SD 0.2 logits", replace(base, entity_sd=0.2), args.sims),
        ("bayes", "sim (no entity heterogeneity)", base, args.bayes_sims),
        ("bayes", "entity SD 0.2 logits", replace(base, entity_sd=0.2), args.bayes_sims),
    ]
    results: dict[str, Any] = {
        "alpha": 0.05,
        "design": "72 entities x 100 questions x 1 epoch",
        "null": [],
        "power": [],
    }
    null_p: dict[tuple[str, str], list[float]] = {}
    for method, label, design, sims in settings:
        started = time.perf_counter()
        runs = [_null_p(design, method, seed=10_000 + i) for i in range(sims)]
        for variant in runs[0]:
            p = [r[variant] for r in runs if np.isfinite(r[variant])]
            rate = float(np.mean(np.array(p) < 0.05))
            se = float(np.sqrt(0.05 * 0.95 / len(p)))
            results["null"].append(
                {
                    "test": variant,
                    "setting": label,
                    "sims": len(p),
                    "false_positive_rate": rate,
                    "binomial_se_at_0.05": se,
                    "seconds": time.perf_counter() - started,
                }
            )
            null_p[(variant, label)] = p
            print(
                f"null {variant:26s} {label:30s} FPR {rate:.3f} (+-{1.96 * se:.3f}) over {len(p)}",
                flush=True,
            )
    effects = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
    for questions in (25, 50, 100):
        for effect in effects:
            design = BoolQDesign(questions=questions, effect_pp=effect)
            rejected = 0
            for i in range(args.power_sims):
                entity, _ = prepared(simulate_boolq(design, seed=50_000 + i))
                rejected += preference_effect_gee(entity)[0].p < 0.05
            power = rejected / args.power_sims
            results["power"].append(
                {
                    "questions": questions,
                    "effect_pp": effect,
                    "power": power,
                    "sims": args.power_sims,
                }
            )
            print(f"power q={questions:3d} effect {effect:.1f} pp/SD: {power:.3f}", flush=True)
    if args.figure:
        figure(null_p, results["power"], Path(args.figure))
        results["figure"] = args.figure
    return results


def figure(
    null_p: dict[tuple[str, str], list[float]], power: list[dict[str, Any]], path: Path
) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for (test, label), p in null_p.items():
        observed = np.sort(p)
        expected = (np.arange(1, len(p) + 1) - 0.5) / len(p)
        rate = np.mean(np.array(p) < 0.05)
        # Reported tests solid; the variants they were chosen over dashed.
        style = "-" if test in ("gee", "bayes") else "--"
        left.plot(
            expected,
            observed,
            ls=style,
            lw=1.2,
            label=f"{test}, {label}: {rate:.3f} (n={len(p)})",
        )
    left.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--")
    left.set_xlim(0, 0.2)
    left.set_ylim(0, 0.2)
    left.axvline(0.05, color="grey", lw=0.6)
    left.set_xlabel("expected p (uniform quantile)")
    left.set_ylabel("observed p")
    left.set_title("Null p-values, 72 entities x 100 questions (lower tail)")
    left.legend(fontsize=7)
    frame = pd.DataFrame(power)
    for questions, part in frame.groupby("questions"):
        right.plot(
            part["effect_pp"],
            part["power"],
            marker="o",
            label=f"{questions} questions x 72 entities",
        )
    right.axhline(0.8, color="grey", lw=0.6, ls=":")
    right.axhline(0.05, color="grey", lw=0.6, ls=":")
    right.set_xlabel("planted effect (pp per SD of utility)")
    right.set_ylabel("power (GEE, alpha 0.05)")
    right.set_title("Power of the confirmatory BoolQ test")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    mixed = sub.add_parser("mixed", help="fit the BoolQ models on 1M rows")
    mixed.add_argument("--models", type=int, default=5)
    mixed.add_argument("--entities", type=int, default=72)
    mixed.add_argument("--questions", type=int, default=2800)
    mixed.add_argument("--no-bayes", action="store_true")
    cal = sub.add_parser("calibration", help="false-positive rate and power curves")
    cal.add_argument("--sims", type=int, default=1000)
    cal.add_argument("--bayes-sims", type=int, default=200)
    cal.add_argument("--power-sims", type=int, default=200)
    cal.add_argument(
        "--figure", default=str(REPO / "docs" / "figures" / "analysis-calibration.png")
    )
    for p in (mixed, cal):
        p.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.platform()}", flush=True)
    started = time.perf_counter()
    results = bench_mixed(args) if args.mode == "mixed" else bench_calibration(args)
    results["wall_seconds"] = time.perf_counter() - started
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float))
    print(f"done in {results['wall_seconds']:.0f} s; peak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()
