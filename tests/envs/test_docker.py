"""Docker-only sandbox tests: lockdown, limits, labels, cleanup and removal on cancel/SIGINT.

Network isolation is checked by reading the container's interface and route tables;
nothing here ever sends a packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import docker.errors
import pytest

import envs
from envs import SandboxError, SandboxSpec
from envs.docker import DockerSandbox, cleanup

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(base_image: str) -> docker.DockerClient:
    return docker.from_env()


@pytest.fixture
def spec(base_image: str) -> SandboxSpec:
    return SandboxSpec(image=base_image)


def _run_containers(client: docker.DockerClient, run_id: str) -> list[str]:
    found = client.containers.list(all=True, filters={"label": f"harness.run={run_id}"})
    return [container.name for container in found]


async def _sh(box: DockerSandbox, script: str, **kwargs: object) -> str:
    result = await box.exec(["sh", "-c", script], timeout=30, **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == 0, result
    return result.stdout


async def test_runs_as_non_root_agent(spec: SandboxSpec, run_id: str) -> None:
    async with DockerSandbox(spec, run_id=run_id) as box:
        assert await _sh(box, "id -u; id -g; id -un") == "1000\n1000\nagent\n"
        assert await _sh(box, "stat -c %u:%g /workspace") == "1000:1000\n"
        await box.write_file("owned.txt", "x")
        await box.write_file("/tmp/new/dir/owned.txt", "x")
        owners = await _sh(box, "stat -c %u:%g owned.txt /tmp/new /tmp/new/dir/owned.txt")
        assert owners == "1000:1000\n" * 3


async def test_the_agent_cannot_reach_the_containers_idle_process(
    spec: SandboxSpec, run_id: str
) -> None:
    # The main process keeps the container alive and is never killed before grading: if it
    # were the agent's, agent code could hide in it (ptrace) and outlive the stop.
    async with DockerSandbox(spec, run_id=run_id) as box:
        assert box.container.attrs["Config"]["User"] == "65534:65534"
        owner = await _sh(box, "ps -o user=,uid=,args= -C sleep")
        assert owner.split()[:2] == ["nobody", "65534"] and "sleep infinity" in owner
        sleep_pid = (await _sh(box, "pgrep -x sleep")).strip()
        denied = await box.exec(["kill", "-STOP", sleep_pid], timeout=20)
        assert denied.exit_code != 0 and "Operation not permitted" in denied.stderr
        status = await _sh(box, f"cat /proc/{sleep_pid}/status")
        assert "State:\tS" in status  # still sleeping, not stopped


async def test_no_capabilities_and_no_new_privileges(spec: SandboxSpec, run_id: str) -> None:
    async with DockerSandbox(spec, run_id=run_id) as box:
        for user in (None, "root"):
            status = await _sh(box, "cat /proc/self/status", user=user)
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            assert int(fields["CapEff"], 16) == 0, (user, fields["CapEff"])
            assert int(fields["CapPrm"], 16) == 0
            assert int(fields["CapBnd"], 16) == 0
            assert fields["NoNewPrivs"].strip() == "1"
        # Even as uid 0 inside, without capabilities root cannot touch the agent's files.
        await box.write_file("private.txt", "x", mode=0o600)
        denied = await box.exec(["cat", "private.txt"], timeout=20, user="root")
        assert denied.exit_code != 0 and "Permission denied" in denied.stderr


async def test_no_network_interface_but_loopback(spec: SandboxSpec, run_id: str) -> None:
    async with DockerSandbox(spec, run_id=run_id) as box:
        assert box.container.attrs["HostConfig"]["NetworkMode"] == "none"
        devices = await _sh(box, "cat /proc/net/dev")
        names = [line.split(":")[0].strip() for line in devices.splitlines()[2:]]
        assert names == ["lo"]
        routes = (await _sh(box, "cat /proc/net/route")).splitlines()
        assert len(routes) == 1 and routes[0].split()[0] == "Iface"  # header only
        # IPv6 may be disabled (file absent); if present, every route must be on lo.
        ipv6 = await _sh(box, "cat /proc/net/ipv6_route 2>/dev/null || true")
        assert all(line.split()[-1] == "lo" for line in ipv6.splitlines())


async def test_named_network_is_internal_without_default_route(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    spec = SandboxSpec(image=base_image, network="tasknet")
    async with DockerSandbox(spec, run_id=run_id) as box:
        assert box.network_name is not None
        network = client.networks.get(box.network_name)
        assert network.attrs["Internal"] is True
        assert network.attrs["Labels"]["harness.run"] == run_id
        devices = await _sh(box, "cat /proc/net/dev")
        names = sorted(line.split(":")[0].strip() for line in devices.splitlines()[2:])
        assert names == ["eth0", "lo"]
        assert box.container.attrs["HostConfig"]["NetworkMode"] == box.network_name
        # Docker installs a default route on internal networks; the sandbox deletes it.
        await _assert_no_default_route(box)
        name = box.network_name
    with pytest.raises(docker.errors.NotFound):
        client.networks.get(name)


async def test_resource_limits_are_applied(
    client: docker.DockerClient, spec: SandboxSpec, run_id: str
) -> None:
    async with DockerSandbox(spec, run_id=run_id) as box:
        host = client.api.inspect_container(box.container_name)["HostConfig"]
        assert host["Memory"] == 512 * 1024 * 1024
        assert host["MemorySwap"] == 512 * 1024 * 1024
        assert host["NanoCpus"] == 1_000_000_000
        assert host["PidsLimit"] == 256
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Init"] is True
        pids_max = await _sh(
            box, "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max"
        )
        assert pids_max.strip() == "256"


async def test_memory_limit_stops_a_hog(base_image: str, run_id: str) -> None:
    spec = SandboxSpec(image=base_image, mem_limit="96m")
    async with DockerSandbox(spec, run_id=run_id) as box:
        # Touch every page of 400 MB so the memory is really used, not just reserved.
        code = "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"
        hog = await box.exec(["python3", "-c", code], timeout=60)
        assert hog.exit_code == 137 and not hog.timed_out  # SIGKILL from the OOM killer
        assert (await box.exec(["true"], timeout=20)).ok  # the sandbox itself survives


async def test_fork_bomb_is_contained(base_image: str, run_id: str) -> None:
    spec = SandboxSpec(image=base_image, pids_limit=64)
    async with DockerSandbox(spec, run_id=run_id) as box:
        started = time.monotonic()
        bomb = await box.exec(["bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 30"], timeout=4)
        assert bomb.timed_out and time.monotonic() - started < 30
        # The host still forks happily and the sandbox is usable again, bomb gone.
        assert subprocess.run(["true"], check=False).returncode == 0
        after = await box.exec(["ps", "-eo", "args"], timeout=30)
        assert after.exit_code == 0
        assert after.stdout.count("bash") == 0, after.stdout
        current = await _sh(
            box,
            "cat /sys/fs/cgroup/pids.current 2>/dev/null || cat /sys/fs/cgroup/pids/pids.current",
        )
        assert int(current) < 10


async def test_labels_on_container(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    spec = SandboxSpec(image=base_image, labels={"task": "demo"})
    async with DockerSandbox(spec, run_id=run_id, sample_id="sample-7") as box:
        labels = client.containers.get(box.container_name).labels
        assert labels["harness.managed"] == "1"
        assert labels["harness.run"] == run_id
        assert labels["harness.sample"] == "sample-7"
        assert labels["task"] == "demo"
        # Who made it: this process, as host, boot id, pid and start time.
        from envs.docker import OWNER_LABEL, owner_alive, process_owner

        assert labels[OWNER_LABEL] == process_owner() and owner_alive(labels[OWNER_LABEL])
        assert process_owner().split("/")[2] == str(os.getpid())


def test_reserved_labels_rejected() -> None:
    with pytest.raises(ValueError, match="reserved"):
        SandboxSpec(image="any", labels={"harness.managed": "0"})


async def test_close_removes_container(
    client: docker.DockerClient, spec: SandboxSpec, run_id: str
) -> None:
    async with DockerSandbox(spec, run_id=run_id) as box:
        assert _run_containers(client, run_id) == [box.container_name]
    assert _run_containers(client, run_id) == []


async def test_cleanup_removes_leftovers_of_one_run(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    other_run = f"{run_id}-other"
    leaked = DockerSandbox(SandboxSpec(image=base_image, network="leaknet"), run_id=run_id)
    kept = DockerSandbox(SandboxSpec(image=base_image), run_id=other_run)
    await leaked.start()
    await kept.start()
    try:
        assert cleanup(run_id) == 2  # the container and its network
        assert _run_containers(client, run_id) == []
        assert client.networks.list(filters={"label": f"harness.run={run_id}"}) == []
        assert _run_containers(client, other_run) == [kept.container_name]
        assert envs.cleanup(other_run) == 1
        assert _run_containers(client, other_run) == []
        assert cleanup(other_run) == 0
    finally:
        await leaked.close()  # already gone: close must not fail
        await kept.close()


async def test_remove_orphans_spares_the_sandboxes_of_live_processes(
    client: docker.DockerClient, base_image: str, run_id: str, tmp_path: Path
) -> None:
    """Several processes may run one run's sandboxes on one daemon (a cluster node's
    workers): the sweep removes what a killed one left, never a live one's."""
    from envs.docker import OWNER_LABEL, process_owner, remove_orphans

    script = tmp_path / "hold.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from envs import SandboxSpec
            from envs.docker import DockerSandbox

            async def main():
                spec = SandboxSpec(image={base_image!r}, network="orphannet")
                async with DockerSandbox(spec, run_id={run_id!r}) as box:
                    print("ready", box.container_name, flush=True)
                    await asyncio.sleep(600)

            asyncio.run(main())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert line.startswith("ready"), line
    dead = line.split()[1]
    assert client.containers.get(dead).labels[OWNER_LABEL] == process_owner(proc.pid)
    proc.kill()  # kill -9: its sandbox and network stay behind
    proc.wait()
    foreign = client.containers.create(
        base_image,
        ["sleep", "600"],
        name=f"{dead}-foreign",
        labels={
            "harness.managed": "1",
            "harness.run": run_id,
            OWNER_LABEL: "another-host/boot/1/1",  # another machine sharing this daemon
        },
    )
    unowned = client.containers.create(
        base_image,
        ["sleep", "600"],
        name=f"{dead}-unowned",  # made before owners were recorded
        labels={"harness.managed": "1", "harness.run": run_id},
    )
    live = DockerSandbox(SandboxSpec(image=base_image), run_id=run_id)
    await live.start()
    try:
        assert len(_run_containers(client, run_id)) == 4
        assert remove_orphans(run_id) == 3  # the dead one's container and network, the unowned
        assert sorted(_run_containers(client, run_id)) == sorted(
            [live.container_name, foreign.name]
        )
        assert client.networks.list(filters={"label": f"harness.run={run_id}"}) == []
        assert envs.remove_orphans(run_id) == 0
    finally:
        await live.close()
        foreign.remove(force=True)
        with contextlib.suppress(docker.errors.NotFound):
            unowned.remove(force=True)
        cleanup(run_id)


