"""Executors without a cluster: the leases behind the cluster-wide connection limit, merging a
worker's usage into the driver's accountant, the local executor as the default, and the one
clear line each wrong executor option gives."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from harness.cli import main
from harness.executors._coordinator import Leases
from harness.model import Accountant, ModelResponse, Price, PriceTable, Usage
from harness.store import Run, list_runs


async def test_leases_never_exceed_the_limit_and_every_waiter_gets_one() -> None:
    leases = Leases(limit=3, ttl=60.0)
    active, peak, served = 0, 0, 0

    async def call() -> None:
        nonlocal active, peak, served
        lease = await leases.acquire("openai|")
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        served += 1
        await leases.release("openai|", lease)

    await asyncio.gather(*(call() for _ in range(40)))
    assert (peak, served) == (3, 40)
    assert leases.stats()["openai|"] == {"held": 0, "peak": 3, "reclaimed": 0}


async def test_endpoints_have_separate_limits() -> None:
    leases = Leases(limit=1, ttl=60.0)
    await leases.acquire("openai|")
    # Another endpoint is not held up by the first one's only permit.
    await asyncio.wait_for(leases.acquire("anthropic|"), timeout=1.0)


async def test_a_lease_its_holder_never_returns_is_taken_back_after_its_ttl() -> None:
    now = [100.0]
    leases = Leases(limit=1, ttl=5.0, clock=lambda: now[0])
    await leases.acquire("e")  # its worker died holding it: never released
    waiter = asyncio.ensure_future(leases.acquire("e"))
    await asyncio.sleep(0.05)
    assert not waiter.done()  # the limit holds while the lease may still be in use
    now[0] = 105.0
    lease = await asyncio.wait_for(waiter, timeout=10.0)
    assert lease == 2 and leases.stats()["e"]["reclaimed"] == 1


async def test_a_release_wakes_a_waiter_at_once() -> None:
    leases = Leases(limit=1, ttl=3600.0)
    first = await leases.acquire("e")
    waiter = asyncio.ensure_future(leases.acquire("e"))
    await asyncio.sleep(0.01)
    await leases.release("e", first)
    await asyncio.wait_for(waiter, timeout=1.0)
    await leases.release("e", first)  # a second release of the same lease is harmless
    assert leases.stats()["e"]["held"] == 1


def test_merging_a_workers_totals_adds_every_count() -> None:
    prices = PriceTable({"openai/gpt-4o": Price(2.5, 10.0)})
    driver, worker = Accountant(prices), Accountant(prices)
    driver.record("openai/gpt-4o", ModelResponse(text="a", usage=Usage(input_tokens=10), cost=1.0))
    worker.record(
        "openai/gpt-4o",
        ModelResponse(text="b", usage=Usage(input_tokens=5, output_tokens=2), cost=0.5, attempts=3),
    )
    worker.record("openai/gpt-4o", ModelResponse(text="c", cached=True))
    worker.record_error("openai/gpt-4o")
    worker.record("sim/default", ModelResponse(text="d", usage=Usage(output_tokens=7)))
    driver.merge(worker.totals)
    gpt = driver.totals["openai/gpt-4o"]
    assert (gpt.calls, gpt.cached_calls, gpt.errors, gpt.retries) == (3, 1, 1, 2)
    assert (gpt.usage.input_tokens, gpt.usage.output_tokens, gpt.cost) == (15, 2, 1.5)
    # sim is free: a cost of zero, not None, survives the merge.
    assert driver.totals["sim/default"].usage.output_tokens == 7
    assert driver.totals["sim/default"].cost == 0.0


def test_runs_use_the_local_executor_by_default(tmp_path) -> None:
    code = main(["run", "--limit", "3", "--ranking-samples", "1", "--no-progress"])
    assert code == 0
    (info,) = list_runs(tmp_path / "runs")
    with Run(info.directory) as run:
        assert run.meta["executor"] == {"name": "local", "hostname": socket.gethostname()}
        # Only trials run elsewhere record where they ran.
        assert run.records("placement").empty


def test_an_unknown_executor_is_one_line(tmp_path, capsys) -> None:
    assert main(["run", "--executor", "dask", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("harness: error: Invalid value for '--executor'") and "Traceback" not in err
    )
    assert not (tmp_path / "runs").exists()


def test_ray_address_without_the_ray_executor_is_refused(tmp_path, capsys) -> None:
    assert main(["run", "--ray-address", "10.0.0.1:6379", "--no-progress"]) == 2
    assert "--ray-address goes with --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_the_ray_executor_without_ray_installed_is_one_line(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the package
    assert main(["run", "--executor", "ray", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--executor ray needs Ray" in err and "pip install 'harness[ray]'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_a_ray_address_nobody_answers_is_one_line_not_a_wait(tmp_path, capsys) -> None:
    pytest.importorskip("ray")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connections are refused
        code = main(
            ["run", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}", "--no-progress"]
        )
    assert code == 2
    err = capsys.readouterr().err
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("address", ["ray://head:10001", "head-without-port"])
def test_addresses_that_are_not_a_gcs_address_are_refused(address, capsys) -> None:
    pytest.importorskip("ray")
    assert main(["run", "--executor", "ray", "--ray-address", address, "--no-progress"]) == 2
    assert "harness: error: --ray-address" in capsys.readouterr().err
