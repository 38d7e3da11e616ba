"""Benchmark: how much sim's terse and verbose answers to the same planted decisions differ in
what the harness measures, against how much the same measures vary from one seed to another.

For each seed ``s`` it runs the advice suite on ``sim`` (``-M seed=s`` plants the utilities
and seeds every answer; ``--seed s`` seeds the plan) with the default terse wording and with
``-M style=verbose``, through :func:`harness.engine.start_run`, at the size of the end-to-end
test (``tests/test_verbose_sim.py``: ``--limit 24`` entities, 4 rankings), and reads from each
run the parse figures (:func:`analysis.audit.parse_summary`) and the planted effects'
recovery (:func:`analysis.runs.analyze_run`). Printed per statistic: the mean and the SD over
seeds of the terse runs (seed-to-seed variation), and the mean and largest absolute
terse-minus-verbose difference at the same seed. The test's tolerances are derived from the
seed-to-seed SDs measured here.

    .venv/bin/python bench/bench_styles.py [--seeds 8] [--limit 24] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from analysis.audit import parse_summary  # noqa: E402
from analysis.runs import analyze_run  # noqa: E402
from harness.config import RunConfig  # noqa: E402
from harness.engine import RunSettings, start_run  # noqa: E402
from harness.store import Run  # noqa: E402

EFFECTS = (
    "donation_rho",
    "refusal_attempts_rho",
    "refusal_rate_rho",
    "attempts_pref_a",
    "attempts_pref_b",
    "attempts_interaction",
)


def statistics(directory: Path) -> dict[str, float]:
    """Parse figures and planted-effect estimates of one stored run."""
    with Run(directory) as run:
        frames = {p: run.samples(p) for p in ("pairwise", "ranking", "donation")}
        figures = parse_summary(frames, run.records("attempt"))
        analysis = analyze_run(run, bayes=False, bootstrap=0)
    estimates = {e.statistic: e.estimate for _, e in analysis.estimates()}
    return {**figures, **{name: estimates[name] for name in EFFECTS}}


def one(seed: int, style: str, limit: int, log_dir: Path) -> dict[str, float]:
    args = {"seed": str(seed)} | ({"style": "verbose"} if style == "verbose" else {})
    config = RunConfig(
        suite="advice", model="sim", model_args=args, seed=seed, limit=limit, ranking_samples=4
    )
    result = start_run(config, RunSettings(log_dir=log_dir, progress=False, cache=False))
    return statistics(result.directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--limit", type=int, default=24)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for style in ("terse", "verbose"):
                rows.append(
                    {"seed": seed, "style": style, **one(seed, style, args.limit, Path(tmp))}
                )
                print(f"seed {seed} {style} done", file=sys.stderr)
    frame = pd.DataFrame(rows)
    terse = frame[frame["style"] == "terse"].set_index("seed")
    verbose = frame[frame["style"] == "verbose"].set_index("seed")
    stats = [c for c in frame.columns if c not in ("seed", "style")]
    table = pd.DataFrame(
        {
            "terse mean": terse[stats].mean(),
            "seed-to-seed SD": terse[stats].std(ddof=1),
            "mean |terse - verbose|": (terse[stats] - verbose[stats]).abs().mean(),
            "max |terse - verbose|": (terse[stats] - verbose[stats]).abs().max(),
        }
    )
    pd.set_option("display.width", 160)
    print(f"{args.seeds} seeds, --limit {args.limit}, 4 rankings; advice suite on sim")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": table.to_dict()}, indent=2))


if __name__ == "__main__":
    main()
