"""list_python_files: git's view of a work tree, a pruned walk elsewhere, links reported."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from codegen_hook.index.files import list_python_files, module_name
from codegen_hook.index.records import Skipped


def make_files(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def make_repo(root: Path, tracked: list[str], gitignore: str = "") -> pygit2.Repository:
    repo = pygit2.init_repository(str(root))
    if gitignore:
        (root / ".gitignore").write_text(gitignore)
    make_files(root, *tracked)
    for name in tracked:
        repo.index.add(name)
    repo.index.write()
    return repo


def reasons(skipped: list[Skipped]) -> dict[str, str]:
    return {s.path: s.reason for s in skipped}


def test_plain_folder_walk_prunes_hidden_and_cache_folders(tmp_path: Path) -> None:
    make_files(tmp_path, "a.py", "pkg/__init__.py", "pkg/sub/deep.py", "notes.txt",
               "pkg/data.pyc", ".hidden/secret.py", "pkg/.venv/lib.py",
               "pkg/__pycache__/cached.py", "node_modules/dep.py", ".codegen-hook/x.py",
               ".dotfile.py")
    listing = list_python_files(tmp_path)
    assert listing.files == [".dotfile.py", "a.py", "pkg/__init__.py", "pkg/sub/deep.py"]
    assert listing.git is False
    assert listing.skipped == []
    assert listing.root == tmp_path.resolve()


def test_exclude_patterns_match_files_and_prune_folders(tmp_path: Path) -> None:
    make_files(tmp_path, "keep.py", "gen_a.py", "build/out.py", "build/deep/more.py",
               "src/mod.py", "src/mod_test.py")
    # a link inside the excluded folder would be reported if the walk went in
    os.symlink(tmp_path / "src", tmp_path / "build" / "linked")
    listing = list_python_files(tmp_path, exclude=["gen_*.py", "build/*", "*_test.py"])
    assert listing.files == ["keep.py", "src/mod.py"]
    assert listing.skipped == []


def test_git_repo_lists_tracked_and_untracked_but_not_ignored(tmp_path: Path) -> None:
    make_repo(tmp_path, ["tracked.py", "pkg/mod.py", "gone.py", "tracked.txt"],
              gitignore="ignored.py\nbuild/\n*.gen.py\n")
    make_files(tmp_path, "untracked.py", "newpkg/new.py", "ignored.py", "build/out.py",
               "x.gen.py", ".hidden/in_git.py")
    (tmp_path / "gone.py").unlink()  # tracked, deleted in the work tree
    listing = list_python_files(tmp_path)
    assert listing.git is True
    assert listing.files == [".hidden/in_git.py", "newpkg/new.py", "pkg/mod.py",
                             "tracked.py", "untracked.py"]
    assert listing.skipped == []


def test_git_reads_gitignore_of_a_tracked_file_as_git_does(tmp_path: Path) -> None:
    # a tracked file stays listed even when a pattern would ignore it, as in git
    make_repo(tmp_path, ["vendored.py"], gitignore="vendored.py\n")
    assert list_python_files(tmp_path).files == ["vendored.py"]


def test_git_subfolder_root_lists_only_its_files_relative_to_it(tmp_path: Path) -> None:
    make_repo(tmp_path, ["top.py", "app/core.py"], gitignore="app/skip.py\n")
    make_files(tmp_path, "app/extra.py", "app/skip.py")
    listing = list_python_files(tmp_path / "app")
    assert listing.git is True
    assert listing.files == ["core.py", "extra.py"]


def test_folder_ignored_by_enclosing_repo_is_walked_as_plain_folder(tmp_path: Path) -> None:
    make_repo(tmp_path, ["top.py"], gitignore="scratch/\n")
    make_files(tmp_path, "scratch/a.py", "scratch/b/c.py")
    listing = list_python_files(tmp_path / "scratch")
    assert listing.git is False
    assert listing.files == ["a.py", "b/c.py"]


def test_use_git_false_walks_even_a_repo(tmp_path: Path) -> None:
    make_repo(tmp_path, ["tracked.py"], gitignore="ignored.py\n")
    make_files(tmp_path, "ignored.py")
    listing = list_python_files(tmp_path, use_git=False)
    assert listing.git is False
    assert listing.files == ["ignored.py", "tracked.py"]


def test_exclude_applies_in_a_git_repo(tmp_path: Path) -> None:
    make_repo(tmp_path, ["a.py", "migrations/0001.py", "migrations/sub/0002.py"])
    listing = list_python_files(tmp_path, exclude=["migrations/*"])
    assert listing.files == ["a.py"]


def test_symlink_loop_is_skipped(tmp_path: Path) -> None:
    make_files(tmp_path, "ok.py")
    os.symlink("loop.py", tmp_path / "loop.py")
    os.symlink("b.py", tmp_path / "a.py")
    os.symlink("a.py", tmp_path / "b.py")
    listing = list_python_files(tmp_path)
    assert listing.files == ["ok.py"]
    found = reasons(listing.skipped)
    assert set(found) == {"loop.py", "a.py", "b.py"}
    assert all("symlink loop" in reason for reason in found.values())


def test_dangling_link_is_skipped(tmp_path: Path) -> None:
    os.symlink("missing.py", tmp_path / "dangling.py")
    listing = list_python_files(tmp_path)
    assert listing.files == []
    assert "dangling symlink" in reasons(listing.skipped)["dangling.py"]


def test_link_outside_the_root_is_skipped_and_inside_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    make_files(tmp_path, "outside.py", "root/real.py")
    os.symlink(tmp_path / "outside.py", root / "out.py")
    os.symlink("real.py", root / "alias.py")
    listing = list_python_files(root)
    assert listing.files == ["alias.py", "real.py"]
    reason = reasons(listing.skipped)["out.py"]
    assert "outside the indexed folder" in reason
    assert str(tmp_path / "outside.py") in reason


def test_symlinked_folder_is_skipped_not_followed(tmp_path: Path) -> None:
    make_files(tmp_path, "pkg/mod.py")
    os.symlink(tmp_path / "pkg", tmp_path / "alias_pkg")
    os.symlink(tmp_path, tmp_path / "pkg" / "up")  # would loop if followed
    listing = list_python_files(tmp_path)
    assert listing.files == ["pkg/mod.py"]
    found = reasons(listing.skipped)
    assert set(found) == {"alias_pkg", "pkg/up"}
    assert all("symlinked folder, not followed" in r for r in found.values())


def test_fifo_is_skipped_as_not_a_regular_file(tmp_path: Path) -> None:
    make_files(tmp_path, "ok.py")
    os.mkfifo(tmp_path / "pipe.py")
    listing = list_python_files(tmp_path)
    assert listing.files == ["ok.py"]
    assert reasons(listing.skipped) == {"pipe.py": "not a regular file"}


def test_symlink_loop_in_a_git_repo_is_skipped(tmp_path: Path) -> None:
    make_repo(tmp_path, ["ok.py"])
    os.symlink("loop.py", tmp_path / "loop.py")
    listing = list_python_files(tmp_path)
    assert listing.git is True
    assert listing.files == ["ok.py"]
    assert "symlink loop" in reasons(listing.skipped)["loop.py"]


@pytest.mark.parametrize("rel, expected", [
    ("mod.py", "mod"),
    ("pkg/mod.py", "pkg.mod"),
    ("pkg/__init__.py", "pkg"),
    ("pkg/sub/__init__.py", "pkg.sub"),
    ("src/pkg/mod.py", "pkg.mod"),
    ("src/pkg/__init__.py", "pkg"),
    ("lib/pkg/mod.py", "pkg.mod"),
    ("tests/src/mod.py", "tests.src.mod"),
    ("__init__.py", "__init__"),
    ("src.py", "src"),
])
def test_module_name(rel: str, expected: str) -> None:
    assert module_name(rel) == expected
