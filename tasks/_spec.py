"""Task folders into validated TaskSpec objects: the task.yaml schema, loading, and content hashing."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.errors import ConfigError

#: The built-in suite shipped with the package.
SUITE_ROOT = Path(__file__).resolve().parent / "suite"
#: Shared grader helpers, copied next to every task's grade.py as ``gradelib.py``.
GRADELIB_PATH = Path(__file__).resolve().parent / "_gradelib.py"

CATEGORIES = ("bugfix", "data", "forensics", "config", "transform")
Category = Literal["bugfix", "data", "forensics", "config", "transform"]
Difficulty = Literal["easy", "medium", "hard"]
AnswerKind = Literal["submission", "workspace"]

# Files every task folder must have, relative to the folder.
REQUIRED_FILES = ("task.yaml", "grader/grade.py", "solution/solve.sh", "solution/wrong.sh")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_NETWORK_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
_SHARED_NETWORKS = {"none", "host", "bridge", "default"}
_SERVICE_RE = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
# Never part of a task's identity: caches that appear when graders are imported locally.
_SKIP_PARTS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".DS_Store"}


class TaskLimits(BaseModel):
    """Budget for one attempt: agent steps, model tokens, wall time, and per-command timeout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(default=30, ge=1)
    tokens: int = Field(default=200_000, ge=1)
    wall_seconds: float = Field(default=600, gt=0)
    command_timeout: float = Field(default=60, gt=0)


class SandboxOverrides(BaseModel):
    """Per-task changes to the sandbox defaults (None keeps the envs.SandboxSpec default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mem_limit: str | None = None
    cpus: float | None = Field(default=None, gt=0)
    pids_limit: int | None = Field(default=None, ge=16)


class TaskService(BaseModel):
    """A service container of a task (task.yaml ``services:``), built from services/<name>/.

    Its image is built from ``services/<name>/Dockerfile`` (usually ``FROM harness-base``);
    the other fields map onto :class:`envs.ServiceSpec` (None keeps its default).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    command: tuple[str, ...] | None = None
    user: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    mem_limit: str | None = None
    cpus: float | None = Field(default=None, gt=0)
    pids_limit: int | None = Field(default=None, ge=16)

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not _SERVICE_RE.match(value) or value == "sandbox":
            raise ValueError(
                "must be 1-32 characters of a-z, 0-9 and '-', start with a letter, "
                "not end with '-', and not be 'sandbox'"
            )
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_text(cls, value: Any) -> Any:
        # YAML reads `PORT: 8080` as an int; environment values are strings.
        if isinstance(value, dict):
            return {
                key: str(item)
                if isinstance(item, int | float) and not isinstance(item, bool)
                else item
                for key, item in value.items()
            }
        return value


class _TaskFile(BaseModel):
    """Exactly the fields a task.yaml may hold (anything else is a typo and is rejected)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    version: str
    category: Category
    difficulty: Difficulty
    title: str = Field(min_length=1)
    prompt: str = Field(min_length=1)
    answer: AnswerKind
    limits: TaskLimits = Field(default_factory=TaskLimits)
    sandbox: SandboxOverrides = Field(default_factory=SandboxOverrides)
    network: str | None = None
    services: tuple[TaskService, ...] = ()

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("must be 2-63 characters of a-z, 0-9 and '-', starting alphanumeric")
        return value

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        # YAML reads `version: 1` as an int; a version is an opaque label, so accept it.
        return str(value) if isinstance(value, int | float) else value

    @field_validator("network")
    @classmethod
    def _network_name(cls, value: str | None) -> str | None:
        if value is not None and (not _NETWORK_RE.match(value) or value in _SHARED_NETWORKS):
            raise ValueError(
                "must be a short name of a-z, 0-9 and '-' for the task's own internal network "
                "(not none, host, bridge or default)"
            )
        return value

    @model_validator(mode="after")
    def _services_need_a_network(self) -> _TaskFile:
        if self.services and self.network is None:
            raise ValueError("services need a network: add e.g. `network: tasknet`")
        names = [service.name for service in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique: {names}")
        return self


class TaskSpec(_TaskFile):
    """One task: its task.yaml fields plus where it lives and a hash of all its files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    directory: Path
    content_hash: str

    @property
    def workspace_dir(self) -> Path:
        return self.directory / "workspace"

    @property
    def grader_dir(self) -> Path:
        return self.directory / "grader"

    @property
    def solution_dir(self) -> Path:
        return self.directory / "solution"

    @property
    def dockerfile(self) -> Path | None:
        path = self.directory / "Dockerfile"
        return path if path.is_file() else None

    def service_dir(self, name: str) -> Path:
        """The build context of service ``name``: ``services/<name>/`` with its Dockerfile."""
        return self.directory / "services" / name

    @property
    def needs_docker(self) -> bool:
        """True when the task needs its own image (a Dockerfile) or services: no local provider."""
        return self.dockerfile is not None or bool(self.services)

    @property
    def has_agent_check(self) -> bool:
        """True when grading runs grader/agent_check.py as the agent user first."""
        return (self.grader_dir / "agent_check.py").is_file()

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any], bytes]]:
        """Pickled with its files, so the task can run on a machine that lacks its folder (a
        worker of a cluster): see :func:`_restore_task`."""
        return (_restore_task, (self.model_dump(), _pack_folder(self.directory)))


