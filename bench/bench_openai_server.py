"""Benchmark: model-layer throughput against a local OpenAI-compatible server with fixed latency.

A minimal asyncio HTTP/1.1 server (keep-alive, Content-Length bodies only) runs in a child
process on 127.0.0.1 and answers every ``POST .../chat/completions`` with a canned completion
after an injected delay. The parent first loads it from a bare asyncio client (the ceiling
this machine allows), then drives it through ``harness.model.get_model`` with a
``ConcurrencyLimits`` cap, exactly as a run would, and compares the achieved request rate
with the ideal ``concurrency / latency``.

    .venv/bin/python bench/bench_openai_server.py [--requests 3000] [--concurrency 64]
        [--latency 0.1] [--rounds 3] [--profile out.prof]

Only loopback traffic; the server process is stopped when the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

# Run from a checkout without installing: make ``harness`` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.model import (
    ChatMessage,
    ConcurrencyLimits,
    GenerateConfig,
    ModelRequest,
    get_model,
)

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Option A.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 42, "completion_tokens": 3, "total_tokens": 45},
    }
).encode()


# -- server (child process) ------------------------------------------------------------------


async def _handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float
) -> None:
    """Serve requests on one connection until the client closes it (HTTP/1.1 keep-alive)."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            length = 0
            close = False
            for line in header_lines:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            if length:
                await reader.readexactly(length)
            if request_line.startswith("POST ") and "/chat/completions" in request_line:
                await asyncio.sleep(latency)
                status, body = b"200 OK", _COMPLETION
            else:
                status, body = b"404 Not Found", b'{"error": {"message": "not found"}}'
            writer.write(
                b"HTTP/1.1 " + status + b"\r\n"
                b"content-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: " + (b"close" if close else b"keep-alive") + b"\r\n\r\n" + body
            )
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the client closed the connection: normal end of a keep-alive session
    finally:
        writer.close()


def serve(latency: float, ready: Connection, stop: Connection) -> None:
    """Child-process entry point: report the port, serve until told to stop, then report
    the CPU seconds the server used (so its share of the machine is visible)."""

    async def main() -> None:
        server = await asyncio.start_server(
            lambda r, w: _handle(r, w, latency), "127.0.0.1", 0, backlog=1024
        )
        ready.send(server.sockets[0].getsockname()[1])
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        loop.add_reader(stop.fileno(), stopped.set)
        async with server:
            await stopped.wait()

    asyncio.run(main())
    ready.send(time.process_time())


# -- client ----------------------------------------------------------------------------------


@dataclass
class Round:
    """One timed batch of calls."""

    elapsed: float
    cpu: float
    """Client process CPU seconds spent during the batch."""
    latencies: list[float]


async def drive(base_url: str, requests: int, concurrency: int, rounds: int) -> list[Round]:
    """Send ``rounds`` batches of ``requests`` calls through the model layer."""
    model = get_model(
        "openai-compatible/bench", base_url=base_url, limits=ConcurrencyLimits(concurrency)
    )
    request = ModelRequest(
        messages=[ChatMessage(role="user", content="Which do you prefer, A or B?")],
        config=GenerateConfig(max_tokens=5),
    )
    results: list[Round] = []
    try:
        # Warm-up: open the connection pool so the timed rounds measure the steady state.
        await asyncio.gather(*(model.generate(request) for _ in range(concurrency)))
        for _ in range(rounds):
            start, cpu_start = time.perf_counter(), time.process_time()
            responses = await asyncio.gather(*(model.generate(request) for _ in range(requests)))
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            assert all(response.text == "Option A." for response in responses)
            results.append(Round(elapsed, cpu, [response.latency for response in responses]))
    finally:
        await model.aclose()
    return results


async def drive_raw(port: int, requests: int, concurrency: int) -> Round:
    """The same load from a bare asyncio client (no SDK, no harness): the ceiling that the
    server and this machine allow, so the gap to it is the model layer's own overhead."""
    body = json.dumps(
        {"model": "bench", "messages": [{"role": "user", "content": "A or B?"}], "max_tokens": 5}
    ).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode()
    remaining = requests
    latencies: list[float] = []

    async def worker() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while remaining > 0:
            remaining -= 1
            sent = time.perf_counter()
            writer.write(head + body)
            response_head = await reader.readuntil(b"\r\n\r\n")
            length = int(response_head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - sent)
        writer.close()

    start, cpu_start = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Round(time.perf_counter() - start, time.process_time() - cpu_start, latencies)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(label: str, result: Round, requests: int, ideal: float) -> float:
    rate = requests / result.elapsed
    print(
        f"{label}: {rate:6.1f} req/s = {100 * rate / ideal:5.1f}% of ideal | "
        f"latency p50 {1000 * statistics.median(result.latencies):5.1f} ms, "
        f"p95 {1000 * percentile(result.latencies, 0.95):5.1f} ms | "
        f"client CPU {1000 * result.cpu / requests:.2f} ms/call"
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.1, help="server delay in seconds")
    parser.add_argument("--rounds", type=int, default=3, help="timed batches (median reported)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the client here")
    options = parser.parse_args()
    ideal = options.concurrency / options.latency

    context = multiprocessing.get_context("spawn")
    ready_recv, ready_send = context.Pipe(duplex=False)
    stop_recv, stop_send = context.Pipe(duplex=False)
    server = context.Process(
        target=serve, args=(options.latency, ready_send, stop_recv), daemon=True
    )
    server.start()
    server_cpu: float | None = None
    try:
        if not ready_recv.poll(30):
            raise SystemExit("benchmark server did not start within 30 s")
        port = ready_recv.recv()
        print(
            f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.platform()}"
        )
        print(
            f"load: {options.requests} calls x {options.rounds} rounds, concurrency "
            f"{options.concurrency}, server latency {1000 * options.latency:.0f} ms, "
            f"ideal {ideal:.0f} req/s"
        )
        baseline = asyncio.run(drive_raw(port, options.requests, options.concurrency))
        report("raw asyncio client ", baseline, options.requests, ideal)
        profiler = cProfile.Profile() if options.profile else None
        if profiler:
            profiler.enable()
        rounds = asyncio.run(
            drive(
                f"http://127.0.0.1:{port}/v1", options.requests, options.concurrency, options.rounds
            )
        )
        if profiler:
            profiler.disable()
            profiler.dump_stats(options.profile)
    finally:
        stop_send.send(None)
        if ready_recv.poll(10):
            server_cpu = ready_recv.recv()
        server.join(10)
        if server.is_alive():
            server.terminate()
            server.join(5)

    rates = [
        report(f"harness round {index + 1}   ", result, options.requests, ideal)
        for index, result in enumerate(rounds)
    ]
    median, best = statistics.median(rates), max(rates)
    print(
        f"harness median {median:.1f} req/s = {100 * median / ideal:.1f}% of ideal, "
        f"best {best:.1f} req/s = {100 * best / ideal:.1f}%"
    )
    # Other processes on a small machine move the wall-clock figures a lot; the load
    # average says how quiet the machine was.
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    if server_cpu is not None:
        served = options.requests * (options.rounds + 1) + options.concurrency
        print(f"server CPU: {1000 * server_cpu / served:.2f} ms/call")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
