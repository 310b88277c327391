"""Extract a file's definitions with `ast`, and its comments and quotes with `tokenize`.

`extract_content` is a pure function of the file's bytes: it either returns a
`FileContent` or raises `SkipFile` with the reason the file cannot be indexed.
It never imports or runs the code it reads.
"""

from __future__ import annotations

import ast
import hashlib
import io
import keyword
import re
import tokenize
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Union

from codegen_hook.index.records import FileContent, Import, Param, ParamKind, Symbol

__all__ = ["SkipFile", "extract_content", "file_hash"]

_Def = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]
_LONG = (79, 88, 99, 100, 120)


class SkipFile(Exception):
    """This file cannot be indexed; `str(exc)` says why."""


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# One left-to-right scan with tokenize's own string patterns: a `#` is a comment
# exactly when it is not inside a string, and strings are consumed whole, so a name
# or `#` inside one is never mistaken for code. The `tokenize` module's pure-Python
# token loop costs 1.6x `ast.parse` (measured on the stdlib); this scan costs a few
# percent of it and yields the same comments (tests/index/test_extract.py compares
# the two over real files).
_PREFIX = "[rRbBuUfF]{0,2}"  # looser than tokenize.StringPrefix; the file already parsed
_LEX = re.compile("|".join([
    rf"(?P<s3>{_PREFIX}(?:'''{tokenize.Single3}|\"\"\"{tokenize.Double3}))",
    rf"(?P<s1>{_PREFIX}(?:'[^\n'\\]*(?:\\.[^\n'\\]*)*'|\"[^\n\"\\]*(?:\\.[^\n\"\\]*)*\"))",
    r"(?P<comment>#[^\r\n]*)",
    r"(?P<defn>(?:def|class)\s+\w+)",
    # every name is consumed whole, so a match never starts inside one
    r"(?P<name>[^\W\d]\w*(?:[ \t]*\.[ \t]*[^\W\d]\w*)*)(?P<call>[ \t]*\()?",
]), re.DOTALL)


@dataclass
class _Lexed:
    """What the scan found: comments and calls by line, and how strings are quoted."""

    comment_lines: list[int] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    call_lines: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    quotes: dict[str, int] = field(default_factory=lambda: {"single": 0, "double": 0})


def _lex(text: str) -> _Lexed:
    lexed = _Lexed()
    newlines = [m.start() for m in re.finditer("\n", text)]
    for match in _LEX.finditer(text):
        kind = match.lastgroup
        if kind == "name" or kind == "defn":
            continue
        if kind == "call":
            name = match.group("name")
            if " " in name or "\t" in name:
                name = re.sub(r"\s+", "", name)
            if not keyword.iskeyword(name.split(".", 1)[0]):
                lexed.call_lines.append(bisect_left(newlines, match.start()) + 1)
                lexed.calls.append(name)
        elif kind == "comment":
            lexed.comment_lines.append(bisect_left(newlines, match.start()) + 1)
            lexed.comments.append(match.group())
        elif kind == "s1":
            quote = match.group().lstrip("rRbBuUfF")[:1]
            lexed.quotes["single" if quote == "'" else "double"] += 1
    return lexed


def _decode(data: bytes) -> str:
    if b"\0" in data:
        raise SkipFile("binary file (NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        text = data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise SkipFile(f"not readable as Python source text ({exc})") from exc
    # one newline convention, so the scan's line numbers are the parser's
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _param_list(args: ast.arguments) -> tuple[Param, ...]:
    out: list[Param] = []
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)

    def add(arg: ast.arg, kind: ParamKind, default: ast.expr | None) -> None:
        out.append(Param(arg.arg, kind, ast.unparse(arg.annotation) if arg.annotation else None,
                         ast.unparse(default) if default is not None else None))

    for i, arg in enumerate(positional):
        add(arg, "positional_only" if i < len(args.posonlyargs) else "positional_or_keyword",
            defaults[i])
    if args.vararg:
        add(args.vararg, "var_positional", None)
    for arg, default in zip(args.kwonlyargs, args.kw_defaults):
        add(arg, "keyword_only", default)
    if args.kwarg:
        add(args.kwarg, "var_keyword", None)
    return tuple(out)


def _is_stub_body(body: list[ast.stmt]) -> bool:
    rest = body[1:] if body and _docstring_node(body[0]) else body
    return len(rest) == 1 and isinstance(rest[0], ast.Expr) and \
        isinstance(rest[0].value, ast.Constant) and rest[0].value.value is Ellipsis