async def test_missing_image_is_a_clear_error(run_id: str, client: docker.DockerClient) -> None:
    box = DockerSandbox(SandboxSpec(image="harness-no-such-image:0"), run_id=run_id)
    with pytest.raises(SandboxError, match="harness envs build"):
        async with box:
            pass
    assert _run_containers(client, run_id) == []


async def test_cancellation_removes_the_container(
    client: docker.DockerClient, spec: SandboxSpec, run_id: str
) -> None:
    entered = asyncio.Event()

    async def hold() -> None:
        async with DockerSandbox(spec, run_id=run_id) as box:
            entered.set()
            await box.exec(["sleep", "600"], timeout=900)

    task = asyncio.create_task(hold())
    await asyncio.wait_for(entered.wait(), 60)
    await asyncio.sleep(0.5)  # let the exec start
    assert len(_run_containers(client, run_id)) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _run_containers(client, run_id) == []


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
async def test_cancellation_during_start_leaves_nothing(
    client: docker.DockerClient, spec: SandboxSpec, run_id: str, delay: float
) -> None:
    async def enter() -> None:
        async with DockerSandbox(spec, run_id=run_id):
            await asyncio.sleep(600)

    task = asyncio.create_task(enter())
    await asyncio.sleep(delay)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _run_containers(client, run_id) == []


