"""The run store: SQLite per run, the only writer of run data, with a pandas DataFrame API."""

from harness.store._runs import Run, RunInfo, default_log_dir, find_run, list_runs, load_run
from harness.store._store import CallRecord, RunStore, TrialOutcome, run_in_progress

__all__ = [
    "CallRecord",
    "Run",
    "RunInfo",
    "RunStore",
    "TrialOutcome",
    "default_log_dir",
    "find_run",
    "list_runs",
    "load_run",
    "run_in_progress",
]
