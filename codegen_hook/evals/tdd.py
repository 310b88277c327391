"""The tdd arm of `eval repo`: some of a function's own tests shown to the hook, the rest
kept back to score it.

For each cut function, the tests that name it (the hook's own rule,
`pipeline.repo_tests.find_repo_tests`) and run it (coverage) are split at random, seeded
by the run's seed and the function's key, into a visible half and a hidden half. The
hook may use the visible half as the evidence a user's tests give it; every covering
test outside the visible half scores, in every arm, so the arms are compared on the
same held-out tests. The split is per test function, never per parametrized case: a
visible test's source carries all its cases.

While the tdd arm fills, the hidden tests are renamed in the scratch copy so that no
pytest run the hook makes collects them (their `def` line only; the files keep their
lines); the copy is put back before the answer is scored. The eval also checks the
fill's report: a repository test outside the visible half used as evidence stops the
run as a leak.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.errors import EvalError
from codegen_hook.pipeline.repo_tests import find_repo_tests
from codegen_hook.stubs import find_stubs

__all__ = ["HIDDEN_PREFIX", "TddSplit", "base_id", "hidden_tests", "split_tests"]

HIDDEN_PREFIX = "_eval_hidden_"
MIN_NAMING_TESTS = 2


def base_id(node_id: str) -> str:
    """A test function's node id without its parametrization (`test_x[1-2]` -> `test_x`)."""
    return re.sub(r"\[.*\]$", "", node_id)


@dataclass(frozen=True)
class TddSplit:
    """One function's tests: shown to the hook, and the ones that score every arm."""

    visible: tuple[str, ...]       # test function node ids the tdd arm may use
    hidden: tuple[str, ...]        # the other tests that name it (renamed while filling)
    scoring: tuple[str, ...]       # covering node ids outside `visible`


def split_tests(root: Path, path: Path, stubbed: str, qualname: str,
                covering: Sequence[str], seed: int, key: str) -> TddSplit | str:
    """The split of `qualname`'s tests, or why it has none (too few tests name it)."""
    stub = next((s for s in find_stubs(stubbed).stubs if s.qualname == qualname), None)
    if stub is None:
        return "its stub is not found in the cut-back file"
    ran = {base_id(t) for t in covering}
    naming = sorted({t.node_id for t in find_repo_tests(root, path, stub)} & ran)
    if len(naming) < MIN_NAMING_TESTS:
        return (f"{len(naming)} of its covering tests name it: fewer than "
                f"{MIN_NAMING_TESTS}, nothing to split for the tdd arm")
    visible = sorted(random.Random(f"{seed}:{key}").sample(naming, len(naming) // 2))
    scoring = tuple(t for t in covering if base_id(t) not in visible)
    return TddSplit(tuple(visible), tuple(t for t in naming if t not in visible), scoring)


def _def_lines(tree: ast.Module, tail: str) -> list[int]:
    """Line numbers of the `def` a node id's tail names (`test_x`, `TestA::test_x`)."""
    *classes, name = tail.split("::")
    scopes: list[ast.AST] = [tree]
    for cls in classes:
        scopes = [n for s in scopes for n in getattr(s, "body", [])
                  if isinstance(n, ast.ClassDef) and n.name == cls]
    return [n.lineno for s in scopes for n in getattr(s, "body", [])
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]


@contextmanager
def hidden_tests(root: Path, node_ids: Sequence[str]) -> Iterator[None]:
    """`node_ids` renamed out of pytest's sight in the files under `root`, then put back."""
    by_file: dict[str, list[str]] = {}
    for node_id in node_ids:
        file, _, tail = node_id.partition("::")
        by_file.setdefault(file, []).append(tail)
    saved: dict[Path, str] = {}
    try:
        for file, tails in by_file.items():
            target = root / file
            text = target.read_text("utf-8")
            lines = text.splitlines(keepends=True)
            tree = ast.parse(text)
            for tail in tails:
                name = tail.rsplit("::", 1)[-1]
                for line in _def_lines(tree, tail):
                    new = re.sub(rf"\bdef\s+{re.escape(name)}\b", f"def {HIDDEN_PREFIX}{name}",
                                 lines[line - 1], count=1)
                    if new == lines[line - 1]:
                        raise EvalError(f"{file}: the hidden test {tail} could not be renamed "
                                        "(its `def` is not on its first line); report this "
                                        "as a bug")
                    lines[line - 1] = new
            saved.setdefault(target, text)
            target.write_text("".join(lines), "utf-8")
        yield
    finally:
        for target, text in saved.items():
            target.write_text(text, "utf-8")
