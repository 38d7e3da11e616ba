"""Benchmark: what one sample's sandbox costs (create, write, exec, read, remove).

Each sample creates a DockerSandbox from the base image, writes one file, runs one
command, reads one file back (the stand-in for grading) and removes the sandbox.  Samples
run sequentially and with N at a time; the report gives the amortized wall time per sample
(batch wall time / samples), the median and p95 of single samples, and per-phase medians.

The same work done with bare Docker SDK calls (same image, same lockdown options, no
timeout wrapper, no watchdog, no output caps) runs in the same process as a baseline, so
the harness's own overhead can be told apart from the Docker engine's cost on this host.

    .venv/bin/python bench/bench_sandbox.py --samples 40 --concurrency 1 4
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import resource
import statistics
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs import SandboxSpec
from envs.docker import DockerSandbox
from envs.images import ensure_base_image

PHASES = ("create", "write", "exec", "read", "remove")
TARGET_S = 0.30


@dataclass
class Sample:
    total: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    # Machine-wide busy CPU per phase: only attributable when samples run one at a time.
    phase_cpu: dict[str, float] = field(default_factory=dict)


async def one_sample(spec: SandboxSpec, run_id: str, index: int) -> Sample:
    sample = Sample()
    started = time.perf_counter()
    mark, cpu_mark = started, machine_cpu_s()

    def lap(name: str) -> None:
        nonlocal mark, cpu_mark
        now, cpu_now = time.perf_counter(), machine_cpu_s()
        sample.phases[name] = now - mark
        sample.phase_cpu[name] = cpu_now - cpu_mark
        mark, cpu_mark = now, cpu_now

    box = DockerSandbox(spec, run_id=run_id, sample_id=f"s{index}")
    try:
        await box.start()
        lap("create")
        await box.write_file("solution.py", f"print({index} * 2)\n")
        lap("write")
        result = await box.exec(["sh", "-c", "python3 solution.py > answer.txt"], timeout=30)
        assert result.exit_code == 0, result
        lap("exec")
        answer = await box.read_file("answer.txt")
        assert answer == f"{index * 2}\n".encode(), answer
        lap("read")
    finally:
        await box.close()
    lap("remove")
    sample.total = time.perf_counter() - started
    return sample


def bare_sdk_sample(image: str, run_id: str, index: int) -> Sample:
    """The same work with bare docker SDK calls: the floor the harness is compared with."""
    from envs._client import docker_client

    api = docker_client().api
    sample = Sample()
    started = time.perf_counter()
    host_config = api.create_host_config(
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        mem_limit="1g",
        pids_limit=256,
        nano_cpus=1_000_000_000,
        init=True,
    )
    container = api.create_container(
        image,
        command=["sleep", "infinity"],
        user="agent",
        working_dir="/workspace",
        labels={"harness.managed": "1", "harness.run": run_id},
        host_config=host_config,
    )["Id"]
    try:
        api.start(container)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            body = f"print({index} * 2)\n".encode()
            info = tarfile.TarInfo("solution.py")
            info.size, info.uid, info.gid = len(body), 1000, 1000
            tar.addfile(info, io.BytesIO(body))
        api.put_archive(container, "/workspace", archive.getvalue())
        exec_id = api.exec_create(container, ["sh", "-c", "python3 solution.py > answer.txt"])
        api.exec_start(exec_id["Id"])
        assert api.exec_inspect(exec_id["Id"])["ExitCode"] == 0
        stream, _ = api.get_archive(container, "/workspace/answer.txt")
        assert b"".join(stream)
    finally:
        api.remove_container(container, force=True)
    sample.total = time.perf_counter() - started
    return sample


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine so far (all processes, all cores)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def client_cpu_s() -> float:
    """CPU seconds used by this process (the harness side: SDK calls, tar, asyncio)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


