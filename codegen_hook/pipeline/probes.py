"""Probe inputs: calls varied from the tests' own calls, with no expected value.

Candidates that pass the same tests can still be different programs; run on inputs
nobody wrote an answer for, they show it. Each probe is one literal argument of an
existing test's call changed in one small way (a list reversed or with an element
repeated, a string doubled or reversed, an int moved by one, a flag flipped...), so
it stays close to inputs the spec speaks of. Nothing here evaluates anything: the
calls are built as text from `ast.literal_eval`'d literals and run in the sandbox,
where only what each candidate returned is recorded, never a pass or a fail
(spec.SpecTest with origin "probe", weight 0). `verified` needs candidates that agree
on the probes too (fill.py), which is what lifts its precision.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from codegen_hook.pipeline.generated import call_key
from codegen_hook.pipeline.spec import SpecTest

__all__ = ["probe_tests"]

_MAX_REPR = 200        # a probe's call stays short: no huge literals
_MAX_MAGNITUDE = 10**6


def _call_parts(call: str, name: str) -> tuple[list[Any], list[tuple[str, Any]]] | None:
    """The literal positional and keyword arguments of `name(...)`, or None."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == name):
        return None
    try:
        args = [ast.literal_eval(a) for a in node.args]
        kwargs = [(k.arg, ast.literal_eval(k.value)) for k in node.keywords
                  if k.arg is not None]
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    if len(kwargs) != len(node.keywords):   # a **mapping: not a literal call
        return None
    return args, kwargs


def _int_variants(v: int) -> Iterator[Any]:
    yield v + 1
    yield v - 1
    yield 0
    yield -v


def _str_variants(v: str) -> Iterator[Any]:
    yield v[::-1]
    yield v + v
    yield v[: len(v) // 2]
    yield v.swapcase()
    yield ""


def _seq_variants(v: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    kind: Callable[[Any], Any] = type(v)
    yield kind(reversed(v))
    if v:
        yield kind([*v, v[0]])
        yield kind(v[1:])
        yield kind(v[:1])
    yield kind([])


def _variants(value: Any) -> Iterator[Any]:
    """Small changes of one literal, the likeliest to stay valid input first."""
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield from _int_variants(value)
    elif isinstance(value, float):
        yield value + 0.5
        yield -value
        yield 0.0
    elif isinstance(value, str):
        yield from _str_variants(value)
    elif isinstance(value, (list, tuple)):
        yield from _seq_variants(value)
    elif isinstance(value, dict) and value:
        first = next(iter(value))
        yield {k: v for k, v in value.items() if k != first}


def _too_big(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return abs(value) > _MAX_MAGNITUDE
    if isinstance(value, (list, tuple, set)):
        return any(_too_big(x) for x in value)
    if isinstance(value, dict):
        return any(_too_big(k) or _too_big(v) for k, v in value.items())
    return False


def _render(name: str, args: Sequence[Any], kwargs: Sequence[tuple[str, Any]]) -> str:
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs]
    return f"{name}({', '.join(parts)})"


def probe_tests(tests: Sequence[SpecTest], name: str, limit: int) -> list[SpecTest]:
    """Up to `limit` probe calls of `name`, varied from the calls `tests` make, none
    equal to one of them. Deterministic: the same tests give the same probes. The
    variations are taken round-robin over the tests' calls and their arguments, so
    the probes spread over every example rather than exhausting the first."""
    if limit <= 0:
        return []
    seen: set[str] = set()
    queues: list[Iterator[str]] = []
    for test in tests:
        parts = _call_parts(test.call, name)
        if parts is None:
            continue
        seen.add(call_key(_render(name, *parts)))
        queues.append(_varied_calls(name, *parts))
    probes: list[SpecTest] = []
    while queues and len(probes) < limit:
        for queue in list(queues):
            call = next(queue, None)
            if call is None:
                queues.remove(queue)
                continue
            key = call_key(call)
            if key in seen:
                continue
            seen.add(key)
            probes.append(SpecTest(call, "", "probe", kind="probe"))
            if len(probes) == limit:
                break
    return probes


def _varied_calls(name: str, args: list[Any],
                  kwargs: list[tuple[str, Any]]) -> Iterator[str]:
    """Calls with one argument changed, the arguments taken in turn for each kind of
    change (first change of every argument, then the second, ...)."""
    options = [list(_variants(v)) for v in [*args, *(v for _, v in kwargs)]]
    for turn in range(max((len(o) for o in options), default=0)):
        for position, values in enumerate(options):
            if turn >= len(values) or _too_big(values[turn]):
                continue
            new_args, new_kwargs = list(args), list(kwargs)
            if position < len(args):
                new_args[position] = values[turn]
            else:
                key = new_kwargs[position - len(args)][0]
                new_kwargs[position - len(args)] = (key, values[turn])
            call = _render(name, new_args, new_kwargs)
            if len(call) <= _MAX_REPR:
                yield call
