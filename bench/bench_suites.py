"""Benchmark: end-to-end throughput of the elicitation and advice suites on ``sim``.

Measures what a user waits for: planning, every simulated call, parsing, classification and
store writes (one SQLite transaction per batch), excluding interpreter start-up and the summary.
Run: ``.venv/bin/python bench/bench_suites.py [--repeat 3] [-M style=verbose]`` (``-M`` passes
sim knobs, e.g. its verbose answers, which cost the parsers and classifiers more).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.config import RunConfig, parse_model_args
from harness.engine import RunSettings, start_run
from harness.store import Run


def one(suite: str, log_dir: Path, model_args: dict[str, str]) -> tuple[float, int, int]:
    config = RunConfig(suite=suite, model="sim", model_args=model_args)
    settings = RunSettings(log_dir=log_dir, progress=False, cache=False)
    started = time.perf_counter()
    result = start_run(config, settings)
    seconds = time.perf_counter() - started
    with Run(result.directory) as run:
        calls = len(run.calls())
    return seconds, calls, result.trials_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-M", dest="model_args", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    model_args = parse_model_args(args.model_args)
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    for suite in ("elicitation", "advice"):
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(args.repeat):
                runs.append(one(suite, Path(tmp) / str(i), model_args))
        seconds = [r[0] for r in runs]
        calls, trials = runs[0][1], runs[0][2]
        median = statistics.median(seconds)
        print(
            f"{suite}: {trials:,} trials, {calls:,} calls; wall {median:.2f} s median "
            f"(min {min(seconds):.2f}, max {max(seconds):.2f}); {calls / median:,.0f} calls/s"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
