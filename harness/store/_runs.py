"""Finding runs in a log directory and opening them for analysis (the Python API)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.config import model_label
from harness.errors import HarnessError
from harness.store._store import DB_NAME, RunStore, run_in_progress


def default_log_dir() -> Path:
    return Path(os.environ.get("HARNESS_LOG_DIR") or "runs")


@dataclass
class RunInfo:
    run_id: str
    directory: Path
    suite: str
    model: str
    status: str
    created: str
    samples: int
    errors: int


def find_run(run: str | Path, log_dir: Path | None = None) -> Path:
    """Resolve a run id or a path to a run directory."""
    candidate = Path(run)
    if (candidate / DB_NAME).is_file():
        return candidate
    directory = (log_dir or default_log_dir()) / str(run)
    if (directory / DB_NAME).is_file():
        return directory
    raise HarnessError(f"no run '{run}' (looked for {candidate} and {directory})")


def list_runs(log_dir: Path | None = None) -> list[RunInfo]:
    root = log_dir or default_log_dir()
    if not root.is_dir():
        return []
    infos = []
    for directory in _run_directories(root):
        store = RunStore.open(directory)
        try:
            meta = store.meta()
            counts = store.counts()
        finally:
            store.close()
        config = meta.get("config", {})
        infos.append(
            RunInfo(
                run_id=meta.get("run_id", directory.name),
                directory=directory,
                suite=config.get("suite", "?"),
                model=model_label(config),
                status=_live_status(directory, meta.get("status", "?")),
                created=meta.get("created", "?"),
                samples=sum(c.get("ok", 0) for c in counts.values()),
                errors=sum(c.get("error", 0) for c in counts.values()),
            )
        )
    return infos


def _run_directories(root: Path) -> list[Path]:
    """Runs in the log directory, with the runs of each study (a folder of run folders
    beside its ``study.json``) in place of the study."""
    found = []
    for directory in sorted(root.iterdir()):
        if (directory / DB_NAME).is_file():
            found.append(directory)
        elif (directory / "study.json").is_file():
            found.extend(d for d in sorted(directory.iterdir()) if (d / DB_NAME).is_file())
    return found


class Run:
    """A finished or partial run, read-only: ``Run("runs/<id>").samples("pairwise")``."""

    def __init__(self, directory: str | Path):
        self.directory = find_run(directory)
        self._store = RunStore.open(self.directory)
        self.meta: dict[str, Any] = self._store.meta()

    @property
    def config(self) -> dict[str, Any]:
        return self.meta.get("config", {})

    def samples(self, probe: str | None = None) -> pd.DataFrame:
        return self._store.samples_df(probe)

    def records(self, kind: str) -> pd.DataFrame:
        return self._store.records_df(kind)

    def calls(self) -> pd.DataFrame:
        return self._store.calls_df()

    def batches(self) -> pd.DataFrame:
        """One row per batch submitted with ``--batch``: provider id, stage, status, items."""
        return self._store.batches_df()

    def entities(self) -> pd.DataFrame:
        """The entity set the run used, with ``meta_<field>`` columns for metadata."""
        return self._store.entities_df()

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _live_status(directory: Path, stored: str) -> str:
    # "running" is written when a run starts and stays if its process is killed outright;
    # the writer lock tells a live run from a dead one.
    if stored == "running" and not run_in_progress(directory):
        return "interrupted"
    return stored


def load_run(directory: str | Path) -> Run:
    return Run(directory)
