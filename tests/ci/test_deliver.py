"""commit_files / push_commit / format_patch on real repositories and real remotes:
a bare repository over file://, and git's own smart-HTTP server (git http-backend) behind
basic auth, for the token, the refusals and a pre-receive hook."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pygit2
import pytest

from codegen_hook.ci.deliver import (
    GITHUB_USERNAME,
    GITLAB_USERNAME,
    PushRefused,
    RemoteMovedError,
    commit_files,
    format_patch,
    push_commit,
    push_credentials,
)
from codegen_hook.errors import GitError

SIG = pygit2.Signature("Dev", "dev@example.com", 1_700_000_000, 120)
BOT = ("codegen-hook", "bot@example.com")
STUB = 'def add(a: int, b: int) -> int:\n    """Add."""\n    ...\n'
FILLED = STUB.replace("    ...\n", "    return a + b\n")
GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}


def git(*args: str, cwd: Path, data: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=data, capture_output=True,
                          check=True, env={**os.environ, **GIT_ENV})
    return done.stdout.decode()


def commit(repo: pygit2.Repository, branch: str, files: dict[str, bytes],
           mode: int = pygit2.GIT_FILEMODE_BLOB) -> pygit2.Oid:
    ref = f"refs/heads/{branch}"
    parent = repo.references[ref].target if ref in repo.references else None
    index = pygit2.Index()
    if parent is not None:
        index.read_tree(repo[parent].peel(pygit2.Tree))
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), mode))
    oid = repo.create_commit(None, SIG, SIG, f"edit {branch}\n", index.write_tree(repo),
                             [parent] if parent is not None else [])
    repo.references.create(ref, oid, force=True)
    return oid


class World:
    """A bare `origin` with main and feature, and a clone of it (`work`) at feature."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.origin = pygit2.init_repository(str(tmp / "origin.git"), bare=True,
                                             initial_head="main")
        commit(self.origin, "main", {"pkg/mod.py": b"x = 1\n"})
        commit(self.origin, "main", {"run.sh": b"#!/bin/sh\n"}, pygit2.GIT_FILEMODE_BLOB_EXECUTABLE)
        self.origin.references.create("refs/heads/feature",
                                      self.origin.references["refs/heads/main"].target)
        self.head = commit(self.origin, "feature", {"pkg/mod.py": STUB.encode()})
        self.work = tmp / "work"
        git("clone", "-q", "--branch", "feature", self.url, str(self.work), cwd=tmp)
        self.repo = pygit2.Repository(str(self.work))

    @property
    def url(self) -> str:
        return f"file://{self.tmp / 'origin.git'}"

    def remote_tip(self, branch: str = "feature") -> str:
        return str(self.origin.references[f"refs/heads/{branch}"].target)

    def fill(self) -> str:
        (self.work / "pkg" / "mod.py").write_text(FILLED)
        return commit_files(self.work, str(self.head), {"pkg/mod.py": FILLED.encode()},
                            author=BOT, message="Fill 1 stub\n\nadd: verified\n")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def changed_paths(repo: pygit2.Repository, new: str) -> list[str]:
    commit_ = repo[new].peel(pygit2.Commit)
    diff = commit_.parents[0].tree.diff_to_tree(commit_.tree)
    return [delta.new_file.path for delta in diff.deltas]


# ---------------------------------------------------------------------------- commit

def test_commit_on_a_branch_advances_it(world: World) -> None:
    new = world.fill()
    made = world.repo[new].peel(pygit2.Commit)
    assert made.parent_ids == [world.head]
    assert (made.author.name, made.author.email) == BOT
    assert (made.committer.name, made.committer.email) == BOT
    assert made.message == "Fill 1 stub\n\nadd: verified\n"
    assert changed_paths(world.repo, new) == ["pkg/mod.py"]
    assert made.tree["pkg/mod.py"].data == FILLED.encode()
    assert made.tree["run.sh"].filemode == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE
    assert not world.repo.head_is_detached
    assert world.repo.head.name == "refs/heads/feature"
    assert str(world.repo.head.target) == new
    assert git("status", "--porcelain", cwd=world.work) == ""   # the index followed
    assert world.remote_tip() == str(world.head)                 # nothing pushed


