"""The repository's style, mined from its index and its tool configs.

`mine_style` reads what the index holds (names, docstrings, annotations, quote
counts, line lengths) and the flake8/black/ruff settings in the repository root;
it never runs anything. Choices made here:

* Names are classified with leading/trailing underscores stripped; dunders are
  skipped. A one-word lowercase name (`count`) fits snake_case and camelCase: it
  counts as snake_case, but the dominant convention is decided among the names
  that tell the two apart, when there are any.
* `functions` are all non-method functions (nested ones too); `arguments` are
  all parameters but a method's leading `self`/`cls`.
* Annotation coverage counts `*args`/`**kwargs` (mypy --strict wants them typed);
  return coverage leaves out `__init__`, whose `-> None` is optional.
* The line limit is flake8's (`setup.cfg`, `tox.ini`, `.flake8` in flake8's own
  order, then `pyproject.toml [tool.flake8]`), else black's or ruff's
  `line-length`, else flake8's 79. An unreadable config is noted and skipped.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.index.build import RepoIndex
from codegen_hook.index.records import Param, Symbol

__all__ = ["CONVENTIONS", "NAME_KINDS", "DocstringStyle", "LineLength", "NamingStyle",
           "QuoteStyle", "StyleProfile", "TypeHints", "classify_name", "docstring_style",
           "fits_convention", "is_dunder", "mine_style", "strip_name"]

CONVENTIONS = ("snake_case", "camelCase", "PascalCase", "UPPER_CASE", "other")
NAME_KINDS = ("functions", "methods", "classes", "constants", "arguments")
FLAKE8_DEFAULT_MAX_LINE = 79
_FLAKE8_FILES = ("setup.cfg", "tox.ini", ".flake8")  # flake8's own search order

# Full-match patterns. camelCase and PascalCase admit one-word names (`count`, `A`).
_PATTERNS = {
    "UPPER_CASE": re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*"),
    "snake_case": re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"),
    "camelCase": re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*"),
    "PascalCase": re.compile(r"(?:[A-Z][a-z0-9]*)+"),
}
_SINGLE_WORD = re.compile(r"[a-z][a-z0-9]*")

_DOCSTRING_STYLES = {  # checked in this order; the first that matches wins
    "numpy": re.compile(r"^[ \t]*[A-Z][A-Za-z ]+[ \t]*\n[ \t]*-{3,}[ \t]*$", re.MULTILINE),
    "google": re.compile(r"^[ \t]*(?:Args|Arguments|Keyword Args|Keyword Arguments|Returns?"
                         r"|Yields?|Raises|Attributes):[ \t]*$", re.MULTILINE),
    "rest": re.compile(r"^[ \t]*:(?:param|parameter|arg|argument|key|keyword|type|raises?"
                       r"|returns?|rtype|yields?|ivar|cvar|var)\b[^:\n]*:", re.MULTILINE),
    "epytext": re.compile(r"^[ \t]*@(?:param|type|returns?|rtype|raises?|ivar)\b",
                          re.MULTILINE),
}


def strip_name(name: str) -> str:
    """The name with leading and trailing underscores removed (`_cache_` -> `cache`)."""
    return name.strip("_")


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def classify_name(name: str) -> str:
    """One of `CONVENTIONS`; a single lowercase word counts as snake_case."""
    bare = strip_name(name)
    for convention in ("UPPER_CASE", "snake_case", "camelCase", "PascalCase"):
        if _PATTERNS[convention].fullmatch(bare):
            return convention
    return "other"


def fits_convention(name: str, convention: str) -> bool:
    """Whether `name` is written in `convention` (one-word names fit more than one)."""
    pattern = _PATTERNS.get(convention)
    return bool(pattern and pattern.fullmatch(strip_name(name)))


@dataclass(frozen=True)
class NamingStyle:
    """How one kind of name is written across the repository."""

    dominant: str | None = None   # None: no names of this kind
    share: float = 0.0            # of the names that tell conventions apart
    counts: dict[str, int] = field(default_factory=dict)
    single_words: int = 0         # lowercase one-word names (also in counts' snake_case)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class DocstringStyle:
    dominant: str | None = None   # google | numpy | rest | epytext; None: no sections seen
    share: float = 0.0            # of the docstrings that have sections
    counts: dict[str, int] = field(default_factory=dict)  # "plain" included


@dataclass(frozen=True)
class TypeHints:
    params: int = 0
    annotated_params: int = 0
    returns: int = 0              # functions and methods, `__init__` left out
    annotated_returns: int = 0

    @property
    def param_share(self) -> float:
        return self.annotated_params / self.params if self.params else 0.0

    @property
    def return_share(self) -> float:
        return self.annotated_returns / self.returns if self.returns else 0.0


@dataclass(frozen=True)
class QuoteStyle:
    preferred: str | None = None  # "single" | "double"; None: no strings, or a tie
    share: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class LineLength:
    """`lines_over` counts lines longer than `counted_over`: the index counts at fixed
    limits only, so that is `max` when it is one of them, else the nearest below it."""

    max: int = FLAKE8_DEFAULT_MAX_LINE
    source: str = "flake8 default"   # e.g. "setup.cfg [flake8] max-line-length"
    longest_line: int = 0
    lines_over: int = 0
    counted_over: int = FLAKE8_DEFAULT_MAX_LINE


@dataclass(frozen=True)
class StyleProfile:
    """The repository's style. `files == 0` means nothing was mined (PEP 8 defaults)."""

    files: int = 0
    naming: dict[str, NamingStyle] = field(default_factory=dict)
    docstrings: DocstringStyle = DocstringStyle()
    type_hints: TypeHints = TypeHints()
    quotes: QuoteStyle = QuoteStyle()
    line_length: LineLength = LineLength()
    flake8: dict[str, str] = field(default_factory=dict)
    flake8_source: str | None = None
    notes: tuple[str, ...] = ()

    @classmethod
    def default(cls) -> "StyleProfile":
        """PEP 8: snake_case functions and arguments, PascalCase classes, 79 columns."""
        conventions = dict.fromkeys(NAME_KINDS, "snake_case")
        conventions.update(classes="PascalCase", constants="UPPER_CASE")
        return cls(naming={kind: NamingStyle(c, 1.0) for kind, c in conventions.items()})

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "StyleProfile":
        return cls(files=int(data["files"]),
                   naming={k: NamingStyle(**v) for k, v in data["naming"].items()},
                   docstrings=DocstringStyle(**data["docstrings"]),
                   type_hints=TypeHints(**data["type_hints"]),
                   quotes=QuoteStyle(**data["quotes"]),
                   line_length=LineLength(**data["line_length"]),
                   flake8=dict(data["flake8"]), flake8_source=data["flake8_source"],
                   notes=tuple(data["notes"]))

    def summary_lines(self) -> list[str]:
        """What the CLI prints for this profile, one line each."""
        lines = [f"style mined from {self.files} file(s)" if self.files
                 else "style: PEP 8 defaults (nothing mined)"]
        for kind in NAME_KINDS:
            if kind in self.naming:
                lines.append(f"{kind}: {_naming_text(self.naming[kind])}")
        docs = self.docstrings
        plain = docs.counts.get("plain", 0)
        lines.append(f"docstrings: {docs.dominant} ({docs.share:.0%} of "
                     f"{sum(docs.counts.values()) - plain} with sections; {plain} plain)"
                     if docs.dominant else f"docstrings: no sections ({plain} plain)")
        hints = self.type_hints
        lines.append(f"type hints: {hints.param_share:.0%} of {hints.params} parameters, "
                     f"{hints.return_share:.0%} of {hints.returns} return types")
        quotes = self.quotes
        lines.append(f"quotes: {quotes.preferred} ({quotes.share:.0%} of {quotes.total} "
                     "strings)" if quotes.preferred else f"quotes: no preference "
                     f"({quotes.counts.get('single', 0)} single, "
                     f"{quotes.counts.get('double', 0)} double)")
        length = self.line_length
        lines.append(f"line length: max {length.max} ({length.source}); longest line "
                     f"{length.longest_line}; {length.lines_over} line(s) longer than "
                     f"{length.counted_over}")
        if self.flake8_source:
            settings = ", ".join(f"{k}={v}" for k, v in self.flake8.items())
            lines.append(f"flake8 ({self.flake8_source}): {settings or 'no settings'}")
        lines += [f"note: {note}" for note in self.notes]
        return lines