async def run_batch(
    spec: SandboxSpec, samples: int, concurrency: int, *, bare: bool = False
) -> dict[str, object]:
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    gate = asyncio.Semaphore(concurrency)

    async def gated(index: int) -> Sample:
        async with gate:
            if bare:
                return await asyncio.to_thread(bare_sdk_sample, spec.image, run_id, index)
            return await one_sample(spec, run_id, index)

    started = time.perf_counter()
    machine0, client0 = machine_cpu_s(), client_cpu_s()
    results = await asyncio.gather(*(gated(i) for i in range(samples)))
    wall = time.perf_counter() - started
    machine_cpu = (machine_cpu_s() - machine0) / samples
    client_cpu = (client_cpu_s() - client0) / samples
    totals = [sample.total for sample in results]
    return {
        "sandbox": "bare-sdk" if bare else "harness",
        "concurrency": concurrency,
        "samples": samples,
        "wall_s": round(wall, 3),
        "amortized_s": round(wall / samples, 3),
        "median_s": round(statistics.median(totals), 3),
        "p95_s": round(percentile(totals, 0.95), 3),
        # CPU per sample: the whole machine (engine, runc, shims, container) and this client.
        "machine_cpu_s": round(machine_cpu, 3),
        "client_cpu_s": round(client_cpu, 3),
        "phase_median_s": {
            name: round(statistics.median(sample.phases[name] for sample in results), 3)
            for name in PHASES
            if not bare
        },
        "phase_cpu_median_s": {
            name: round(statistics.median(sample.phase_cpu[name] for sample in results), 3)
            for name in PHASES
            if not bare
        },
    }


def docker_version() -> str:
    from envs._client import docker_client

    return str(docker_client().version().get("Version", "unknown"))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=1, help="repeat each batch this often")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare-SDK rows")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs; Docker engine {docker_version()}")

    spec = SandboxSpec(image=ensure_base_image())
    await one_sample(spec, f"bench-warmup-{uuid.uuid4().hex[:6]}", 0)  # warm caches
    rows = []
    for _ in range(args.rounds):
        for concurrency in args.concurrency:
            # Harness and baseline alternate, so both see the same machine conditions.
            for bare in (False,) if args.no_baseline else (False, True):
                row = await run_batch(spec, args.samples, concurrency, bare=bare)
                rows.append(row)
                print(format_row(row))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    for concurrency in args.concurrency:
        mine = [
            float(r["amortized_s"])
            for r in rows
            if r["concurrency"] == concurrency and r["sandbox"] == "harness"
        ]  # type: ignore[arg-type]
        bare_rows = [
            float(r["amortized_s"])
            for r in rows
            if r["concurrency"] == concurrency and r["sandbox"] == "bare-sdk"
        ]  # type: ignore[arg-type]
        line = f"concurrency {concurrency}: harness median {statistics.median(mine):.3f} s/sample"
        if bare_rows:
            ratio = statistics.median(mine) / statistics.median(bare_rows)
            line += f", bare SDK median {statistics.median(bare_rows):.3f} s/sample (x{ratio:.2f})"
        if concurrency == 4:
            met = statistics.median(mine) <= TARGET_S
            line += f"; target <= {TARGET_S:.2f} s/sample: {'met' if met else 'MISSED'}"
        print(line)
    return 0


def format_row(row: dict[str, object]) -> str:
    text = (
        f"{row['sandbox']:>8} concurrency {row['concurrency']:>2}: {row['samples']} samples in "
        f"{row['wall_s']:.2f} s, amortized {row['amortized_s']:.3f} s/sample, per sample median "
        f"{row['median_s']:.3f} s p95 {row['p95_s']:.3f} s | CPU/sample machine "
        f"{row['machine_cpu_s']:.3f} s client {row['client_cpu_s']:.3f} s"
    )
    phases = row["phase_median_s"]
    if phases:
        text += " | " + " ".join(f"{k}={v:.3f}" for k, v in phases.items())  # type: ignore[union-attr]
    return text


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
