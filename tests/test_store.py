"""The run store: atomic trial writes, no duplicates, errored trials replaced, DataFrames."""

import pytest

from harness.errors import HarnessError
from harness.store import CallRecord, RunStore, TrialOutcome


def outcome(trial_id: str, status: str = "ok", **data) -> TrialOutcome:
    return TrialOutcome(
        trial_id=trial_id,
        probe="pairwise",
        key={"entity_a": "x", "entity_b": "y", "sample": 0},
        status=status,
        data=data,
        error=None if status == "ok" else "boom",
        calls=[CallRecord(role="subject", model="sim/default", request="{}", response="{}")],
        records=[("attempt", {"n": 1}), ("attempt", {"n": 2})],
    )


def test_completed_trials_are_never_stored_twice(tmp_path) -> None:
    store = RunStore.create(tmp_path / "r", {"run_id": "r", "config": {"model": "sim"}})
    assert store.write([outcome("t1", chosen="x")]) == 1
    assert store.write([outcome("t1", chosen="y")]) == 0
    frame = store.samples_df()
    assert list(frame["chosen"]) == ["x"]
    assert len(store.calls_df()) == 1
    assert list(store.records_df("attempt")["n"]) == [1, 2]


def test_errored_trials_are_replaced_by_their_retry(tmp_path) -> None:
    store = RunStore.create(tmp_path / "r", {"run_id": "r", "config": {}})
    store.write([outcome("t1", status="error")])
    assert store.completed_ids() == set()
    store.write([outcome("t1", chosen="x")])
    assert store.completed_ids() == {"t1"}
    assert len(store.calls_df()) == 1 and len(store.records_df("attempt")) == 2


def test_a_failing_batch_writes_nothing(tmp_path) -> None:
    store = RunStore.create(tmp_path / "r", {"run_id": "r", "config": {}})
    bad = outcome("t2")
    bad.calls.append(CallRecord(role="subject", model="m", request=None))  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - NOT NULL violation from SQLite
        store.write([outcome("t1"), bad])
    assert store.completed_ids() == set()


def test_create_refuses_an_existing_run_and_open_needs_one(tmp_path) -> None:
    RunStore.create(tmp_path / "r", {"run_id": "r"}).close()
    with pytest.raises(HarnessError):
        RunStore.create(tmp_path / "r", {"run_id": "r"})
    with pytest.raises(HarnessError, match="not a run directory"):
        RunStore.open(tmp_path)


def test_one_writer_at_a_time(tmp_path) -> None:
    first = RunStore.create(tmp_path / "run", {"run_id": "run"})
    first.claim()
    first.claim()  # idempotent for its holder
    second = RunStore.open(tmp_path / "run")
    with pytest.raises(HarnessError, match=r"being run by another harness process \(pid \d+\)"):
        second.claim()
    first.close()
    second.claim()
    second.close()


def test_a_run_is_in_progress_only_while_claimed(tmp_path) -> None:
    from harness.store import list_runs, run_in_progress

    store = RunStore.create(tmp_path / "run", {"run_id": "run", "status": "running"})
    assert not run_in_progress(tmp_path / "run")  # no lock file yet
    store.claim()
    assert run_in_progress(tmp_path / "run")
    assert [info.status for info in list_runs(tmp_path)] == ["running"]
    store.close()
    assert not run_in_progress(tmp_path / "run")
    # "running" in the store but no live holder: its process died (e.g. kill -9).
    assert [info.status for info in list_runs(tmp_path)] == ["interrupted"]


