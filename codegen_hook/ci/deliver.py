"""Deliver filled stubs: one commit on top of head, a push that never forces, or a patch.

`commit_files` builds the commit from head's tree plus the given files (never from
whatever else is in the work tree) and moves HEAD only when HEAD was head.
`push_commit` pushes that commit to a branch only if the branch is still where the job
found it: checked before pushing and again, by the push itself, on the same connection
that uploads (the remote's current value is compared during negotiation), and the
refspec has no `+`, so libgit2 also refuses anything but a fast-forward.
A push the remote refuses (no rights: a pull request from a fork, a protected branch, a
token without write access) raises `PushRefused`, so the caller can fall back to a review
or a patch. Credentials travel only through the credentials callback and never appear in
a message.
`format_patch` writes the `git format-patch -1 --stdout` text of a commit (`git am`).
"""

from __future__ import annotations

import email.charset
import email.header
import email.utils
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pygit2
from pygit2.ffi import C
from pygit2.enums import CredentialType, DiffOption, DiffStatsFormat, FileMode
from pygit2.remotes import PushUpdate

from codegen_hook import __version__
from codegen_hook.ci.changes import open_repository, resolve_commit
from codegen_hook.errors import GitError
from codegen_hook.forges import forge_token

__all__ = [
    "GITHUB_USERNAME",
    "GITLAB_USERNAME",
    "PushRefused",
    "RemoteMovedError",
    "commit_files",
    "format_patch",
    "push_commit",
    "push_credentials",
]

GITHUB_USERNAME = "x-access-token"   # with a GITHUB_TOKEN or an app installation token
GITLAB_USERNAME = "oauth2"           # with a project / personal access token


def push_credentials(env: Mapping[str, str], forge_kind: str) -> tuple[str, str]:
    """(token, username) for pushing over https from CI; the token is "" when none is set
    (a push without one is left to the remote's own credentials).

    `forge_kind` is "github", "gitlab", or "auto" (GitLab when GITLAB_CI=true)."""
    gitlab = forge_kind == "gitlab" or (forge_kind == "auto" and env.get("GITLAB_CI") == "true")
    if gitlab:
        return forge_token(env, "GITLAB_TOKEN"), GITLAB_USERNAME
    return forge_token(env, "GITHUB_TOKEN"), GITHUB_USERNAME


_ZERO = "0" * 40
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_MOVED_WORDS = ("non-fast-forward", "non-fastforward", "fetch first", "stale info",
                "not present locally")
_REFUSED_WORDS = ("401", "403", "404", "authentication", "permission", "denied", "forbidden",
                  "not authorized", "unauthorized", "read-only", "read only")
_REFUSED_ADVICE = ("the changes are not pushed; deliver them as a review or a patch "
                   "instead (a pull request from a fork cannot be pushed to with the "
                   "job's token), or give the job a token with write access to the branch")


class PushRefused(GitError):
    """The remote refused the push: no rights to the branch, or a hook declined it."""


class RemoteMovedError(GitError):
    """The remote branch is no longer where the job found it; nothing was pushed."""


def _signature(author: pygit2.Signature | tuple[str, str]) -> pygit2.Signature:
    if isinstance(author, pygit2.Signature):
        return author
    name, mail = author
    try:
        return pygit2.Signature(name, mail)
    except (ValueError, pygit2.GitError) as exc:
        raise GitError(f"the author {name!r} <{mail}> is not a valid git signature ({exc}); "
                       "pass a name and an email without `<`, `>` or newlines") from exc


def _check_path(path: str) -> str:
    parts = path.split("/")
    bad = (not path or path.startswith("/") or "\\" in path or "\0" in path
           or any(part in ("", ".", "..") or part.lower() == ".git" for part in parts))
    if bad:
        raise GitError(f"{path!r} is not a repository-relative path; pass paths like "
                       "`pkg/mod.py` (forward slashes, no `..`, not inside `.git`)")
    return path


def _normal_message(message: str) -> str:
    lines = [line.rstrip() for line in message.strip().splitlines()]
    if not lines:
        raise GitError("the commit message is empty; pass a message saying what was filled")
    return "\n".join(lines) + "\n"


