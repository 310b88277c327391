"""Retrieval: rank the repository's definitions for a query or a stub with BM25.

Each definition becomes one document: the words of its qualified name (twice:
names matter most), its module path, signature, docstring and comments, with
identifiers split into words (`parse_http_date` and `parseHTTPDate` both give
parse/http/date). `bm25s` does the ranking. For a stub, the callees its docstring
names come first, then the best BM25 matches from other modules; the stub's own
module is already in the prompt (imports, neighbouring signatures, its class).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codegen_hook.index.build import RepoIndex
from codegen_hook.index.records import FileRecord, Symbol

__all__ = ["Hit", "SymbolSearch", "is_test_path", "render_hits", "split_words", "stub_hits"]

_IDENT = re.compile(r"[^\W\d]\w*")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset("""a an and are as at be by for from has have if in into is it its of on or
that the this to was were will with self cls none true false return returns def class
args kwargs param type optional default""".split())
# Code tokenizes at roughly 3.5 characters a token for the Qwen tokenizer; estimate
# on the safe side rather than load the model to count.
_CHARS_PER_TOKEN = 3.5


def split_words(text: str) -> list[str]:
    """Identifiers split into lower-case words; stop words and 1-letter words dropped."""
    out = []
    for ident in _IDENT.findall(text):
        for part in _PART.findall(ident):
            word = part.lower()
            if len(word) > 1 and word not in _STOP:
                out.append(word)
    return out


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Hit:
    path: str
    module: str
    symbol: Symbol
    score: float
    matched: tuple[str, ...]   # query words found in the definition's document
    reason: str                # why it was chosen

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "module": self.module, "qualname": self.symbol.qualname,
                "kind": self.symbol.kind, "line": self.symbol.line_start,
                "signature": self.symbol.signature, "score": round(self.score, 4),
                "matched": list(self.matched), "reason": self.reason}


def is_test_path(path: str) -> bool:
    parts = path.split("/")
    return "tests" in parts[:-1] or "test" in parts[:-1] or parts[-1].startswith("test_") \
        or parts[-1] == "conftest.py" or parts[-1].endswith("_test.py")


def _document(record: FileRecord, symbol: Symbol) -> list[str]:
    name = split_words(symbol.qualname)
    return [*name, *name, *split_words(record.module), *split_words(symbol.signature),
            *split_words(symbol.docstring or ""), *split_words(" ".join(symbol.comments))]


class SymbolSearch:
    """A BM25 index over every definition in a `RepoIndex`: stubs, local functions and
    (unless `include_tests`) test files are left out."""

    def __init__(self, index: RepoIndex, include_tests: bool = False) -> None:
        import bm25s

        self.entries: list[tuple[FileRecord, Symbol]] = [
            (record, symbol) for record in index.records for symbol in record.content.symbols
            if not symbol.is_stub and "<locals>" not in symbol.qualname
            and (include_tests or not is_test_path(record.path))]
        self.documents = [set(_document(r, s)) for r, s in self.entries]
        self.by_name: dict[str, list[int]] = {}
        for i, (_, symbol) in enumerate(self.entries):
            self.by_name.setdefault(symbol.name, []).append(i)
        self._bm25 = bm25s.BM25()
        self._vocab: set[str] = set()
        if self.entries:
            self._bm25.index([_document(r, s) for r, s in self.entries], show_progress=False)
            self._vocab = set(self._bm25.vocab_dict)

    def _hit(self, i: int, score: float, query: Iterable[str], reason: str) -> Hit:
        record, symbol = self.entries[i]
        matched = tuple(dict.fromkeys(w for w in query if w in self.documents[i]))
        return Hit(record.path, record.module, symbol, score, matched, reason)

    def _skipped(self, i: int, skip: set[tuple[str, str]]) -> bool:
        record, symbol = self.entries[i]
        return (record.path, symbol.qualname) in skip or (record.path, "*") in skip

    def search(self, query: str, k: int = 10,
               skip: Iterable[tuple[str, str]] = ()) -> list[Hit]:
        """The best `k` definitions for `query`, best first (score > 0 only); `skip`
        holds (path, qualname) pairs to leave out, qualname "*" for a whole file."""
        words = [w for w in split_words(query) if w in self._vocab]
        if not words:
            return []
        skipping = set(skip)
        want = min(len(self.entries), k + 50 if skipping else k)
        ids, scores = self._bm25.retrieve([words], k=want, show_progress=False)
        hits = []
        for i, score in zip(ids[0].tolist(), scores[0].tolist()):
            if score <= 0 or self._skipped(i, skipping):
                continue
            hits.append(self._hit(i, float(score), words, "bm25 over names, signature, "
                                                          "docstring"))
            if len(hits) == k:
                break
        return hits

    def named_in(self, text: str, skip: Iterable[tuple[str, str]] = ()) -> list[Hit]:
        """Definitions a docstring names (e.g. "uses `parse_date`"), in the order named."""
        skipping = set(skip)
        hits: list[Hit] = []
        seen: set[int] = set()
        for name in dict.fromkeys(_IDENT.findall(text)):
            for i in self.by_name.get(name, []):
                if i not in seen and not self._skipped(i, skipping):
                    seen.add(i)
                    hits.append(self._hit(i, 0.0, [name.lower()], "named in the docstring"))
        return hits


def stub_hits(search: SymbolSearch, path: str, qualname: str, source: str, docstring: str,
              k: int = 12) -> list[Hit]:
    """What a stub gets: definitions its docstring names, then the best BM25 matches
    (its own module too: a long module's prompt context is cut short); never itself."""
    skip = [(path, qualname)]
    name = qualname.rsplit(".", 1)[-1]
    query = " ".join([name, name, source])
    return search.named_in(docstring, skip) + search.search(query, k, skip)


def _summary(symbol: Symbol) -> str:
    first = (symbol.docstring or "").strip().split("\n\n")[0]
    return " ".join(first.split())[:160]


def _render(hit: Hit, own_path: str) -> str:
    """One helper as import line + signature + summary, all but the import as comments:
    a small model copies a rendered `def` instead of writing its own function."""
    symbol = hit.symbol
    if hit.path == own_path:
        head = f"# in this module: {symbol.signature}"
    elif symbol.kind == "method":
        owner = symbol.qualname.rsplit(".", 1)[0]
        head = f"# method of class {owner} (from {hit.module} import {owner.split('.')[0]}): " \
               f"{symbol.signature}"
    else:
        head = f"from {hit.module} import {symbol.name}  # {symbol.signature}"
    summary = _summary(symbol)
    return head + (f"\n#     {summary}" if summary else "")


def render_hits(hits: Iterable[Hit], budget_tokens: int,
                own_path: str = "") -> tuple[str, list[Hit]]:
    """As much of `hits` as fits in `budget_tokens`, as Python the model can read;
    definitions from `own_path` (the stub's file) need no import."""
    parts: list[str] = []
    used: list[Hit] = []
    spent = 0
    seen: set[tuple[str, str]] = set()
    for hit in hits:
        key = (hit.path, hit.symbol.qualname)
        if key in seen:
            continue
        text = _render(hit, own_path)
        cost = estimate_tokens(text) + 1
        if spent + cost > budget_tokens:
            continue
        seen.add(key)
        parts.append(text)
        used.append(hit)
        spent += cost
    return "\n".join(parts), used