def _pack_folder(directory: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=1) as tar:
        for rel in task_files(directory):
            tar.add(directory / rel, arcname=rel.as_posix(), recursive=False)
    return buf.getvalue()


def _restore_task(fields: dict[str, Any], archive: bytes) -> TaskSpec:
    """A pickled task, pointed at a folder of this machine holding exactly its files.

    Its own folder if that is here unchanged (one machine, a shared file system), else the
    built-in suite's copy if that is the same, else the files that came with it, unpacked once
    per content hash under the cache directory. Files that arrive but hash differently here
    mean this machine's harness (its grader library) is not the sender's: refused.
    """
    spec = TaskSpec.model_validate(fields)
    for candidate in (spec.directory, SUITE_ROOT / spec.id):
        if candidate.is_dir() and content_hash(candidate) == spec.content_hash:
            return spec.model_copy(update={"directory": candidate})
    from harness.model._cache import default_cache_dir

    # The folder keeps the task's id as its name: image tags are made from it.
    target = default_cache_dir() / "tasks" / spec.content_hash / spec.id
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        unpacked = Path(tempfile.mkdtemp(prefix=f".{spec.id}-", dir=target.parent))
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(unpacked, filter="data")
        try:
            unpacked.rename(target)
        except OSError:
            shutil.rmtree(unpacked)  # another process unpacked the same files first
    if content_hash(target) != spec.content_hash:
        raise ConfigError(
            f"task {spec.id}: its files hash to {content_hash(target)} here, not "
            f"{spec.content_hash}: this machine runs another version of the harness than the "
            "one that planned the run; install the same version everywhere"
        )
    return spec.model_copy(update={"directory": target})


def task_files(directory: Path) -> list[Path]:
    """Every file of a task folder (sorted, caches skipped), as paths relative to it."""
    found = []
    for path in directory.rglob("*"):
        rel = path.relative_to(directory)
        if any(part in _SKIP_PARTS for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_file():
            found.append(rel)
    return sorted(found, key=lambda rel: rel.as_posix())


def content_hash(directory: Path) -> str:
    """A hash of every file in the task folder (names, exec bits, bytes) and of gradelib.

    gradelib is included because it runs as part of every grader: a change to it can
    change a grade just as an edit to grade.py can.
    """
    digest = hashlib.sha256(b"harness-task 1\0")
    for rel in task_files(directory):
        path = directory / rel
        executable = "x" if os.access(path, os.X_OK) else "-"
        data = path.read_bytes()
        digest.update(f"{rel.as_posix()}\0{executable}\0{len(data)}\0".encode())
        digest.update(data)
    lib = GRADELIB_PATH.read_bytes()
    digest.update(f"gradelib\0{len(lib)}\0".encode())
    digest.update(lib)
    return digest.hexdigest()[:16]


def _field_error(path: Path, error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return ConfigError(f"{path}: field '{field}': {first['msg']}")


def load_task(directory: Path | str) -> TaskSpec:
    """Load and check one task folder; raises ConfigError naming the file and field at fault."""
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise ConfigError(f"{directory}: task folder does not exist")
    for rel in REQUIRED_FILES:
        if not (directory / rel).is_file():
            raise ConfigError(f"{directory / rel}: required task file is missing")
    if not (directory / "workspace").is_dir():
        raise ConfigError(f"{directory / 'workspace'}: required task folder is missing")
    yaml_path = directory / "task.yaml"
    try:
        raw = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{yaml_path}: not valid YAML{where}: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{yaml_path}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{yaml_path}: expected a mapping of fields, got {type(raw).__name__}")
    try:
        parsed = _TaskFile.model_validate(raw)
    except ValidationError as exc:
        raise _field_error(yaml_path, exc) from None
    if parsed.id != directory.name:
        raise ConfigError(
            f"{yaml_path}: field 'id': {parsed.id!r} must equal the folder name {directory.name!r}"
        )
    for index, service in enumerate(parsed.services):
        dockerfile = directory / "services" / service.name / "Dockerfile"
        if not dockerfile.is_file():
            raise ConfigError(
                f"{yaml_path}: field 'services.{index}': service {service.name!r} needs "
                f"its image's Dockerfile at {dockerfile}"
            )
    return TaskSpec(
        **parsed.model_dump(), directory=directory, content_hash=content_hash(directory)
    )


def suite_root() -> Path:
    """Where tasks are loaded from: ``HARNESS_TASK_DIR`` if set, else the built-in suite."""
    configured = os.environ.get("HARNESS_TASK_DIR")
    return Path(configured).expanduser().resolve() if configured else SUITE_ROOT


def load_tasks(root: Path | str | None = None, ids: list[str] | None = None) -> list[TaskSpec]:
    """Load every task under ``root`` (default: :func:`suite_root`), or only ``ids``, in id order.

    Every sub-folder not starting with '.' or '_' must be a valid task; unknown ``ids``
    raise ConfigError listing the known ones.
    """
    root = Path(root).resolve() if root is not None else suite_root()
    if not root.is_dir():
        raise ConfigError(f"{root}: task suite folder does not exist")
    folders = sorted(
        path for path in root.iterdir() if path.is_dir() and not path.name.startswith((".", "_"))
    )
    if ids:
        known = {path.name for path in folders}
        unknown = [task_id for task_id in ids if task_id not in known]
        if unknown:
            raise ConfigError(
                f"unknown task id(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})"
            )
        wanted = set(ids)
        folders = [path for path in folders if path.name in wanted]
    return [load_task(path) for path in folders]
