"""The repository's own index: extraction, the incremental store, retrieval, style."""

from codegen_hook.index.build import IndexReport, RepoIndex, load_index, refresh_index
from codegen_hook.index.records import FileContent, FileRecord, Skipped, Symbol

__all__ = ["FileContent", "FileRecord", "IndexReport", "RepoIndex", "Skipped", "Symbol",
           "load_index", "refresh_index"]
