"""The generate stage: what each round asks the backend for, and the texts it gets.

Round 1 asks for `candidates` texts of the stub's prompt (one greedy, the rest sampled)
and, apart from the code, the model's own tests of the stub; a later round asks for a
repair of the best failing candidate and `resample` fresh samples of the first prompt.
Every ask of a round goes to the backend in ONE call, so a batching backend (the
embedded llama.cpp) decodes them together. Seeds come from settings.seed and the
round, so a run can be repeated. What comes back is untrusted text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from codegen_hook.backends.base import Backend, CompletionRequest, Message
from codegen_hook.config import Settings
from codegen_hook.pipeline.candidate import Candidate, Origin
from codegen_hook.pipeline.prompts import alternative_messages

__all__ = ["STOP", "Ask", "Generated", "TestsAsk", "budget_spent", "first_asks", "generate",
           "later_asks"]

# Both prompts ask for one fenced block: what follows its closing fence is chatter
# that costs decode time (the extractor copes with the fence cut off).
STOP = ("\n```\n",)
TESTS_TOKENS = 384       # the model's tests: ten assert lines fit
REPAIR_CANDIDATES = 2    # texts per repair round (one greedy, one sampled), in one batch
Schedule = tuple[tuple[float, int | None], ...]   # (temperature, seed) per text


@dataclass(frozen=True)
class Ask:
    """One prompt of a round and the texts wanted of it."""

    origin: Origin
    messages: tuple[Message, ...]
    schedule: Schedule


@dataclass(frozen=True)
class TestsAsk:
    """The request for the model's own tests (never shown beside its code)."""

    __test__ = False  # not a pytest class

    messages: tuple[Message, ...]
    prefix: str


@dataclass(frozen=True)
class Generated:
    """A round's new candidates (indices from the fill's count so far) and the
    model's tests text ("" when none were asked)."""

    candidates: tuple[Candidate, ...]
    tests_text: str
    seconds: float
    completion_tokens: int
    prompt_tokens: int
    tests_tokens: int


def _schedule(settings: Settings, round_no: int, n: int, offset: int = 0) -> Schedule:
    """One greedy text, the rest sampled; `offset` keeps an ask's seeds apart."""
    seed = settings.seed + 1000 * round_no + offset
    return tuple((settings.temperature if i == 0 else settings.sample_temperature, seed + i)
                 for i in range(n))


def first_asks(settings: Settings, base: Sequence[Message]) -> list[Ask]:
    return [Ask("first", tuple(base), _schedule(settings, 1, settings.candidates))]


def later_asks(settings: Settings, round_no: int, base: Sequence[Message],
               repair: Sequence[Message] | None, alternative: bool = False) -> list[Ask]:
    """A repair of the best failing candidate (if anything failed that it could
    address), and `resample` fresh samples of the first prompt beside it: for small
    models, new samples find right programs about as often as repairs do (Olausson et
    al. 2023, "Is Self-Repair a Silver Bullet?"), and they can also supply the second,
    agreeing candidate that `verified` needs. `alternative`: the passing candidates are
    copies of too few programs to agree (a one-liner sampled eight times is one
    program), so `alternatives` texts ask for the same function written another way."""
    asks: list[Ask] = []
    if repair is not None:
        asks.append(Ask("repair", tuple(repair), _schedule(
            settings, round_no, min(REPAIR_CANDIDATES, settings.candidates))))
    if alternative and settings.alternatives and settings.candidates > 1:
        asks.append(Ask("alternative", tuple(alternative_messages(list(base))),
                        _schedule(settings, round_no, settings.alternatives, offset=700)))
    fresh = settings.resample if settings.candidates > 1 else 0
    if fresh:
        seed = settings.seed + 1000 * round_no + 500   # apart from the repairs' seeds
        asks.append(Ask("resample", tuple(base), tuple(
            (settings.sample_temperature, seed + i) for i in range(fresh))))
    return asks


def _request(settings: Settings, messages: Sequence[Message], schedule: Schedule,
             max_tokens: int, prefix: str) -> CompletionRequest:
    return CompletionRequest(
        tuple(messages), n=len(schedule), temperature=schedule[0][0],
        max_tokens=max_tokens, seed=schedule[0][1], schedule=schedule,
        stop=STOP, prefix=prefix if settings.answer_prefix else "")


def generate(backend: Backend, settings: Settings, asks: Sequence[Ask], prefix: str, *,
             round_no: int, first_index: int, tests: TestsAsk | None = None) -> Generated:
    """The texts of every ask, and the model's tests when `tests` asks for them, in
    one backend call. Raises the backend's CodegenHookError (a reason for the fill)."""
    requests = [_request(settings, a.messages, a.schedule, settings.max_tokens, prefix)
                for a in asks]
    if tests is not None:
        requests.insert(0, _request(settings, tests.messages, ((0.0, settings.seed),),
                                    min(settings.max_tokens, TESTS_TOKENS), tests.prefix))
    start = time.perf_counter()
    completions = backend.complete_many(requests)
    seconds = time.perf_counter() - start
    tests_text, tests_tokens = "", 0
    if tests is not None:
        tests_text = (completions[0].texts or [""])[0]
        tests_tokens = completions[0].completion_tokens
    made: list[Candidate] = []
    for ask, completion in zip(asks, completions[1:] if tests is not None else completions):
        made += [Candidate(round_no, first_index + len(made) + i, temperature, seed,
                           ask.origin, answer=text)
                 for i, ((temperature, seed), text)
                 in enumerate(zip(ask.schedule, completion.texts))]
    return Generated(tuple(made), tests_text, seconds,
                     sum(c.completion_tokens for c in completions),
                     sum(c.prompt_tokens for c in completions), tests_tokens)


def budget_spent(settings: Settings, repair_tokens: float, started: float) -> str:
    """Why no further round may start ("" while the repair budget lasts)."""
    if repair_tokens >= settings.repair_budget_tokens:
        return (f"the repair budget of {settings.repair_budget_tokens} tokens is "
                "spent (setting repair_budget_tokens)")
    if time.perf_counter() - started >= settings.repair_budget_seconds:
        return (f"the repair budget of {settings.repair_budget_seconds:g} s is spent "
                "(setting repair_budget_seconds)")
    return ""
