"""Text work for pipeline/stated.py: literals, calls and brackets in a docstring's prose.

Host side and `ast` only: nothing here is evaluated. `literal_value` and `literal`
accept what `ast.literal_eval` accepts (or arithmetic of constants, folded the same
way); `literal_call` a call of the function itself with literal arguments.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

__all__ = ["PARSE_ERRORS", "ascii_quotes", "is_open", "literal", "literal_call",
           "literal_value", "matching", "split_top"]

# What may follow the expected value: a comment, a remark, the sentence going on.
_TAIL = re.compile(r"""
    \s*\#.*$
  | \s*\((?=\s*[A-Za-z]).*$
  | \s*[.,;:]\s+[A-Za-z].*$
  | \s+(?:since|because|as|—)\s.*$""", re.X | re.S)
_BOOLEANS = {"true": "True", "false": "False"}
PARSE_ERRORS = (SyntaxError, ValueError, TypeError, MemoryError, RecursionError)
_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator,
               ast.unaryop)


def literal_value(text: str, func_name: str, chain: bool) -> str | None:
    """The literal that `text` starts with, when what follows it is only a comment,
    a remark, more prose or the next example; None when it is anything else (an
    expression, a name). With `chain`, "19 - 5 - 6 = 8" gives 8."""
    text = text.strip()
    if text[-1:] in (".", ";", ","):
        text = text[:-1].rstrip()
    if chain:
        text = _after_working(text)
    tail = _TAIL
    if func_name:  # "returns 15 and f(-14.5) returns -15"
        tail = re.compile(rf"{_TAIL.pattern}|[,;.]?\s*(?:and\s+|but\s+|while\s+)?"
                          rf"{re.escape(func_name)}\s*\(.*$", re.X | re.S)
    for cut in range(len(text), 0, -1):
        if cut == len(text) or tail.match(text, cut):
            found = literal(text[:cut].rstrip())
            if found is not None:
                return found
    return None


def _after_working(text: str) -> str:
    """What follows the last top-level `=` when all before it is arithmetic on numbers."""
    top = {index for index, depth, quote in _scan(text) if depth == 0 and not quote}
    equals = [m.start() for m in re.finditer(r"(?<![=!<>])=(?![=>])", text) if m.start() in top]
    if not equals:
        return text
    working, value = text[:equals[-1]], text[equals[-1] + 1:]
    if "#" in working:
        return text
    try:
        tree = ast.parse(working.strip(), mode="eval")
    except PARSE_ERRORS:
        return text
    numbers = all(not isinstance(node, ast.Constant) or type(node.value) in (int, float)
                  for node in ast.walk(tree))
    if numbers and all(isinstance(node, _ARITHMETIC) for node in ast.walk(tree)):
        return value.strip()
    return text


def literal(text: str) -> str | None:
    """`text` when it is one literal that ast.literal_eval accepts (`true`/`false` become
    True/False); a bare `1, 2` or a parenthesised `("Venus")` is too ambiguous to keep."""
    text = _BOOLEANS.get(text, text)
    if not text:
        return None
    try:
        node = ast.parse(text, mode="eval").body
        ast.literal_eval(node)
    except PARSE_ERRORS:
        return None
    if ast.get_source_segment(text, node) != text:  # a comment after it, or parentheses
        return None
    if _has_ellipsis(node):  # "f(3) => [1, 2, ...]" says "and so on"
        return None
    if isinstance(node, ast.Tuple) != text.startswith("("):
        return None
    return text


def literal_call(text: str, func_name: str) -> str | None:
    """`text` when it is a call of `func_name` whose arguments are all literals."""
    try:
        node = ast.parse(text, mode="eval").body
    except PARSE_ERRORS:
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == func_name):
        return None
    values = [*node.args, *(keyword.value for keyword in node.keywords)]
    if _has_ellipsis(node):
        return None
    if any(isinstance(arg, ast.Starred) for arg in node.args) or \
            any(keyword.arg is None for keyword in node.keywords):
        return None
    try:
        for value in values:
            ast.literal_eval(value)
    except PARSE_ERRORS:
        return None
    return text


def _has_ellipsis(node: ast.AST) -> bool:
    return any(isinstance(part, ast.Constant) and part.value is Ellipsis
               for part in ast.walk(node))


def _scan(text: str) -> Iterator[tuple[int, int, str]]:
    """(index, bracket depth, open quote or "") after each character; brackets inside
    string quotes do not count."""
    depth, quote, escaped = 0, "", False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif quote and char == "\\":
            escaped = True
        elif char == quote:
            quote = ""
        elif not quote and char in "'\"":
            quote = char
        elif not quote and char in "([{":
            depth += 1
        elif not quote and char in ")]}":
            depth -= 1
        yield index, depth, quote


def is_open(text: str) -> bool:
    """Whether `text` ends inside brackets (not inside a string: a line break there is
    no continuation)."""
    depth, quote = 0, ""
    for _, depth, quote in _scan(text):
        pass
    return depth > 0 and not quote


def matching(text: str, opening: int) -> int | None:
    """The index just past the bracket that closes the one at `opening`."""
    for index, depth, _ in _scan(text[opening:]):
        if depth == 0:
            return opening + index + 1
    return None


def split_top(text: str) -> list[str]:
    """`text` split at commas outside brackets and quotes."""
    pieces, start = [], 0
    for index, depth, quote in _scan(text):
        if depth == 0 and not quote and text[index] == ",":
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


def ascii_quotes(text: str) -> str:
    """Curly quotes as ASCII ones, only when they pair up and no ASCII quote could clash."""
    for left, right, plain in (("“", "”", '"'), ("‘", "’", "'")):
        if plain not in text and text.count(left) == text.count(right) > 0:
            text = text.replace(left, plain).replace(right, plain)
    return text
