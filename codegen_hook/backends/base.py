"""The Backend extension point: one abstract method, `complete`."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

__all__ = ["Backend", "Completion", "CompletionRequest", "Message"]


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass(frozen=True)
class CompletionRequest:
    messages: tuple[Message, ...]
    n: int = 1
    temperature: float = 0.0
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Per-sequence (temperature, seed), one per text wanted; empty: `n` texts at
    # `temperature` with seeds seed, seed+1, ... A batching backend decodes them together.
    schedule: tuple[tuple[float, int | None], ...] = ()
    # The start of the answer, already written (the fence and the stub's signature and
    # docstring): a backend that can continue a started answer decodes only what follows
    # and returns `prefix` + its continuation; one that cannot ignores it and returns
    # whole answers. Either way a text is a whole answer. Saves the decode of the echo.
    prefix: str = ""

    def plan(self) -> list[tuple[float, int | None]]:
        """The (temperature, seed) of each text to produce, in order."""
        if self.schedule:
            return list(self.schedule)
        return [(self.temperature, None if self.seed is None else self.seed + i)
                for i in range(self.n)]


@dataclass
class Completion:
    """What came back: `n` texts (untrusted) and what they cost."""

    texts: list[str]
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)


class Backend(abc.ABC):
    """A model that answers chat requests.

    Capabilities are class attributes; `complete` is the only method to write.
    Backends raise BackendError / BackendUnavailableError, never bare exceptions.
    """

    name: ClassVar[str] = "backend"
    runs_locally: ClassVar[bool] = True
    supports_n: ClassVar[bool] = False

    @abc.abstractmethod
    def complete(self, request: CompletionRequest) -> Completion:
        """Answer `request` with `request.n` candidate texts."""

    def complete_many(self, requests: Sequence[CompletionRequest]) -> list[Completion]:
        """Several independent requests; a backend that can decode them together (the
        embedded llama.cpp one) overrides this. The default answers them in turn."""
        return [self.complete(request) for request in requests]

    def describe(self) -> str:
        return self.name