def test_entity_metadata_follows_each_entity_column_of_the_samples(tmp_path) -> None:
    entity_set = {
        "id": "s",
        "entities": [
            {
                "id": "x",
                "name": "X",
                "description": "",
                "category": "c",
                "aliases": [],
                "metadata": {"region": "Asia", "size": "small"},
            },
            {
                "id": "y",
                "name": "Y",
                "description": "",
                "category": "c",
                "aliases": ["Why"],
                "metadata": {"region": "Africa"},
            },
        ],
    }
    store = RunStore.create(
        tmp_path / "r", {"run_id": "r", "config": {"model": "sim"}, "entity_set": entity_set}
    )
    store.write([outcome("t1", chosen="x")])
    single = [
        TrialOutcome(
            trial_id=f"b{i}",
            probe="boolq",
            key={"entity": e, "framing": f},
            status="ok",
            data={"correct": True},
        )
        for i, (e, f) in enumerate([("y", "entity"), (None, "neutral")])
    ]
    store.write(single)
    pairwise = store.samples_df("pairwise")
    columns = list(pairwise.columns)
    assert columns[columns.index("entity_a") :][:4] == [
        "entity_a",
        "entity_a_meta_region",
        "entity_a_meta_size",
        "entity_b",
    ]
    row = pairwise.iloc[0]
    assert (row["entity_a_meta_region"], row["entity_a_meta_size"]) == ("Asia", "small")
    assert (row["entity_b_meta_region"], row["entity_b_meta_size"]) == ("Africa", None)
    boolq = store.samples_df("boolq")
    region = boolq["entity_meta_region"]
    assert region[0] == "Africa" and region.isna()[1]  # the neutral control names no entity
    entities = store.entities_df()
    assert list(entities.columns) == [
        "id",
        "name",
        "description",
        "category",
        "aliases",
        "meta_region",
        "meta_size",
    ]
    assert entities["meta_size"][0] == "small" and entities["meta_size"].isna()[1]


def test_runs_without_entity_metadata_get_no_extra_columns(tmp_path) -> None:
    store = RunStore.create(tmp_path / "r", {"run_id": "r", "config": {"model": "sim"}})
    store.write([outcome("t1", chosen="x")])
    assert list(store.samples_df().columns) == [
        "run_id",
        "model",
        "trial_id",
        "probe",
        "status",
        "error",
        "entity_a",
        "entity_b",
        "sample",
        "chosen",
    ]
    assert store.entities_df().empty


def test_reasoning_has_its_own_columns(tmp_path) -> None:
    store = RunStore.create(tmp_path / "r", {"run_id": "r", "config": {}})
    thought = outcome("t1")
    thought.calls = [
        CallRecord(
            role="subject",
            model="openai/o3",
            request="{}",
            response='{"text":"B"}',
            output_tokens=900,
            reasoning="Option A first... Answer: A? No: B.",
            reasoning_tokens=850,
        ),
        CallRecord(role="subject", model="openai/o3", request="{}", response='{"text":"A"}'),
    ]
    store.write([thought])
    calls = store.calls_df()
    assert calls["reasoning"][0] == "Option A first... Answer: A? No: B."
    assert calls["reasoning"].isna()[1]
    assert list(calls["reasoning_tokens"]) == [850, 0]
    assert store.meta()["schema_version"] == "2"


# The calls table as schema version 1 created it, before reasoning was recorded.
_V1_CALLS = """
CREATE TABLE calls (
    trial_id TEXT NOT NULL, idx INTEGER NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL,
    request TEXT NOT NULL, response TEXT, error TEXT, latency REAL, input_tokens INTEGER,
    output_tokens INTEGER, cached INTEGER, PRIMARY KEY (trial_id, idx)
);
INSERT INTO calls VALUES ('old', 0, 'subject', 'sim/default', '{}', '{"text":"A"}', NULL, 0.1,
    12, 3, 0);
"""


def test_a_version_1_store_still_opens_reads_and_resumes(tmp_path) -> None:
    import sqlite3

    directory = tmp_path / "old"
    directory.mkdir()
    db = sqlite3.connect(directory / "run.sqlite")
    db.executescript(_V1_CALLS)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '\"1\"')")
    db.commit()
    db.close()

    store = RunStore.open(directory)
    calls = store.calls_df()
    assert list(calls["trial_id"]) == ["old"]
    assert calls["reasoning"].isna().all() and list(calls["reasoning_tokens"]) == [0]
    resumed = outcome("new")
    resumed.calls[0].reasoning = "thinking"
    store.write([resumed])
    calls = store.calls_df().set_index("trial_id")
    assert calls.loc["new", "reasoning"] == "thinking" and calls["reasoning"].isna()["old"]
    assert store.meta()["schema_version"] == "1"  # a run keeps the version it was made with
