"""Benchmark: the Ray executor against the local executor on this machine.

Two workloads, each run alternately through both executors so that both see the same machine:

- the advice suite on ``sim`` (about 10,000 model-only trials: elicitation, then donation
  advice with refusal retries), where the harness's own cost per trial is all there is;
- an agentic batch: 2 tasks (``--tasks``) x (3 phrasings x 2 entities + 1 neutral) = 14
  sandboxed samples on ``sim``, with preferences from an earlier run (so only sandboxed trials are timed), 2
  sandboxes at once in both cases (``--max-sandboxes 2`` locally, a worker with 2 sandbox
  slots on Ray).

The cluster is a head (1 CPU) and a worker (1 CPU, 2 sandbox slots), each its own ``ray start``
process on this machine (:class:`harness.executors.localcluster.LocalRayCluster`). A Ray run's
wall time includes joining the cluster (``ray.init``) and shipping the run and stage payloads.
Reported: median wall time per executor, when the first trial started (the Ray executor joins
the cluster, ships the payloads and starts worker processes first), and the Ray executor's
overhead per trial, (Ray - local) / trials, overall and once trials are running.

Run: ``.venv/bin/python bench/bench_executors.py [--repeat 3] [--tasks 2] [--skip-agentic]`` (needs the
``ray`` extra; the agentic batch needs Docker and the sandbox base image).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path

from harness.config import RunConfig
from harness.engine import RunSettings, start_run
from harness.executors.localcluster import LocalRayCluster


def timed(config: RunConfig, settings: RunSettings) -> tuple[float, float, int]:
    """Wall seconds, seconds until the first trial started, and trials run."""
    started = time.time()
    result = start_run(config, settings)
    seconds = time.time() - started
    if result.status != "complete" or result.errors:
        raise SystemExit(
            f"{config.suite} on {settings.executor}: {result.status}, {result.errors} errors"
        )
    with closing(sqlite3.connect(result.directory / "run.sqlite")) as db:
        (first,) = db.execute("SELECT MIN(started) FROM samples").fetchone()
    return seconds, first - started, result.trials_run


def join_seconds(settings: RunSettings, repeat: int) -> float:
    """Median time to join the cluster and leave it again, with nothing run."""
    from harness.executors import create_executor

    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        create_executor(settings).close()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def compare(
    name: str, config: RunConfig, make: dict[str, RunSettings], repeat: int, log_dir: Path
) -> None:
    walls: dict[str, list[float]] = {executor: [] for executor in make}
    firsts: dict[str, list[float]] = {executor: [] for executor in make}
    trials = 0
    for round_ in range(repeat):
        for executor, settings in make.items():
            settings.log_dir = log_dir / f"{name}-{executor}-{round_}"
            wall, first, trials = timed(config, settings)
            walls[executor].append(wall)
            firsts[executor].append(first)
    wall = {executor: statistics.median(values) for executor, values in walls.items()}
    first = {executor: statistics.median(values) for executor, values in firsts.items()}
    lines = [
        f"{name} via {executor}: {trials:,} trials; wall {wall[executor]:.2f} s median "
        f"(min {min(values):.2f}, max {max(values):.2f}), the first trial started after "
        f"{first[executor]:.2f} s; {trials / wall[executor]:,.1f} trials/s"
        for executor, values in walls.items()
    ]
    overall = (wall["ray"] - wall["local"]) / trials
    running = ((wall["ray"] - first["ray"]) - (wall["local"] - first["local"])) / trials
    lines.append(
        f"{name}: Ray executor overhead {overall * 1e3:+.2f} ms per trial, "
        f"{running * 1e3:+.2f} ms once trials are running"
    )
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-agentic", action="store_true")
    parser.add_argument("--tasks", type=int, default=2, help="agentic tasks (7 samples each)")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
    with tempfile.TemporaryDirectory() as tmp, LocalRayCluster() as cluster:
        os.environ["HARNESS_CACHE_DIR"] = str(Path(tmp) / "cache")
        started = time.perf_counter()
        cluster.start(cpus=1)
        cluster.add_node("worker", cpus=1, resources={"sandbox": 2})
        print(f"cluster: head + 1 worker started in {time.perf_counter() - started:.1f} s")
        log_dir = Path(tmp) / "runs"

        def settings(executor: str, **extra: object) -> RunSettings:
            return RunSettings(
                progress=False,
                cache=False,
                executor=executor,
                ray_address=cluster.address if executor == "ray" else None,
                **extra,  # type: ignore[arg-type]
            )

        print(
            f"joining the cluster and leaving it: {join_seconds(settings('ray'), args.repeat):.2f}"
            " s (median; part of every Ray run below)",
            flush=True,
        )
        advice = RunConfig(suite="advice", model="sim")
        compare(
            "advice",
            advice,
            {"local": settings("local"), "ray": settings("ray")},
            args.repeat,
            log_dir,
        )
        if args.skip_agentic:
            return
        elicited = start_run(
            RunConfig(suite="elicitation", model="sim"),
            settings("local", log_dir=log_dir / "preferences"),
        )
        agentic = RunConfig(
            suite="agentic",
            model="sim",
            limit=args.tasks,
            options={"top_k": 1, "preferences": str(elicited.directory)},
        )
        compare(
            f"agentic ({7 * args.tasks} samples, 2 sandboxes at once)",
            agentic,
            {"local": settings("local", max_sandboxes=2), "ray": settings("ray")},
            args.repeat,
            log_dir,
        )
        if cluster.stop():
            raise SystemExit("Ray processes survived the cluster")


if __name__ == "__main__":
    main()