def _check_layout(tree: pygit2.Tree, paths: list[str]) -> None:
    """Refuse a path that would be a folder and a file at once (in head or among paths)."""
    wanted = set(paths)
    for path in paths:
        parts = path.split("/")
        folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
        clash = next((f for f in folders if f in wanted
                      or _existing_mode(tree, f) not in (None, FileMode.TREE)), None)
        if clash is None and _existing_mode(tree, path) in (FileMode.TREE, FileMode.COMMIT):
            clash = path
        if clash is not None:
            raise GitError(f"{path}: {clash} would be a folder and a file at once; pass "
                           "only regular files at paths that are files (or new) in head")


def _existing_mode(tree: pygit2.Tree, path: str) -> FileMode | None:
    try:
        entry = tree[path]
    except KeyError:
        return None
    return FileMode(entry.filemode)


def commit_files(root: Path, head: str, files: Mapping[str, bytes], *,
                 author: pygit2.Signature | tuple[str, str], message: str) -> str:
    """A new commit on top of `head`: head's tree with `files` (repo-relative path ->
    content) replaced or added; the author is also the committer. Returns its sha.

    When HEAD is at head (on a branch, or detached), HEAD moves to the new commit (the
    branch advances, or HEAD stays detached) and the git index takes the new contents of
    those paths it still had as in head. Otherwise no ref moves. Head is never rewritten."""
    repo = open_repository(root)
    head_commit = resolve_commit(repo, head, "head")
    if not files:
        raise GitError("no files to commit; pass the files the fill changed")
    signature = _signature(author)
    text = _normal_message(message)
    paths = sorted(_check_path(path) for path in files)
    _check_layout(head_commit.tree, paths)
    staged = pygit2.Index()
    staged.read_tree(head_commit.tree)
    entries: list[tuple[str, pygit2.IndexEntry]] = []
    try:
        for path in paths:
            mode = _existing_mode(head_commit.tree, path)
            if mode == FileMode.LINK:
                raise GitError(f"{path} is a symlink in head; write the file it points to "
                               "instead")
            if mode not in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE):
                mode = FileMode.BLOB  # a new file
            entry = pygit2.IndexEntry(path, repo.create_blob(files[path]), mode)
            staged.add(entry)
            entries.append((path, entry))
        tree_id = staged.write_tree(repo)
    except pygit2.GitError as exc:
        raise GitError(f"cannot build the commit's tree ({exc}); pass regular files at "
                       "repository-relative paths") from exc
    if tree_id == head_commit.tree_id:
        raise GitError("nothing to commit: the files are the same as in head")
    commit_id = repo.create_commit(None, signature, signature, text, tree_id,
                                   [head_commit.id])
    _advance_head(repo, head_commit, commit_id, entries, text.splitlines()[0])
    return str(commit_id)


def _advance_head(repo: pygit2.Repository, head: pygit2.Commit, new: pygit2.Oid,
                  entries: list[tuple[str, pygit2.IndexEntry]], subject: str) -> None:
    if repo.head_is_unborn or repo.head.target != head.id:
        return
    if repo.head_is_detached:
        repo.set_head(new)
    else:
        repo.references[repo.head.name].set_target(new, f"codegen-hook: {subject}")
    if repo.is_bare:
        return
    index = repo.index
    index.read()
    for path, entry in entries:
        old = _existing_mode(head.tree, path)
        try:
            current: pygit2.IndexEntry | None = index[path]
        except KeyError:
            current = None
        unchanged = (current is None if old is None
                     else current is not None and current.id == head.tree[path].id)
        if unchanged:
            index.add(entry)
    index.write()


# ---------------------------------------------------------------------------- push

