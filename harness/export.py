"""Export a run to Parquet or CSV files (samples per probe, model calls, records per kind, the
entity set the run used, and the batches of a ``--batch`` run)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from harness.errors import ConfigError
from harness.store import RunStore, find_run


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV cannot hold lists or dicts: encode them as JSON text."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].map(lambda v: isinstance(v, list | dict)).any():
            frame[column] = frame[column].map(
                lambda v: json.dumps(v) if isinstance(v, list | dict) else v
            )
    return frame


def export_run(run: str, fmt: str, output: Path | None, log_dir: Path | None) -> list[Path]:
    """Write the export into a temporary folder first and move it into place at the end, so a
    failure never leaves a half-written export."""
    directory = find_run(run, log_dir)
    target = output or directory / "export"
    store = RunStore.open(directory)
    try:
        frames: dict[str, pd.DataFrame] = {
            f"samples_{probe}": store.samples_df(probe) for probe in store.counts()
        }
        frames["calls"] = store.calls_df()
        for kind in store.record_kinds():
            frames[f"records_{kind}"] = store.records_df(kind)
        entities = store.entities_df()
        if not entities.empty:
            frames["entities"] = entities
        if store.has_batches():
            frames["batches"] = store.batches_df()
    finally:
        store.close()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    except OSError as error:
        raise ConfigError(f"cannot write export to {target}: {error.strerror}") from None
    try:
        for name, frame in frames.items():
            if fmt == "parquet":
                frame.to_parquet(staging / f"{name}.parquet", index=False)
            else:
                _flat(frame).to_csv(staging / f"{name}.csv", index=False)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(target.iterdir())
