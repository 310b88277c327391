"""Where a module sits: its dotted name and the Python files beside it that it may import.

The sandbox jobs (pipeline/matrix.py) ship the module's import tree so a candidate
imports its siblings as it would in the repository.
"""

from __future__ import annotations

import functools
from pathlib import Path, PurePosixPath

__all__ = ["collect_module_files", "module_name"]

_MAX_FILES = 2000
_MAX_BYTES = 20 << 20
_SKIP_DIRS = {"node_modules", "site-packages", "__pycache__", "venv", "build", "dist"}


def _import_root(path: Path) -> Path:
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def module_name(path: Path) -> str:
    path = path.resolve()
    rel = path.with_suffix("").relative_to(_import_root(path))
    return ".".join(rel.parts)


@functools.lru_cache(maxsize=8)
def _python_files_under(root: Path) -> tuple[tuple[str, str], ...]:
    """Python files below an import root, read once per process (a fill run is short)."""
    files: list[tuple[str, str]] = []
    size = 0
    for other in sorted(root.rglob("*.py")):
        rel = other.relative_to(root)
        if any(p.startswith(".") or p in _SKIP_DIRS for p in rel.parts[:-1]):
            continue
        try:
            text = other.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        size += len(text)
        if len(files) >= _MAX_FILES or size > _MAX_BYTES:
            break
        files.append((str(PurePosixPath(*rel.parts)), text))
    return tuple(files)


def collect_module_files(path: Path, spliced: str) -> dict[str, str]:
    """The module under test and the Python files beside it that it may import.

    Files are keyed by their path under the import root; the module itself is the
    spliced text. Hidden and virtual-env folders are skipped, and the total is capped.
    """
    path = path.resolve()
    root = _import_root(path)
    files = dict(_python_files_under(root))
    files[str(PurePosixPath(*path.relative_to(root).parts))] = spliced
    return files
