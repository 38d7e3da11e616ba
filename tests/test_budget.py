"""Prices, token counts, spending caps and the cost preview, down to the wire."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math

import pytest

from harness.cli import main
from harness.model import (
    Budget,
    BudgetExhausted,
    ChatMessage,
    GenerateConfig,
    MeteredModel,
    ModelRequest,
    ModelResponse,
    Price,
    Usage,
    builtin_prices,
    price_table,
    token_counter,
)
from harness.model._tokens import _encoding
from harness.store import Run, list_runs
from tests.conftest import ChatServer


class Answering:
    """A model that answers after ``delay`` with fixed usage; counts calls and concurrency."""

    name = "openai/gpt-4o"

    def __init__(self, usage: Usage, delay: float = 0.0):
        self.usage = usage
        self.delay = delay
        self.calls = 0
        self.in_flight = 0
        self.peak = 0

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return ModelResponse(text="A", usage=self.usage)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


def request(text: str = "Which one?", max_tokens: int | None = 10) -> ModelRequest:
    return ModelRequest(
        messages=[ChatMessage(role="user", content=text)],
        config=GenerateConfig(max_tokens=max_tokens),
    )


# -- prices --------------------------------------------------------------------------------


def test_builtin_prices_are_dated_and_snapshots_bill_as_their_model(tmp_path) -> None:
    table = builtin_prices()
    assert table.as_of and "as of" in table.source
    assert table.get("openai/gpt-4o") == Price(2.5, 10.0, 0.5)
    assert table.get("anthropic/claude-sonnet-4-5-20250929") == table.get(
        "anthropic/claude-sonnet-4-5"
    )
    assert table.get("openai/gpt-4o-2024-08-06") == table.get("openai/gpt-4o")
    assert table.get("openai-compatible/llama3") is None
    assert table.get("sim/default") == Price(0.0, 0.0)
    override = tmp_path / "prices.yaml"
    override.write_text(
        "openai/gpt-4o: {input_per_mtok: 1.0, output_per_mtok: 2.0, batch_discount: 0.25}\n"
        "openai-compatible/llama3: {input_per_mtok: 0.1, output_per_mtok: 0.2}\n"
    )
    merged = price_table(override)
    assert merged.get("openai/gpt-4o") == Price(1.0, 2.0, 0.25)
    assert merged.get("openai-compatible/llama3") == Price(0.1, 0.2, 0.5)
    assert merged.get("anthropic/claude-sonnet-4-5") == table.get("anthropic/claude-sonnet-4-5")


def test_batch_calls_cost_the_discounted_price() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000)
    price = Price(2.5, 10.0)
    assert price.cost(usage) == pytest.approx(3.5)
    assert price.cost(usage, batch=True) == pytest.approx(1.75)


# -- token counting --------------------------------------------------------------------------


def test_openai_tokens_are_counted_by_tiktoken_offline() -> None:
    counter = token_counter("openai/gpt-4o")
    assert counter.method == "tiktoken o200k_base"
    encoding = _encoding("o200k_base")
    assert encoding is not None
    text = 'Please respond with only "A" or "B". Médecins Sans Frontières — \'MSF\'.'
    assert counter.count_text(text) == len(encoding.encode(text))
    # Well-known o200k_base ids: the file is tiktoken's own (its hash is checked on load).
    assert encoding.encode("hello world") == [24912, 2375]
    assert token_counter("openai/gpt-4").encoding == "cl100k_base"
    assert token_counter("openai/o3-mini").encoding == "o200k_base"
    chat = request("hello world")
    assert counter.count_request(chat) == 2 + 3 + 3  # text, one message, reply priming


def test_other_providers_say_their_count_is_an_approximation() -> None:
    anthropic = token_counter("anthropic/claude-sonnet-4-5")
    assert "approximate" in anthropic.method
    openai = token_counter("openai/gpt-4o")
    text = "word " * 200
    assert anthropic.count_text(text) == round(openai.count_text(text) * 1.15)


# -- budgets ---------------------------------------------------------------------------------


def test_a_budget_refuses_a_call_that_could_pass_its_cap_or_its_parents() -> None:
    study = Budget(1.0, label="study")
    run = Budget(0.8, parent=study, label="model run")
    run.reserve(0.5)
    with pytest.raises(BudgetExhausted, match=r"model run budget of \$0.80"):
        run.reserve(0.4)  # 0.5 + 0.4 > 0.8
    run.settle(0.5, 0.6)  # the call cost more than reserved
    assert (run.spent, run.reserved, study.spent) == (pytest.approx(0.6), 0.0, pytest.approx(0.6))
    other = Budget(None, parent=study, label="other run")
    assert other.capped
    with pytest.raises(BudgetExhausted, match=r"study budget of \$1.00"):
        other.reserve(0.5)
    other.reserve(0.4)


async def test_metered_model_prices_responses_and_stops_before_the_cap() -> None:
    price = Price(input_per_mtok=1_000.0, output_per_mtok=1_000.0)  # $0.001 a token
    inner = Answering(Usage(input_tokens=20, output_tokens=10))
    budget = Budget(0.1)
    model = MeteredModel(inner, price, budget)
    responses = []
    with pytest.raises(BudgetExhausted):
        for _ in range(20):
            responses.append(await model.generate(request(max_tokens=10)))
    assert all(r.cost == pytest.approx(0.03) for r in responses)
    # Each call reserves its counted input plus 10 output tokens; it is issued only while
    # spent + that reservation fits, and nothing runs past the cap.
    assert budget.spent == pytest.approx(0.03 * inner.calls)
    assert budget.spent <= 0.1
    assert inner.calls == len(responses) == 3


async def test_spend_passes_the_cap_only_by_what_calls_in_flight_cost() -> None:
    # The server reports far more input than the request holds (a long system prompt the
    # counter could not see), so reservations underestimate; concurrency 8.
    price = Price(input_per_mtok=1_000.0, output_per_mtok=0.0)
    inner = Answering(Usage(input_tokens=500, output_tokens=1), delay=0.01)
    budget = Budget(2.0)
    model = MeteredModel(inner, price, budget)
    semaphore = asyncio.Semaphore(8)

    async def one() -> None:
        async with semaphore:
            with contextlib.suppress(BudgetExhausted):
                await model.generate(request(max_tokens=1))

    await asyncio.gather(*(one() for _ in range(200)))
    per_call = 0.5
    assert budget.spent > 2.0  # reservations underestimated, so the cap was passed ...
    assert budget.spent <= 2.0 + inner.peak * per_call  # ... by no more than was in flight
    assert inner.calls < 200 and budget.exhausted


async def test_an_unpriced_model_is_passed_through_untouched() -> None:
    inner = Answering(Usage(input_tokens=5, output_tokens=5))
    response = await MeteredModel(inner, None, Budget(0.0)).generate(request())
    assert response.cost is None


# -- end to end against a loopback server ------------------------------------------------------


def test_max_cost_stops_a_run_and_a_resume_with_a_higher_cap_completes(tmp_path, capsys) -> None:
    prices = tmp_path / "prices.yaml"
    # $1 per 1k input tokens; the server reports 1,000 input tokens a call: $1.00 a call
    # (plus a millionth of a cent of output), far above what the request's own text counts.
    prices.write_text("openai-compatible/priced: {input_per_mtok: 1000.0, output_per_mtok: 1.0}\n")
    log_dir = tmp_path / "runs"
    common = [
        "--prices",
        str(prices),
        "--no-progress",
        "--max-connections",
        "3",
        "--log-dir",
        str(log_dir),
    ]
    with ChatServer(reply="A", prompt_tokens=1000) as server:
        code = main(
            [
                "run",
                "--suite",
                "elicitation",
                "--model",
                "openai-compatible/priced",
                "--base-url",
                server.url,
                "--limit",
                "8",
                "--ranking-samples",
                "2",
                "--max-tokens",
                "5",
                "--max-cost",
                "20",
                "--no-cache",
                *common,
            ]
        )
        first = len(server.requests)
        assert code == 0
        captured = capsys.readouterr()
        out = captured.out
        assert "budget-exhausted" in out and "--max-cost" in out
        # Before spending, the preview's estimate was announced with the cap.
        assert "openai-compatible/priced: expected cost about $" in captured.err
        assert "--max-cost $20.00" in captured.err
        (info,) = list_runs(log_dir)
        with Run(info.directory) as run:
            assert run.meta["status"] == "budget-exhausted"
            spent = run.meta["spent_usd"]
            stored = len(run.samples())
        per_call = 1000 * 1000.0 / 1e6 + 1 * 1.0 / 1e6
        # Spend is what the responses reported, call by call ...
        assert spent == pytest.approx(first * per_call)
        # ... and it passes the cap only by calls that were in flight (3 connections).
        assert 20 - per_call < spent <= 20 + 3 * per_call
        assert stored == first  # one call per trial; every finished trial is stored
        assert stored < 8 * 7 + 2

        code = main(["run", "--resume", info.directory.name, "--max-cost", "200", *common])
        assert code == 0
        assert len(server.requests) == 8 * 7 + 2  # no trial was asked twice
    with Run(info.directory) as run:
        assert run.meta["status"] == "complete"
        samples = run.samples()
        assert len(samples) == 8 * 7 + 2 and samples["trial_id"].is_unique
        assert run.meta["spent_usd"] == pytest.approx((8 * 7 + 2) * per_call)
        calls = run.calls()
        assert calls["cost"].sum() == pytest.approx((8 * 7 + 2) * per_call)


def test_a_cap_without_a_price_is_refused_up_front(tmp_path, capsys, chat_server) -> None:
    code = main(
        [
            "run",
            "--model",
            "openai-compatible/unpriced",
            "--base-url",
            chat_server.url,
            "--max-cost",
            "5",
            "--limit",
            "3",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "--max-cost needs a price for openai-compatible/unpriced" in err
    assert chat_server.requests == []


def test_each_refusal_attempt_is_a_fresh_sample_not_a_cache_replay(tmp_path, chat_server) -> None:
    """Attempts of one query used to send identical requests, so the response cache (and a
    seeded provider) replayed the first answer for every later attempt."""
    chat_server.reply = "I'm sorry, but I can't recommend one organisation over the other."
    code = main(
        [
            "run",
            "--suite",
            "advice",
            "--model",
            "openai-compatible/refuser",
            "--base-url",
            chat_server.url,
            "--limit",
            "2",
            "--ranking-samples",
            "1",
            "--max-attempts",
            "3",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 0
    donation = [r for r in chat_server.requests if "donate" in json.dumps(r).lower()]
    assert len(donation) == 2 * 3  # two ordered queries, three real attempts each
    seeds = [r["seed"] for r in donation]
    assert len(set(seeds)) == 6


# -- the cost preview -------------------------------------------------------------------------


def test_dry_run_prints_calls_tokens_and_cost_per_stage_and_sends_nothing(
    tmp_path, capsys, monkeypatch
) -> None:
    with ChatServer() as server:
        # Even with keys and endpoints set, a preview must not touch them.
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.root)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-preview")
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-preview")
        code = main(
            [
                "run",
                "--suite",
                "advice",
                "--model",
                "openai/gpt-4o,anthropic/claude-sonnet-4-5",
                "--max-tokens",
                "400",
                "--dry-run",
                "--log-dir",
                str(tmp_path / "runs"),
            ]
        )
        assert server.requests == []
    assert code == 0
    assert not (tmp_path / "runs").exists()
    out = capsys.readouterr().out
    assert "no model was called" in out
    assert "openai/gpt-4o  (tiktoken o200k_base)" in out
    assert "anthropic/claude-sonnet-4-5  (approximate" in out
    for stage, trials in (("pairwise", "5,112"), ("ranking", "10"), ("donation", "5,112")):
        rows = [line for line in out.splitlines() if line.startswith(f"│ {stage} ")]
        assert len(rows) == 2, (stage, out)
        assert all(trials in row and "$" in row for row in rows)
    assert "study total: $" in out
    assert "assumed 1.3" in out  # the attempt assumption is stated


def test_dry_run_counts_the_rendered_prompts_and_prices_them(tmp_path) -> None:
    """The preview's pairwise figures equal a hand count of the same rendered requests."""
    from harness.config import RunConfig
    from harness.engine import RunSettings
    from harness.preview import preview_study
    from harness.probes import create_probe
    from harness.study import model_specs

    config = RunConfig(suite="elicitation", model="openai/gpt-4o", limit=5, max_tokens=50)
    (preview,) = preview_study(config, model_specs(["openai/gpt-4o"], {}), RunSettings())
    pairwise = next(s for s in preview.stages if s.stage == "pairwise")
    assert pairwise.trials == 5 * 4
    assert pairwise.calls.expected == pairwise.calls.most == 20

    from harness.engine import prepare
    from harness.entities import EntityMatcher, load_entity_set
    from harness.probes import RunContext

    prepared = prepare(config, need_keys=False).config
    entities = load_entity_set("default")
    run = RunContext("x", prepared, entities, EntityMatcher(entities), {}, None, preview=True)  # type: ignore[arg-type]
    probe = create_probe("pairwise", prepared)
    counter = token_counter("openai/gpt-4o")
    counted = sum(
        counter.count_request(call.request)
        for trial in probe.plan(run)
        for call in probe.preview(trial, run)
    )
    assert pairwise.input_tokens.expected == pytest.approx(counted)
    assert pairwise.output_tokens.most == 20 * 50
    expected_cost = (counted * 2.5 + 20 * 40 * 10.0) / 1e6
    assert pairwise.cost is not None
    assert pairwise.cost.expected == pytest.approx(expected_cost)
    assert math.isclose(pairwise.cost.most, (counted * 2.5 + 20 * 50 * 10.0) / 1e6)


def test_dry_run_with_a_pilot_uses_its_attempts_and_answer_lengths(tmp_path, capsys) -> None:
    log_dir = tmp_path / "runs"
    assert (
        main(
            [
                "run",
                "--suite",
                "advice",
                "--limit",
                "6",
                "--ranking-samples",
                "1",
                "--no-progress",
                "--log-dir",
                str(log_dir),
                "-M",
                "refusal_base=0",
            ]
        )
        == 0
    )
    (pilot,) = list_runs(log_dir)
    with Run(pilot.directory) as run:
        donation = run.samples("donation")
        mean_attempts = donation["attempts"].mean()
    assert mean_attempts > 1.2  # the pilot refuses often
    capsys.readouterr()
    code = main(
        [
            "run",
            "--suite",
            "advice",
            "--model",
            "openai/gpt-4o",
            "--limit",
            "10",
            "--dry-run",
            "--pilot",
            str(pilot.directory),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"pilot: {mean_attempts:.2f} calls per trial" in out
    assert f"from pilot run {pilot.run_id}" in out