def _naming_text(style: NamingStyle) -> str:
    if style.dominant is None or not style.counts:
        return style.dominant or "no names"
    if style.single_words in (0, style.total):
        return f"{style.dominant} ({style.share:.0%} of {style.total})"
    return (f"{style.dominant} ({style.share:.0%} of {style.total - style.single_words}; "
            f"{style.single_words} lowercase one-word names left out)")


# -- mining ---------------------------------------------------------------------------


def mine_style(index: RepoIndex, root: Path) -> StyleProfile:
    """The style of the indexed repository at `root`, with its tool configs."""
    symbols = [s for record in index.records for s in record.content.symbols]
    notes: list[str] = []
    pyproject = _read_pyproject(root, notes)
    flake8, flake8_source = _flake8_settings(root, pyproject, notes)
    limit, source = _line_limit(flake8, flake8_source, pyproject, notes)
    return StyleProfile(
        files=len(index.records), naming=_mine_naming(index, symbols),
        docstrings=_mine_docstrings(s.docstring for s in symbols),
        type_hints=_mine_type_hints(symbols), quotes=_mine_quotes(index),
        line_length=_mine_line_length(index, limit, source),
        flake8=flake8, flake8_source=flake8_source, notes=tuple(notes))


def _arguments(symbol: Symbol) -> tuple[Param, ...]:
    """The parameters but a method's leading `self`/`cls`."""
    params = symbol.params
    if symbol.kind == "method" and params and params[0].name in ("self", "cls"):
        return params[1:]
    return params


