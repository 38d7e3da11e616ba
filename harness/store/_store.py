"""The run store: one SQLite database per run directory, the only writer of run data.

Layout of ``runs/<run-id>/run.sqlite`` (WAL):

- ``meta``: the run's configuration, its hash, package versions, status, and the entity set
  the run used (``entity_set``: every entity with its metadata).
- ``samples``: one row per completed trial (primary key: the trial's content id), so a
  resumed run can never store a trial twice.
- ``calls``: every model call of a trial (request, response, usage, latency, error), with
  the model's reasoning in a column of its own, apart from the answer.
- ``records``: sub-rows of a trial, by kind (e.g. each refusal attempt, agent transcript steps).
- ``spend``: an append-only ledger of what each trial's calls cost (US dollars), written with
  the trial; never deleted when an errored trial is re-run or a trial is cut short by a budget
  cap, so the money spent in every session of a run can be summed for its budget.
- ``batches`` and ``batch_items`` (``--batch``): every batch submitted to a provider's batch
  API (its id, recorded right after creation and before any polling; its last status), and
  each of its items: custom id, request key, trial, the budget reserved for it, its state
  (``submitted``, then ``succeeded`` or ``failed``, and ``used`` once its trial is stored) and
  the downloaded result. A killed run resumes polling the same batches instead of paying twice.

A trial's sample, calls and records are written in one transaction: after a crash a trial is
either wholly in the store or absent (and re-run on resume).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import ConfigError, HarnessError

DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
SCHEMA_VERSION = "2"
"""2 added ``calls.reasoning`` and ``calls.reasoning_tokens``. A version-1 store gains the
two (nullable) columns when it is opened, so old runs still open, resume and export."""

ENTITY_COLUMNS = ("entity", "entity_a", "entity_b")
"""Sample columns that hold an entity id; each gets the entity's metadata next to it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    trial_id TEXT PRIMARY KEY,
    probe TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    key TEXT NOT NULL,
    data TEXT NOT NULL,
    started REAL,
    completed REAL
);
CREATE TABLE IF NOT EXISTS calls (
    trial_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    role TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    response TEXT,
    error TEXT,
    latency REAL,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cached INTEGER,
    cost REAL,
    reasoning TEXT,
    reasoning_tokens INTEGER,
    PRIMARY KEY (trial_id, idx)
);
CREATE TABLE IF NOT EXISTS spend (
    trial_id TEXT NOT NULL,
    model TEXT NOT NULL,
    cost REAL NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    stage TEXT NOT NULL,
    status TEXT NOT NULL,
    live INTEGER NOT NULL,
    items INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    ended REAL
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch_id TEXT NOT NULL,
    custom_id TEXT NOT NULL,
    request_key TEXT NOT NULL,
    trial_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reserved REAL NOT NULL DEFAULT 0,
    result TEXT,
    error TEXT,
    retry INTEGER,
    PRIMARY KEY (batch_id, custom_id)
);
CREATE INDEX IF NOT EXISTS batch_items_trial ON batch_items (trial_id);
CREATE TABLE IF NOT EXISTS records (
    trial_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    idx INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (trial_id, kind, idx)
);
"""


@dataclass
class CallRecord:
    """One model call made for a trial."""

    role: str
    model: str
    request: str
    """The request as JSON (already redacted: requests never carry keys)."""
    response: str | None = None
    error: str | None = None
    latency: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached: bool = False
    cost: float | None = None
    """US dollars, from the reported usage (None when the model has no price)."""
    reasoning: str | None = None
    """The model's thinking (``ModelResponse.reasoning``). Stored here only: ``response``
    holds the rest of the response, without it."""
    reasoning_tokens: int = 0
    """The part of ``output_tokens`` spent on reasoning, as the provider reported it."""


_CALL_COLUMNS = (
    "trial_id",
    "idx",
    "role",
    "model",
    "request",
    "response",
    "error",
    "latency",
    "input_tokens",
    "output_tokens",
    "cached",
    "cost",
    "reasoning",
    "reasoning_tokens",
)
_ADDED_CALL_COLUMNS = {"cost": "REAL", "reasoning": "TEXT", "reasoning_tokens": "INTEGER"}
"""Columns newer than schema version 1, added to older stores when they are opened."""


@dataclass
class TrialOutcome:
    """Everything a finished trial writes, committed together."""

    trial_id: str
    probe: str
    key: dict[str, Any]
    status: str  # "ok" or "error"
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    calls: list[CallRecord] = field(default_factory=list)
    records: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    started: float = 0.0
    completed: float = 0.0
    keep: bool = True
    """False for a trial cut short (by a budget cap): only its spend is written, so it is
    absent from the samples and runs again on resume."""

    @property
    def spend(self) -> dict[str, float]:
        """What this trial's calls cost, by model (cache hits cost nothing)."""
        totals: dict[str, float] = {}
        for call in self.calls:
            if call.cost and not call.cached:
                totals[call.model] = totals.get(call.model, 0.0) + call.cost
        return totals


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)


