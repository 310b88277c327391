"""Which stubs a pull / merge request added or changed, read from git with pygit2.

The change of a pull request is the diff from the merge-base of `base` and `head` to
`head` (GitHub's three-dot diff, GitLab's merge request diff): what the branch
introduced, not what `base` gained meanwhile. A stub is the request's business when one
of its lines in `head` (decorators to the `...`) was added by that diff, or a line inside
it was deleted. A stub that sat unchanged in `base` elsewhere in a changed file is not.

With `all_stubs` (the CLI's `--all`) every stub of every Python file in head's tree is
listed, whether the request touched it or not; `ChangedStub.in_diff` still says which
ones it did (a review can only put suggestions on lines of the diff).

Files are read from head's objects, never from the work tree; `ensure_checked_out`
says whether the work tree can be filled in place.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import DeltaStatus, DiffFind, FileMode, FileStatus

from codegen_hook.errors import GitError, SourceError
from codegen_hook.stubs import find_stubs

__all__ = [
    "ChangeSet",
    "ChangedStub",
    "changed_stubs",
    "ensure_checked_out",
    "fetch_advice",
    "open_repository",
    "resolve_commit",
]

_HEX = re.compile(r"[0-9a-fA-F]{7,64}")
_LONE_CR = re.compile(r"\r(?!\n)")
_BLOB_MODES = (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)


@dataclass(frozen=True)
class ChangedStub:
    """A stub to fill: its place in head's version of `path` (1-based, inclusive)."""

    path: str           # repository-relative, forward slashes
    qualname: str
    start_line: int     # first decorator, or the `def` line
    end_line: int       # the `...` line (or its trailing comment)
    in_diff: bool = True  # the request's diff added or changed one of these lines


@dataclass
class ChangeSet:
    base_sha: str
    head_sha: str
    merge_base_sha: str
    stubs: list[ChangedStub] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (path, why)

    def only(self, root: Path) -> dict[Path, set[str]]:
        """For `fill_paths(only=...)`: `root / path` -> the qualnames to fill there.

        `root` is the work tree's top folder; pass `fill_paths` the same paths
        (`self.paths(root)`), since `only` is looked up by the path as given."""
        out: dict[Path, set[str]] = {}
        for stub in self.stubs:
            out.setdefault(root / stub.path, set()).add(stub.qualname)
        return out

    def paths(self, root: Path) -> list[Path]:
        """The files holding stubs, as `root / path`, sorted."""
        return sorted({root / stub.path for stub in self.stubs})


def fetch_advice(rev: str) -> str:
    """What to do when a commit is missing from a (shallow) CI clone."""
    return ("fetch the full history: on GitHub Actions set `fetch-depth: 0` on "
            "`actions/checkout`; on GitLab CI set the variable `GIT_DEPTH: \"0\"`; "
            f"or run `git fetch origin {rev}` before this step")


def open_repository(root: Path) -> pygit2.Repository:
    """The repository `root` is in; GitError if there is none."""
    try:
        found = pygit2.discover_repository(str(root))
    except pygit2.GitError as exc:
        raise GitError(f"{root}: cannot look for a git repository ({exc}); run in the "
                       "checkout of the repository") from exc
    if found is None:
        raise GitError(f"{root} is not inside a git repository; run `codegen-hook ci` in "
                       "the checkout of the repository (the CI job's working directory)")
    try:
        return pygit2.Repository(found)
    except pygit2.GitError as exc:
        raise GitError(f"{found}: cannot open the git repository ({exc}); check that the "
                       "checkout is complete and readable") from exc


def resolve_commit(repo: pygit2.Repository, rev: str, what: str) -> pygit2.Commit:
    """`rev` (sha, branch, `origin/main`, tag, `HEAD~2`) as a commit; GitError if not."""
    if not rev or rev.startswith("-"):
        raise GitError(f"{what} {rev!r} is not a revision; pass a commit sha or a ref name")
    try:
        obj = repo.revparse_single(rev)
    except KeyError as exc:
        raise GitError(_missing_message(repo, rev, what)) from exc
    except (pygit2.GitError, ValueError) as exc:   # ambiguous or malformed
        raise GitError(f"{what} {rev!r} cannot be resolved ({exc}); pass the full "
                       "commit sha") from exc
    try:
        commit = obj.peel(pygit2.Commit)
    except (pygit2.GitError, ValueError) as exc:
        raise GitError(f"{what} {rev!r} names a {obj.type_str}, not a commit; pass a "
                       "commit sha or a branch") from exc
    if not isinstance(commit, pygit2.Commit):  # pragma: no cover - peel's contract
        raise GitError(f"{what} {rev!r} is not a commit; pass a commit sha or a branch")
    return commit


