"""changed_stubs / ensure_checked_out on real repositories with branches and histories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from codegen_hook.ci.changes import ChangedStub, changed_stubs, ensure_checked_out
from codegen_hook.errors import GitError

SIG = pygit2.Signature("Dev", "dev@example.com", 1_700_000_000, 0)


def stub(name: str, doc: str = "Do it.", indent: str = "") -> str:
    return (f'{indent}def {name}(x: int) -> int:\n{indent}    """{doc}"""\n'
            f"{indent}    ...\n")


def init(path: Path) -> pygit2.Repository:
    return pygit2.init_repository(str(path), initial_head="main")


def commit(repo: pygit2.Repository, branch: str, files: dict[str, str | bytes | None],
           message: str = "change", parent: pygit2.Oid | None | str = "branch",
           link: tuple[str, str] | None = None) -> pygit2.Oid:
    """Commit `files` (None deletes) on `branch`, on top of its tip (or `parent`)."""
    ref = f"refs/heads/{branch}"
    if parent == "branch":
        parent = repo.references[ref].target if ref in repo.references else None
    index = pygit2.Index()
    if isinstance(parent, pygit2.Oid):
        index.read_tree(repo[parent].peel(pygit2.Tree))
    for path, data in files.items():
        if data is None:
            index.remove(path)
            continue
        raw = data.encode() if isinstance(data, str) else data
        index.add(pygit2.IndexEntry(path, repo.create_blob(raw), pygit2.GIT_FILEMODE_BLOB))
    if link:
        index.add(pygit2.IndexEntry(link[0], repo.create_blob(link[1].encode()),
                                    pygit2.GIT_FILEMODE_LINK))
    parents = [parent] if isinstance(parent, pygit2.Oid) else []
    oid = repo.create_commit(None, SIG, SIG, message + "\n", index.write_tree(repo), parents)
    repo.references.create(ref, oid, force=True)
    return oid


def names(changes: object) -> list[tuple[str, str]]:
    return [(s.path, s.qualname) for s in getattr(changes, "stubs")]


BASE_MOD = ("import os\n\n\n" + stub("old", "An old stub.") + "\n\n"
            "def done(x: int) -> int:\n    return x\n")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    repo = init(tmp_path / "repo")
    commit(repo, "main", {"pkg/mod.py": BASE_MOD, "pkg/other.py": stub("elsewhere")})
    return repo


def root(repo: pygit2.Repository) -> Path:
    return Path(repo.workdir)


def branch(repo: pygit2.Repository, name: str, start: str = "main") -> None:
    repo.references.create(f"refs/heads/{name}", repo.references[f"refs/heads/{start}"].target)


def test_added_stubs_are_found_and_an_old_one_is_not(repo: pygit2.Repository) -> None:
    branch(repo, "feature")
    fork = repo.references["refs/heads/main"].target
    head = commit(repo, "feature", {"pkg/mod.py": BASE_MOD + "\n\n" + stub("new") + "\n\n"
                                    "class C:\n" + stub("meth", indent="    ")})
    # main moves on after the branch point: its new stub is not the request's business
    commit(repo, "main", {"pkg/late.py": stub("late")})
    changes = changed_stubs(root(repo), "main", "feature")
    assert names(changes) == [("pkg/mod.py", "new"), ("pkg/mod.py", "C.meth")]
    assert changes.merge_base_sha == str(fork)
    assert changes.head_sha == str(head)
    assert changes.base_sha == str(repo.references["refs/heads/main"].target)
    new = changes.stubs[0]
    text = repo[head].peel(pygit2.Tree)["pkg/mod.py"].data.decode().splitlines()
    assert text[new.start_line - 1].startswith("def new(")
    assert text[new.end_line - 1].strip() == "..."
    assert all(s.in_diff for s in changes.stubs)
    only = changes.only(Path("/w"))
    assert only == {Path("/w/pkg/mod.py"): {"new", "C.meth"}}
    assert changes.paths(Path("/w")) == [Path("/w/pkg/mod.py")]


def test_a_modified_stub_is_found_and_its_unchanged_neighbour_is_not(
        repo: pygit2.Repository) -> None:
    two = stub("first", "One.\n\n    More words.\n    ") + "\n\n" + stub("second", "Two.")
    commit(repo, "main", {"pkg/two.py": two})
    branch(repo, "docs")
    branch(repo, "cut")
    commit(repo, "docs", {"pkg/two.py": two.replace("Two.", "Two, better.")})
    assert names(changed_stubs(root(repo), "main", "docs")) == [("pkg/two.py", "second")]
    # a pure deletion inside a stub changes it too
    commit(repo, "cut", {"pkg/two.py": two.replace("\n    More words.", "")})
    assert names(changed_stubs(root(repo), "main", "cut")) == [("pkg/two.py", "first")]


def test_a_renamed_file_reports_only_its_new_stub(repo: pygit2.Repository) -> None:
    body = "".join(f"def f{i}(x: int) -> int:\n    return x + {i}\n\n\n" for i in range(12))
    commit(repo, "main", {"pkg/util.py": body + stub("kept")})
    branch(repo, "move")
    commit(repo, "move", {"pkg/util.py": None,
                          "pkg/tools.py": body + stub("kept") + "\n\n" + stub("added")})
    changes = changed_stubs(root(repo), "main", "move")
    assert names(changes) == [("pkg/tools.py", "added")]
    assert changes.skipped == []          # a rename is not a deletion
    branch(repo, "plain-move")
    commit(repo, "plain-move", {"pkg/util.py": None, "pkg/moved.py": body + stub("kept")})
    assert changed_stubs(root(repo), "main", "plain-move").stubs == []


def test_a_stub_deleted_in_head_is_not_listed(repo: pygit2.Repository) -> None:
    branch(repo, "drop")
    commit(repo, "drop", {"pkg/mod.py": BASE_MOD.replace(stub("old", "An old stub."), ""),
                          "pkg/other.py": None})
    changes = changed_stubs(root(repo), "main", "drop")
    assert changes.stubs == []
    assert changes.skipped == [("pkg/other.py", "deleted in head")]


def test_binary_non_python_large_broken_and_linked_files_are_skipped(
        repo: pygit2.Repository) -> None:
    branch(repo, "mixed")
    commit(repo, "mixed", {"README.md": "# hi\n", "pkg/blob.py": b"\x00\x01\x02" * 100,
                           "pkg/big.py": stub("big") + "#" * 3000 + "\n",
                           "pkg/broken.py": "def (:\n", "pkg/ok.py": stub("ok")},
           link=("pkg/link.py", "ok.py"))
    changes = changed_stubs(root(repo), "main", "mixed", max_file_bytes=2000)
    assert names(changes) == [("pkg/ok.py", "ok")]
    reasons = dict(changes.skipped)
    assert set(reasons) == {"README.md", "pkg/blob.py", "pkg/big.py", "pkg/broken.py",
                            "pkg/link.py"}
    assert reasons["README.md"] == "not a Python file"
    assert reasons["pkg/blob.py"].startswith("binary")
    assert reasons["pkg/big.py"].startswith("too large (")
    assert "limit is 2000" in reasons["pkg/big.py"]
    assert reasons["pkg/broken.py"].startswith("does not parse in head")
    assert reasons["pkg/link.py"].startswith("a symlink")


def test_the_file_cap_skips_the_rest(repo: pygit2.Repository) -> None:
    branch(repo, "wide")
    commit(repo, "wide", {f"pkg/m{i}.py": stub(f"s{i}") for i in range(5)})
    changes = changed_stubs(root(repo), "main", "wide", max_files=2)
    assert names(changes) == [("pkg/m0.py", "s0"), ("pkg/m1.py", "s1")]
    assert [path for path, _ in changes.skipped] == ["pkg/m2.py", "pkg/m3.py", "pkg/m4.py"]
    assert all(why.startswith("over the file cap (2 files") for _, why in changes.skipped)


def test_all_stubs_lists_every_stub_of_the_head_tree(repo: pygit2.Repository) -> None:
    commit(repo, "main", {"pkg/gone.py": stub("gone")})
    branch(repo, "feature")
    commit(repo, "feature", {"pkg/mod.py": BASE_MOD + "\n\n" + stub("new"),
                             "pkg/gone.py": None, "notes.txt": "x\n"})
    changes = changed_stubs(root(repo), "main", "feature", all_stubs=True)
    assert changes.stubs == [
        ChangedStub("pkg/mod.py", "old", 4, 6, in_diff=False),
        ChangedStub("pkg/mod.py", "new", 13, 15, in_diff=True),
        ChangedStub("pkg/other.py", "elsewhere", 1, 3, in_diff=False),
    ]
    assert changes.skipped == []


def test_detached_head_and_a_checked_out_work_tree(repo: pygit2.Repository) -> None:
    branch(repo, "feature")
    head = commit(repo, "feature", {"pkg/new.py": stub("fresh")})
    repo.checkout_tree(repo[head])
    repo.set_head(head)                      # CI checks out a detached sha
    assert repo.head_is_detached
    changes = changed_stubs(root(repo), "main", "HEAD")
    assert names(changes) == [("pkg/new.py", "fresh")]
    assert ensure_checked_out(root(repo), str(head)) == str(head)
    with pytest.raises(GitError, match="not at head .*git checkout --detach"):
        ensure_checked_out(root(repo), "main")
    (root(repo) / "pkg" / "mod.py").write_text("changed = True\n")
    (root(repo) / "untracked.py").write_text("x = 1\n")     # untracked: fine
    with pytest.raises(GitError, match=r"local changes to tracked files \(pkg/mod.py\)"):
        ensure_checked_out(root(repo), str(head))


def test_base_missing_from_a_shallow_clone_says_how_to_fetch(
        repo: pygit2.Repository, tmp_path: Path) -> None:
    base = repo.references["refs/heads/main"].target
    branch(repo, "feature")
    commit(repo, "feature", {"pkg/new.py": stub("fresh")})
    commit(repo, "feature", {"pkg/new2.py": stub("fresh2")})
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "feature",
                    f"file://{root(repo)}", str(clone)], check=True)
    with pytest.raises(GitError) as caught:
        changed_stubs(clone, str(base), "HEAD")
    message = str(caught.value)
    assert message.startswith(f"the base commit {base} is not in this clone (the clone is "
                              "shallow")
    assert ("on GitHub Actions set `fetch-depth: 0` on `actions/checkout`; on GitLab CI set "
            'the variable `GIT_DEPTH: "0"`; or run `git fetch origin ' + str(base) + "`"
            ) in message
    # both tips fetched, each one commit deep: no merge base inside the clone
    both = tmp_path / "both"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--no-single-branch",
                    f"file://{root(repo)}", str(both)], check=True)
    with pytest.raises(GitError, match="no common commit in this clone: it is shallow.*"
                                       "fetch-depth: 0"):
        changed_stubs(both, "origin/main", "origin/feature")


def test_unknown_refs_unrelated_histories_and_no_repository(
        repo: pygit2.Repository, tmp_path: Path) -> None:
    with pytest.raises(GitError, match=r"unknown base ref 'origin/nope'.*"
                                       r"`git fetch origin nope`"):
        changed_stubs(root(repo), "origin/nope", "main")
    with pytest.raises(GitError, match="the head commit 0123456789ab is not in this clone"):
        changed_stubs(root(repo), "main", "0123456789ab")
    commit(repo, "orphan", {"alone.py": stub("alone")}, parent=None)
    with pytest.raises(GitError, match=r"share no history \(unrelated histories\)"):
        changed_stubs(root(repo), "main", "orphan")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match="is not inside a git repository"):
        changed_stubs(plain, "main", "HEAD")


def test_a_tag_and_a_sha_resolve(repo: pygit2.Repository) -> None:
    start = repo.references["refs/heads/main"].target
    repo.create_tag("v1", start, pygit2.GIT_OBJECT_COMMIT, SIG, "release\n")
    branch(repo, "feature")
    head = commit(repo, "feature", {"pkg/new.py": stub("fresh")})
    changes = changed_stubs(root(repo), "v1", str(head)[:10])
    assert names(changes) == [("pkg/new.py", "fresh")]
    assert changes.base_sha == str(start)