def test_sigint_to_a_process_holding_a_sandbox(
    client: docker.DockerClient, base_image: str, run_id: str, tmp_path: Path
) -> None:
    script = tmp_path / "hold.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import asyncio
            from envs import SandboxSpec
            from envs.docker import DockerSandbox

            async def main():
                spec = SandboxSpec(image={base_image!r})
                async with DockerSandbox(spec, run_id={run_id!r}) as box:
                    print("ready", box.container_name, flush=True)
                    await box.exec(["sleep", "600"], timeout=900)

            asyncio.run(main())
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("ready"), (line, proc.stderr.read() if proc.stderr else b"")
        name = line.split()[1]
        assert _run_containers(client, run_id) == [name]
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _run_containers(client, run_id) == []


# -- services ----------------------------------------------------------------------------

_SERVE = ["python3", "-I", "-m", "http.server", "8080", "--bind", "0.0.0.0", "--directory", "/etc"]


def _service_spec(base_image: str, **overrides: object) -> SandboxSpec:
    values: dict[str, object] = {
        "image": base_image,
        "network": "svcnet",
        "services": [{"name": "web", "image": base_image, "command": _SERVE}],
    }
    values.update(overrides)
    return SandboxSpec.model_validate(values)


async def _assert_no_default_route(box: DockerSandbox) -> None:
    devices = await _sh(box, "cat /proc/net/dev")
    assert sorted(line.split(":")[0].strip() for line in devices.splitlines()[2:]) == ["eth0", "lo"]
    routes = [line.split() for line in (await _sh(box, "cat /proc/net/route")).splitlines()[1:]]
    assert routes and all(route[0] == "eth0" for route in routes)
    assert all(route[1] != "00000000" for route in routes), routes  # no default route
    ipv6 = await _sh(box, "cat /proc/net/ipv6_route 2>/dev/null || true")
    for line in ipv6.splitlines():
        fields = line.split()
        assert not (fields[0] == "0" * 32 and fields[1] == "00" and fields[-1] != "lo"), line