def _redact(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "***")
    return _USERINFO.sub(r"\1***@", text)


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials once per connection; the remote's answer for our ref recorded."""

    def __init__(self, username: str, token: str | None, ref: str,
                 expected: str | None) -> None:
        super().__init__()
        self._username = username
        self._token = token
        self._asked = False
        self.ref = ref
        self.expected = expected
        self.found: str | None = None        # the remote's value of ref at negotiation
        self.negotiated = False
        self.answered = False
        self.refusal: str | None = None

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> pygit2.UserPass:
        where = _redact(url, self._token)
        if self._token is None:
            raise PushRefused(f"{where} asks for credentials and no token was given; "
                              + _REFUSED_ADVICE)
        if self._asked:
            raise PushRefused(f"{where} did not accept the token; " + _REFUSED_ADVICE)
        if not allowed_types & CredentialType.USERPASS_PLAINTEXT:
            raise PushRefused(f"{where} wants SSH credentials; use an https URL for the "
                              "remote so the token can be used")
        self._asked = True
        return pygit2.UserPass(self._username, self._token)

    def push_negotiation(self, updates: list[PushUpdate]) -> None:
        for update in updates:
            if update.dst_refname != self.ref:
                continue
            self.negotiated = True
            now = None if str(update.src) == _ZERO else str(update.src)
            self.found = now
            if now != self.expected:
                raise RemoteMovedError(_moved_message(self.ref, now))

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if refname != self.ref:
            return
        self.answered = True
        if message:
            self.refusal = _redact(message, self._token)


def _moved_message(ref: str, now: str | None) -> str:
    where = "deleted" if now is None else f"now {now}"
    return (f"the branch {ref.removeprefix('refs/heads/')} moved since this job started "
            f"({where}); nothing was pushed; re-run the job")


def _branch_ref(branch: str) -> str:
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    if not ref.startswith("refs/heads/") or not pygit2.reference_is_valid_name(ref):
        raise GitError(f"{branch!r} is not a branch name; pass the pull request's source "
                       "branch, like `feature/x`")
    return ref


def _expected_sha(repo: pygit2.Repository, expected: str) -> str | None:
    if expected in ("", _ZERO):
        return None                  # the branch must not exist yet
    if re.fullmatch(r"[0-9a-fA-F]{40}", expected):
        return expected.lower()
    return str(resolve_commit(repo, expected, "expected remote head").id)


def _open_remote(repo: pygit2.Repository, remote: str) -> pygit2.Remote:
    names = [name for name in repo.remotes.names() if name]
    try:
        if remote in names:
            return repo.remotes[remote]
        if "://" in remote or remote.startswith("/"):
            return repo.remotes.create_anonymous(remote)
    except (pygit2.GitError, ValueError) as exc:
        raise GitError(f"cannot use the remote {_redact(remote, None)!r} ({exc}); pass "
                       "a remote name or an https URL") from exc
    raise GitError(f"no remote named {remote!r} in this clone (it has: "
                   f"{', '.join(names) or 'none'}); pass a remote name or a URL")


def _failure(exc: Exception, token: str | None, where: str) -> GitError:
    text = _redact(str(exc), token)
    lowered = text.lower()
    if any(word in lowered for word in _MOVED_WORDS):
        return RemoteMovedError(f"the push to {where} was refused as not a fast-forward "
                                f"({text}): the branch moved since this job started; "
                                "nothing was pushed; re-run the job")
    if isinstance(exc, pygit2.AuthError) or any(w in lowered for w in _REFUSED_WORDS):
        return PushRefused(f"{where} refused the push ({text}); " + _REFUSED_ADVICE)
    return GitError(f"the push to {where} failed ({text}); check that the remote is "
                    "reachable from the job and re-run it")


