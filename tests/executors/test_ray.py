"""``harness run --executor ray`` against a real local cluster (tests/executors/conftest.py):
sandboxes only on the node that advertises them, the same grades as the local executor, one
connection limit and one budget for every worker together, and a worker node killed mid-run.

Each run is a ``harness`` process of its own (the driver), as a user would start it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

import envs
from harness.executors.localcluster import LocalRayCluster
from harness.store import Run, list_runs

pytestmark = [pytest.mark.ray, pytest.mark.slow]

AGENTIC = ["--suite", "agentic", "--limit", "2", "--top-k", "1", "--ranking-samples", "2"]
RUN_TIMEOUT = 900
NODE_DAEMONS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::IDLE")
T = TypeVar("T")


def harness(*args: str, log_dir: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "run", *args, "--no-progress", "--log-dir", str(log_dir)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


def only_run(log_dir: Path) -> Path:
    (info,) = list_runs(log_dir)
    return info.directory


def has_containers(run_id: str) -> bool:
    """Whether any harness container or network of the run exists, on any node (one daemon)."""
    return run_id in envs.managed_runs()


def job_processes(cluster: LocalRayCluster) -> list[str]:
    """The cluster's processes that belong to a job (tasks, actors), not to a node."""
    out = []
    for entry in cluster.survivors():
        command = entry.split(" ", 1)[1]
        if command.startswith("ray::") and not command.startswith(NODE_DAEMONS):
            out.append(entry)
    return out


