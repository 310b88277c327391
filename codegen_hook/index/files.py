"""Which files an index covers.

In a git work tree: the tracked `.py` files (from the git index, via pygit2) and
the untracked ones git does not ignore, so `.gitignore` is git's own reading of it.
In a plain folder: every `.py` file below it, minus hidden and cache folders.
Symlinks are looked at, never followed blindly: a link that loops, dangles or
points outside the root is reported as skipped, with the reason.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from codegen_hook.index.records import Skipped

__all__ = ["FileList", "list_python_files", "module_name"]

_PRUNE = {"__pycache__", "node_modules", ".codegen-hook"}


@dataclass
class FileList:
    root: Path
    files: list[str] = field(default_factory=list)        # relative, `/`-separated
    skipped: list[Skipped] = field(default_factory=list)
    git: bool = False


def module_name(rel: str) -> str:
    """`src/pkg/mod.py` -> `pkg.mod`; `pkg/__init__.py` -> `pkg`."""
    parts = rel[:-3].split("/") if rel.endswith(".py") else rel.split("/")
    if len(parts) > 1 and parts[0] in ("src", "lib"):
        parts = parts[1:]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _git_candidates(root: Path) -> list[str] | None:
    import pygit2

    found = pygit2.discover_repository(str(root))
    if found is None:
        return None
    repo = pygit2.Repository(found)
    if repo.is_bare or repo.workdir is None:
        return None
    workdir = Path(repo.workdir).resolve()
    try:
        prefix = root.resolve().relative_to(workdir).as_posix()
    except ValueError:
        return None
    if prefix != "." and repo.path_is_ignored(prefix):
        return None  # an ignored folder asked for by name: index it as a plain folder
    prefix = "" if prefix == "." else prefix + "/"
    names = {entry.path for entry in repo.index if entry.mode != pygit2.GIT_FILEMODE_COMMIT}
    untracked = repo.status(untracked_files="all", ignored=False)
    names |= {path for path, flags in untracked.items() if flags & pygit2.GIT_STATUS_WT_NEW}
    rel = [name[len(prefix):] for name in names
           if name.endswith(".py") and name.startswith(prefix)]
    return sorted(rel)


def _excluded(rel: str, patterns: tuple[str, ...], folder: bool = False) -> bool:
    """fnmatch on the relative path; a folder also matches `folder/*` patterns."""
    return any(fnmatch.fnmatch(rel, p) or (folder and fnmatch.fnmatch(rel + "/", p))
               for p in patterns)


def _walk_candidates(root: Path, patterns: tuple[str, ...], skipped: list[Skipped]) -> list[str]:
    out: list[str] = []
    top = str(root)
    for folder, dirs, names in os.walk(top, followlinks=False):
        rel_folder = os.path.relpath(folder, top)
        prefix = "" if rel_folder == "." else rel_folder.replace(os.sep, "/") + "/"
        keep = []
        for name in sorted(dirs):
            rel = prefix + name
            if name.startswith(".") or name in _PRUNE or _excluded(rel, patterns, True):
                continue
            if os.path.islink(os.path.join(folder, name)):
                skipped.append(Skipped(rel, "symlinked folder, not followed (it may loop)"))
                continue
            keep.append(name)
        dirs[:] = keep
        out += [prefix + n for n in names if n.endswith(".py")]
    return sorted(out)


def _check_link(root: Path, rel: str) -> str | None:
    """Why a symlinked file cannot be indexed, or None if its target is fine."""
    path = root / rel
    try:
        target = path.resolve(strict=True)
    except RuntimeError:
        return "symlink loop"
    except OSError as exc:
        return f"symlink loop or dangling symlink ({exc.strerror or exc})"
    try:
        target.relative_to(root.resolve())
    except ValueError:
        return f"symlink to {target}, outside the indexed folder"
    return None


def list_python_files(root: Path, exclude: Iterable[str] = (), use_git: bool = True) -> FileList:
    """The `.py` files under `root` that belong in its index."""
    root = root.resolve()
    listing = FileList(root)
    patterns = tuple(exclude)
    from_git = _git_candidates(root) if use_git else None
    if from_git is not None:
        listing.git = True
        candidates = from_git
    else:
        candidates = _walk_candidates(root, patterns, listing.skipped)
    for rel in candidates:
        if _excluded(rel, patterns):
            continue
        try:
            mode = os.lstat(os.path.join(root, rel)).st_mode
        except OSError:
            continue  # tracked but deleted in the work tree: not there to index
        if stat.S_ISLNK(mode):
            reason = _check_link(root, rel)
            if reason:
                listing.skipped.append(Skipped(rel, reason))
                continue
        elif not stat.S_ISREG(mode):
            listing.skipped.append(Skipped(rel, "not a regular file"))
            continue
        listing.files.append(rel)
    return listing