def _mine_naming(index: RepoIndex, symbols: list[Symbol]) -> dict[str, NamingStyle]:
    names: dict[str, list[str]] = {kind: [] for kind in NAME_KINDS}
    for symbol in symbols:
        if symbol.kind == "class":
            names["classes"].append(symbol.name)
        else:
            names["functions" if symbol.kind == "function" else "methods"].append(symbol.name)
            names["arguments"] += [p.name for p in _arguments(symbol)]
    for record in index.records:
        names["constants"] += record.content.constants
    return {kind: _naming_style(found) for kind, found in names.items()}


def _naming_style(names: Iterable[str]) -> NamingStyle:
    kept = [n for n in names if not is_dunder(n) and strip_name(n)]
    counts = Counter(classify_name(n) for n in kept)
    single = sum(1 for n in kept if _SINGLE_WORD.fullmatch(strip_name(n)))
    telling = counts.copy()
    if single < len(kept):  # decide among the names that tell snake and camel apart
        telling["snake_case"] -= single
    telling = +telling  # drops zero counts
    if not telling:
        return NamingStyle(counts={c: counts[c] for c in CONVENTIONS if counts[c]})
    dominant, top = max(telling.items(), key=lambda item: (item[1], -CONVENTIONS.index(item[0])))
    return NamingStyle(dominant, top / sum(telling.values()),
                       {c: counts[c] for c in CONVENTIONS if counts[c]}, single)


def docstring_style(docstring: str) -> str:
    """google | numpy | rest | epytext | plain."""
    for style, pattern in _DOCSTRING_STYLES.items():
        if pattern.search(docstring):
            return style
    return "plain"


def _mine_docstrings(docstrings: Iterable[str | None]) -> DocstringStyle:
    counts = Counter(docstring_style(d) for d in docstrings if d)
    sectioned = {style: n for style, n in counts.items() if style != "plain"}
    ordered = {s: counts[s] for s in (*_DOCSTRING_STYLES, "plain") if counts[s]}
    if not sectioned:
        return DocstringStyle(counts=ordered)
    dominant = max(sectioned, key=lambda s: (sectioned[s], -list(_DOCSTRING_STYLES).index(s)))
    return DocstringStyle(dominant, sectioned[dominant] / sum(sectioned.values()), ordered)