def run_in_progress(directory: Path) -> bool:
    """True while a process holds the run's writer lock (see :meth:`RunStore.claim`)."""
    path = directory / LOCK_NAME
    if not path.is_file():
        return False
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


class RunStore:
    """Read and write one run's database. Open with :meth:`create` or :meth:`open`."""

    def __init__(self, directory: Path, db: sqlite3.Connection):
        self.directory = directory
        self._db = db
        self._lock: Any = None
        # Whether any batch item may await its trial; writes skip the bookkeeping otherwise.
        self._batched = db.execute("SELECT 1 FROM batch_items LIMIT 1").fetchone() is not None

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, meta: dict[str, Any]) -> RunStore:
        """Create a new run directory. Fails if it already holds a run."""
        try:
            directory.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            raise HarnessError(f"run directory {directory} already exists") from None
        except OSError as error:
            raise ConfigError(
                f"cannot create run directory {directory}: {error.strerror}"
            ) from None
        store = cls(directory, cls._connect(directory / DB_NAME))
        with store._db:
            store._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(k, _dumps(v)) for k, v in {**meta, "schema_version": SCHEMA_VERSION}.items()],
            )
        return store

    @classmethod
    def open(cls, directory: Path) -> RunStore:
        path = directory / DB_NAME
        if not path.is_file():
            raise HarnessError(f"{directory} is not a run directory (no {DB_NAME})")
        return cls(directory, cls._connect(path))

    @classmethod
    def read_meta(cls, directory: Path) -> dict[str, Any]:
        """A run's metadata, read and closed again (for looking runs up, not running them)."""
        store = cls.open(directory)
        try:
            return store.meta()
        finally:
            store.close()

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process kill (-9); only an OS crash can lose the last
        # commits, and a lost trial is simply re-run on resume.
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        present = {row[1] for row in db.execute("PRAGMA table_info(calls)")}
        for column, kind in _ADDED_CALL_COLUMNS.items():
            if column not in present:
                # Additive and instant in SQLite: existing rows read NULL, nothing is rewritten.
                # A store that cannot be written (an archived copy) is still read: calls_df
                # fills the column in.
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")
        return db

    def claim(self) -> None:
        """Take the run's writer lock, held until :meth:`close` (or the process ends).

        One process runs a run at a time: a second ``--resume`` of a run that is still
        running would repeat its model calls and collide on its writes. The kernel drops
        the lock when its holder dies, so a run killed with ``kill -9`` can be resumed.
        """
        if self._lock is not None:
            return
        handle = open(self.directory / LOCK_NAME, "a+")  # noqa: SIM115 (held until close)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise HarnessError(
                f"run {self.directory.name} is being run by another harness process "
                f"(pid {holder}); wait for it to finish or stop it, then resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()  # closing the descriptor releases the lock
            self._lock = None

    # -- metadata --------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def set_meta(self, **values: Any) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [(k, _dumps(v)) for k, v in values.items()],
            )

    # -- writing ---------------------------------------------------------------------------
    def write(self, outcomes: Iterable[TrialOutcome]) -> int:
        """Commit finished trials in one transaction. A trial that already completed OK is
        never overwritten; an errored one is replaced by its retry."""
        written = 0
        db = self._db
        db.execute("BEGIN")
        try:
            for o in outcomes:
                db.executemany(
                    "INSERT INTO spend VALUES (?,?,?,?)",
                    [(o.trial_id, m, cost, o.completed) for m, cost in o.spend.items()],
                )
                if self._batched:
                    # The trial has had its batch answer (its cost is in the spend above): a
                    # re-run of it must not be given the same answer, or bill it, again.
                    db.execute(
                        "UPDATE batch_items SET state='used' WHERE trial_id=? AND state='succeeded'",
                        (o.trial_id,),
                    )
                if not o.keep:
                    continue
                existing = db.execute(
                    "SELECT status FROM samples WHERE trial_id=?", (o.trial_id,)
                ).fetchone()
                if existing is not None:
                    if existing[0] == "ok":
                        continue
                    for table in ("samples", "calls", "records"):
                        db.execute(f"DELETE FROM {table} WHERE trial_id=?", (o.trial_id,))
                db.execute(
                    "INSERT INTO samples VALUES (?,?,?,?,?,?,?,?)",
                    (
                        o.trial_id,
                        o.probe,
                        o.status,
                        o.error,
                        _dumps(o.key),
                        _dumps(o.data),
                        o.started,
                        o.completed,
                    ),
                )
                db.executemany(
                    f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) "
                    f"VALUES ({','.join('?' * len(_CALL_COLUMNS))})",
                    [
                        (
                            o.trial_id,
                            i,
                            c.role,
                            c.model,
                            c.request,
                            c.response,
                            c.error,
                            c.latency,
                            c.input_tokens,
                            c.output_tokens,
                            int(c.cached),
                            c.cost,
                            c.reasoning,
                            c.reasoning_tokens,
                        )
                        for i, c in enumerate(o.calls)
                    ],
                )
                counters: dict[str, int] = {}
                rows = []
                for kind, record in o.records:
                    idx = counters.get(kind, 0)
                    counters[kind] = idx + 1
                    rows.append((o.trial_id, kind, idx, _dumps(record)))
                db.executemany("INSERT INTO records VALUES (?,?,?,?)", rows)
                written += 1
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return written

    # -- batches ---------------------------------------------------------------------------
    def begin_batch(
        self, submission: str, model: str, stage: str, items: Iterable[tuple[str, str, str, float]]
    ) -> None:
        """A batch about to be submitted, under its submission tag (status ``creating``),
        with its items (custom id, request key, trial id, budget reserved), in one
        transaction: a process killed while the provider creates it finds it again on resume
        (:meth:`confirm_batch`) instead of paying for it twice."""
        rows = [(submission, c, k, t, "submitted", r) for c, k, t, r in items]
        with self._db:
            self._db.execute(
                "INSERT INTO batches (batch_id, model, stage, status, live, items, created) "
                "VALUES (?,?,?,'creating',1,?,?)",
                (submission, model, stage, len(rows), time.time()),
            )
            self._db.executemany(
                "INSERT INTO batch_items (batch_id, custom_id, request_key, trial_id, state, "
                "reserved) VALUES (?,?,?,?,?,?)",
                rows,
            )
        self._batched = True

    def confirm_batch(self, submission: str, batch_id: str) -> None:
        """The provider created the batch of ``submission``: it goes by its real id now."""
        with self._db:
            self._db.execute(
                "UPDATE batches SET batch_id=?, status='submitted' WHERE batch_id=?",
                (batch_id, submission),
            )
            self._db.execute(
                "UPDATE batch_items SET batch_id=? WHERE batch_id=?", (batch_id, submission)
            )

    def abandon_batch(self, submission: str) -> None:
        """A submission the provider never created: forget it (its requests may go again)."""
        with self._db:
            self._db.execute("DELETE FROM batch_items WHERE batch_id=?", (submission,))
            self._db.execute("DELETE FROM batches WHERE batch_id=?", (submission,))

    def update_batch(self, batch_id: str, status: str, done: int, failed: int) -> None:
        with self._db:
            self._db.execute(
                "UPDATE batches SET status=?, done=?, failed=? WHERE batch_id=?",
                (status, done, failed, batch_id),
            )

    def finish_batch(
        self,
        batch_id: str,
        status: str,
        results: Iterable[tuple[str, str, str | None, str | None, bool]],
        missing: str,
    ) -> None:
        """A batch has ended and its results are downloaded: (custom id, state, result JSON,
        error, retry) per item; items with no result fail with ``missing`` (they never ran, and
        may in another batch). One transaction, so a kill leaves the batch live (and polled
        again) or fully recorded."""
        with self._db:
            self._db.executemany(
                "UPDATE batch_items SET state=?, result=?, error=?, retry=? "
                "WHERE batch_id=? AND custom_id=? AND state='submitted'",
                [(st, res, err, int(retry), batch_id, c) for c, st, res, err, retry in results],
            )
            self._db.execute(
                "UPDATE batch_items SET state='failed', error=?, retry=1 "
                "WHERE batch_id=? AND state='submitted'",
                (missing, batch_id),
            )
            self._db.execute(
                "UPDATE batches SET status=?, live=0, ended=? WHERE batch_id=?",
                (status, time.time(), batch_id),
            )

    def fail_batch_item(self, batch_id: str, custom_id: str, error: str) -> None:
        """A downloaded answer the provider's parser rejected: tried again like a failure."""
        with self._db:
            self._db.execute(
                "UPDATE batch_items SET state='failed', error=?, retry=1 "
                "WHERE batch_id=? AND custom_id=?",
                (error, batch_id, custom_id),
            )

    def live_batches(self) -> list[dict[str, Any]]:
        cursor = self._db.execute(
            "SELECT batch_id, model, stage, status, items, done, failed, created FROM batches "
            "WHERE live=1 ORDER BY created"
        )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def batch_items(self) -> list[dict[str, Any]]:
        """Every batch item of the run, oldest batch first."""
        cursor = self._db.execute(
            "SELECT i.batch_id, i.custom_id, i.request_key, i.trial_id, i.state, i.reserved, "
            "i.result, i.error, i.retry, b.live FROM batch_items i "
            "JOIN batches b USING (batch_id) ORDER BY b.created, i.rowid"
        )
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def has_batches(self) -> bool:
        return self._batched

    def batch_summary(self) -> dict[str, int]:
        """Over every session: batches, items submitted, requests answered by batch, failed
        items, and requests that went online after their batches failed them."""
        batches = self._db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        items, answered, failed = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(state IN ('succeeded', 'used')), 0), "
            "COALESCE(SUM(state = 'failed'), 0) FROM batch_items"
        ).fetchone()
        online = self._db.execute(
            "SELECT COUNT(*) FROM (SELECT request_key FROM batch_items GROUP BY request_key "
            "HAVING SUM(state != 'failed') = 0)"
        ).fetchone()[0]
        return {
            "batches": batches,
            "items": items,
            "answered": answered,
            "failed": failed,
            "online": online,
        }

    def batches_df(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM batches ORDER BY created", self._db)

    # -- reading ---------------------------------------------------------------------------
    def completed_ids(self) -> set[str]:
        return {
            row[0] for row in self._db.execute("SELECT trial_id FROM samples WHERE status='ok'")
        }

    def spent(self, model: str | None = None) -> float:
        """US dollars spent on this run's calls in every session (from the spend ledger)."""
        query, params = "SELECT COALESCE(SUM(cost), 0) FROM spend", ()
        if model is not None:
            query, params = query + " WHERE model=?", (model,)
        return float(self._db.execute(query, params).fetchone()[0])

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for probe, status, n in self._db.execute(
            "SELECT probe, status, COUNT(*) FROM samples GROUP BY probe, status"
        ):
            out.setdefault(probe, {})[status] = n
        return out

    def iter_samples(self, probe: str | None = None) -> Iterator[dict[str, Any]]:
        query = "SELECT trial_id, probe, status, error, key, data FROM samples"
        params: tuple[Any, ...] = ()
        if probe is not None:
            query += " WHERE probe=?"
            params = (probe,)
        for trial_id, probe_name, status, error, key, data in self._db.execute(
            query + " ORDER BY rowid", params
        ):
            yield {
                "trial_id": trial_id,
                "probe": probe_name,
                "status": status,
                "error": error,
                **json.loads(key),
                **json.loads(data),
            }

    def samples_df(self, probe: str | None = None) -> pd.DataFrame:
        """One row per trial: its key fields (entities, order, template, sample...) and result.

        When the run's entities carry metadata (extra columns of a user entity file), every
        entity column (``entity``, ``entity_a``, ``entity_b``) is followed by one column per
        metadata field, ``<column>_meta_<field>`` (e.g. ``entity_a_meta_region``), empty where
        the entity has no value or the row no entity.
        """
        frame = pd.DataFrame(list(self.iter_samples(probe)))
        if not frame.empty:
            meta = self.meta()
            frame.insert(0, "run_id", meta.get("run_id"))
            frame.insert(1, "model", meta.get("config", {}).get("model"))
            frame = _with_entity_metadata(frame, meta.get("entity_set") or {})
        return frame

    def entities_df(self) -> pd.DataFrame:
        """The run's entity set, one row per entity: id, name, description, category, aliases
        and ``meta_<field>`` per metadata field. Empty for runs made before sets were stored."""
        entities = (self.meta().get("entity_set") or {}).get("entities", [])
        fields = _metadata_fields(entities)
        rows = [
            {
                **{k: e[k] for k in ("id", "name", "description", "category", "aliases")},
                **{f"meta_{f}": e.get("metadata", {}).get(f) for f in fields},
            }
            for e in entities
        ]
        return pd.DataFrame(rows)

    def record_kinds(self) -> list[str]:
        return [
            row[0] for row in self._db.execute("SELECT DISTINCT kind FROM records ORDER BY kind")
        ]

    def records_df(self, kind: str) -> pd.DataFrame:
        rows = [
            {"trial_id": t, "idx": i, **json.loads(d)}
            for t, i, d in self._db.execute(
                "SELECT trial_id, idx, data FROM records WHERE kind=? ORDER BY trial_id, idx",
                (kind,),
            )
        ]
        return pd.DataFrame(rows)

    def calls_df(self) -> pd.DataFrame:
        present = {row[1] for row in self._db.execute("PRAGMA table_info(calls)")}
        frame = pd.read_sql_query(
            f"SELECT {', '.join(c for c in _CALL_COLUMNS if c in present)} FROM calls "
            "ORDER BY trial_id, idx",
            self._db,
        )
        for column in _CALL_COLUMNS:
            if column not in frame:
                frame[column] = None
        # Calls stored before reasoning was recorded read NULL: they reported none.
        frame["reasoning_tokens"] = frame["reasoning_tokens"].fillna(0).astype(int)
        return frame[list(_CALL_COLUMNS)]


def _metadata_fields(entities: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(f for e in entities for f in e.get("metadata", {})))


def _with_entity_metadata(frame: pd.DataFrame, entity_set: dict[str, Any]) -> pd.DataFrame:
    entities = entity_set.get("entities", [])
    fields = _metadata_fields(entities)
    if not fields:
        return frame
    metadata = {e["id"]: e.get("metadata", {}) for e in entities}
    parts: list[pd.DataFrame | pd.Series] = []
    for column in frame.columns:
        parts.append(frame[column])
        if column in ENTITY_COLUMNS:
            ids = frame[column]
            for f in fields:
                values = ids.map(lambda i, f=f: metadata.get(i, {}).get(f))  # type: ignore[misc]
                parts.append(values.rename(f"{column}_meta_{f}"))
    return pd.concat(parts, axis=1)
