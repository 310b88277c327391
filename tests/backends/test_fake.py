"""ScriptedBackend: answers enqueued in order, exceptions raised, requests recorded."""

from __future__ import annotations

import pytest

from codegen_hook.backends.base import Backend, CompletionRequest, Message
from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.errors import BackendError, BackendUnavailableError


def request(n: int = 1) -> CompletionRequest:
    return CompletionRequest((Message("user", "fill it"),), n=n)


def test_answers_come_back_in_order() -> None:
    backend = ScriptedBackend(["first"])
    assert backend.enqueue("second", "third") is backend
    assert backend.complete(request()).texts == ["first"]
    assert backend.complete(request()).texts == ["second"]
    assert backend.complete(request()).texts == ["third"]
    assert backend.queue == []


def test_n_answers_for_one_request() -> None:
    backend = ScriptedBackend().enqueue("a b", "c", "d e f", "left over")
    completion = backend.complete(request(n=3))
    assert completion.texts == ["a b", "c", "d e f"]
    assert completion.model == "scripted"
    assert completion.completion_tokens == 6  # words, as a stand-in for tokens
    assert backend.queue == ["left over"]
    assert backend.supports_n is True
    assert isinstance(backend, Backend)


def test_enqueued_exception_is_raised() -> None:
    backend = ScriptedBackend().enqueue(BackendUnavailableError("server down"), "after")
    with pytest.raises(BackendUnavailableError, match="server down"):
        backend.complete(request())
    assert backend.complete(request()).texts == ["after"]


def test_exception_in_the_middle_of_n_is_raised() -> None:
    backend = ScriptedBackend().enqueue("ok", BackendError("broke"), "never")
    with pytest.raises(BackendError, match="broke"):
        backend.complete(request(n=3))
    assert backend.queue == ["never"]


def test_empty_queue_is_backend_error() -> None:
    backend = ScriptedBackend()
    with pytest.raises(BackendError, match="ran out of answers"):
        backend.complete(request())
    backend.enqueue("one")
    with pytest.raises(BackendError, match="ran out of answers"):
        backend.complete(request(n=2))


def test_requests_are_recorded() -> None:
    backend = ScriptedBackend().enqueue("x", "y", "z")
    first, second = request(), CompletionRequest((Message("system", "s"),), n=2, seed=4)
    backend.complete(first)
    backend.complete(second)
    assert backend.requests == [first, second]
    assert backend.requests[1].seed == 4


def test_a_failed_request_is_still_recorded() -> None:
    backend = ScriptedBackend()
    req = request()
    with pytest.raises(BackendError):
        backend.complete(req)
    assert backend.requests == [req]
