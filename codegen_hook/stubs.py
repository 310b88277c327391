"""Find stubs in Python source and splice generated bodies back.

A stub is a function or method whose body is exactly a docstring followed by `...`
on a line of its own. Everything but the lines of that `...` stays byte-for-byte as
it was: comments, formatting, the docstring, the encoding and the newline style.
"""

from __future__ import annotations

import ast
import io
import os
import re
import tempfile
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from codegen_hook.errors import FileChangedError, SourceError

__all__ = [
    "SkippedStub",
    "SourceFile",
    "Stub",
    "StubScan",
    "filled_function",
    "filled_last_line",
    "find_stubs",
    "split_lines_keepends",
    "splice_bodies",
]

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
# Declarations whose `...` body is meant to stay: they are interfaces, not stubs.
_SKIP_DECORATORS = {"abstractmethod", "overload", "abstractproperty"}
_FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]


def split_lines_keepends(text: str) -> list[str]:
    """Split like the parser counts lines: on \\r\\n, \\r and \\n only."""
    return _LINE.findall(text)


@dataclass(frozen=True)
class Stub:
    """One fillable stub, located by 1-based line numbers."""

    name: str
    qualname: str
    def_line: int
    start_line: int
    end_line: int
    ellipsis_line: int
    body_indent: str
    is_async: bool
    class_names: tuple[str, ...]
    docstring: str
    source: str

    @property
    def is_method(self) -> bool:
        return bool(self.class_names)


@dataclass(frozen=True)
class SkippedStub:
    """Something that looks like a stub but cannot be filled safely."""

    qualname: str
    line: int
    reason: str


@dataclass
class StubScan:
    stubs: list[Stub] = field(default_factory=list)
    skipped: list[SkippedStub] = field(default_factory=list)


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Subscript):  # Protocol[T]
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _is_protocol_class(node: ast.ClassDef) -> bool:
    return any(_decorator_name(base) == "Protocol" for base in node.bases)


def _stub_shape(node: _FunctionNode) -> str | None:
    """Return the docstring when the body is docstring + `...`, else None."""
    if len(node.body) != 2:
        return None
    doc, last = node.body
    if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)):
        return None
    if not isinstance(doc.value.value, str):
        return None
    if not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Constant)):
        return None
    if last.value.value is not Ellipsis:
        return None
    return doc.value.value


