"""Conformance suite: every sandbox provider must pass the same behavioural tests."""

from __future__ import annotations

import random
import time
import tracemalloc
from collections.abc import Callable

import pytest

from envs import (
    OutputTooLarge,
    Sandbox,
    SandboxClosed,
    SandboxError,
    SandboxSpec,
    sandbox_provider,
)

MiB = 1024 * 1024


def _tag() -> str:
    """A sleep duration nobody else uses, so ps output can be searched for it."""
    return f"{random.randint(100000, 999999)}.{random.randint(1, 9)}"


async def _processes(sandbox: Sandbox) -> str:
    result = await sandbox.exec(["ps", "-eo", "pid,stat,args"], timeout=20)
    assert result.exit_code == 0, result
    return result.stdout


# -- exec ----------------------------------------------------------------------------------


async def test_stdout_stderr_and_exit_code(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=20)
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert not result.timed_out and not result.truncated and not result.ok
    assert 0 <= result.duration < 20


async def test_success_is_ok(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["true"], timeout=20)
    assert result.ok and result.exit_code == 0 and result.stdout == ""


async def test_argv_is_not_shell_interpreted(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["echo", "$HOME; rm -rf /", "a  b"], timeout=20)
    assert result.stdout == "$HOME; rm -rf / a  b\n"


async def test_missing_command_exits_127(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["no-such-command-xyz"], timeout=20)
    assert result.exit_code == 127 and not result.timed_out


async def test_invalid_arguments_rejected(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError):
        await sandbox.exec([], timeout=5)
    with pytest.raises(ValueError):
        await sandbox.exec(["true"], timeout=0)


async def test_default_cwd_is_workdir_and_cwd_option(sandbox: Sandbox) -> None:
    await sandbox.write_file("sub/dir/marker.txt", "here")
    assert (await sandbox.exec(["cat", "sub/dir/marker.txt"], timeout=20)).stdout == "here"
    relative = await sandbox.exec(["cat", "marker.txt"], timeout=20, cwd="sub/dir")
    absolute = await sandbox.exec(["cat", "marker.txt"], timeout=20, cwd="/workspace/sub/dir")
    assert relative.stdout == absolute.stdout == "here"


async def test_missing_cwd_is_a_sandbox_error(sandbox: Sandbox) -> None:
    with pytest.raises(SandboxError):
        await sandbox.exec(["true"], timeout=20, cwd="/no/such/dir")


async def test_env_from_spec_and_call(sandbox: Sandbox) -> None:
    script = 'printf "%s|%s|%s" "$SPEC_VAR" "$CALL_VAR" "$OTHER"'
    result = await sandbox.exec(
        ["sh", "-c", script], timeout=20, env={"CALL_VAR": "from call", "OTHER": "ü ✓"}
    )
    assert result.stdout == "from-spec|from call|ü ✓"
    overridden = await sandbox.exec(
        ["sh", "-c", 'printf %s "$SPEC_VAR"'], timeout=20, env={"SPEC_VAR": "override"}
    )
    assert overridden.stdout == "override"


async def test_stdin_input(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["cat"], timeout=20, input=b"line one\nline two\n")
    assert result.stdout == "line one\nline two\n"
    # Larger than any pipe buffer, and the command writes while it reads.
    big = bytes(range(256)) * 8192  # 2 MiB
    counted = await sandbox.exec(["sh", "-c", "tee /dev/null | wc -c"], timeout=30, input=big)
    assert counted.stdout.strip() == str(len(big))


async def test_without_input_stdin_is_empty(sandbox: Sandbox) -> None:
    # Would hang until the timeout if stdin were left open.
    result = await sandbox.exec(["cat"], timeout=10)
    assert result.exit_code == 0 and result.stdout == "" and not result.timed_out


async def test_command_may_ignore_its_input(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["true"], timeout=10, input=b"x" * (4 * MiB))
    assert result.exit_code == 0 and not result.timed_out


async def test_unicode_and_invalid_utf8_output(sandbox: Sandbox) -> None:
    text = "héllo ✓ 日本語 🚀"
    result = await sandbox.exec(["printf", "%s", text], timeout=20)
    assert result.stdout == text
    broken = await sandbox.exec(["printf", "ok\\377\\376end"], timeout=20)
    assert broken.stdout == "ok\ufffd\ufffdend"


async def test_timeout_kills_the_whole_process_tree(sandbox: Sandbox) -> None:
    child, escaped, main = _tag(), _tag(), _tag()
    # A plain background child, one that left the process group (setsid) and still holds
    # the output pipe, and the main process: all three must be gone afterwards.
    script = f"sleep {child} & setsid sleep {escaped} & sleep {main}; echo never"
    started = time.monotonic()
    result = await sandbox.exec(["sh", "-c", script], timeout=1.5)
    elapsed = time.monotonic() - started
    assert result.timed_out and result.exit_code == 124 and "never" not in result.stdout
    assert 1.5 <= elapsed < 8, elapsed
    listing = await _processes(sandbox)
    for tag in (child, escaped, main):
        assert tag not in listing, listing


