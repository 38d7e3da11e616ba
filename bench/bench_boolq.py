"""Benchmark: the BoolQ suite on ``sim``, 200 questions x (72 entities + 2 controls).

Measures the suite end to end through ``harness.engine.start_run`` (elicitation stage, then
BoolQ: data loading, planning, every simulated call, Yes/No parsing and store writes),
the BoolQ stage alone (from its samples' timestamps) and the printed summary, excluding
interpreter start-up.

    .venv/bin/python bench/bench_boolq.py [--questions 200] [--repeat 3]
        [--boolq-path FILE] [--profile out.prof]

The BoolQ file defaults to ``$HARNESS_BOOLQ_PATH``, else ``../shared/data/boolq/validation.jsonl``
next to the repository.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run from a checkout without installing: make ``harness`` importable.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rich.console import Console  # noqa: E402

from harness.config import RunConfig  # noqa: E402
from harness.engine import RunSettings, start_run  # noqa: E402
from harness.store import Run  # noqa: E402
from harness.summary import print_summary  # noqa: E402


def default_path() -> str:
    return os.environ.get("HARNESS_BOOLQ_PATH") or str(
        REPO.parent / "shared" / "data" / "boolq" / "validation.jsonl"
    )


def one(path: str, questions: int, log_dir: Path) -> dict[str, float]:
    config = RunConfig(suite="boolq", model="sim", limit=questions, options={"boolq_path": path})
    settings = RunSettings(log_dir=log_dir, progress=False, cache=False)
    started = time.perf_counter()
    result = start_run(config, settings, console=Console(file=io.StringIO()))
    wall = time.perf_counter() - started
    with Run(result.directory) as run:
        samples = run.samples()
        calls = len(run.calls())
    boolq = samples[samples["probe"] == "boolq"]
    out = io.StringIO()
    started = time.perf_counter()
    print_summary(result, Console(file=out, width=120))
    summary = time.perf_counter() - started
    assert "BoolQ accuracy by framing" in out.getvalue()
    # The stage's span: first BoolQ trial started to last completed (the store's timestamps).
    with sqlite3.connect(result.directory / "run.sqlite") as db:
        first, last = db.execute(
            "SELECT MIN(started), MAX(completed) FROM samples WHERE probe = 'boolq'"
        ).fetchone()
    stage = last - first
    return {
        "wall": wall,
        "calls": calls,
        "boolq_trials": len(boolq),
        "boolq_stage": stage,
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--boolq-path", default=default_path())
    parser.add_argument("--profile", help="write a cProfile of one run to this file")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CACHE_DIR"] = str(Path(tmp) / "cache")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(one, args.boolq_path, args.questions, Path(tmp) / "profile")
            profiler.dump_stats(args.profile)
        runs = [
            one(args.boolq_path, args.questions, Path(tmp) / str(i)) for i in range(args.repeat)
        ]
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    walls = [r["wall"] for r in runs]
    print(
        f"boolq suite: {int(median['calls']):,} calls ({int(median['boolq_trials']):,} BoolQ); "
        f"wall {median['wall']:.2f} s median (min {min(walls):.2f}, max {max(walls):.2f}); "
        f"{median['calls'] / median['wall']:,.0f} calls/s overall"
    )
    print(
        f"boolq stage: {median['boolq_stage']:.2f} s, "
        f"{median['boolq_trials'] / median['boolq_stage']:,.0f} calls/s; "
        f"summary {median['summary']:.2f} s"
    )


if __name__ == "__main__":
    main()
