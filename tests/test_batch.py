"""``harness run --batch`` end to end against loopback OpenAI and Anthropic batch servers: the
suites complete, batch answers equal online answers, a kill -9 (or Ctrl-C) while polling is
resumed without a second batch, partial failures are retried, budgets hold."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import Run, list_runs
from tests.batch_servers import BatchServer

MODELS = {"openai": "openai/gpt-4o", "anthropic": "anthropic/claude-sonnet-4-5"}
FAST = ["--limit", "4", "--ranking-samples", "2", "--max-tokens", "64", "--no-progress"]
PAIRWISE, RANKING = 4 * 3, 2


def reply(body: dict) -> str:
    """A deterministic subject: the answer is a function of the whole request body, so a
    batch run and an online run of the same trials get the same answers."""
    text = body["messages"][-1]["content"]
    digest = int(hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(), 16)
    if "Rank all" in text:
        names = re.findall(r"^- (.+?):", text, flags=re.M)
        order = names[digest % len(names) :] + names[: digest % len(names)]
        return "\n".join(f"{n}. {name}" for n, name in enumerate(order, 1))
    if "donat" in text.lower() and "Option A" not in text:
        names = re.findall(
            r"\b(Against Malaria Foundation|Helen Keller Intl|Malaria Consortium|Partners In Health)\b",
            text,
        )
        if digest % 3 == 0 or not names:
            return "I'm sorry, but I can't recommend one organisation over the other."
        return f"I would recommend {names[digest % len(names)]}."
    return "A" if digest % 2 else "B"


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-batch-0123456789abcdef")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-batch-0123456789abcdef")


def point_at(server: BatchServer, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.root)


def run(log_dir: Path, *args: str) -> int:
    return main(["run", *args, "--log-dir", str(log_dir)])


def batch_run(log_dir: Path, model: str, *args: str) -> int:
    return run(log_dir, "--model", model, *FAST, "--batch", "--batch-poll", "0.01", *args)


def resume(log_dir: Path, directory: Path, *args: str) -> int:
    return run(log_dir, "--resume", directory.name, "--batch-poll", "0.01", "--no-progress", *args)


def only_run(log_dir: Path) -> Path:
    (info,) = list_runs(log_dir)
    return info.directory


def samples(directory: Path):
    with Run(directory) as stored:
        frame = stored.samples().drop(columns=["run_id"])
    return frame.sort_values("trial_id").reset_index(drop=True)


def online_run(tmp_path: Path, kind: str, monkeypatch, *args: str) -> Path:
    """The same run without --batch, against a server with the same answers."""
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        log_dir = tmp_path / f"online-{kind}"
        assert run(log_dir, "--model", MODELS[kind], *FAST, "--no-cache", *args) == 0
        assert server.creates == []
        return only_run(log_dir)


def assert_same_as_online(
    directory: Path, tmp_path: Path, kind: str, monkeypatch, *args: str
) -> None:
    """The run's samples equal those of the same run made online, answer for answer."""
    reference = online_run(tmp_path, kind, monkeypatch, *args)
    assert (
        samples(directory)
        .drop(columns=["status"])
        .equals(samples(reference).drop(columns=["status"]))
    )