def _mine_type_hints(symbols: list[Symbol]) -> TypeHints:
    params = annotated = returns = annotated_returns = 0
    for symbol in symbols:
        if symbol.kind == "class":
            continue
        kept = _arguments(symbol)
        params += len(kept)
        annotated += sum(1 for p in kept if p.annotation)
        if symbol.name != "__init__":
            returns += 1
            annotated_returns += symbol.returns is not None
    return TypeHints(params, annotated, returns, annotated_returns)


def _mine_quotes(index: RepoIndex) -> QuoteStyle:
    counts = {quote: sum(r.content.quotes.get(quote, 0) for r in index.records)
              for quote in ("single", "double")}
    total = counts["single"] + counts["double"]
    if not total or counts["single"] == counts["double"]:
        return QuoteStyle(counts=counts)
    preferred = max(counts, key=lambda quote: counts[quote])
    return QuoteStyle(preferred, counts[preferred] / total, counts)


def _mine_line_length(index: RepoIndex, limit: int, source: str) -> LineLength:
    totals: Counter[int] = Counter()
    for record in index.records:
        for bucket, count in record.content.long_lines.items():
            totals[int(bucket)] += count
    longest = max((r.content.longest_line for r in index.records), default=0)
    if not totals:
        return LineLength(limit, source, longest, 0, limit)
    below = [b for b in totals if b <= limit]
    counted = max(below) if below else min(totals)
    return LineLength(limit, source, longest, totals[counted], counted)


# -- tool configs ---------------------------------------------------------------------


def _read_pyproject(root: Path, notes: list[str]) -> dict[str, Any]:
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        notes.append(f"pyproject.toml could not be read ({exc}); its settings were ignored")
        return {}


def _tool_table(pyproject: dict[str, Any], tool: str) -> dict[str, Any] | None:
    table = pyproject.get("tool", {})
    table = table.get(tool) if isinstance(table, dict) else None
    return table if isinstance(table, dict) else None


def _text(value: object) -> str:
    if isinstance(value, (list, bool)):
        return ",".join(map(str, value)) if isinstance(value, list) else str(value).lower()
    return str(value)


def _ini_section(path: Path, notes: list[str]) -> dict[str, str] | None:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(path.read_text("utf-8"), str(path))
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        reason = " ".join(str(exc).split())
        notes.append(f"{path.name} could not be read ({reason}); its settings were ignored")
        return None
    if not parser.has_section("flake8"):
        return None
    return {key.replace("_", "-"): " ".join(value.split())
            for key, value in parser.items("flake8")}


def _flake8_settings(root: Path, pyproject: dict[str, Any],
                     notes: list[str]) -> tuple[dict[str, str], str | None]:
    """The first [flake8] section found, in flake8's order, and where it came from."""
    for name in _FLAKE8_FILES:
        if (root / name).is_file():
            section = _ini_section(root / name, notes)
            if section is not None:
                return section, f"{name} [flake8]"
    table = _tool_table(pyproject, "flake8")
    if table is not None:
        return ({key.replace("_", "-"): _text(value) for key, value in table.items()},
                "pyproject.toml [tool.flake8]")
    return {}, None


def _line_limit(flake8: dict[str, str], flake8_source: str | None, pyproject: dict[str, Any],
                notes: list[str]) -> tuple[int, str]:
    raw = flake8.get("max-line-length")
    if raw is not None:
        if re.fullmatch("[0-9]+", raw) and int(raw) > 0:
            return int(raw), f"{flake8_source} max-line-length"
        notes.append(f"max-line-length = {raw!r} in {flake8_source} is not a positive "
                     "whole number; it was ignored")
    for tool in ("black", "ruff"):
        value = (_tool_table(pyproject, tool) or {}).get("line-length")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value, f"pyproject.toml [tool.{tool}] line-length"
    return FLAKE8_DEFAULT_MAX_LINE, "flake8 default"