def test_commit_on_a_detached_head_stays_detached(world: World) -> None:
    git("checkout", "-q", "--detach", str(world.head), cwd=world.work)
    files = {"pkg/mod.py": FILLED.encode(), "pkg/new.py": b"y = 2\n",
             "run.sh": b"#!/bin/sh\necho hi\n"}
    new = commit_files(world.work, "HEAD", files, author=pygit2.Signature(*BOT),
                       message="fill")
    repo = world.repo
    assert repo.head_is_detached and str(repo.head.target) == new
    assert repo.references["refs/heads/feature"].target == world.head
    made = repo[new].peel(pygit2.Commit)
    assert sorted(changed_paths(repo, new)) == ["pkg/mod.py", "pkg/new.py", "run.sh"]
    assert made.tree["run.sh"].filemode == pygit2.GIT_FILEMODE_BLOB_EXECUTABLE  # kept
    assert made.message == "fill\n"


def test_commit_moves_no_ref_when_head_is_not_checked_out(world: World) -> None:
    git("checkout", "-q", "main", cwd=world.work)
    before = world.repo.head.target
    new = commit_files(world.work, str(world.head), {"pkg/mod.py": FILLED.encode()},
                       author=BOT, message="fill")
    assert world.repo.head.target == before and world.repo.head.name == "refs/heads/main"
    assert world.repo[new].peel(pygit2.Commit).parent_ids == [world.head]


def test_commit_refuses_bad_input(world: World, tmp_path: Path) -> None:
    head = str(world.head)
    for path in ("../x.py", "/abs.py", ".git/config", "a//b.py", "pkg\\m.py"):
        with pytest.raises(GitError, match="not a repository-relative path"):
            commit_files(world.work, head, {path: b""}, author=BOT, message="m")
    with pytest.raises(GitError, match="nothing to commit"):
        commit_files(world.work, head, {"pkg/mod.py": STUB.encode()}, author=BOT,
                     message="m")
    with pytest.raises(GitError, match="commit message is empty"):
        commit_files(world.work, head, {"pkg/mod.py": b"z\n"}, author=BOT, message=" \n")
    for clash in ({"pkg": b"z\n"}, {"pkg/mod.py/x.py": b"z\n"},
                  {"new/a.py": b"", "new/a.py/b.py": b""}):
        with pytest.raises(GitError, match="folder and a file"):
            commit_files(world.work, head, clash, author=BOT, message="m")
    link = commit(world.repo, "feature", {"l.py": b"pkg/mod.py"}, pygit2.GIT_FILEMODE_LINK)
    with pytest.raises(GitError, match="l.py is a symlink in head"):
        commit_files(world.work, str(link), {"l.py": b"z\n"}, author=BOT, message="m")


# ---------------------------------------------------------------------------- patch

def test_format_patch_applies_with_git_am(world: World, tmp_path: Path) -> None:
    git("checkout", "-q", "--detach", str(world.head), cwd=world.work)
    files = {"pkg/mod.py": FILLED.encode(), "data.bin": bytes(range(256)) * 4,
             "pkg/ünï.py": "s = 'ü'\n".encode()}
    new = commit_files(world.work, "HEAD", files, author=("Jürgen Ö, Bot", "bot@example.com"),
                       message="Fill stubs: ünïcode\n\nadd: verified in the sandbox\n")
    patch = format_patch(world.work, new)
    assert patch.startswith(f"From {new} Mon Sep 17 00:00:00 2001\nFrom: ")
    assert "\nSubject: [PATCH] =?utf-8?q?" in patch
    assert "\nContent-Type: text/plain; charset=UTF-8\n" in patch
    assert "\n---\n" in patch and " 3 files changed, " in patch
    assert "GIT binary patch" in patch
    assert patch.endswith("\n-- \ncodegen-hook 0.1.0\n\n")
    fresh = tmp_path / "fresh"
    git("clone", "-q", world.url, str(fresh), cwd=tmp_path)
    git("checkout", "-q", "--detach", str(world.head), cwd=fresh)
    git("am", "-q", cwd=fresh, data=patch.encode("utf-8", "surrogateescape"))
    applied = pygit2.Repository(str(fresh)).head.peel(pygit2.Commit)
    made = world.repo[new].peel(pygit2.Commit)
    assert applied.tree_id == made.tree_id
    assert applied.message == made.message
    assert (applied.author.name, applied.author.email) == ("Jürgen Ö, Bot", "bot@example.com")
    assert applied.author.time == made.author.time
    assert applied.author.offset == made.author.offset