# -- complete suites -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_batch_run_completes_elicitation_with_the_online_answers(
    tmp_path, keys, monkeypatch, capsys, kind
) -> None:
    log_dir = tmp_path / "batch"
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        code = batch_run(log_dir, MODELS[kind], "--no-cache")
        assert code == 0
        assert len(server.creates) == 1  # pairwise and ranking: one stage, one batch
        assert server.online == []  # every call was answered by the batch
        items = server.items(kind)
    out = capsys.readouterr()
    assert "by batch" in out.out and "1 batch(es) of 14 requests; 14 answered by batch" in out.out
    assert "Ctrl-C leaves them running" in out.err and "14 of 14 first requests" in out.err
    directory = only_run(log_dir)
    online = online_run(tmp_path, kind, monkeypatch)
    batch_samples, online_samples = samples(directory), samples(online)
    assert len(batch_samples) == PAIRWISE + RANKING
    assert batch_samples.drop(columns=["status"]).equals(online_samples.drop(columns=["status"]))
    with Run(directory) as stored, Run(online) as reference:
        calls, reference_calls = stored.calls(), reference.calls()
        assert len(calls) == len(reference_calls) == len(items)
        # The JSONL bodies are the online bodies: same requests, one by one.
        online_bodies = sorted(json.dumps(b, sort_keys=True) for b in _online_bodies(reference))
        assert sorted(json.dumps(b, sort_keys=True) for _, b in items) == online_bodies
        assert all(json.loads(r)["batch"] for r in calls["response"])
        # Billed at the batch price: half the online cost for the same usage.
        assert calls["input_tokens"].sum() == reference_calls["input_tokens"].sum()
        assert calls["cost"].sum() == pytest.approx(reference_calls["cost"].sum() / 2)
        assert stored.meta["spent_usd"] == pytest.approx(calls["cost"].sum())
        (session,) = stored.meta["usage_sessions"]
        assert session[MODELS[kind]]["batch"] == len(items)
        (batch,) = stored.batches().itertuples()
        assert batch.live == 0 and batch.items == len(items)
        assert batch.status == ("completed" if kind == "openai" else "ended")
    assert main(["export", str(directory), "--format", "csv"]) == 0
    exported = (directory / "export" / "batches.csv").read_text().splitlines()
    assert len(exported) == 2 and exported[1].startswith(next(iter(server.batches)))


def _online_bodies(store_run: Run) -> list[dict]:
    """What the online run sent, rebuilt from its stored requests by the provider."""
    from harness.model import ModelRequest, create_provider

    provider = create_provider(store_run.meta["config"]["model"], base_url="http://127.0.0.1:9")
    return [
        provider.build_body(ModelRequest.model_validate_json(r))  # type: ignore[attr-defined]
        for r in store_run.calls()["request"]
    ]


def test_advice_batches_first_attempts_and_asks_refusal_retries_online(
    tmp_path, keys, monkeypatch
) -> None:
    log_dir = tmp_path / "batch"
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        args = ["--suite", "advice", "--max-attempts", "4"]
        assert batch_run(log_dir, "openai/gpt-4o", *args) == 0
        assert len(server.creates) == 2  # elicitation, then donation's first attempts
        donation_items = [b for c, b in server.items("openai") if "Option A" not in json.dumps(b)]
        donation_items = [b for b in donation_items if "Rank all" not in json.dumps(b)]
        online = list(server.online)
    directory = only_run(log_dir)
    with Run(directory) as stored:
        donation = stored.samples("donation")
        attempts = stored.records("attempt")
    assert len(donation) == 12 and (donation["status"] == "ok").all()
    assert len(donation_items) == 12  # one first attempt per query
    # Every later attempt went online, and nothing else did.
    assert len(online) == int((donation["attempts"] - 1).sum()) > 0
    assert len(attempts) == int(donation["attempts"].sum())
    assert_same_as_online(directory, tmp_path, "openai", monkeypatch, *args)


# -- kill -9 and Ctrl-C while polling ----------------------------------------------------------


