"""Refuse code that special-cases the docstring's own examples.

Code that compares against an example's literal input (`if s == "strawberry":`)
or looks its answer up in a table keyed by example inputs passes its examples
without implementing anything; such a body is never verified.
"""

from __future__ import annotations

import ast
from typing import ClassVar

from codegen_hook.checks.base import Check, CheckContext, Finding

__all__ = ["ExampleSpecialCaseCheck"]


def _telling(value: object) -> bool:
    """Literals specific enough that comparing against them means special-casing."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (str, bytes)):
        return len(value) >= 3
    if isinstance(value, int):
        return abs(value) > 10
    if isinstance(value, float):
        return value not in (0.0, 1.0, -1.0, 0.5)
    return False


def _literals(source: str) -> set[object]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and _telling(node.value)}


class ExampleSpecialCaseCheck(Check):
    name: ClassVar[str] = "examples"

    def run(self, code: str, context: CheckContext) -> list[Finding]:
        wanted: set[object] = set()
        for source in context.example_sources:
            wanted |= _literals(source)
        if not wanted:
            return []
        findings = []
        for node in ast.walk(ast.parse(code)):
            if not context.owns(getattr(node, "lineno", 0)):
                continue
            if isinstance(node, (ast.Compare, ast.Dict, ast.Set, ast.MatchValue)):
                hit = _literals(ast.unparse(node)) & wanted
                if hit:
                    findings.append(Finding(
                        self.name, node.lineno, node.col_offset, "special-case",
                        f"compares against the example input {sorted(map(repr, hit))[0]}; "
                        "implement the behaviour the docstring describes instead"))
        return findings