def test_format_patch_matches_git_for_a_plain_commit(world: World) -> None:
    new = world.fill()
    ours = format_patch(world.work, new)
    theirs = git("format-patch", "-1", "--stdout", "--full-index", "--abbrev=7", new,
                 cwd=world.work)

    def normal(text: str) -> str:
        text = re.sub(r"^index ([0-9a-f]{7})[0-9a-f]*\.\.([0-9a-f]{7})[0-9a-f]*",
                      r"index \1..\2", text, flags=re.M)
        return text.rsplit("\n-- \n", 1)[0]
    assert normal(ours) == normal(theirs)


# ---------------------------------------------------------------------------- push

def push(world: World, new: str, expected: str | None = None, **kw: Any) -> None:
    args: dict[str, Any] = {"remote": "origin", "branch": "feature", "token": None,
                            "username": GITHUB_USERNAME,
                            "expected_remote_head": str(world.head) if expected is None
                            else expected}
    args.update(kw)
    push_commit(world.work, new, **args)


def test_push_over_file_url(world: World) -> None:
    new = world.fill()
    push(world, new)
    assert world.remote_tip() == new
    other = world.tmp / "other"
    git("clone", "-q", "--branch", "feature", world.url, str(other), cwd=world.tmp)
    assert (other / "pkg" / "mod.py").read_text() == FILLED
    # by URL, to a new branch (expected "": it must not exist yet)
    push(world, new, expected="", remote=world.url, branch="refs/heads/bot/fill")
    assert world.remote_tip("bot/fill") == new


def test_push_refuses_when_the_remote_moved(world: World) -> None:
    new = world.fill()
    moved = commit(world.origin, "feature", {"pkg/other.py": b"z = 3\n"})
    with pytest.raises(RemoteMovedError, match=f"the branch feature moved since this job "
                                               f"started \\(now {moved}\\); nothing was "
                                               "pushed; re-run the job"):
        push(world, new)
    assert world.remote_tip() == str(moved)
    world.origin.references.delete("refs/heads/feature")
    with pytest.raises(RemoteMovedError, match=r"moved since this job started \(deleted\)"):
        push(world, new)


def test_push_catches_a_move_between_the_check_and_the_upload(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    new = world.fill()
    listed = pygit2.Remote.list_heads
    moved: list[pygit2.Oid] = []

    def list_then_move(self: pygit2.Remote, *args: Any, **kwargs: Any) -> Any:
        heads = listed(self, *args, **kwargs)
        moved.append(commit(world.origin, "feature", {"pkg/other.py": b"z = 3\n"}))
        return heads

    monkeypatch.setattr(pygit2.Remote, "list_heads", list_then_move)
    with pytest.raises(RemoteMovedError) as caught:
        push(world, new)
    assert f"moved since this job started (now {moved[0]})" in str(caught.value)
    assert world.remote_tip() == str(moved[0])


def test_push_refuses_a_commit_not_on_top_of_the_branch(world: World) -> None:
    stray = commit_files(world.work, "origin/main", {"pkg/mod.py": b"q = 1\n"}, author=BOT,
                         message="stray")
    with pytest.raises(GitError, match="is not on top of"):
        push(world, stray)
    new = world.fill()
    with pytest.raises(GitError, match="no remote named 'upstream'"):
        push(world, new, remote="upstream")
    with pytest.raises(GitError, match="not a branch name"):
        push(world, new, branch="refs/tags/v1")


def test_a_push_the_remote_refuses_is_push_refused(world: World) -> None:
    new = world.fill()
    lock = world.tmp / "origin.git" / "refs" / "heads" / "feature.lock"
    lock.write_text("held by someone else\n")
    with pytest.raises(PushRefused, match="refused the update of refs/heads/feature .*"
                                          "deliver them as a review or a patch"):
        push(world, new)
    lock.unlink()
    assert world.remote_tip() == str(world.head)


# ------------------------------------------------------------- push over smart HTTP

TOKEN = "s3cr3t-token-value"
READ_ONLY = "read-only-token"


class GitHTTP(BaseHTTPRequestHandler):
    """git http-backend as CGI behind basic auth: TOKEN may push, READ_ONLY may read."""

    project_root = ""

    def log_message(self, *args: Any) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.serve()

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.serve()

    def user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        for token in (TOKEN, READ_ONLY):
            if auth == "Basic " + base64.b64encode(f"{GITHUB_USERNAME}:{token}".encode()
                                                   ).decode():
                return token
        return None

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def serve(self) -> None:
        data = self.body()
        user = self.user()
        if user is None:
            self.answer(401, [("WWW-Authenticate", 'Basic realm="git"')], b"")
            return
        path, _, query = self.path.partition("?")
        if user == READ_ONLY and "receive-pack" in self.path:
            self.answer(403, [], b"Permission to origin.git denied to bot.\n")
            return
        env = {"PATH": os.environ["PATH"], "GIT_PROJECT_ROOT": self.project_root,
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "REMOTE_USER": "bot",
               "REMOTE_ADDR": "127.0.0.1", "CONTENT_LENGTH": str(len(data)),
               "CONTENT_TYPE": self.headers.get("Content-Type", "")}
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        out = subprocess.run(["git", "http-backend"], input=data, env=env,
                             capture_output=True).stdout
        end = re.search(rb"\r?\n\r?\n", out)
        head, payload = (out[:end.start()], out[end.end():]) if end else (out, b"")
        status, headers = 200, []
        for line in head.decode().splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key, value.strip()))
        self.answer(status, headers, payload)


