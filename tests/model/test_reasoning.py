"""Reasoning kept apart from the answer: the ``<think>`` splitter, the cache, accounting."""

from __future__ import annotations

import pytest

from harness.model import (
    Accountant,
    AccountedModel,
    CachedModel,
    ChatMessage,
    GenerateConfig,
    ModelRequest,
    ModelResponse,
    Price,
    ResponseCache,
    ToolCall,
    Usage,
    cache_key,
)
from harness.model._reasoning import split_thinking


@pytest.mark.parametrize(
    ("raw", "answer", "thinking"),
    [
        ("B", "B", None),
        ("Final answer: **Yes**", "Final answer: **Yes**", None),
        # DeepSeek-R1 style on a server without a reasoning parser.
        (
            "<think>\nOption A is larger, so Answer: A? No.\n</think>\n\nB",
            "B",
            "Option A is larger, so Answer: A? No.",
        ),
        ("<THINK>loud</THINK> A", "A", "loud"),
        ("<thinking>Weigh both.</thinking>\n\n1. Oxfam\n2. WWF", "1. Oxfam\n2. WWF", "Weigh both."),
        # Qwen3: the template opened the tag in the prompt; only the closing one comes back.
        ("The passage says no.\n</think>\n\nNo", "No", "The passage says no."),
        # Cut off by max_tokens while thinking: no answer at all, not the half-thought.
        ("<think>Yes seems right because", "", "Yes seems right because"),
        ("Sure.<think>hidden", "Sure.", "hidden"),
        # Several blocks, and text between them.
        ("<think>one</think>Let me check.<think>two</think>\nA", "Let me check.\nA", "one\n\ntwo"),
        # An empty block (thinking switched off by /no_think) leaves the answer alone.
        ("<think>\n\n</think>\n\nNo", "No", None),
        # A stray second closing tag is dropped from the answer.
        ("a</think>B</think>", "B", "a"),
    ],
)
def test_split_thinking(raw: str, answer: str, thinking: str | None) -> None:
    assert split_thinking(raw) == (answer, thinking)


def test_text_without_tags_is_returned_unchanged() -> None:
    text = "  I'd pick Oxfam.\n"
    assert split_thinking(text)[0] is text


async def test_cached_responses_keep_reasoning_and_blocks(tmp_path) -> None:
    class Once:
        name = "test/once"

        def __init__(self) -> None:
            self.calls = 0

        async def generate(self, request: ModelRequest) -> ModelResponse:
            self.calls += 1
            return ModelResponse(
                text="B",
                reasoning="A looks good. Answer: A. But B is better.",
                reasoning_blocks=[{"type": "thinking", "thinking": "x", "signature": "sig=="}],
                usage=Usage(input_tokens=10, output_tokens=50, reasoning_tokens=40),
            )

        async def aclose(self) -> None:
            pass

    inner = Once()
    model = CachedModel(inner, ResponseCache(tmp_path / "c.sqlite"), "e")
    question = ModelRequest(messages=[ChatMessage(role="user", content="A or B?")])
    first = await model.generate(question)
    hit = await model.generate(question)
    assert inner.calls == 1 and hit.cached
    assert hit.text == "B"
    assert hit.reasoning == first.reasoning
    assert hit.reasoning_blocks == first.reasoning_blocks
    assert hit.usage == first.usage


def test_cache_keys_of_conversations_without_reasoning_blocks_are_unchanged() -> None:
    # The key this request had before reasoning blocks existed: old cache entries still hit.
    request = ModelRequest(
        messages=[
            ChatMessage(role="user", content="Which charity?"),
            ChatMessage(
                role="assistant",
                tool_calls=[ToolCall(id="c1", name="bash", arguments={"command": "ls"})],
            ),
            ChatMessage(role="tool", tool_call_id="c1", content="a.txt"),
        ],
        system="Be brief.",
        config=GenerateConfig(temperature=1.0, max_tokens=64, seed=7),
        epoch=2,
    )
    key = cache_key("openai/gpt-4o", "openai|", request)
    assert key == "374a3eb2bcf646944f754185592e154b8d4eb8fbc3fdc49d4403ae8372a9e512"
    request.messages[1].reasoning_blocks = [{"type": "thinking", "thinking": "t", "signature": "s"}]
    assert cache_key("openai/gpt-4o", "openai|", request) != key


