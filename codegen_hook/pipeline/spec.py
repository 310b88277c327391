"""Tests of a stub's specification: what a candidate body is run against.

Three origins, in order of trust: the docstring's own `>>>` examples, examples the
docstring states in free form (`f(x) => y`, "For example: ..."), and assert-style
tests the model wrote from the spec. They are data: parsed on the host with `ast`,
never evaluated here; they run only inside the sandbox (pipeline/matrix.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ORIGIN_WEIGHT", "SpecTest", "TestOrigin", "TestKind"]

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