def _missing_message(repo: pygit2.Repository, rev: str, what: str) -> str:
    shallow = repo.is_shallow
    if _HEX.fullmatch(rev):
        why = (" (the clone is shallow: it holds only the last commits)" if shallow
               else " (it was never fetched: a fork's commit, or a history rewritten "
                    "since)")
        return f"the {what} commit {rev} is not in this clone{why}; {fetch_advice(rev)}"
    name = re.sub(r"^(refs/remotes/)?origin/", "", rev)
    message = (f"unknown {what} ref {rev!r}: no branch, tag or commit of that name in "
               f"this clone; fetch it (`git fetch origin {name}`) or pass a commit sha")
    if shallow:
        message += f"; the clone is also shallow: {fetch_advice(name)}"
    return message


def _merge_base(repo: pygit2.Repository, base: pygit2.Commit,
                head: pygit2.Commit) -> pygit2.Oid:
    try:
        found: pygit2.Oid | None = repo.merge_base(base.id, head.id)
    except KeyError:
        found = None
    except pygit2.GitError as exc:
        raise GitError(f"cannot compute the merge base of {base.id} and {head.id} ({exc}); "
                       f"{fetch_advice(str(base.id))}") from exc
    if found is not None:
        return found
    if repo.is_shallow:
        raise GitError(
            f"base {base.id} and head {head.id} have no common commit in this clone: it "
            "is shallow and stops before the commit head was branched from; "
            + fetch_advice(str(base.id)))
    raise GitError(
        f"base {base.id} and head {head.id} share no history (unrelated histories); pass "
        "as --base the branch or commit that head was branched from")


def _decode(data: bytes) -> str:
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


@dataclass
class _Touched:
    """The lines of one file in head that the request's diff added or cut into."""

    added: set[int] = field(default_factory=set)
    cuts: list[int] = field(default_factory=list)  # a deletion between line n and n+1
    whole: bool = False                            # added, copied, or a new kind of file

    def hits(self, start: int, end: int) -> bool:
        if self.whole:
            return True
        return (any(start <= line <= end for line in self.added)
                or any(start <= cut < end for cut in self.cuts))


def _touched(patch: pygit2.Patch) -> _Touched:
    touched = _Touched()
    status = patch.delta.status
    if status in (DeltaStatus.ADDED, DeltaStatus.COPIED, DeltaStatus.TYPECHANGE):
        touched.whole = True
        return touched
    for hunk in patch.hunks:
        if hunk.new_lines == 0:
            touched.cuts.append(hunk.new_start)
        for line in hunk.lines:
            if line.origin == "+":
                touched.added.add(line.new_lineno)
    return touched


class _Collector:
    def __init__(self, repo: pygit2.Repository, changes: ChangeSet, max_files: int,
                 max_file_bytes: int) -> None:
        self.repo = repo
        self.changes = changes
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.files = 0

    def skip(self, path: str, why: str) -> None:
        self.changes.skipped.append((path, why))

    def admit(self, path: str, mode: int, oid: pygit2.Oid) -> pygit2.Blob | None:
        """The blob of a Python file to scan, or None (and the reason recorded)."""
        if mode == FileMode.LINK:
            self.skip(path, "a symlink in head; fill the file it points to")
            return None
        if mode == FileMode.COMMIT:
            self.skip(path, "a submodule; run the bot in that repository")
            return None
        if mode not in _BLOB_MODES:
            self.skip(path, "not a regular file in head")
            return None
        if self.files >= self.max_files:
            self.skip(path, f"over the file cap ({self.max_files} files a run); split the "
                            "change or raise the cap")
            return None
        blob = self.repo.get(oid)
        if not isinstance(blob, pygit2.Blob):
            self.skip(path, "its object is missing from this clone; fetch the full history")
            return None
        if blob.size > self.max_file_bytes:
            self.skip(path, f"too large ({blob.size} bytes, the limit is "
                            f"{self.max_file_bytes}); fill it locally with "
                            "`codegen-hook fill`")
            return None
        if blob.is_binary:
            self.skip(path, "binary content (not text); nothing to fill")
            return None
        self.files += 1
        return blob

    def scan(self, path: str, blob: pygit2.Blob, touched: _Touched | None,
             keep_all: bool) -> None:
        try:
            text = _decode(blob.data)
        except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
            self.skip(path, f"not valid text in its declared encoding ({exc}); save it "
                            "as UTF-8")
            return
        try:
            scan = find_stubs(text, path)
        except SourceError as exc:
            self.skip(path, f"does not parse in head: {exc}")
            return
        if touched is not None and _LONE_CR.search(text):
            touched = _Touched(whole=True)  # git counts `\n` lines, the parser `\r` too
        for stub in scan.stubs:
            in_diff = touched is not None and touched.hits(stub.start_line, stub.end_line)
            if in_diff or keep_all:
                self.changes.stubs.append(ChangedStub(
                    path, stub.qualname, stub.start_line, stub.end_line, in_diff))