def push_commit(root: Path, commit: str, *, remote: str, branch: str,
                expected_remote_head: str, token: str | None, username: str) -> None:
    """Push `commit` to `branch` of `remote` (a name or a URL) as a fast-forward, only if
    the branch is at `expected_remote_head` (the sha the job started from; "" when the
    branch must not exist yet). Never forces.

    Raises RemoteMovedError (a GitError) when the branch moved, PushRefused (a GitError)
    when the remote refuses the push, GitError for anything else."""
    repo = open_repository(root)
    local = resolve_commit(repo, commit, "commit")
    ref = _branch_ref(branch)
    expected = _expected_sha(repo, expected_remote_head)
    if expected is not None:
        try:
            ahead = str(local.id) == expected or repo.descendant_of(local.id, expected)
        except (KeyError, ValueError, pygit2.GitError):
            ahead = False
        if not ahead:
            raise GitError(f"commit {local.id} is not on top of {expected}, where the "
                           "branch was expected; commit on top of head first")
    # The listing and the push each get their own Remote (its own connection): the
    # listing connects as a push would, so a remote that refuses pushes says so here.
    lister = _open_remote(repo, remote)
    where = _redact(lister.url or remote, token)
    try:
        lister.connect(callbacks=_Callbacks(username, token, ref, expected),
                       direction=C.GIT_DIRECTION_PUSH)
        heads = lister.list_heads(connect=False)
    except pygit2.GitError as exc:
        raise _failure(exc, token, where) from None
    del lister
    now = next((str(head.oid) for head in heads if head.name == ref), None)
    if now != expected:
        raise RemoteMovedError(_moved_message(ref, now))

    pushing = _Callbacks(username, token, ref, expected)
    try:
        _open_remote(repo, remote).push([f"{local.id}:{ref}"], callbacks=pushing)
    except pygit2.GitError as exc:
        raise _failure(exc, token, where) from None
    if pushing.refusal is not None:
        if any(word in pushing.refusal.lower() for word in _MOVED_WORDS):
            raise RemoteMovedError(_moved_message(ref, pushing.found))
        raise PushRefused(f"{where} refused the update of {ref} ({pushing.refusal}); "
                          + _REFUSED_ADVICE)
    if not pushing.answered:
        raise GitError(f"{where} did not confirm the update of {ref}; check the branch on "
                       "the remote before re-running the job")


# ---------------------------------------------------------------------------- patch

_QP = email.charset.Charset("utf-8")
_QP.header_encoding = email.charset.QP
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
           "Dec")


def _rfc2822(when: int, offset_minutes: int) -> str:
    moment = datetime.fromtimestamp(when, timezone(timedelta(minutes=offset_minutes)))
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (f"{_DAYS[moment.weekday()]}, {moment.day} {_MONTHS[moment.month - 1]} "
            f"{moment.year} {moment:%H:%M:%S} {sign}{hours:02d}{minutes:02d}")


def _split_message(message: str) -> tuple[str, str]:
    """Subject (the first paragraph on one line, as git does) and the body."""
    paragraphs = message.strip("\n").split("\n\n", 1)
    subject = " ".join(line.strip() for line in paragraphs[0].splitlines() if line.strip())
    body = paragraphs[1].strip("\n") + "\n" if len(paragraphs) > 1 else ""
    return subject, body


def format_patch(root: Path, commit: str) -> str:
    """The `git format-patch -1 --stdout` text of `commit` against its first parent.

    Applies with `git am`. Binary changes are included as git binary patches. Bytes that
    are not UTF-8 come back as surrogate escapes: write the text with
    `.encode("utf-8", "surrogateescape")`."""
    repo = open_repository(root)
    target = resolve_commit(repo, commit, "commit")
    flags = DiffOption.SHOW_BINARY
    if target.parents:
        diff = target.parents[0].tree.diff_to_tree(target.tree, flags=flags)
    else:
        diff = target.tree.diff_to_tree(flags=flags, swap=True)
    raw = b"".join(p.data for p in diff if p is not None)
    patch = raw.decode("utf-8", "surrogateescape")
    stat = diff.stats.format(DiffStatsFormat.FULL | DiffStatsFormat.INCLUDE_SUMMARY, 72)
    author = target.author
    subject, body = _split_message(target.message)
    wide = not (subject + body + author.name + patch).isascii()
    headers = [
        f"From {target.id} Mon Sep 17 00:00:00 2001",
        "From: " + email.utils.formataddr((author.name, author.email), charset="utf-8"),
        f"Date: {_rfc2822(author.time, author.offset)}",
        "Subject: [PATCH] " + (email.header.Header(subject, _QP, maxlinelen=76).encode()
                               if not subject.isascii() else subject),
    ]
    if wide:
        headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=UTF-8",
                    "Content-Transfer-Encoding: 8bit"]
    parts = ["\n".join(headers), "\n\n", body, "---\n", stat, "\n", patch,
             f"-- \ncodegen-hook {__version__}\n\n"]
    return "".join(parts)
