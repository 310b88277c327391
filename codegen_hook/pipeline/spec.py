"""The spec stage: what a stub promises, as tests a candidate body is run against.

Three origins, in order of trust: the docstring's own `>>>` examples, examples the
docstring states in free form (`f(x) => y`, "For example: ..."), and assert-style
tests the model wrote from the spec (pipeline/generated.py), plus probes
(pipeline/probes.py). They are data: parsed on the host with `ast`, never evaluated
here; they run only inside the sandbox (pipeline/matrix.py).
"""

from __future__ import annotations

import ast
import doctest
import textwrap
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

from codegen_hook.stubs import Stub

__all__ = ["ORIGIN_WEIGHT", "Example", "SpecTest", "TestOrigin", "TestKind",
           "docstring_examples", "doctest_session", "spec_tests"]

TestOrigin = Literal["docstring", "stated", "model", "probe"]
TestKind = Literal["doctest", "value", "probe"]

# Agreement ranking weighs a passed test by where it came from: the user's own
# examples count most; the model's expected outputs are wrong often enough
# (~15% in published studies) that they only break ties among the rest. A probe
# (pipeline/probes.py) has no expected value: it never passes or fails, it only shows
# whether candidates compute the same.
ORIGIN_WEIGHT: dict[str, float] = {"docstring": 4.0, "stated": 4.0, "model": 1.0,
                                   "probe": 0.0}


@dataclass(frozen=True)
class SpecTest:
    """One check of the function under test.

    kind "doctest": `call` is a doctest example's source and `expected` the output text
    it wants, compared with doctest's own rules. kind "value": `call` is an expression
    that calls the function and `expected` a Python expression; the test passes when
    the two values are equal (`==`), evaluated in the module's namespace in the sandbox.
    kind "probe": `call` only; what it returns is recorded and `expected` is empty.
    `setup`: statements of the same docstring's earlier examples (`>>> def div(a, b):`,
    `>>> data = [...]`), run first in the same namespace, as a doctest session would;
    an error in them is ignored, as doctest goes on after a failed example.
    """

    call: str
    expected: str
    origin: TestOrigin
    kind: TestKind = "value"
    line: int = 0
    setup: tuple[str, ...] = ()

    @property
    def weight(self) -> float:
        return ORIGIN_WEIGHT[self.origin]

    @property
    def stated(self) -> bool:
        """From the user's docstring (either form), not from the model or a probe."""
        return self.origin in ("docstring", "stated")

    def render(self) -> str:
        if self.kind == "doctest":
            setup = "".join(">>> " + "\n... ".join(s.strip().split("\n")) + "\n"
                            for s in self.setup)
            return f"{setup}>>> {self.call.strip()}\n{self.expected.rstrip()}"
        if self.kind == "probe":
            return self.call
        return f"assert {self.call} == {self.expected}"

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SpecTest":
        return cls(str(data["call"]), str(data["expected"]), cast(TestOrigin, data["origin"]),
                   cast(TestKind, data.get("kind", "value")), int(data.get("line", 0)),
                   tuple(str(s) for s in data.get("setup", ())))


@dataclass(frozen=True)
class Example:
    """One `>>>` example of a docstring, as doctest parsed it."""

    source: str
    want: str
    line: int


def docstring_examples(stub: Stub) -> list[Example]:
    parser = doctest.DocTestParser()
    try:
        found = parser.get_examples(stub.docstring)
    except ValueError:  # malformed doctest text: no usable examples
        return []
    return [Example(e.source, e.want, e.lineno) for e in found]


def _param_names(stub: Stub) -> list[str]:
    try:
        tree = ast.parse(textwrap.dedent(stub.source) + "\n")
    except SyntaxError:
        return []
    func = tree.body[0] if tree.body else None
    if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return []
    args = func.args
    names = [a.arg for a in [*args.posonlyargs, *args.args]]
    return names[1:] if stub.is_method and names[:1] in (["self"], ["cls"]) else names


def spec_tests(stub: Stub) -> list[SpecTest]:
    """The user's own tests of `stub`: its doctest examples, then what the docstring
    states in free form (`f(x) => y`, "For example ...") on calls doctest did not make."""
    from codegen_hook.pipeline.generated import merge_tests
    from codegen_hook.pipeline.stated import stated_tests

    examples = doctest_session(docstring_examples(stub))
    if stub.is_method:   # a free-form `obj.m(x)` has no object to call it on
        return examples
    return merge_tests(examples, stated_tests(stub.docstring, stub.name, _param_names(stub)))


def _shape(source: str) -> str:
    """"setup" (a statement that sets up later examples), "assert", "compare" (a lone
    comparison, `f(x) == y`), "expression", or "" when it does not parse."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return ""
    if len(body) == 1 and isinstance(body[0], ast.Assert):
        return "assert"
    if not (len(body) == 1 and isinstance(body[0], ast.Expr)):
        return "setup"
    return "compare" if isinstance(body[0].value, ast.Compare) else "expression"


def doctest_session(examples: list[Example]) -> list[SpecTest]:
    """The docstring's examples as tests that share a namespace, as in doctest: a
    statement with no output (`def div(a, b): ...`, `x = f(2)`) is no test of its own
    but runs before each later example (its `setup`). Written as checks but with no
    output line, `>>> f(x) == y` wants True (the writer meant the comparison to hold,
    as HumanEval/108's docstring does) and `>>> assert f(x) == y` is a test that wants
    no output."""
    tests: list[SpecTest] = []
    earlier: list[str] = []
    for e in examples:
        want = e.want
        if not want.strip():
            shape = _shape(e.source)
            if shape == "setup":
                earlier.append(e.source)
                continue
            if shape == "compare":
                want = "True\n"
        tests.append(SpecTest(e.source, want, "docstring", "doctest", e.line,
                              setup=tuple(earlier)))
    return tests