def assert_no_job_process_left(cluster: LocalRayCluster) -> None:
    """Once the driver has exited, Ray ends its workers and its coordinator."""
    deadline = time.monotonic() + 60
    while (left := job_processes(cluster)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == []


def sandbox_node(run: Run) -> str:
    (node,) = [n for n in run.meta["executor"]["nodes"] if n["resources"].get("sandbox")]
    return str(node["node_id"])


@pytest.mark.docker
def test_agentic_suite_runs_every_sandbox_on_the_worker_with_the_local_grades(
    ray_cluster: LocalRayCluster, base_image: str, tmp_path: Path
) -> None:
    remote = harness(
        *AGENTIC,
        "--executor",
        "ray",
        "--ray-address",
        ray_cluster.address,
        log_dir=tmp_path / "ray",
    )
    local = harness(*AGENTIC, log_dir=tmp_path / "local")
    (code, out), (local_code, local_out) = finish(remote), finish(local)
    assert code == 0, out
    assert local_code == 0, local_out
    assert "ray: 2 node(s)" in out and "2 sandbox slot(s)" in out
    assert "at most 2 at once" in out  # the cluster's sandbox slots, not --max-sandboxes
    with Run(only_run(tmp_path / "ray")) as run, Run(only_run(tmp_path / "local")) as mine:
        assert run.meta["executor"]["name"] == "ray" and mine.meta["executor"]["name"] == "local"
        worker = sandbox_node(run)
        samples, placement = run.samples(), run.records("placement")
        agentic = samples[samples["probe"] == "agentic"]
        assert len(agentic) == 14 and (agentic["status"] == "ok").all(), agentic["error"].tolist()
        # Every trial records where it ran, once; every sandbox ran on the worker node.
        assert Counter(placement["trial_id"]) == Counter(samples["trial_id"])
        where = placement.set_index("trial_id")
        assert set(where.loc[agentic["trial_id"], "node_id"]) == {worker}
        assert (where["executor"] == "ray").all()
        # Model-only trials may run on any node; the grades equal the local executor's.
        local_samples = mine.samples()
        assert set(local_samples["trial_id"]) == set(samples["trial_id"])
        columns = ["passed", "score", "stop_reason", "steps", "submission"]
        ours = agentic.set_index("trial_id").sort_index()[columns]
        theirs = local_samples[local_samples["probe"] == "agentic"].set_index("trial_id")
        assert ours.to_dict("index") == theirs.sort_index()[columns].to_dict("index")
        assert 0 < ours["passed"].sum() < len(ours)  # a comparison that could tell them apart
        pairwise = samples[samples["probe"] == "pairwise"].set_index("trial_id")["chosen"]
        local_pairwise = local_samples[local_samples["probe"] == "pairwise"]
        assert pairwise.sort_index().to_dict() == (
            local_pairwise.set_index("trial_id")["chosen"].sort_index().to_dict()
        )
        # The driver's accountant counted the workers' calls.
        (usage,) = run.meta["usage_sessions"]
        assert usage["sim/default"]["calls"] == len(run.calls())
        assert not has_containers(run.meta["run_id"]) and not has_containers(mine.meta["run_id"])
    assert_no_job_process_left(ray_cluster)


class CountingServer:
    """Makes the loopback ``ChatServer`` answer after ``latency`` seconds, counting the
    requests it is serving at once."""

    def __init__(self, server: Any, latency: float = 0.15):
        self.server = server
        self.latency = latency
        self.active = 0
        self.peak = 0
        self._lock = threading.Lock()
        server.reply = self._reply

    def _reply(self, body: dict) -> str:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            time.sleep(self.latency)
        finally:
            with self._lock:
                self.active -= 1
        return "A"


@pytest.fixture
def counting_server(chat_server: Any) -> CountingServer:
    return CountingServer(chat_server)


ELICIT = ["--suite", "elicitation", "--limit", "5", "--samples", "3", "--ranking-samples", "2"]


def test_workers_on_two_nodes_share_one_connection_limit(
    ray_cluster: LocalRayCluster, counting_server: CountingServer, tmp_path: Path
) -> None:
    model = ["--model", "openai-compatible/counted", "--base-url", counting_server.server.url]
    args = [*ELICIT, *model, "--max-connections", "3", "--no-cache"]
    code, out = finish(
        harness(*args, "--executor", "ray", "--ray-address", ray_cluster.address, log_dir=tmp_path)
    )
    assert code == 0, out
    with Run(only_run(tmp_path)) as run:
        samples, placement = run.samples(), run.records("placement")
        calls = run.calls()
        usage = run.meta["usage_sessions"][0]["openai-compatible/counted"]
    assert len(samples) == 5 * 4 * 3 + 2 and (samples["status"] == "ok").all()
    # Trials ran on both nodes, each with up to 2 x 3 in flight of its own ...
    assert placement["node_id"].nunique() == 2
    # ... yet the server never saw more than --max-connections at once, and did see that many.
    assert counting_server.peak == 3
    assert len(counting_server.server.requests) == len(calls) == usage["calls"] == 62
    assert_no_job_process_left(ray_cluster)


def test_a_spending_cap_holds_for_every_worker_together(
    ray_cluster: LocalRayCluster, counting_server: CountingServer, tmp_path: Path
) -> None:
    """Each call costs $0.00111 (11 input tokens at $10 and 1 output token at $1,000 per
    million) and reserves more while in flight (its counted input and 5 output tokens, under
    $0.01), so $0.03 pays for at most 27 calls and, two in flight at most, for at least 10. A
    budget per node would let the two nodes spend up to twice that."""
    prices = tmp_path / "prices.json"
    prices.write_text(
        json.dumps({"openai-compatible/counted": {"input_per_mtok": 10, "output_per_mtok": 1000}})
    )
    model = ["--model", "openai-compatible/counted", "--base-url", counting_server.server.url]
    args = [*ELICIT, *model, "--max-tokens", "5", "--prices", str(prices), "--no-cache"]
    args += ["--max-connections", "2"]
    cluster = ["--executor", "ray", "--ray-address", ray_cluster.address]
    code, out = finish(harness(*args, "--max-cost", "0.03", *cluster, log_dir=tmp_path / "runs"))
    assert code == 0, out
    served = len(counting_server.server.requests)
    per_call = (11 * 10 + 1 * 1000) / 1e6
    with Run(only_run(tmp_path / "runs")) as run:
        status, spent = run.meta["status"], run.meta["spent_usd"]
        stored = len(run.samples())
        placement = run.records("placement")
    assert status == "budget-exhausted" and "--max-cost" in out
    assert spent == pytest.approx(served * per_call)  # every call's cost reached the ledger
    assert 10 <= served <= 27 and spent <= 0.03  # stopped near the cap, never past it
    assert stored == served and placement["node_id"].nunique() == 2
    assert_no_job_process_left(ray_cluster)


def _stored(database: Path, probe: str | None = None) -> dict[str, float]:
    """Trial id -> when it was stored, read while the driver writes (WAL allows it)."""
    query, params = "SELECT trial_id, completed FROM samples", ()
    if probe is not None:
        query, params = query + " WHERE probe=?", (probe,)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        try:
            return dict(db.execute(query, params).fetchall())
        except sqlite3.OperationalError:  # not created yet
            return {}


@contextlib.contextmanager
def driving(*args: str, log_dir: Path) -> Iterator[subprocess.Popen]:
    """A driver that is killed if the test leaves it running."""
    driver = harness(*args, log_dir=log_dir)
    try:
        yield driver
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def wait_for(
    driver: subprocess.Popen, log_dir: Path, ready: Callable[[str, Path], T | None]
) -> tuple[str, Path, T]:
    """Poll a running driver's run until ``ready(run_id, database)`` gives something."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        assert driver.poll() is None, finish(driver)
        if found := list(log_dir.glob("*/run.sqlite")):
            run_id, database = found[0].parent.name, found[0]
            if (value := ready(run_id, database)) is not None:
                return run_id, database, value
        time.sleep(0.1)
    raise AssertionError(f"the run in {log_dir} never got there")


@pytest.mark.docker
def test_a_worker_node_killed_mid_run_loses_and_repeats_no_sample(
    ray_cluster: LocalRayCluster, base_image: str, tmp_path: Path
) -> None:
    log_dir = tmp_path / "runs"
    cluster = ["--executor", "ray", "--ray-address", ray_cluster.address]
    with driving(*AGENTIC, *cluster, log_dir=log_dir) as driver:
        # Wait until samples are being stored and sandboxes are running on the worker.
        def storing_and_running(run_id: str, database: Path) -> dict[str, float] | None:
            stored = _stored(database, "agentic")
            return stored if stored and has_containers(run_id) else None

        run_id, database, before = wait_for(driver, log_dir, storing_and_running)
        (worker,) = [n for n in ray_cluster.nodes if n.name == "worker"]
        ray_cluster.kill_raylet(worker)  # the node is lost with the samples it was running
        time.sleep(2)
        ray_cluster.remove_node(worker)  # what is left of it (its log monitor)
        stranded = has_containers(run_id)
        ray_cluster.add_node("worker", cpus=1, resources={"sandbox": 2})  # it comes back
        code, out = finish(driver)
    assert code == 0, out
    after = _stored(database, "agentic")
    with Run(only_run(log_dir)) as run:
        samples, placement = run.samples("agentic"), run.records("placement")
        steps = run.records("agent_step")
    # Nothing lost: every planned sample is stored, and is ok ...
    assert len(samples) == 14 and (samples["status"] == "ok").all(), samples["error"].tolist()
    assert set(after) == set(samples["trial_id"]) and set(before) <= set(after)
    # ... nothing repeated: one placement and one whole transcript per sample, and the
    # samples stored before the kill were not run (or stored) again.
    assert all(after[trial] == stored for trial, stored in before.items())
    agentic_placement = placement[placement["trial_id"].isin(samples["trial_id"])]
    assert Counter(agentic_placement["trial_id"]) == Counter(samples["trial_id"])
    for trial in samples["trial_id"]:
        mine = steps[steps["trial_id"] == trial]
        assert sorted(mine["seq"]) == list(range(len(mine)))
        assert (mine["type"] == "stop").sum() == 1
    # The samples the lost node had not finished ran on the node that came back.
    assert agentic_placement["node_id"].nunique() == 2
    # What the lost node's workers left behind was removed once it was back.
    assert not has_containers(run_id), f"containers left after the kill: {stranded}"
    assert_no_job_process_left(ray_cluster)


def test_a_killed_driver_resumes_with_no_sample_lost_or_asked_twice(
    ray_cluster: LocalRayCluster, counting_server: CountingServer, tmp_path: Path
) -> None:
    model = ["--model", "openai-compatible/counted", "--base-url", counting_server.server.url]
    cluster = ["--executor", "ray", "--ray-address", ray_cluster.address]
    args = [*ELICIT, *model, "--max-connections", "2", "--no-cache", *cluster]
    with driving(*args, log_dir=tmp_path) as driver:
        deadline = time.monotonic() + RUN_TIMEOUT
        while len(counting_server.server.requests) < 20 and time.monotonic() < deadline:
            assert driver.poll() is None, finish(driver)
            time.sleep(0.05)
        driver.kill()  # kill -9: its Ray tasks die with it
        driver.wait()
    assert_no_job_process_left(ray_cluster)
    directory = only_run(tmp_path)
    before = _stored(directory / "run.sqlite")
    asked_before = len(counting_server.server.requests)
    assert 0 < len(before) < 62
    code, out = finish(harness("--resume", directory.name, *cluster, log_dir=tmp_path))
    assert code == 0, out
    after = _stored(directory / "run.sqlite")
    assert len(after) == 62 and all(after[t] == stored for t, stored in before.items())
    # Only trials not stored were asked again: at most those in flight when it was killed.
    asked_again = len(counting_server.server.requests) - asked_before
    assert asked_again == 62 - len(before)
    with Run(directory) as run:
        assert Counter(run.records("placement")["trial_id"]) == Counter(after.keys())
    assert_no_job_process_left(ray_cluster)


@pytest.mark.docker
def test_a_worker_process_killed_mid_sample_is_run_again_and_its_sandbox_removed(
    ray_cluster: LocalRayCluster, base_image: str, tmp_path: Path
) -> None:
    log_dir = tmp_path / "runs"
    cluster = ["--executor", "ray", "--ray-address", ray_cluster.address]
    with driving(*AGENTIC, *cluster, log_dir=log_dir) as driver:

        def busy_worker(run_id: str, database: Path) -> int | None:
            busy = [e for e in job_processes(ray_cluster) if "ray::harness:agentic" in e]
            return int(busy[0].split()[0]) if busy and has_containers(run_id) else None

        run_id, _, victim = wait_for(driver, log_dir, busy_worker)
        os.kill(victim, 9)  # the worker dies mid-sample (OOM killer, a crash)
        code, out = finish(driver)
    assert code == 0, out
    assert "will be retried" in out  # Ray ran the lost task again
    with Run(only_run(log_dir)) as run:
        samples, placement = run.samples("agentic"), run.records("placement")
    assert len(samples) == 14 and samples["trial_id"].is_unique
    assert (samples["status"] == "ok").all(), samples["error"].tolist()
    ran = placement[placement["trial_id"].isin(samples["trial_id"])]
    assert Counter(ran["trial_id"]) == Counter(samples["trial_id"]) and victim not in set(
        ran["pid"]
    )
    assert not has_containers(run_id)
    assert_no_job_process_left(ray_cluster)


def test_batch_answers_reach_the_workers_and_the_budget_holds_them(
    ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    """--batch on Ray: the driver submits and collects the batch, the workers answer their
    trials' first requests from it (no request goes online), and the cluster budget holds the
    batch's reservations (a cap is in force)."""
    from tests.batch_servers import BatchServer

    prices = tmp_path / "prices.yaml"
    prices.write_text("openai/gpt-4o: {input_per_mtok: 10.0, output_per_mtok: 10.0}\n")
    with BatchServer("A") as server:
        env = {"OPENAI_API_KEY": "sk-test-ray-batch-0123456789", "OPENAI_BASE_URL": server.url}
        args = ["--suite", "elicitation", "--model", "openai/gpt-4o", *ELICIT[2:]]
        args += ["--max-tokens", "64", "--no-cache", "--batch", "--batch-poll", "0.01"]
        args += ["--prices", str(prices), "--max-cost", "50"]
        cluster = ["--executor", "ray", "--ray-address", ray_cluster.address]
        code, out = finish(harness(*args, *cluster, log_dir=tmp_path / "runs", env=env))
        assert code == 0, out
        assert len(server.creates) == 1 and server.online == []  # all answered by the batch
        items = len(next(iter(server.batches.values()))["items"])
    with Run(only_run(tmp_path / "runs")) as run:
        samples, calls, placement = run.samples(), run.calls(), run.records("placement")
        spent = run.meta["spent_usd"]
    assert len(samples) == items == 5 * 4 * 3 + 2 and (samples["status"] == "ok").all()
    assert all(json.loads(r)["batch"] for r in calls["response"])
    assert placement["node_id"].nunique() == 2  # answered on both nodes
    assert spent == pytest.approx(calls["cost"].sum()) and spent > 0
    # The key reached the workers (they called the API) but no log of any node, nor the output.
    assert "sk-test-ray-batch" not in out
    logged = [
        path
        for node in ray_cluster.nodes
        for path in node.temp_dir.rglob("*")
        if path.is_file() and b"sk-test-ray-batch" in path.read_bytes()
    ]
    assert logged == []
    assert_no_job_process_left(ray_cluster)


def test_an_adaptive_design_runs_the_same_rounds_as_locally(
    ray_cluster: LocalRayCluster, tmp_path: Path
) -> None:
    """The active pairwise design plans each round from the answers stored so far: every round
    ships the probe as its last plan() left it, and the rounds, trials and answers are the
    local executor's."""
    args = ["--suite", "elicitation", "--pair-strategy", "active", "--limit", "12"]
    args += ["--ranking-samples", "2"]
    cluster = ["--executor", "ray", "--ray-address", ray_cluster.address]
    remote = harness(*args, *cluster, log_dir=tmp_path / "ray")
    local = harness(*args, log_dir=tmp_path / "local")
    (code, out), (local_code, local_out) = finish(remote), finish(local)
    assert code == 0, out
    assert local_code == 0, local_out
    with Run(only_run(tmp_path / "ray")) as run, Run(only_run(tmp_path / "local")) as mine:
        ours = run.samples().set_index("trial_id").sort_index()
        theirs = mine.samples().set_index("trial_id").sort_index()
        placement = run.records("placement")
    assert len(ours) == len(theirs) > 12 * 11 // 4
    assert ours.index.equals(theirs.index)
    assert ours["chosen"].fillna("-").equals(theirs["chosen"].fillna("-"))
    assert len(placement) == len(ours)  # every round ran on the cluster
    assert_no_job_process_left(ray_cluster)
