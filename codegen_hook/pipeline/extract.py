"""Pull a function body out of a model's answer, whatever chatter surrounds it.

The answer is untrusted text: it is only parsed here, never run.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass

__all__ = ["ExtractedCode", "extract_body"]

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)
_MAX_TRIM = 40


@dataclass(frozen=True)
class ExtractedCode:
    """A body ready to splice: statements only, dedented, plus what it needs."""

    body: str
    imports: tuple[str, ...]
    helpers: tuple[str, ...]


def _code_blocks(answer: str) -> list[str]:
    blocks = [m.group(2) for m in _FENCE.finditer(answer)
              if m.group(1).lower() in ("", "python", "py", "python3")]
    return blocks or [answer]


def _parse_trimmed(code: str) -> tuple[ast.Module, list[str]] | None:
    """Parse `code`, dropping leading and trailing prose lines until it parses."""
    lines = code.strip("\n").split("\n")
    for head in range(min(_MAX_TRIM, len(lines))):
        for tail in range(min(_MAX_TRIM, len(lines) - head)):
            kept = lines[head:len(lines) - tail]
            try:
                tree = ast.parse("\n".join(kept))
            except (SyntaxError, ValueError):
                continue
            if tree.body:
                return tree, kept
    return None


def _find_function(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def _segment(lines: list[str], first: ast.stmt, last_line: int) -> str:
    """Source from statement `first` to `last_line`, dedented."""
    head = lines[first.lineno - 1][first.col_offset:]
    rest = lines[first.lineno:last_line]
    return textwrap.dedent(" " * first.col_offset + head + "\n" + "\n".join(rest)
                           if rest else " " * first.col_offset + head).strip("\n")


def _body_of(func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str | None:
    body = list(func.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    if not body or all(_is_placeholder(stmt) for stmt in body):
        return None
    return _segment(lines, body[0], func.end_lineno or body[-1].end_lineno or 0)


def _is_placeholder(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
        and stmt.value.value is Ellipsis


def _context_statements(tree: ast.Module, target: ast.AST,
                        lines: list[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Top-level imports and helper definitions the answer put beside the function."""
    imports: list[str] = []
    helpers: list[str] = []
    for node in tree.body:
        end = node.end_lineno or node.lineno
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(_segment(lines, node, end))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign,
                               ast.AnnAssign)) and node is not target:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.decorator_list:
                continue  # a decorated helper cannot move into the body as it is
            helpers.append(_segment(lines, node, end))
    return tuple(imports), tuple(helpers)


def _as_bare_body(code: str, name: str) -> ExtractedCode | None:
    """The answer may be the body alone (`return ...`): wrap it and try again."""
    wrapped = f"def {name}():\n" + textwrap.indent(textwrap.dedent(code).strip("\n"), "    ")
    try:
        tree = ast.parse(wrapped)
    except (SyntaxError, ValueError):
        return None
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    body = _body_of(func, wrapped.split("\n"))
    return ExtractedCode(body, (), ()) if body else None


def _looks_like_body(code: str) -> bool:
    """A bare answer counts as a body only if it does something a body does."""
    try:
        tree = ast.parse(textwrap.dedent(code))
    except (SyntaxError, ValueError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return False
    for node in ast.walk(tree):
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom, ast.Raise, ast.AugAssign)):
            return True
        if isinstance(node, ast.Assign) and any(
                isinstance(t, (ast.Attribute, ast.Subscript)) for t in node.targets):
            return True
    return False


def extract_body(answer: str, name: str) -> ExtractedCode | None:
    """Return the body of function `name` found in `answer`, or None.

    Tries each fenced code block (or the whole answer), trimming prose around it;
    failing that, reads a block as a bare function body if it looks like one.
    """
    blocks = _code_blocks(answer)
    for block in blocks:
        parsed = _parse_trimmed(block)
        if parsed is None:
            continue
        tree, lines = parsed
        func = _find_function(tree, name)
        if func is None:
            continue
        body = _body_of(func, lines)
        if body is None:
            continue
        outer = next((n for n in tree.body if func in ast.walk(n)), func)
        imports, helpers = _context_statements(tree, outer, lines)
        return ExtractedCode(body, imports, helpers)
    for block in blocks:
        if _looks_like_body(block) or (_parse_trimmed(block) is None
                                       and _as_bare_body(block, name) is not None):
            bare = _as_bare_body(block, name)
            if bare is not None:
                return bare
    return None
