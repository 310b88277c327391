"""A scripted backend for tests: answers are enqueued, requests are recorded."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from codegen_hook.backends.base import Backend, Completion, CompletionRequest
from codegen_hook.errors import BackendError

__all__ = ["ScriptedBackend"]


class ScriptedBackend(Backend):
    """Returns enqueued answers in order; an exception enqueued is raised instead."""

    name: ClassVar[str] = "scripted"
    supports_n: ClassVar[bool] = True

    def __init__(self, answers: Iterable[str | Exception] = ()) -> None:
        self.queue: list[str | Exception] = list(answers)
        self.requests: list[CompletionRequest] = []

    def enqueue(self, *answers: str | Exception) -> "ScriptedBackend":
        self.queue.extend(answers)
        return self

    def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        texts = []
        for _ in request.plan():
            if not self.queue:
                raise BackendError("scripted backend ran out of answers; enqueue more "
                                   "in the test")
            answer = self.queue.pop(0)
            if isinstance(answer, Exception):
                raise answer
            texts.append(answer)
        return Completion(texts=texts, model="scripted", completion_tokens=sum(
            len(t.split()) for t in texts))