def _docstring_node(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and \
        isinstance(stmt.value.value, str)


class _Extractor:
    def __init__(self, text: str, lexed: _Lexed) -> None:
        self.lines = text.splitlines()
        self.lexed = lexed
        self.symbols: list[Symbol] = []
        self.imports: list[Import] = []

    def _comments(self, first: int, last: int) -> tuple[str, ...]:
        lines = self.lexed.comment_lines
        lo, hi = bisect_left(lines, first), bisect_right(lines, last)
        above, expect = lo, first - 1
        # the block of comment-only lines directly above the definition
        while above > 0 and lines[above - 1] == expect and \
                self.lines[expect - 1].lstrip().startswith("#"):
            above, expect = above - 1, expect - 1
        return tuple(self.lexed.comments[above:hi])

    def _source_hash(self, first: int, last: int) -> str:
        return hashlib.sha256("\n".join(self.lines[first - 1:last]).encode()).hexdigest()

    def _calls(self, first: int, last: int) -> tuple[str, ...]:
        lines = self.lexed.call_lines
        lo, hi = bisect_left(lines, first), bisect_right(lines, last)
        return tuple(dict.fromkeys(self.lexed.calls[lo:hi]))

    def visit(self, body: list[ast.stmt], prefix: str, in_class: bool) -> None:
        """Statements only: expressions are never walked (that is what keeps it fast)."""
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.add(node, prefix, in_class)
            elif isinstance(node, ast.Import):
                self.imports += [Import(a.name, None, a.asname, 0, node.lineno)
                                 for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                self.imports += [Import(node.module or "", a.name, a.asname, node.level,
                                        node.lineno) for a in node.names]
            else:
                for block in _blocks(node):
                    self.visit(block, prefix, in_class)

    def add(self, node: _Def, prefix: str, in_class: bool) -> None:
        qualname = f"{prefix}{node.name}"
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        last = node.end_lineno or node.lineno
        decorators = tuple(ast.unparse(d) for d in node.decorator_list)
        common = dict(qualname=qualname, name=node.name, decorators=decorators,
                      docstring=ast.get_docstring(node, clean=True),
                      comments=self._comments(first, last), calls=self._calls(first, last),
                      line_start=first, line_end=last, hash=self._source_hash(first, last))
        if isinstance(node, ast.ClassDef):
            bases = tuple(ast.unparse(b) for b in [*node.bases, *node.keywords])
            signature = f"class {node.name}" + (f"({', '.join(bases)})" if bases else "")
            self.symbols.append(Symbol(kind="class", is_async=False, signature=signature,
                                       params=(), returns=None, bases=bases, is_stub=False,
                                       **common))  # type: ignore[arg-type]
            self.visit(node.body, qualname + ".", True)
            return
        returns = ast.unparse(node.returns) if node.returns else None
        is_async = isinstance(node, ast.AsyncFunctionDef)
        signature = (("async " if is_async else "") + f"def {node.name}({ast.unparse(node.args)})"
                     + (f" -> {returns}" if returns else ""))
        self.symbols.append(Symbol(kind="method" if in_class else "function", is_async=is_async,
                                   signature=signature, params=_param_list(node.args),
                                   returns=returns, bases=(), is_stub=_is_stub_body(node.body),
                                   **common))  # type: ignore[arg-type]
        self.visit(node.body, qualname + ".<locals>.", False)


def _blocks(node: ast.stmt) -> Iterator[list[ast.stmt]]:
    """The statement lists inside a compound statement (if/for/while/try/with/match),
    in source order (a try's handlers come before its else and finally)."""
    body = getattr(node, "body", None)
    if isinstance(body, list):
        yield body
    for handler in getattr(node, "handlers", ()):
        yield handler.body
    for case in getattr(node, "cases", ()):
        yield case.body
    for name in ("orelse", "finalbody"):
        block = getattr(node, name, None)
        if isinstance(block, list):
            yield block


def _constants(tree: ast.Module) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                names.setdefault(target.id, None)
    return tuple(names)


def extract_content(data: bytes) -> FileContent:
    """Index one file's bytes; raise `SkipFile` for what is not indexable Python."""
    text = _decode(data)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise SkipFile(f"syntax error{f' on line {line}' if line else ''}: "
                       f"{getattr(exc, 'msg', exc)}") from exc
    extractor = _Extractor(text, _lex(text))
    extractor.visit(tree.body, "", False)
    lengths = [len(line) for line in extractor.lines]
    return FileContent(
        hash=file_hash(data), lines=len(lengths), imports=tuple(extractor.imports),
        constants=_constants(tree), symbols=tuple(extractor.symbols),
        quotes=extractor.lexed.quotes,
        long_lines={str(n): sum(1 for x in lengths if x > n) for n in _LONG},
        longest_line=max(lengths, default=0))