class _Finder:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.scan = StubScan()

    def visit_block(self, body: list[ast.stmt], classes: tuple[str, ...],
                    in_protocol: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                self.visit_block(node.body, classes + (node.name,),
                                 _is_protocol_class(node))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.visit_function(node, classes, in_protocol)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for block in _child_blocks(node):
                    self.visit_block(block, classes, in_protocol)

    def visit_function(self, node: _FunctionNode, classes: tuple[str, ...],
                       in_protocol: bool) -> None:
        docstring = _stub_shape(node)
        if docstring is None or in_protocol:
            return
        if {_decorator_name(d) for d in node.decorator_list} & _SKIP_DECORATORS:
            return
        qualname = ".".join(classes + (node.name,))
        ellipsis = node.body[1]
        line = self.lines[ellipsis.lineno - 1]
        before = line[: ellipsis.col_offset]
        after = line[ellipsis.end_col_offset or 0:].strip()
        alone = (ellipsis.lineno == ellipsis.end_lineno and not before.strip()
                 and line[ellipsis.col_offset:ellipsis.end_col_offset] == "..."
                 and (not after or after.startswith("#")))
        if not alone:
            self.scan.skipped.append(SkippedStub(
                qualname, node.lineno,
                "the `...` is not alone on its line; put `...` on a line of its own "
                "below the docstring"))
            return
        start = min([node.lineno] + [d.lineno for d in node.decorator_list])
        end = node.end_lineno or ellipsis.lineno
        self.scan.stubs.append(Stub(
            name=node.name, qualname=qualname, def_line=node.lineno,
            start_line=start, end_line=end, ellipsis_line=ellipsis.lineno,
            body_indent=before, is_async=isinstance(node, ast.AsyncFunctionDef),
            class_names=classes, docstring=docstring,
            source="".join(self.lines[start - 1:end])))


def _child_blocks(node: ast.If | ast.Try | ast.With) -> list[list[ast.stmt]]:
    if isinstance(node, ast.If):
        return [node.body, node.orelse]
    if isinstance(node, ast.Try):
        handlers = [h.body for h in node.handlers]
        return [node.body, node.orelse, node.finalbody] + handlers
    return [node.body]


def find_stubs(text: str, filename: str = "<source>") -> StubScan:
    """Find the fillable stubs in `text`; raise SourceError if it does not parse."""
    try:
        tree = ast.parse(text, filename=filename)
    except SyntaxError as exc:
        raise SourceError(
            f"{filename}:{exc.lineno}: syntax error: {exc.msg}; fix the file "
            "(the hook left it untouched) and commit again") from exc
    finder = _Finder(split_lines_keepends(text))
    finder.visit_block(tree.body, (), False)
    return finder.scan


def splice_bodies(text: str, bodies: list[tuple[Stub, str]], newline: str) -> str:
    """Replace each stub's `...` line with its body; nothing else changes.

    `bodies` holds (stub, body) pairs where body is dedented source of the new
    statements. Lines are indented with the stub's own indentation and joined
    with the file's newline style; blank lines stay empty.
    """
    lines = split_lines_keepends(text)
    for stub, body in sorted(bodies, key=lambda pair: -pair[0].ellipsis_line):
        old = lines[stub.ellipsis_line - 1]
        ending = old[len(old.rstrip("\r\n")):]
        new = [stub.body_indent + ln if ln.strip() else ""
               for ln in body.strip("\n").split("\n")]
        lines[stub.ellipsis_line - 1] = newline.join(new) + ending
    return "".join(lines)


def filled_last_line(stub: Stub, body: str) -> int:
    """The function's last line once `body` has replaced the stub's `...`."""
    return stub.end_line + body.strip("\n").count("\n")


def filled_function(module: str, stub: Stub, body: str) -> str:
    """The whole function (decorators, signature, docstring, body) out of `module`, the
    text `splice_bodies` made from the stub's file and `body`."""
    lines = split_lines_keepends(module)
    return "".join(lines[stub.start_line - 1:filled_last_line(stub, body)])


@dataclass(frozen=True)
class SourceFile:
    """A user's Python file as read from disk, with what writing it back needs."""

    path: Path
    raw: bytes
    text: str
    encoding: str
    newline: str

    @classmethod
    def read(cls, path: Path) -> "SourceFile":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"{path}: cannot read ({exc.strerror}); check the "
                              "path and its permissions") from exc
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)
            text = raw.decode(encoding)
        except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
            raise SourceError(f"{path}: not valid text in its declared encoding "
                              f"({exc}); save it as UTF-8") from exc
        match = re.search(r"\r\n|\r|\n", text)
        return cls(path, raw, text, encoding, match.group(0) if match else "\n")

    def write_text(self, new_text: str) -> None:
        """Atomically replace the file, refusing if it changed since it was read."""
        try:
            data = new_text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise SourceError(f"{self.path}: the new code has characters its declared "
                              f"encoding {self.encoding} cannot hold ({exc.reason}); "
                              "nothing was written") from exc
        target = Path(os.path.realpath(self.path))  # write through a symlink, keep it
        try:
            if target.read_bytes() != self.raw:
                raise FileChangedError(
                    f"{self.path}: changed on disk while the hook worked on it; "
                    "nothing was written, run the hook again")
            mode = target.stat().st_mode & 0o7777
        except OSError as exc:
            raise SourceError(f"{self.path}: cannot re-read before writing "
                              f"({exc.strerror})") from exc
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
