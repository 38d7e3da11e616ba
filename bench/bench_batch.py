"""Benchmark: what ``--batch`` costs the harness itself, against loopback batch servers.

Runs the elicitation suite (72 entities: 5,112 pairwise questions and 10 rankings) on
``openai/gpt-4o`` and ``anthropic/claude-sonnet-4-5`` twice each: with ``--batch`` against a
local server implementing the Files/Batch and Message Batches APIs (the one the tests use, which
answers instantly and ends a batch after a few polls), and online against the same server's chat
endpoints. Reported: wall time of each run (from ``harness.engine.start_run``, without
interpreter start-up), and for the batch run the time spent in the batch step (building the
bodies, the upload, polling at 0.01 s, download and parsing, the store writes), so the rest is
running the trials from the stored answers.

    .venv/bin/python bench/bench_batch.py [--rounds 3]

Only loopback traffic; the servers stop when the run ends.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

import harness.engine as engine  # noqa: E402
from harness.config import RunConfig  # noqa: E402
from tests.batch_servers import BatchServer  # noqa: E402

MODELS = ("openai/gpt-4o", "anthropic/claude-sonnet-4-5")


def one_run(model: str, batch: bool, log_dir: Path) -> tuple[float, float, int]:
    spent_batching = 0.0
    original = engine.prefetch_batches

    async def timed(*args, **kwargs):
        nonlocal spent_batching
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            spent_batching += time.perf_counter() - started

    engine.prefetch_batches = timed  # type: ignore[assignment]
    try:
        with BatchServer("A", progress_polls=1) as server:
            os.environ["OPENAI_BASE_URL"] = server.url
            os.environ["ANTHROPIC_BASE_URL"] = server.root
            settings = engine.RunSettings(
                log_dir=log_dir, cache=False, progress=False, batch=batch, batch_poll=0.01
            )
            config = RunConfig(suite="elicitation", model=model, max_tokens=16)
            with open(os.devnull, "w") as quiet:
                started = time.perf_counter()
                result = engine.start_run(config, settings, console=Console(file=quiet))
                wall = time.perf_counter() - started
            assert result.status == "complete", result.status
            calls = len(server.online) + sum(len(b["items"]) for b in server.batches.values())
    finally:
        engine.prefetch_batches = original  # type: ignore[assignment]
    return wall, spent_batching, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench-0123456789abcdef")
    os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-0123456789abcdef")
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HARNESS_CACHE_DIR"] = str(Path(tmp) / "cache")
        for model in MODELS:
            rows = {True: [], False: []}
            for n in range(args.rounds):
                for batch in (True, False):
                    rows[batch].append(one_run(model, batch, Path(tmp) / f"{n}-{batch}"))
            for batch in (True, False):
                walls = [w for w, _, _ in rows[batch]]
                step = [s for _, s, _ in rows[batch]]
                calls = rows[batch][0][2]
                print(
                    f"{model:30} {'batch ' if batch else 'online'} {calls:,} requests: "
                    f"wall median {statistics.median(walls):.2f} s (range {min(walls):.2f}-{max(walls):.2f})"
                    + (f", batch step median {statistics.median(step):.2f} s" if batch else "")
                )


if __name__ == "__main__":
    main()
