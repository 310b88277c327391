"""Which candidates are the same program: agreement among copies is not evidence.

A small model sampled eight times often writes one program several times over, byte
for byte or with other names; counting each copy as an independent vote let one wrong
program "agree" with itself (issue 21). `program_key` is the body's AST with the
docstring, string-only statements and every name replaced in order of first use, so
two bodies that differ only in names, comments, layout or docstring share a key.
Parsed with `ast` on the host, never run.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

__all__ = ["distinct_count", "program_key", "program_of"]

if TYPE_CHECKING:
    from codegen_hook.pipeline.candidate import Candidate


def _bound(tree: ast.AST) -> set[str]:
    """The names the body binds itself: assigned, looped over, defined, caught."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
    return found


class _Canonical(ast.NodeTransformer):
    """Local names by order of first use; the parameters, globals and builtins a body
    reads keep theirs (so `a - b` and `b - a` stay apart)."""

    def __init__(self, local: set[str]) -> None:
        self.local = local
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name not in self.local:
            return name
        return self.names.setdefault(name, f"_v{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(self._name(node.id), node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg(self._name(node.arg), None), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self._name(node.name)
        node.returns = None
        return self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None   # a docstring or a string used as a comment
        return self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        """`x: int = 0` is `x = 0`; a bare annotation computes nothing."""
        if node.value is None:
            return None
        return self.generic_visit(ast.copy_location(
            ast.Assign([node.target], node.value), node))


@functools.lru_cache(maxsize=4096)   # select and veto ask again for every candidate
def program_key(body: str) -> str:
    """A digest of the body's normalised AST; the text itself when it does not parse
    (then only byte-identical bodies share a key)."""
    try:
        tree = ast.parse(textwrap.dedent(body))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return "text:" + hashlib.sha256(body.encode("utf-8", "replace")).hexdigest()
    try:
        canonical = _Canonical(_bound(tree)).visit(tree)
        dumped = ast.dump(canonical, annotate_fields=False, include_attributes=False)
    except RecursionError:
        dumped = body
    return "ast:" + hashlib.sha256(dumped.encode("utf-8", "replace")).hexdigest()


def distinct_count(bodies: Sequence[str]) -> int:
    """How many different programs `bodies` are."""
    return len({program_key(b) for b in bodies})


def program_of(cand: "Candidate") -> str:
    """The candidate's program key; a record without its body (an older saved run)
    counts as a program of its own."""
    return program_key(cand.body) if cand.body.strip() else f"index:{cand.index}"