def _start(kind: str, server: BatchServer, log_dir: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OPENAI_BASE_URL": server.url,
        "ANTHROPIC_BASE_URL": server.root,
    }
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "harness", "run", "--model", MODELS[kind], *FAST),
            *("--no-cache", "--batch", "--batch-poll", "0.02", "--log-dir", str(log_dir)),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_polling(proc: subprocess.Popen, server: BatchServer, polls: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if server.creates and len(server.polls) >= polls:
            return
        time.sleep(0.01)
    raise AssertionError(
        f"the run never polled (exit {proc.poll()}): {proc.stderr.read() if proc.stderr else ''}"
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_kill_9_while_polling_resumes_the_same_batch(tmp_path, keys, monkeypatch, kind) -> None:
    log_dir = tmp_path / "killed"
    with BatchServer(reply) as server:
        server.hold()  # every batch stays in progress until released
        proc = _start(kind, server, log_dir)
        _wait_polling(proc, server, polls=4)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        directory = only_run(log_dir)
        with sqlite3.connect(directory / "run.sqlite") as db:
            ((batch_id, live),) = db.execute("SELECT batch_id, live FROM batches").fetchall()
            items = db.execute(
                "SELECT COUNT(*) FROM batch_items WHERE state='submitted'"
            ).fetchone()[0]
            assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0
        assert live == 1 and items == PAIRWISE + RANKING
        assert list(server.batches) == [batch_id]
        polls_before = len(server.polls)

        server.release()
        point_at(server, monkeypatch)
        # Resumed without --batch: the live batch is collected all the same (it is paid for).
        assert resume(log_dir, directory) == 0
        assert len(server.creates) == 1  # no second batch for the same items
        assert set(server.polls[polls_before:]) == {batch_id}  # polling the same batch
        assert server.online == []
    with Run(directory) as stored:
        assert stored.meta["status"] == "complete"
        assert stored.samples()["trial_id"].is_unique
    assert_same_as_online(directory, tmp_path, kind, monkeypatch)


def test_ctrl_c_while_polling_leaves_the_batch_running_and_says_so(
    tmp_path, keys, monkeypatch
) -> None:
    log_dir = tmp_path / "interrupted"
    with BatchServer(reply) as server:
        server.hold()
        proc = _start("openai", server, log_dir)
        _wait_polling(proc, server, polls=3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert "left running at the provider" in err and "--resume" in err
        directory = only_run(log_dir)
        with Run(directory) as stored:
            assert stored.meta["status"] == "interrupted"
        server.release()
        point_at(server, monkeypatch)
        assert resume(log_dir, directory, "--batch") == 0
        assert len(server.creates) == 1 and server.online == []
    assert len(samples(directory)) == PAIRWISE + RANKING


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_kill_9_while_the_batch_is_being_created_finds_it_on_resume(
    tmp_path, keys, monkeypatch, kind
) -> None:
    log_dir = tmp_path / "killed"
    with BatchServer(reply) as server:
        server.hold_creates()  # the provider creates the batch; its answer never arrives
        proc = _start(kind, server, log_dir)
        deadline = time.monotonic() + 60
        while not server.creates and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        directory = only_run(log_dir)
        with sqlite3.connect(directory / "run.sqlite") as db:
            ((submission, status),) = db.execute("SELECT batch_id, status FROM batches").fetchall()
        assert status == "creating" and submission.startswith("harness-")
        server.release_creates()
        point_at(server, monkeypatch)
        assert resume(log_dir, directory, "--batch") == 0
        assert len(server.creates) == 1  # found, not created again
        (batch_id,) = server.batches
        with sqlite3.connect(directory / "run.sqlite") as db:
            assert db.execute("SELECT batch_id FROM batches").fetchall() == [(batch_id,)]
        assert server.online == []
    assert len(samples(directory)) == PAIRWISE + RANKING


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_lost_create_answer_is_not_retried_into_a_second_batch(
    tmp_path, keys, monkeypatch, kind
) -> None:
    with BatchServer(reply) as server:
        server.lose_creates = 1
        point_at(server, monkeypatch)
        assert batch_run(tmp_path / "runs", MODELS[kind], "--no-cache") == 0
        assert len(server.creates) == 1 and len(server.batches) == 1
        assert server.online == []
    assert len(samples(only_run(tmp_path / "runs"))) == PAIRWISE + RANKING


# -- partial failures --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_failed_items_are_retried_in_a_new_batch_then_online(
    tmp_path, keys, monkeypatch, kind
) -> None:
    fates: dict[str, list[str]] = {}

    def outcome(custom_id: str, body: dict, attempt: int) -> str:
        # Items by their order of first submission: a server error once (then fine), expired
        # twice (out of batch attempts), rejected (never worth another batch).
        if custom_id not in fates:
            n = len(fates)
            fates[custom_id] = (
                ["server_error", "ok"]
                if n in (0, 5)
                else ["expired", "expired"]
                if n == 1
                else ["invalid"]
                if n == 2
                else ["ok"]
            )
        plan = fates[custom_id]
        return plan[min(attempt, len(plan)) - 1]

    log_dir = tmp_path / "retry"
    with BatchServer(reply, outcome=outcome) as server:
        point_at(server, monkeypatch)
        code = batch_run(log_dir, MODELS[kind], "--no-cache")
        assert code == 0
        first, second = (list(b["items"]) for b in server.batches.values())
        ids = list(fates)
        assert [c for c, _ in first] == ids
        # The second batch holds exactly the items worth retrying.
        assert sorted(c for c, _ in second) == sorted([ids[0], ids[5], ids[1]])
        assert len(server.creates) == 2
        # The twice-expired and the rejected item went online: their bodies, once each.
        online = sorted(json.dumps(b, sort_keys=True) for b in server.online)
        bodies = dict(first)
        assert online == sorted(json.dumps(bodies[c], sort_keys=True) for c in (ids[1], ids[2]))
    directory = only_run(log_dir)
    with Run(directory) as stored:
        assert stored.meta["status"] == "complete"
        assert (stored.samples()["status"] == "ok").all()
        calls = stored.calls()
        by_batch = calls["response"].map(lambda r: json.loads(r).get("batch", False))
        assert int(by_batch.sum()) == PAIRWISE + RANKING - 2
        (session,) = stored.meta["usage_sessions"]
        assert session[MODELS[kind]]["batch"] == PAIRWISE + RANKING - 2
        assert session[MODELS[kind]]["calls"] == PAIRWISE + RANKING
    assert_same_as_online(directory, tmp_path, kind, monkeypatch)


def test_large_stages_are_split_into_batches_within_the_provider_limits(
    tmp_path, keys, monkeypatch
) -> None:
    from harness.model.providers.anthropic_batch import AnthropicBatchAPI
    from harness.model.providers.openai_batch import OpenAIBatchAPI

    monkeypatch.setattr(OpenAIBatchAPI, "max_requests", 5)
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        assert batch_run(tmp_path / "o", MODELS["openai"]) == 0
        assert [len(b["items"]) for b in server.batches.values()] == [5, 5, 4]
        assert [c["metadata"]["harness_part"] for c in server.creates] == ["1/3", "2/3", "3/3"]
    monkeypatch.setattr(AnthropicBatchAPI, "max_bytes", 2000)
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        assert batch_run(tmp_path / "a", MODELS["anthropic"], "--no-cache") == 0
        sizes = [len(b["items"]) for b in server.batches.values()]
        assert sum(sizes) == PAIRWISE + RANKING and len(sizes) > 2
        for create in server.creates:
            assert (
                sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in create["requests"])
                <= 2000
                or len(create["requests"]) == 1
            )
    assert len(samples(only_run(tmp_path / "a"))) == PAIRWISE + RANKING


def test_the_response_cache_answers_before_a_batch_is_paid_for(
    tmp_path, keys, monkeypatch, capsys
) -> None:
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        assert run(tmp_path / "first", "--model", MODELS["openai"], *FAST) == 0  # online, cached
        assert batch_run(tmp_path / "second", MODELS["openai"]) == 0
        assert server.creates == []  # everything came from the cache
        assert len(server.online) == PAIRWISE + RANKING
    assert "0 of 14 first requests answered by batch; 14 by the response cache" in (
        capsys.readouterr().err
    )


# -- budgets -----------------------------------------------------------------------------------


def test_a_budget_cap_submits_only_what_fits_at_the_batch_price(
    tmp_path, keys, monkeypatch, capsys
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai/gpt-4o: {input_per_mtok: 1000.0, output_per_mtok: 1000.0}\n")
    common = [
        "--model",
        MODELS["openai"],
        *FAST,
        "--no-cache",
        "--prices",
        str(prices),
        "--batch-poll",
        "0.01",
    ]
    log_dir = tmp_path / "capped"
    with BatchServer(reply, prompt_tokens=100) as server:
        point_at(server, monkeypatch)
        assert run(log_dir, *common, "--batch", "--max-cost", "0.5") == 0
        err = capsys.readouterr().err
        assert "fit the budget at the batch price" in err
        (first,) = server.batches.values()
        submitted = len(first["items"])
        assert 0 < submitted < PAIRWISE + RANKING
        directory = only_run(log_dir)
        with Run(directory) as stored:
            assert stored.meta["status"] == "budget-exhausted"
            spent = stored.meta["spent_usd"]
            reserved = sum(
                r
                for (r,) in sqlite3.connect(directory / "run.sqlite").execute(
                    "SELECT reserved FROM batch_items"
                )
            )
        # Reservations at the batch price fit the cap, and so does what was spent (answers
        # shorter than their reservation leave room for an online call or two, no more).
        assert reserved <= 0.5 and spent <= 0.5
        asked_online = len(server.online)
        with Run(directory) as stored:
            assert len(stored.samples()) == submitted + asked_online

        assert (
            run(log_dir, "--resume", directory.name, *common[-4:], "--batch", "--max-cost", "50")
            == 0
        )
        second = list(server.batches.values())[1]
        done_first = {c for c, _ in first["items"]}
        assert {c for c, _ in second["items"]}.isdisjoint(done_first)  # nothing asked twice
        assert submitted + asked_online + len(second["items"]) == PAIRWISE + RANKING
    with Run(directory) as stored:
        assert stored.meta["status"] == "complete"
        assert (
            len(stored.samples()) == PAIRWISE + RANKING and stored.samples()["trial_id"].is_unique
        )
        assert stored.meta["spent_usd"] == pytest.approx(stored.calls()["cost"].sum())


# -- usage and preview -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch"], "--batch: sim has no batch API"),
        (
            [
                "--batch",
                "--model",
                "openai-compatible/llama3",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ],
            "openai-compatible/llama3 has no batch API",
        ),
        (["--batch", "--model", "openai/gpt-4o,sim"], "--batch: sim has no batch API"),
        (["--batch", "--dry-run"], "--batch: sim has no batch API"),
        (["--batch-poll", "0"], "--batch-poll must be a positive number"),
    ],
)
def test_bad_batch_usage_is_one_line_and_writes_nothing(
    tmp_path, keys, capsys, args, message
) -> None:
    log_dir = tmp_path / "runs"
    assert run(log_dir, *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not log_dir.exists() or not any(log_dir.iterdir())


def test_dry_run_prices_batched_first_calls_at_the_discount(tmp_path, capsys) -> None:
    from harness.config import RunConfig
    from harness.engine import RunSettings
    from harness.preview import preview_study
    from harness.study import model_specs

    config = RunConfig(suite="advice", model="openai/gpt-4o", limit=6, max_tokens=100)
    specs = model_specs(["openai/gpt-4o"], {})
    (full,) = preview_study(config, specs, RunSettings())
    (batched,) = preview_study(config, specs, RunSettings(batch=True))
    by_stage = {s.stage: s for s in full.stages}
    for stage in batched.stages:
        online = by_stage[stage.stage]
        assert stage.calls == online.calls and stage.input_tokens == online.input_tokens
        assert "by batch at 50 % off" in stage.basis
    pairwise = next(s for s in batched.stages if s.stage == "pairwise")
    assert pairwise.cost.expected == pytest.approx(by_stage["pairwise"].cost.expected / 2)
    donation = next(s for s in batched.stages if s.stage == "donation")
    # Only the first attempt is batched: the saving is half of one call per query.
    first_calls = by_stage["donation"].cost.low  # every query valid at once: first calls only
    assert donation.cost.expected == pytest.approx(
        by_stage["donation"].cost.expected - first_calls / 2
    )
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--model",
                "anthropic/claude-sonnet-4-5",
                "--dry-run",
                "--batch",
            ]
        )
        == 0
    )
    assert "by batch at 50 % off" in capsys.readouterr().out


def test_an_adaptive_design_batches_each_round(tmp_path, keys, monkeypatch) -> None:
    active = ["--pair-strategy", "active", "--limit", "10", "--pair-rounds", "3"]
    log_dir = tmp_path / "active"
    with BatchServer(reply) as server:
        point_at(server, monkeypatch)
        assert batch_run(log_dir, MODELS["openai"], "--no-cache", *active) == 0
        batches = list(server.batches.values())
        assert server.online == []  # every round's questions came by batch
    directory = only_run(log_dir)
    with Run(directory) as stored:
        rounds = stored.meta["pairwise_design"]["rounds"]
        pairwise = stored.samples("pairwise")
    assert len(rounds) > 1 and len(batches) == len(rounds)
    # Round 0 goes with the rankings (one stage); each later round is a batch of its own.
    sizes = [len(b["items"]) for b in batches]
    assert sum(sizes) == len(pairwise) + RANKING
    assert sizes[1:] == [len(r["questions"]) for r in rounds[1:]]
    assert_same_as_online(directory, tmp_path, "openai", monkeypatch, *active)
