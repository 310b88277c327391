"""Tests the model writes from the spec, asked for apart from the code.

The answer is untrusted text: it is parsed with `ast`, one line at a time, and a
test is kept only when it is `assert NAME(literals...) == literal` (or the mirror
image, `assert NAME(...)`, `assert not NAME(...)`, `is True/False/None`): a call of
the function under test and nothing else, with literal arguments and a literal
expected value. Nothing here evaluates anything; the tests run in the sandbox.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence

from codegen_hook.backends.base import Message
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.stubs import Stub

__all__ = ["TESTS_SYSTEM_PROMPT", "call_key", "merge_tests", "model_tests_messages",
           "parse_model_tests", "tests_prefix"]

TESTS_SYSTEM_PROMPT = (
    "You are an expert Python tester. Given a function's signature and docstring, write "
    "assert statements that check it. Do not implement the function."
)
_FENCE = re.compile(r"```[^\n]*\n(.*?)(?:```|\Z)", re.S)


def model_tests_messages(stub: Stub, count: int) -> list[Message]:
    """The request for `count` assert-style tests of `stub`'s specification."""
    return [Message("system", TESTS_SYSTEM_PROMPT), Message(
        "user",
        f"```python\n{stub.source.rstrip()}\n```\n"
        f"Write {count} different tests of `{stub.name}`, one per line, each of the form\n"
        f"assert {stub.name}(<arguments>) == <expected result>\n"
        "using only literal values (numbers, strings, lists, dicts, tuples, True, False, "
        "None). Work out each expected result carefully from the docstring. Cover the "
        "docstring's examples, then edge cases. Answer with one ```python block of "
        "assert lines only.")]


def tests_prefix(stub: Stub) -> str:
    """How the asked-for tests start (for a backend that continues a started answer):
    the fence and the first assert's call, which keeps the answer in the asked form."""
    return f"```python\nassert {stub.name}("


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _call_of(node: ast.expr, name: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == name and all(_literal(a) for a in node.args)
            and all(k.arg is not None and _literal(k.value) for k in node.keywords))


def _as_test(stmt: ast.stmt, name: str, line: int) -> SpecTest | None:
    if not isinstance(stmt, ast.Assert):
        return None
    test = stmt.test
    if _call_of(test, name):                      # assert f(x)
        return SpecTest(ast.unparse(test), "True", "model", line=line)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) \
            and _call_of(test.operand, name):     # assert not f(x)
        return SpecTest(ast.unparse(test.operand), "False", "model", line=line)
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1
            and isinstance(test.ops[0], (ast.Eq, ast.Is))):
        return None
    left, right = test.left, test.comparators[0]
    if isinstance(test.ops[0], ast.Is) and not (
            isinstance(right, ast.Constant) and right.value in (True, False, None)):
        return None
    if _call_of(right, name) and not _call_of(left, name):
        left, right = right, left
    if _call_of(left, name) and _literal(right):
        return SpecTest(ast.unparse(left), ast.unparse(right), "model", line=line)
    return None


def parse_model_tests(answer: str, name: str, limit: int) -> list[SpecTest]:
    """The usable tests in a model's answer, at most `limit`, in order. A call given two
    different expected values is dropped: the model contradicted itself."""
    blocks = _FENCE.findall(answer) or [answer]
    found: list[SpecTest] = []
    for block in blocks:
        for number, raw in enumerate(block.splitlines(), 1):
            line = raw.strip()
            if not line.startswith("assert"):
                continue
            try:
                tree = ast.parse(line)
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                continue
            test = _as_test(tree.body[0], name, number) if len(tree.body) == 1 else None
            if test is not None:
                found.append(test)
    expected: dict[str, set[str]] = {}
    for test in found:
        expected.setdefault(test.call, set()).add(test.expected)
    kept: dict[str, SpecTest] = {}
    for test in found:
        if len(expected[test.call]) == 1 and test.call not in kept:
            kept[test.call] = test
    return list(kept.values())[:limit]


def call_key(call: str) -> str:
    """A call's text made comparable: two spellings of one call give one key."""
    try:
        return ast.dump(ast.parse(call.strip(), mode="eval"))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return call.strip()


def merge_tests(stated: Sequence[SpecTest], model: Iterable[SpecTest]) -> list[SpecTest]:
    """The user's tests first, then the model's on calls the user's do not make:
    where both test one call, the user's expected value is the one that counts."""
    seen = {call_key(t.call) for t in stated}
    merged = list(stated)
    for test in model:
        key = call_key(test.call)
        if key not in seen:
            seen.add(key)
            merged.append(test)
    return merged
