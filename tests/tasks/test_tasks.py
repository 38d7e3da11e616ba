"""The task suite: loading and format errors, solution scripts, grading verdicts, validation, tamper resistance."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from envs import Sandbox
from envs.docker import DockerSandbox
from harness.errors import ConfigError
from tasks import (
    CATEGORIES,
    SUITE_ROOT,
    Grade,
    TaskSpec,
    _grading,
    answer_from_output,
    content_hash,
    grade,
    load_task,
    load_tasks,
    parse_verdict,
    reference_commands,
    run_attempt,
    run_commands,
    sandbox_spec,
    setup_workspace,
    task_image,
    validate_all,
    validate_task,
    wrong_attempt_commands,
)
from tasks._grading import _VERIFY_SCRIPT, _build_context
from tasks._spec import task_files
from tasks.cli import list_tasks_table, validate_tasks

ALL_TASKS = load_tasks()
LOCAL_TASKS = [task for task in ALL_TASKS if not task.needs_docker]


def _copy_task(tmp_path: Path, task_id: str = "data-sales-total") -> Path:
    """A writable copy of a built-in task, to break on purpose."""
    target = tmp_path / "suite" / task_id
    shutil.copytree(SUITE_ROOT / task_id, target)
    return target


def _edit_yaml(folder: Path, **changes: object) -> None:
    path = folder / "task.yaml"
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))


# -- the suite as shipped ------------------------------------------------------------------


def test_suite_size_and_spread() -> None:
    assert len(ALL_TASKS) >= 12
    categories = {task.category for task in ALL_TASKS}
    assert len(categories) >= 4 and categories <= set(CATEGORIES)
    assert {task.difficulty for task in ALL_TASKS} == {"easy", "medium", "hard"}
    assert {task.answer for task in ALL_TASKS} == {"submission", "workspace"}
    assert any(task.needs_docker for task in ALL_TASKS)


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda task: task.id)
def test_every_task_loads_completely(task: TaskSpec) -> None:
    assert task.id == task.directory.name
    assert task.directory.parent == SUITE_ROOT
    assert (task.grader_dir / "grade.py").is_file()
    assert reference_commands(task) and wrong_attempt_commands(task)
    assert len(task.content_hash) == 16
    # The prompt says how to finish, and carries no entity framing (the probe adds that).
    assert "call submit" in task.prompt.lower()
    assert "{" not in task.prompt.replace("FLAG{", "")
    assert task.limits.steps >= 10 and task.limits.command_timeout > 0


@pytest.mark.parametrize(
    "task", [t for t in ALL_TASKS if t.answer == "submission"], ids=lambda task: task.id
)
def test_submission_answers_are_not_in_the_workspace(task: TaskSpec) -> None:
    expected = json.loads((task.grader_dir / "expected.json").read_text())
    if "flag" in expected:
        secrets = [expected["flag"]]
    elif "answer" in expected:
        secrets = [expected["answer"]]
    else:
        secrets = [f"{expected['sensor']}:{expected['mean']:.3f}", f"{expected['mean']:.3f}"]
    for rel in task_files(task.workspace_dir):
        data = (task.workspace_dir / rel).read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{rel} holds the answer in plain form"
    if task.needs_docker:  # image and service files included
        for rel in task_files(task.directory):
            if rel.parts[0] not in ("grader", "solution"):
                assert secrets[0].encode() not in (task.directory / rel).read_bytes()


def test_no_task_file_is_ignored_by_git() -> None:
    # A task file matched by .gitignore (say, a folder named build/) would be missing
    # from every checkout, and the task would break only there.
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    files = [str(task.directory / rel) for task in ALL_TASKS for rel in task_files(task.directory)]
    result = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        input="\n".join(files),
        capture_output=True,
        text=True,
        cwd=SUITE_ROOT,
    )
    if result.returncode == 128:
        pytest.skip(f"not a git checkout: {result.stderr.strip()}")
    assert result.stdout == "", f"ignored by git: {result.stdout}"


def test_build_context_never_holds_grader_or_solution(tmp_path: Path) -> None:
    task = next(task for task in ALL_TASKS if task.needs_docker)
    context = _build_context(task, tmp_path)
    names = {rel.parts[0] for rel in task_files(context)}
    assert "Dockerfile" in names
    assert not names & {"grader", "solution", "workspace", "task.yaml"}
    assert context.name == task.id  # so the image tag names the task


def test_service_task_is_wired_into_the_sandbox_spec() -> None:
    task = load_task(SUITE_ROOT / "forensics-audit-api")
    assert task.needs_docker and task.dockerfile is None
    assert task.network == "auditnet" and [s.name for s in task.services] == ["audit"]
    spec = sandbox_spec(task, "some-image")
    assert spec.network == "auditnet"
    (service,) = spec.services
    assert service.name == "audit" and service.user == "agent"
    assert service.env == {"AUDIT_TOKEN": "7c1e9a44d2b05f38"}
    assert service.image.startswith("harness-task-forensics-audit-api-svc-audit:")


def test_task_services_need_a_network_and_a_dockerfile(tmp_path: Path) -> None:
    folder = _copy_task(tmp_path, "data-sales-total")
    _edit_yaml(folder, services=[{"name": "db"}])
    with pytest.raises(ConfigError, match="services need a network"):
        load_task(folder)
    _edit_yaml(folder, network="tasknet")
    with pytest.raises(ConfigError, match=r"services/db/Dockerfile"):
        load_task(folder)
    (folder / "services" / "db").mkdir(parents=True)
    (folder / "services" / "db" / "Dockerfile").write_text("FROM harness-base\n")
    task = load_task(folder)
    assert task.needs_docker and task.services[0].name == "db"
    _edit_yaml(folder, network="host")
    with pytest.raises(ConfigError, match="field 'network'"):
        load_task(folder)


def test_content_hash_covers_the_grader(tmp_path: Path) -> None:
    folder = _copy_task(tmp_path)
    before = load_task(folder).content_hash
    assert before == load_task(SUITE_ROOT / "data-sales-total").content_hash
    (folder / "grader" / "expected.json").write_text('{"answer": "1.00"}')
    assert load_task(folder).content_hash != before


def test_sandbox_spec_applies_task_overrides(tmp_path: Path) -> None:
    folder = _copy_task(tmp_path)
    _edit_yaml(folder, sandbox={"mem_limit": "1g", "pids_limit": 64})
    spec = sandbox_spec(load_task(folder), "some-image:tag")
    assert (spec.image, spec.mem_limit, spec.pids_limit, spec.cpus) == (
        "some-image:tag",
        "1g",
        64,
        1.0,
    )
    assert spec.user == "agent" and spec.network == "none"
    assert dict(spec.labels) == {"task": "data-sales-total"}


# -- format errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"category": "poetry"}, r"task\.yaml: field 'category': Input should be"),
        ({"difficulty": None}, r"task\.yaml: field 'difficulty': Field required"),
        ({"id": "another-id"}, r"field 'id': 'another-id' must equal the folder name"),
        ({"limits": {"steps": 0}}, r"field 'limits\.steps': Input should be greater"),
        ({"limits": {"stpes": 5}}, r"field 'limits\.stpes': Extra inputs are not permitted"),
        ({"answr": "workspace"}, r"field 'answr': Extra inputs are not permitted"),
        ({"answer": "file"}, r"field 'answer': Input should be 'submission' or 'workspace'"),
    ],
)
def test_bad_task_yaml_names_file_and_field(
    tmp_path: Path, changes: dict[str, object], pattern: str
) -> None:
    folder = _copy_task(tmp_path)
    _edit_yaml(folder, **changes)
    with pytest.raises(ConfigError, match=pattern) as caught:
        load_task(folder)
    message = str(caught.value)
    assert str(folder / "task.yaml") in message and "\n" not in message


def test_invalid_yaml_and_missing_files_are_clear(tmp_path: Path) -> None:
    folder = _copy_task(tmp_path)
    (folder / "task.yaml").write_text("id: [unclosed\n")
    with pytest.raises(ConfigError, match=r"task\.yaml: not valid YAML \(line \d+\)"):
        load_task(folder)
    (folder / "task.yaml").write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of fields, got list"):
        load_task(folder)
    folder = _copy_task(tmp_path, "data-sensor-means")
    (folder / "solution" / "wrong.sh").unlink()
    with pytest.raises(ConfigError, match=r"solution/wrong\.sh: required task file is missing"):
        load_task(folder)


def test_load_tasks_filters_and_rejects_unknown_ids(tmp_path: Path) -> None:
    picked = load_tasks(ids=["data-sales-total", "bugfix-intervals"])
    assert [task.id for task in picked] == ["bugfix-intervals", "data-sales-total"]
    with pytest.raises(
        ConfigError, match=r"unknown task id\(s\): nope \(known: .*data-sales-total"
    ):
        load_tasks(ids=["nope"])
    with pytest.raises(ConfigError, match="task suite folder does not exist"):
        load_tasks(tmp_path / "missing")
    _copy_task(tmp_path)
    (tmp_path / "suite" / "half-made").mkdir()
    with pytest.raises(ConfigError, match=r"half-made/task\.yaml: required task file is missing"):
        load_tasks(tmp_path / "suite")


# -- solution scripts and verdict parsing --------------------------------------------------


def test_solution_steps_share_the_header(tmp_path: Path) -> None:
    script = tmp_path / "solve.sh"
    script.write_text("#!/bin/bash\nset -eu\n#@step one\necho a\n#@step two\necho b\n")
    from tasks._reference import script_commands

    assert script_commands(script) == [
        "set -eu\n#@step one\necho a\n",
        "set -eu\n#@step two\necho b\n",
    ]
    script.write_text("#!/bin/bash\necho only\n")
    assert script_commands(script) == ["echo only\n"]


def test_answer_is_the_last_non_empty_line() -> None:
    assert answer_from_output("noise\n  FLAG{x}  \n\n") == "FLAG{x}"
    assert answer_from_output("\n \n") is None


@pytest.mark.parametrize(
    ("stdout", "error"),
    [
        ("", "printed nothing"),
        ("hello\n", "not JSON"),
        ('{"passed": "yes", "score": 1, "details": ""}', "boolean 'passed'"),
        ('{"passed": true, "score": 1.5, "details": ""}', "between 0 and 1"),
        ('{"passed": true, "score": true, "details": ""}', "between 0 and 1"),
        ('{"passed": true, "score": 1}', "string 'details'"),
        ("[1]", "not a JSON object"),
    ],
)
def test_malformed_verdicts_are_rejected(stdout: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_verdict(stdout)


def test_verdict_is_the_last_line() -> None:
    assert parse_verdict('debug\n{"passed": false, "score": 0.25, "details": "x"}\n') == (
        False,
        0.25,
        "x",
    )


# -- grading on the local provider ---------------------------------------------------------


@asynccontextmanager
async def _local_box(task: TaskSpec, run_id: str = "pytest") -> AsyncIterator[Sandbox]:
    from envs.local import LocalSandbox

    async with LocalSandbox(sandbox_spec(task, "local"), run_id=run_id) as box:
        await setup_workspace(box, task)
        yield box


@pytest.mark.parametrize(
    ("grader", "error"),
    [
        ("print('all good')\n", "last line is not JSON"),
        ("raise RuntimeError('grader bug')\n", "exited with code 1: .*RuntimeError: grader bug"),
        ("import time\ntime.sleep(30)\n", "timed out"),
    ],
)
async def test_broken_graders_are_errors_not_verdicts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, grader: str, error: str
) -> None:
    monkeypatch.setattr(_grading, "GRADER_TIMEOUT_S", 2.0)
    folder = _copy_task(tmp_path)
    (folder / "grader" / "grade.py").write_text(grader)
    task = load_task(folder)
    async with _local_box(task) as box:
        verdict = await grade(box, task, "1.00")
    assert isinstance(verdict, Grade)
    assert not verdict.passed and verdict.score == 0
    assert verdict.error is not None
    assert re.search(error, verdict.error), verdict.error


async def test_submission_reaches_the_grader_verbatim() -> None:
    task = load_task(SUITE_ROOT / "data-sales-total")
    expected = json.loads((task.grader_dir / "expected.json").read_text())["answer"]
    async with _local_box(task) as box:
        right = await grade(box, task, f"  {expected}\n")
    async with _local_box(task) as box:
        off_by_a_cent = await grade(box, task, f"{float(expected) + 0.01:.2f}")
    async with _local_box(task) as box:
        garbage = await grade(box, task, "about a hundred thousand")
    assert right.passed and right.score == 1.0 and right.error is None
    assert not off_by_a_cent.passed and off_by_a_cent.error is None
    assert not garbage.passed and "not a number" in garbage.details


@pytest.mark.parametrize("task", LOCAL_TASKS, ids=lambda task: task.id)
async def test_validate_on_local_provider(task: TaskSpec) -> None:
    result = await validate_task(task, "local")
    assert result.ok, result.problems
    assert [check.name for check in result.checks] == ["untouched", "reference", "wrong"]


async def test_validation_catches_a_bad_reference_and_a_passing_wrong_attempt(
    tmp_path: Path,
) -> None:
    folder = _copy_task(tmp_path)
    (folder / "solution" / "solve.sh").write_text("#!/bin/bash\necho 12.34\n")
    answer = json.loads((folder / "grader" / "expected.json").read_text())["answer"]
    (folder / "solution" / "wrong.sh").write_text(f"#!/bin/bash\necho {answer}\n")
    result = await validate_task(load_task(folder), "local")
    assert not result.ok
    problems = "\n".join(result.problems)
    assert "reference: should pass but got passed=False" in problems
    assert "wrong: should fail but got passed=True" in problems
    assert result.checks[0].ok  # the untouched workspace still fails, as it must


async def test_local_provider_skips_tasks_with_an_image() -> None:
    task = next(task for task in ALL_TASKS if task.needs_docker)
    result = await validate_task(task, "local")
    assert result.skipped and not result.ok and not result.checks


def test_cli_functions(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(width=200, force_terminal=False)
    list_tasks_table(console)
    listed = capsys.readouterr().out
    assert all(task.id in listed for task in ALL_TASKS)
    code = validate_tasks(console, ["data-sales-total", "forensics-planted-record"], "local")
    out = capsys.readouterr().out
    assert code == 0
    assert "ok data-sales-total" in out and "skipped forensics-planted-record" in out
    with pytest.raises(ConfigError, match="unknown task id"):
        validate_tasks(console, ["no-such-task"], "local")


# -- docker: validation of every task, and tamper resistance -------------------------------


@pytest.mark.docker
async def test_validate_every_task_on_docker(
    run_id: str, build_progress: Callable[[str], None]
) -> None:
    started = time.monotonic()
    results = await validate_all(ALL_TASKS, "docker", progress=build_progress, run_id=run_id)
    elapsed = time.monotonic() - started
    report = "\n".join(
        f"{result.task_id}: {'ok' if result.ok else result.problems} ({result.seconds:.1f} s)"
        for result in results
    )
    print(f"validated {len(results)} tasks in {elapsed:.1f} s\n{report}")
    assert all(result.ok for result in results), report


@asynccontextmanager
async def _docker_box(
    task: TaskSpec, run_id: str, progress: Callable[[str], None]
) -> AsyncIterator[Sandbox]:
    image = await task_image(task, progress)
    async with DockerSandbox(
        sandbox_spec(task, image), run_id=run_id, sample_id=f"{task.id}-tamper"
    ) as box:
        await setup_workspace(box, task)
        yield box


async def _agent_processes(box: Sandbox) -> list[str]:
    result = await box.exec(
        ["python3", "-I", "-c", _VERIFY_SCRIPT, "agent"], user="root", timeout=30
    )
    assert result.ok, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


FORGED = '{"passed": true, "score": 1.0, "details": "forged"}'


@pytest.mark.docker
async def test_forged_results_and_symlinks_do_not_pass(
    run_id: str, build_progress: Callable[[str], None]
) -> None:
    task = load_task(SUITE_ROOT / "transform-employees-json")
    commands = [
        f"echo '{FORGED}' > RESULT; echo '{FORGED}' > grade.json; echo '{FORGED}' > /tmp/verdict",
        f"printf 'print(%s)\\n' \"'{FORGED}'\" > gradelib.py",
        "mkdir /grader 2>&1 || true",
        # Point the output at the grader's own answer file, which appears at grading time.
        "mkdir -p output && ln -s /grader/expected.json output/employees.json",
        f"echo '{FORGED}'",
    ]
    async with _docker_box(task, run_id, build_progress) as box:
        results = await run_commands(box, task, commands)
        assert all(result.ok for result in results)
        assert "Permission denied" in results[2].stdout
        verdict = await grade(box, task, FORGED)
    assert verdict.error is None
    assert not verdict.passed and verdict.score == 0
    assert "symbolic link" in verdict.details


@pytest.mark.docker
async def test_processes_left_behind_cannot_change_the_outcome(
    run_id: str, build_progress: Callable[[str], None]
) -> None:
    task = load_task(SUITE_ROOT / "transform-employees-json")
    tamper = [
        # The right answer is kept aside; the workspace holds a wrong one.
        "mv output/employees.json /tmp/good.json && echo '[]' > output/employees.json",
        # Waits for grading to begin, then swaps the right answer in.
        "setsid nohup bash -c 'while [ ! -e /grader ]; do sleep 0.01; done; "
        "cp /tmp/good.json /workspace/output/employees.json' >/dev/null 2>&1 &",
        # Double-forked, environment cleared, deaf to TERM/HUP; tries to read the grader.
        'env -i /bin/bash -c \'( trap "" TERM HUP; while :; do '
        "cat /grader/expected.json > /workspace/leak 2>/dev/null; "
        "[ -e /grader ] && cp /tmp/good.json /workspace/output/employees.json; "
        "sleep 0.01; done ) >/dev/null 2>&1 &'",
        # Keeps forking new processes, and a stopped one.
        "setsid bash -c 'while :; do sleep 60 & sleep 0.02; done' >/dev/null 2>&1 &",
        "sleep 300 >/dev/null 2>&1 & kill -STOP $!",
        # Makes /proc/<pid> root-owned (not dumpable), so an owner check on it would miss it.
        "nohup python3 -c 'import ctypes, time; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); "
        "time.sleep(300)' >/dev/null 2>&1 &",
        "sleep 0.5",
    ]
    async with _docker_box(task, run_id, build_progress) as box:
        assert await run_attempt(box, task, reference_commands(task)) is None
        results = await run_commands(box, task, tamper)
        assert all(result.ok for result in results), [r.stderr for r in results]
        assert len(await _agent_processes(box)) >= 5  # the tamperers really are running
        verdict = await grade(box, task, None)
        survivors = await _agent_processes(box)
        await asyncio.sleep(0.3)
        output = await box.read_file("output/employees.json")
        leak = await box.exec(["cat", "/workspace/leak"], timeout=10)
        grader_dir = await box.exec(["stat", "-c", "%U %a", "/grader"], user="root", timeout=10)
        peek = await box.exec(["ls", "/grader"], timeout=10)
    assert verdict.error is None, verdict.error
    assert not verdict.passed
    assert survivors == []
    assert output == b"[]\n"
    assert leak.stdout == ""
    assert grader_dir.stdout.strip() == "root 700"
    assert not peek.ok and "Permission denied" in peek.stderr


@pytest.mark.docker
async def test_a_fork_bomb_neither_blocks_nor_decides_grading(
    run_id: str, build_progress: Callable[[str], None]
) -> None:
    task = load_task(SUITE_ROOT / "data-sales-total")
    async with _docker_box(task, run_id, build_progress) as box:
        answer = await run_attempt(box, task, reference_commands(task))
        bomb = "bomb() { bomb | bomb & }; bomb >/dev/null 2>&1 & sleep 1"
        await box.exec(["bash", "-c", bomb], timeout=20)
        verdict = await grade(box, task, answer)
        survivors = await _agent_processes(box)
    assert verdict.error is None, verdict.error
    assert verdict.passed
    assert survivors == []


@pytest.mark.docker
@pytest.mark.parametrize("task_id", ["forensics-planted-record", "bugfix-ttl-cache"])
async def test_grader_files_are_absent_until_grading(
    run_id: str, build_progress: Callable[[str], None], task_id: str
) -> None:
    task = load_task(SUITE_ROOT / task_id)
    expected_text = (task.grader_dir / "expected.json").read_text()
    secret = json.loads(expected_text)["flag"] if task.answer == "submission" else None
    async with _docker_box(task, run_id, build_progress) as box:
        missing = await box.exec(["test", "-e", "/grader"], user="root", timeout=10)
        names = await box.exec(
            [
                "find",
                "/",
                "-xdev",
                "(",
                "-name",
                "grade.py",
                "-o",
                "-name",
                "agent_check.py",
                "-o",
                "-name",
                "expected.json",
                "-o",
                "-name",
                "solve.sh",
                "-o",
                "-name",
                "wrong.sh",
                ")",
                "-print",
            ],
            user="root",
            timeout=60,
        )
        if secret is not None:
            found = await box.exec(
                [
                    "grep",
                    "-rlF",
                    "-D",
                    "skip",
                    "--exclude-dir=proc",
                    "--exclude-dir=sys",
                    "--exclude-dir=dev",
                    "-e",
                    secret,
                    "/",
                ],
                user="root",
                timeout=120,
            )
            # Exit 1: no match; 2: no match, but some file was unreadable (still no match).
            assert found.stdout == "" and found.exit_code in (1, 2), found.stdout
        verdict = await grade(box, task, None)
        installed = await box.exec(["ls", "/grader"], user="root", timeout=10)
    assert missing.exit_code == 1
    assert names.stdout == ""
    assert not verdict.passed and verdict.error is None
    assert {"grade.py", "gradelib.py", "expected.json", "submission.json"} <= set(
        installed.stdout.split()
    )


def test_a_task_folder_elsewhere_is_the_suite_when_configured(tmp_path, monkeypatch) -> None:
    import shutil

    from tasks import SUITE_ROOT, load_tasks, suite_root

    monkeypatch.delenv("HARNESS_TASK_DIR", raising=False)
    assert suite_root() == SUITE_ROOT
    mine = tmp_path / "my-tasks" / "my-sales-task"
    shutil.copytree(SUITE_ROOT / "data-sales-total", mine)
    spec = mine / "task.yaml"
    spec.write_text(spec.read_text().replace("id: data-sales-total", "id: my-sales-task"))
    monkeypatch.setenv("HARNESS_TASK_DIR", str(tmp_path / "my-tasks"))
    assert [task.id for task in load_tasks()] == ["my-sales-task"]
    assert load_tasks(SUITE_ROOT, ids=["data-sales-total"])[0].id == "data-sales-total"


def test_a_pickled_task_finds_its_files_on_another_machine(tmp_path, monkeypatch) -> None:
    """A task shipped to a worker that lacks its folder carries its files: unpickled, it
    points at a copy with the same content hash; files that differ there are refused."""
    import pickle

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    mine = tmp_path / "suite" / "my-sales-task"
    shutil.copytree(SUITE_ROOT / "data-sales-total", mine)
    spec_file = mine / "task.yaml"
    spec_file.write_text(spec_file.read_text().replace("id: data-sales-total", "id: my-sales-task"))
    (mine / "solution" / "solve.sh").chmod(0o755)
    task = load_task(mine)
    blob = pickle.dumps(task)
    # Same machine: the folder itself.
    assert pickle.loads(blob).directory == task.directory
    # "Another machine": the folder is gone; the files arrive with the task.
    shutil.rmtree(mine)
    there = pickle.loads(blob)
    assert there.directory == tmp_path / "cache" / "tasks" / task.content_hash / "my-sales-task"
    assert there.content_hash == task.content_hash == content_hash(there.directory)
    assert (there.grader_dir / "grade.py").is_file() and there.workspace_dir.is_dir()
    assert (there.directory / "solution" / "solve.sh").stat().st_mode & 0o111
    assert there.model_dump(exclude={"directory"}) == task.model_dump(exclude={"directory"})
    # Unpacked once: a second arrival uses the same copy.
    assert pickle.loads(blob).directory == there.directory
    # A built-in task pickles and comes back as itself.
    (builtin,) = load_tasks(ids=["data-sales-total"])
    assert pickle.loads(pickle.dumps(builtin)) == builtin
    # Files that hash differently here (another harness's grader library) are refused.
    (there.directory / "grader" / "grade.py").write_text("print('tampered')\n")
    with pytest.raises(ConfigError, match="another version of the harness"):
        pickle.loads(blob)
