"""What the index holds: one record per Python file, one entry per definition.

Records are plain frozen dataclasses with a JSON form (`to_json` / `from_json`);
`docs/index-format.md` documents that form for `codegen-hook index --export json`.
A `FileContent` depends only on a file's bytes, so a renamed file reuses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["FileContent", "FileRecord", "Import", "Param", "Skipped", "Symbol", "SymbolKind"]

SymbolKind = Literal["function", "method", "class"]
ParamKind = Literal["positional_only", "positional_or_keyword", "var_positional",
                    "keyword_only", "var_keyword"]


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind
    annotation: str | None = None
    default: str | None = None


@dataclass(frozen=True)
class Import:
    """`import module as asname` (name is None) or `from module import name as asname`."""

    module: str
    name: str | None
    asname: str | None
    level: int
    line: int


@dataclass(frozen=True)
class Symbol:
    qualname: str
    name: str
    kind: SymbolKind
    is_async: bool
    signature: str            # `def name(a: int = 1) -> str` / `class Name(Base)`
    params: tuple[Param, ...]
    returns: str | None
    bases: tuple[str, ...]
    decorators: tuple[str, ...]
    docstring: str | None
    comments: tuple[str, ...]  # real `#` comments (tokenize), above the def and inside it
    calls: tuple[str, ...]     # dotted names it calls, first-seen order
    line_start: int            # first decorator or the def line
    line_end: int
    hash: str                  # sha256 of the definition's source lines
    is_stub: bool              # body is a docstring and `...` (not filled yet)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Symbol":
        values = dict(data)
        values["params"] = tuple(Param(**p) for p in data["params"])
        for key in ("bases", "decorators", "comments", "calls"):
            values[key] = tuple(data[key])
        return cls(**values)


@dataclass(frozen=True)
class FileContent:
    """Everything extracted from one file's bytes (path-independent)."""

    hash: str                  # sha256 of the file's bytes
    lines: int
    imports: tuple[Import, ...]
    constants: tuple[str, ...]  # module-level assigned names
    symbols: tuple[Symbol, ...]
    quotes: dict[str, int] = field(default_factory=dict)       # "single"/"double" counts
    long_lines: dict[str, int] = field(default_factory=dict)   # "79": lines longer than 79
    longest_line: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FileContent":
        return cls(hash=data["hash"], lines=data["lines"],
                   imports=tuple(Import(**i) for i in data["imports"]),
                   constants=tuple(data["constants"]),
                   symbols=tuple(Symbol.from_json(s) for s in data["symbols"]),
                   quotes=dict(data.get("quotes", {})),
                   long_lines=dict(data.get("long_lines", {})),
                   longest_line=int(data.get("longest_line", 0)))


@dataclass(frozen=True)
class FileRecord:
    """A file of the repository as indexed: where it is and what it holds."""

    path: str                  # relative to the index root, with `/`
    module: str                # dotted module name (a leading `src/` dropped)
    content: FileContent

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "module": self.module, **self.content.to_json()}


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str