async def test_timeout_kills_detached_child_that_closed_its_output(sandbox: Sandbox) -> None:
    escaped, main = _tag(), _tag()
    script = f"setsid sleep {escaped} >/dev/null 2>&1 </dev/null & sleep {main}"
    result = await sandbox.exec(["sh", "-c", script], timeout=1)
    assert result.timed_out
    listing = await _processes(sandbox)
    assert escaped not in listing and main not in listing, listing


async def test_timeout_beats_a_command_ignoring_sigterm(sandbox: Sandbox) -> None:
    tag = _tag()
    started = time.monotonic()
    result = await sandbox.exec(["sh", "-c", f"trap '' TERM; sleep {tag}"], timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert time.monotonic() - started < 8
    assert tag not in await _processes(sandbox)


async def test_output_before_timeout_is_kept(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["sh", "-c", "echo partial; sleep 60"], timeout=1)
    assert result.timed_out and result.stdout == "partial\n"


async def test_fast_command_is_not_marked_timed_out(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["sh", "-c", "exit 124"], timeout=30)
    assert result.exit_code == 124 and not result.timed_out


async def test_output_cap_on_200_megabytes(sandbox: Sandbox) -> None:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = await sandbox.exec(["head", "-c", str(200 * MiB), "/dev/zero"], timeout=120)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.exit_code == 0 and not result.timed_out
    assert result.truncated
    assert len(result.stdout) == MiB  # the default cap, 1 MiB per stream
    # The cap applies while streaming: memory never held anything near 200 MB.
    assert peak < 40 * MiB, peak


async def test_output_cap_is_per_stream(sandbox: Sandbox) -> None:
    script = f"head -c {3 * MiB} /dev/zero >&2; echo fine"
    result = await sandbox.exec(["sh", "-c", script], timeout=60)
    assert result.stdout == "fine\n" and len(result.stderr) == MiB and result.truncated


async def test_output_exactly_at_the_cap_is_not_truncated(sandbox: Sandbox) -> None:
    result = await sandbox.exec(["head", "-c", str(MiB), "/dev/zero"], timeout=60)
    assert len(result.stdout) == MiB and not result.truncated


# -- files ---------------------------------------------------------------------------------


async def test_write_and_read_text(sandbox: Sandbox) -> None:
    await sandbox.write_file("notes.txt", "first line\nsecond ✓\n")
    assert await sandbox.read_file("notes.txt") == "first line\nsecond ✓\n".encode()
    assert await sandbox.read_file("/workspace/notes.txt") == "first line\nsecond ✓\n".encode()
    shown = await sandbox.exec(["cat", "notes.txt"], timeout=20)
    assert shown.stdout == "first line\nsecond ✓\n"


async def test_binary_round_trip(sandbox: Sandbox) -> None:
    data = bytes(range(256)) * 1000
    await sandbox.write_file("/tmp/blob.bin", data)
    assert await sandbox.read_file("/tmp/blob.bin") == data
    size = await sandbox.exec(["wc", "-c", "/tmp/blob.bin"], timeout=20)
    if sandbox_is_local(sandbox):
        return  # /tmp of the sandbox is not /tmp of the host for commands
    assert size.stdout.split()[0] == str(len(data))


def sandbox_is_local(sandbox: Sandbox) -> bool:
    return type(sandbox).__name__ == "LocalSandbox"


async def test_zero_length_file(sandbox: Sandbox) -> None:
    await sandbox.write_file("empty", b"")
    assert await sandbox.read_file("empty") == b""
    result = await sandbox.exec(["test", "-f", "empty"], timeout=20)
    assert result.exit_code == 0


async def test_nested_directories_are_created(sandbox: Sandbox) -> None:
    await sandbox.write_file("a/b/c/d/deep.txt", "deep")
    assert await sandbox.read_file("a/b/c/d/deep.txt") == b"deep"
    listing = await sandbox.exec(["find", "a", "-type", "d"], timeout=20)
    assert sorted(listing.stdout.split()) == ["a", "a/b", "a/b/c", "a/b/c/d"]
    # A sibling in an existing directory and an overwrite both work.
    await sandbox.write_file("a/b/other.txt", "x")
    await sandbox.write_file("a/b/c/d/deep.txt", "changed")
    assert await sandbox.read_file("a/b/c/d/deep.txt") == b"changed"
    assert await sandbox.read_file("a/b/other.txt") == b"x"


async def test_written_file_is_usable_by_the_sandbox_user(sandbox: Sandbox) -> None:
    await sandbox.write_file("made/by/harness.txt", "v1")
    # The command (running as the sandbox user) can edit the file and its directory.
    script = "echo v2 > made/by/harness.txt && touch made/by/new.txt && cat made/by/harness.txt"
    result = await sandbox.exec(["sh", "-c", script], timeout=20)
    assert result.exit_code == 0 and result.stdout == "v2\n", result


async def test_mode_is_applied(sandbox: Sandbox) -> None:
    await sandbox.write_file("run.sh", "#!/bin/sh\necho ran\n", mode=0o755)
    result = await sandbox.exec(["./run.sh"], timeout=20)
    assert result.stdout == "ran\n"
    await sandbox.write_file("plain.txt", "x", mode=0o600)
    perms = await sandbox.exec(["stat", "-c", "%a", "plain.txt"], timeout=20)
    assert perms.stdout.strip() == "600"


async def test_unicode_file_name_and_content(sandbox: Sandbox) -> None:
    await sandbox.write_file("données/résumé ✓.txt", "naïve — 日本")
    assert await sandbox.read_file("données/résumé ✓.txt") == "naïve — 日本".encode()
    shown = await sandbox.exec(["ls", "données"], timeout=20)
    assert shown.stdout == "résumé ✓.txt\n"


async def test_read_file_written_by_a_command(sandbox: Sandbox) -> None:
    await sandbox.exec(["sh", "-c", "printf 'from exec' > produced.txt"], timeout=20)
    assert await sandbox.read_file("produced.txt") == b"from exec"


async def test_read_missing_file(sandbox: Sandbox) -> None:
    with pytest.raises(FileNotFoundError):
        await sandbox.read_file("does/not/exist.txt")


async def test_read_directory(sandbox: Sandbox) -> None:
    await sandbox.write_file("folder/file", "x")
    with pytest.raises(IsADirectoryError):
        await sandbox.read_file("folder")


async def test_read_file_cap(sandbox: Sandbox) -> None:
    cap = sandbox.spec.max_read_bytes
    script = f"head -c {cap} /dev/zero > at_cap; head -c {cap + 1} /dev/zero > over"
    assert (await sandbox.exec(["sh", "-c", script], timeout=20)).exit_code == 0
    assert len(await sandbox.read_file("at_cap")) == cap
    with pytest.raises(OutputTooLarge) as caught:
        await sandbox.read_file("over")
    assert caught.value.size == cap + 1 and caught.value.limit == cap


async def test_paths_cannot_climb_above_the_root(sandbox: Sandbox) -> None:
    await sandbox.write_file("../../../../escape.txt", "stays inside")
    assert await sandbox.read_file("/escape.txt") == b"stays inside"


# -- lifecycle -----------------------------------------------------------------------------


async def test_close_is_idempotent_and_final(
    provider: str, make_spec: Callable[..., SandboxSpec], run_id: str
) -> None:
    box = sandbox_provider(provider)(make_spec(provider), run_id=run_id)
    await box.start()
    assert (await box.exec(["true"], timeout=20)).ok
    await box.close()
    await box.close()
    with pytest.raises(SandboxClosed):
        await box.exec(["true"], timeout=20)
    with pytest.raises(SandboxClosed):
        await box.read_file("x")
    with pytest.raises(SandboxClosed):
        await box.write_file("x", "y")


async def test_context_manager_closes_on_error(
    provider: str, make_spec: Callable[..., SandboxSpec], run_id: str
) -> None:
    box = sandbox_provider(provider)(make_spec(provider), run_id=run_id)
    with pytest.raises(RuntimeError, match="boom"):
        async with box:
            await box.write_file("x", "y")
            raise RuntimeError("boom")
    with pytest.raises(SandboxClosed):
        await box.read_file("x")


async def test_sandboxes_are_independent(
    provider: str, make_spec: Callable[..., SandboxSpec], run_id: str
) -> None:
    factory = sandbox_provider(provider)
    spec = make_spec(provider)
    async with factory(spec, run_id=run_id) as one, factory(spec, run_id=run_id) as two:
        await one.write_file("only-in-one.txt", "1")
        with pytest.raises(FileNotFoundError):
            await two.read_file("only-in-one.txt")


async def test_local_provider_refuses_services() -> None:
    from envs.local import LocalSandbox

    spec = SandboxSpec(
        image="local", network="svcnet", services=[{"name": "web", "image": "local"}]
    )
    with pytest.raises(SandboxError, match="services need the docker sandbox"):
        async with LocalSandbox(spec, run_id="pytest-local"):
            pass