async def test_accounting_counts_reasoning_tokens_once_at_the_output_price() -> None:
    class Reasoner:
        name = "test/reasoner"

        async def generate(self, request: ModelRequest) -> ModelResponse:
            return ModelResponse(
                text="B", usage=Usage(input_tokens=1000, output_tokens=900, reasoning_tokens=800)
            )

        async def aclose(self) -> None:
            pass

    accountant = Accountant({"test/reasoner": Price(input_per_mtok=2.0, output_per_mtok=8.0)})
    model = AccountedModel(Reasoner(), accountant)
    await model.generate(ModelRequest(messages=[ChatMessage(role="user", content="?")]))
    await model.generate(ModelRequest(messages=[ChatMessage(role="user", content="?")]))
    totals = accountant.totals["test/reasoner"]
    assert totals.usage == Usage(input_tokens=2000, output_tokens=1800, reasoning_tokens=1600)
    assert totals.cost == pytest.approx((2000 * 2.0 + 1800 * 8.0) / 1e6)


def test_thinking_never_reaches_a_parser_and_is_stored_apart(tmp_path, chat_server) -> None:
    """A reasoning model on an OpenAI-compatible server whose thinking says "Answer: A" (or
    ranks the other way round) while its answer says B: every stored sample is the answer's,
    and the call records hold the thinking, its tokens and its cost on their own."""
    import itertools
    import json
    import re

    from harness.cli import main
    from harness.store import Run, list_runs

    shapes = itertools.cycle(("field", "tags", "closing-only"))

    def reply(body: dict) -> dict:
        prompt = body["messages"][-1]["content"]
        if 'respond with only "A" or "B"' in prompt:
            thought, answer = "Option A is the obvious pick. Answer: A", "B"
        else:
            names = re.findall(r"^- (.+?):", prompt, flags=re.M)
            answer = "\n".join(f"{i}. {n}" for i, n in enumerate(names, 1))
            thought = "\n".join(f"{i}. {n}" for i, n in enumerate(reversed(names), 1))
        shape = next(shapes)
        if shape == "field":
            return {"role": "assistant", "content": answer, "reasoning_content": thought}
        if shape == "tags":
            return {"role": "assistant", "content": f"<think>\n{thought}\n</think>\n\n{answer}"}
        return {"role": "assistant", "content": f"{thought}\n</think>\n\n{answer}"}

    chat_server.reply = reply
    chat_server.usage = {
        "completion_tokens": 250,
        "total_tokens": 261,
        "completion_tokens_details": {"reasoning_tokens": 240},
    }
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai-compatible/qwen3: {input_per_mtok: 1.0, output_per_mtok: 4.0}\n")
    code = main(
        [
            "run",
            "--suite",
            "elicitation",
            "--model",
            "openai-compatible/qwen3",
            "--base-url",
            chat_server.url,
            "--limit",
            "3",
            "--ranking-samples",
            "2",
            "--prices",
            str(prices),
            "--no-cache",
            "--no-progress",
            "--log-dir",
            str(tmp_path / "runs"),
        ]
    )
    assert code == 0
    (info,) = list_runs(tmp_path / "runs")
    with Run(info.directory) as run:
        pairwise, ranking, calls = run.samples("pairwise"), run.samples("ranking"), run.calls()
        sessions = run.meta["usage_sessions"]
    assert len(pairwise) == 6 and (pairwise["choice"] == "B").all()
    assert (pairwise["text"] == "B").all()
    for _, sample in ranking.iterrows():
        # The answer ranks the list as shown; the thinking ranked it the other way round.
        assert sample["parse"] == "ok" and list(sample["ranking"]) == list(sample["shown"])
        assert "</think>" not in sample["text"]
    # Each call: the thinking in its own column, not in the stored response.
    assert len(calls) == 8 and calls["reasoning"].notna().all()
    pairwise_calls = calls[calls["reasoning"].str.contains("Answer: A")]
    assert len(pairwise_calls) == 6
    assert not calls["response"].str.contains("obvious pick").any()
    assert all(json.loads(r)["text"] == "B" for r in pairwise_calls["response"])
    assert (calls["reasoning_tokens"] == 240).all() and (calls["output_tokens"] == 250).all()
    (totals,) = sessions[0].values()
    assert totals["reasoning_tokens"] == 8 * 240 and totals["output_tokens"] == 8 * 250
    assert totals["cost_usd"] == pytest.approx((8 * 11 * 1.0 + 8 * 250 * 4.0) / 1e6)