@pytest.fixture
def served(world: World) -> Iterator[str]:
    GitHTTP.project_root = str(world.tmp)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), GitHTTP)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/origin.git"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_push_over_http_with_the_token(world: World, served: str) -> None:
    new = world.fill()
    push(world, new, remote=served, token=TOKEN)
    assert world.remote_tip() == new


def test_a_wrong_or_missing_token_is_refused_and_never_shown(world: World,
                                                             served: str) -> None:
    new = world.fill()
    wrong = "wrong-" + TOKEN
    with pytest.raises(PushRefused, match="did not accept the token") as caught:
        push(world, new, remote=served, token=wrong)
    assert wrong not in str(caught.value) and TOKEN not in str(caught.value)
    with pytest.raises(PushRefused, match="asks for credentials and no token was given"):
        push(world, new, remote=served)
    in_url = served.replace("http://", "http://someone:hunter2@")
    with pytest.raises(PushRefused) as caught:
        push(world, new, remote=in_url)
    assert "hunter2" not in str(caught.value) and "***@" in str(caught.value)
    assert world.remote_tip() == str(world.head)


def test_a_read_only_token_is_push_refused(world: World, served: str) -> None:
    new = world.fill()
    with pytest.raises(PushRefused, match="403") as caught:
        push(world, new, remote=served, token=READ_ONLY)
    assert READ_ONLY not in str(caught.value)
    assert world.remote_tip() == str(world.head)


def test_a_declining_pre_receive_hook_is_push_refused(world: World, served: str) -> None:
    hook = world.tmp / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)
    new = world.fill()
    with pytest.raises(PushRefused, match="pre-receive hook declined"):
        push(world, new, remote=served, token=TOKEN)
    assert world.remote_tip() == str(world.head)


@pytest.mark.parametrize("kind, env, expected", [
    ("github", {"GITHUB_TOKEN": "gh"}, ("gh", GITHUB_USERNAME)),
    ("gitlab", {"GITLAB_TOKEN": "gl"}, ("gl", GITLAB_USERNAME)),
    ("auto", {"GITLAB_CI": "true", "GITLAB_TOKEN": "gl", "GITHUB_TOKEN": "gh"},
     ("gl", GITLAB_USERNAME)),
    ("auto", {"GITHUB_ACTIONS": "true", "GITLAB_TOKEN": "gl", "GITHUB_TOKEN": "gh"},
     ("gh", GITHUB_USERNAME)),
    # the project's own token wins over the job's
    ("github", {"CODEGEN_HOOK_FORGE_TOKEN": "pat", "GITHUB_TOKEN": "gh"},
     ("pat", GITHUB_USERNAME)),
    # another forge's token is never sent: no token, the remote's own credentials apply
    ("github", {"GITLAB_TOKEN": "gl"}, ("", GITHUB_USERNAME)),
    ("gitlab", {"GITLAB_TOKEN": "  "}, ("", GITLAB_USERNAME)),
])
def test_push_credentials_take_the_forges_token_and_username(
        kind: str, env: dict[str, str], expected: tuple[str, str]) -> None:
    assert push_credentials(env, kind) == expected
