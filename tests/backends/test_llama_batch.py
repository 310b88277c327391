"""LlamaCppBackend decodes the k texts of one request together (llama_batch.generate).

These load the real model (marked `real_model`): one backend for the module, few tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.llama import LlamaCppBackend
from codegen_hook.errors import BackendError

pytestmark = pytest.mark.real_model

MESSAGES = (Message("system", "You are an expert Python programmer."),
            Message("user", "Write a Python function `add(a, b)` that returns their sum."))
SCHEDULE = ((0.0, 0), (0.8, 1), (0.8, 2))


@pytest.fixture(scope="module")
def backend(real_model_path: Path) -> Iterator[LlamaCppBackend]:
    yield LlamaCppBackend(real_model_path, n_ctx=1024)


def ask(backend: LlamaCppBackend, schedule: tuple[tuple[float, int | None], ...],
        max_tokens: int = 32, stop: tuple[str, ...] = ()) -> list[str]:
    request = CompletionRequest(MESSAGES, max_tokens=max_tokens, stop=stop, schedule=schedule)
    return backend.complete(request).texts


def test_a_batch_of_three_gives_three_texts(backend: LlamaCppBackend) -> None:
    done = backend.complete(CompletionRequest(MESSAGES, max_tokens=32, schedule=SCHEDULE))
    assert len(done.texts) == 3 and all(text.strip() for text in done.texts)
    assert done.extra["batch"] == 3
    assert 0 < done.completion_tokens <= 3 * 32
    assert done.prompt_tokens > 10  # the prompt, counted once: it is evaluated once
    assert done.extra["prefill_s"] > 0 and done.extra["decode_s"] > 0
    assert done.seconds >= done.extra["prefill_s"] + done.extra["decode_s"]


def test_greedy_in_a_batch_matches_a_lone_greedy_request(backend: LlamaCppBackend) -> None:
    lone = backend.complete(CompletionRequest(MESSAGES, n=1, max_tokens=32)).texts
    assert len(lone) == 1
    # The same prompt and chain as create_chat_completion: a lone greedy text is its text.
    chat = [{"role": m.role, "content": m.content} for m in MESSAGES]
    reference = backend._load().create_chat_completion(messages=chat, temperature=0.0,
                                                       max_tokens=32)
    assert lone[0] == reference["choices"][0]["message"]["content"]
    # In a batch, llama.cpp picks other matmul/attention kernels; their rounding can tip
    # a near-tie later on (measured on this prompt: none within 32 tokens for k=3).
    assert ask(backend, SCHEDULE)[0] == lone[0]


def test_the_same_seeds_give_the_same_texts(backend: LlamaCppBackend) -> None:
    first = ask(backend, SCHEDULE)
    assert ask(backend, SCHEDULE) == first
    assert len(set(first)) > 1  # sampled texts with their own seeds, not three copies
    stopped = ask(backend, SCHEDULE, stop=("def ",))
    assert all("def " not in text for text in stopped)


def test_k_texts_get_a_shared_buffer_beyond_n_ctx_but_one_text_must_fit_it(
        backend: LlamaCppBackend) -> None:
    texts = ask(backend, SCHEDULE, max_tokens=400)  # prompt + 3 x 400 > n_ctx 1024
    assert len(texts) == 3 and backend._context is not None
    assert backend._context.n_ctx >= 1200
    with pytest.raises(BackendError, match=r"beyond n_ctx 1024; raise n_ctx"):
        ask(backend, SCHEDULE, max_tokens=1020)
    assert len(ask(backend, SCHEDULE[:1], max_tokens=8)) == 1  # the backend still works


def test_two_prompts_decode_as_one_batch_and_repeat(backend: LlamaCppBackend) -> None:
    other = (Message("user", "Write one Python assert line that tests add(2, 3)."),)
    requests = [CompletionRequest(other, max_tokens=24, schedule=((0.0, 7),)),
                CompletionRequest(MESSAGES, max_tokens=24, schedule=SCHEDULE[:2])]
    first = backend.complete_many(requests)
    assert [len(c.texts) for c in first] == [1, 2]
    assert all(text.strip() for c in first for text in c.texts)
    assert first[0].prompt_tokens != first[1].prompt_tokens   # each its own prompt
    assert first[0].extra["prompts_in_batch"] == 2 and first[1].extra["batch"] == 2
    assert [c.texts for c in backend.complete_many(requests)] == [c.texts for c in first]
    assert "add" in first[0].texts[0]


def test_a_prefix_is_continued_and_returned_with_the_text(backend: LlamaCppBackend) -> None:
    prefix = "```python\ndef add(a, b):\n    \"\"\"Return a + b.\"\"\""
    done = backend.complete(CompletionRequest(MESSAGES, max_tokens=24, schedule=SCHEDULE[:2],
                                              prefix=prefix, stop=("\n```",)))
    assert len(done.texts) == 2
    assert all(text.startswith(prefix) for text in done.texts)
    plain = backend.complete(CompletionRequest(MESSAGES, max_tokens=24,
                                               schedule=SCHEDULE[:1]))
    # the prefix is evaluated as part of the prompt, not decoded
    assert done.prompt_tokens > plain.prompt_tokens + 5
    # the greedy continuation writes the body: the prefix ends in the docstring
    assert "return" in done.texts[0][len(prefix):]
