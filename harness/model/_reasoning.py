"""Split reasoning a model wrote into its answer text (``<think>`` tags) off that answer.

Open models served without a reasoning parser (vLLM, Ollama, llama.cpp, DeepSeek-R1 and
Qwen3 distils) return their thinking inside the message text. Three shapes occur:

- ``<think>…</think>answer``: the ordinary case (``<thinking>`` is used by some too);
- ``<think>…`` with no closing tag: generation was cut off (``max_tokens``) while thinking,
  so there is no answer at all;
- ``…</think>answer`` with no opening tag: chat templates that put ``<think>`` into the
  prompt (Qwen3, DeepSeek-R1) make the server return only the closing tag.

Whatever is not thinking is the answer; the thinking is returned separately so it can be
stored with the call and never reaches a parser.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"<(/?)think(?:ing)?>", re.IGNORECASE)


def split_thinking(text: str) -> tuple[str, str | None]:
    """``(answer, thinking)``: ``text`` without its ``<think>`` sections, and those sections.

    ``thinking`` is ``None`` when the text has no think tags; then ``answer`` is ``text``
    unchanged. Otherwise the answer is stripped of surrounding whitespace.
    """
    first = _TAG.search(text)
    if first is None:
        return text, None
    answer: list[str] = []
    thinking: list[str] = []
    position = 0
    if first.group(1):
        # A closing tag before any opening one: the opening tag was part of the prompt,
        # so everything up to it is thinking.
        thinking.append(text[: first.start()])
        position = first.end()
    while True:
        opening = _next_tag(text, position, closing=False)
        if opening is None:
            answer.append(text[position:])
            break
        answer.append(text[position : opening.start()])
        closing = _next_tag(text, opening.end(), closing=True)
        if closing is None:
            # Cut off while thinking: the rest of the text is thinking, there is no answer.
            thinking.append(text[opening.end() :])
            break
        thinking.append(text[opening.end() : closing.start()])
        position = closing.end()
    # A stray closing tag left inside the answer (a second one) is noise, not an answer.
    answer_text = _TAG.sub("", "".join(answer)).strip()
    return answer_text, join_reasoning(*thinking)


def _next_tag(text: str, start: int, *, closing: bool) -> re.Match[str] | None:
    for match in _TAG.finditer(text, start):
        if bool(match.group(1)) == closing:
            return match
    return None


def join_reasoning(*parts: str | None) -> str | None:
    """The non-empty parts, stripped, one paragraph each; ``None`` when there are none."""
    kept = [part.strip() for part in parts if part and part.strip()]
    return "\n\n".join(kept) if kept else None