def _tree_files(repo: pygit2.Repository, tree: pygit2.Tree,
                prefix: str = "") -> Iterator[tuple[str, int, pygit2.Oid]]:
    for entry in tree:
        path = prefix + (entry.name or "")
        if isinstance(entry, pygit2.Tree):
            yield from _tree_files(repo, entry, path + "/")
        elif path.endswith(".py"):
            yield path, int(entry.filemode), entry.id


def changed_stubs(root: Path, base: str, head: str, *, all_stubs: bool = False,
                  max_files: int = 500, max_file_bytes: int = 1_000_000) -> ChangeSet:
    """The stubs the request from `base` to `head` added or changed (see the module doc).

    Raises GitError when a revision is unknown or missing from the clone, when base and
    head share no history, or when `root` is not in a git repository."""
    repo = open_repository(root)
    base_commit = resolve_commit(repo, base, "base")
    head_commit = resolve_commit(repo, head, "head")
    merge_base = _merge_base(repo, base_commit, head_commit)
    changes = ChangeSet(str(base_commit.id), str(head_commit.id), str(merge_base))
    collect = _Collector(repo, changes, max_files, max_file_bytes)

    old_tree = repo[merge_base].peel(pygit2.Tree)
    diff = old_tree.diff_to_tree(head_commit.tree, context_lines=0, interhunk_lines=0)
    diff.find_similar(DiffFind.FIND_RENAMES)
    deltas = list(diff.deltas)
    entries = sorted((delta.new_file.path, index) for index, delta in enumerate(deltas))
    touched: dict[str, _Touched] = {}
    for path, index in entries:
        delta = deltas[index]
        if not path.endswith(".py"):
            if not all_stubs:
                collect.skip(path, "not a Python file")
            continue
        if delta.status == DeltaStatus.DELETED:
            if not all_stubs:
                collect.skip(path, "deleted in head")
            continue
        if all_stubs:
            patch = diff[index]
            if patch is not None:
                touched[path] = _touched(patch)
            continue
        blob = collect.admit(path, int(delta.new_file.mode), delta.new_file.id)
        if blob is None:
            continue
        patch = diff[index]
        if patch is not None:
            collect.scan(path, blob, _touched(patch), keep_all=False)

    if all_stubs:
        for path, mode, oid in sorted(_tree_files(repo, head_commit.tree)):
            blob = collect.admit(path, mode, oid)
            if blob is not None:
                collect.scan(path, blob, touched.get(path, _Touched()), keep_all=True)
    changes.stubs.sort(key=lambda stub: (stub.path, stub.start_line))
    return changes


def ensure_checked_out(root: Path, head: str) -> str:
    """Check that the work tree is head, with no local changes to tracked files.

    Returns head's full sha. The bot fills the files on disk and commits on top of head,
    so anything else would mix other content into its commit."""
    repo = open_repository(root)
    if repo.is_bare or repo.workdir is None:
        raise GitError(f"{root} is a bare repository; run in a checkout with a work tree")
    head_commit = resolve_commit(repo, head, "head")
    if repo.head_is_unborn:
        raise GitError(f"the work tree has no commit checked out; check out head first "
                       f"(`git checkout --detach {head_commit.id}`)")
    current = repo.head.peel(pygit2.Commit).id
    if current != head_commit.id:
        raise GitError(f"the work tree is at {current}, not at head {head_commit.id}; "
                       f"check out head first (`git checkout --detach {head_commit.id}`)")
    dirty = sorted(path for path, flags in repo.status(untracked_files="no").items()
                   if flags not in (FileStatus.CURRENT, FileStatus.IGNORED))
    if dirty:
        shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5
                                        else "")
        raise GitError(f"the work tree has local changes to tracked files ({shown}); run "
                       "on a clean checkout of head (commit or discard them first: "
                       "`git stash` or `git checkout -- .`)")
    return str(head_commit.id)