def _run_networks(client: docker.DockerClient, run_id: str) -> list[str]:
    return [n.name for n in client.networks.list(filters={"label": f"harness.run={run_id}"})]


async def test_service_is_reachable_by_name_on_the_internal_network(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    spec = _service_spec(base_image)
    async with DockerSandbox(spec, run_id=run_id, sample_id="svc") as box:
        # Only loopback traffic and traffic to the service, inside the sandbox network.
        fetch = (
            "import urllib.request, time\n"
            "for _ in range(100):\n"
            "    try:\n"
            "        print(urllib.request.urlopen('http://web:8080/hostname', timeout=2).read()"
            ".decode().strip()); break\n"
            "    except OSError: time.sleep(0.1)\n"
        )
        assert await _sh(box, f'python3 -c "{fetch}"') == "web\n"
        await _assert_no_default_route(box)
        service = client.containers.get(box.service_names["web"])
        assert service.labels["harness.service"] == "web"
        assert service.labels["harness.run"] == run_id
        assert service.labels["harness.sample"] == "svc"
        assert service.labels["harness.managed"] == "1"
        host = service.attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Memory"] == 256 * 1024 * 1024 and host["PidsLimit"] == 64
        assert host["NanoCpus"] == 500_000_000 and host["Init"] is True
        assert host["NetworkMode"] == box.network_name
        assert service.attrs["Config"]["User"] == "agent"
        endpoint = service.attrs["NetworkSettings"]["Networks"][box.network_name]
        assert "web" in endpoint["Aliases"]
        # The service itself has no default route either.
        routes = service.exec_run(["cat", "/proc/net/route"]).output.decode().splitlines()[1:]
        assert routes and all(line.split()[1] != "00000000" for line in routes)
        assert client.networks.get(box.network_name).attrs["Internal"] is True
        assert sorted(_run_containers(client, run_id)) == sorted(
            [box.container_name, box.service_names["web"]]
        )
    assert _run_containers(client, run_id) == []
    assert _run_networks(client, run_id) == []


async def test_services_are_removed_after_an_exception(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    spec = _service_spec(base_image)
    with pytest.raises(RuntimeError, match="boom"):
        async with DockerSandbox(spec, run_id=run_id):
            assert len(_run_containers(client, run_id)) == 2
            raise RuntimeError("boom")
    assert _run_containers(client, run_id) == []
    assert _run_networks(client, run_id) == []


async def test_a_service_that_cannot_start_leaves_nothing(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    spec = _service_spec(
        base_image,
        services=[
            {"name": "web", "image": base_image, "command": _SERVE},
            {"name": "gone", "image": "harness-no-such-image:0"},
        ],
    )
    with pytest.raises(SandboxError, match="service 'gone'"):
        async with DockerSandbox(spec, run_id=run_id):
            pass
    assert _run_containers(client, run_id) == []
    assert _run_networks(client, run_id) == []


async def test_cleanup_removes_services_and_their_network(
    client: docker.DockerClient, base_image: str, run_id: str
) -> None:
    leaked = DockerSandbox(_service_spec(base_image), run_id=run_id)
    await leaked.start()
    try:
        assert len(_run_containers(client, run_id)) == 2
        assert cleanup(run_id) == 3  # sandbox, service, network
        assert _run_containers(client, run_id) == []
        assert _run_networks(client, run_id) == []
    finally:
        await leaked.close()  # already gone: close must not fail


async def test_restart_keeps_the_default_route_away(base_image: str, run_id: str) -> None:
    async with DockerSandbox(_service_spec(base_image), run_id=run_id) as box:
        await asyncio.to_thread(box.restart)
        await _assert_no_default_route(box)


def test_service_spec_validation(base_image: str) -> None:
    with pytest.raises(ValueError, match="need a sandbox network"):
        SandboxSpec(image=base_image, services=[{"name": "web", "image": base_image}])
    with pytest.raises(ValueError, match="unique"):
        _service_spec(
            base_image,
            services=[{"name": "web", "image": base_image}, {"name": "web", "image": "x"}],
        )
    for bad in ("Web", "-web", "web-", "we_b", "a" * 33, "sandbox", ""):
        with pytest.raises(ValueError):
            _service_spec(base_image, services=[{"name": bad, "image": base_image}])
    with pytest.raises(ValueError, match="mem_limit"):
        _service_spec(base_image, services=[{"name": "db", "image": "x", "mem_limit": "lots"}])
    with pytest.raises(ValueError, match="command"):
        _service_spec(base_image, services=[{"name": "db", "image": "x", "command": []}])
    with pytest.raises(ValueError, match="extra"):
        _service_spec(base_image, services=[{"name": "db", "image": "x", "privileged": True}])
    ok = _service_spec(base_image)
    assert ok.services[0].user == "agent" and ok.services[0].pids_limit == 64
