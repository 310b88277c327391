"""The repository around a stub: its index (refreshed first), retrieval and style.

Prepared once per run, before the model loads, so indexing never competes with
generation for the cores. A repository whose index cannot be built is still
filled, without retrieved context, and the report says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from codegen_hook.config import Settings, data_dir
from codegen_hook.errors import CodegenHookError
from codegen_hook.index.build import IndexReport, RepoIndex, load_index, refresh_index
from codegen_hook.index.search import Hit, SymbolSearch, render_hits, stub_hits
from codegen_hook.index.style import StyleProfile, mine_style
from codegen_hook.security.codec import codec_for
from codegen_hook.security.crypto import EncryptedCodec
from codegen_hook.stubs import Stub

__all__ = ["RepoContext", "prepare_repo_context"]


@dataclass
class RepoContext:
    root: Path
    style: StyleProfile | None = None
    search: SymbolSearch | None = None
    budget_tokens: int = 0
    report: IndexReport | None = None
    notes: list[str] = field(default_factory=list)
    codec: EncryptedCodec | None = None   # opened once per run; the audit log reuses it

    def for_stub(self, path: Path, stub: Stub) -> tuple[str, list[Hit]]:
        """Retrieved code for the prompt (within the token budget) and the hits used."""
        if self.search is None or self.budget_tokens <= 0:
            return "", []
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            rel = path.as_posix()
        hits = stub_hits(self.search, rel, stub.qualname, stub.source, stub.docstring)
        return render_hits(hits, self.budget_tokens, rel)


def prepare_repo_context(settings: Settings, root: Path) -> RepoContext:
    """Refresh and load the index of `root` (unless `index` is off) and mine its style."""
    context = RepoContext(root, budget_tokens=settings.context_tokens)
    index = RepoIndex(root, [], [])
    if settings.index:
        try:
            codec = context.codec = codec_for(settings, data_dir(settings))
            context.report = refresh_index(root, exclude=settings.index_exclude,
                                           max_file_bytes=settings.index_max_file_bytes,
                                           codec=codec)
            index = load_index(root, codec=codec)
        except (CodegenHookError, OSError) as exc:
            context.notes.append(f"the repository index is unavailable ({exc}); filling "
                                 "without repository context")
    context.style = mine_style(index, root)
    if settings.index and settings.context_tokens > 0 and index.records:
        context.search = SymbolSearch(index)
    return context
