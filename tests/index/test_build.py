"""refresh_index / load_index: incremental, parallel, interruption-safe."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pygit2
import pytest

from codegen_hook.errors import IndexStoreError
from codegen_hook.index import build
from codegen_hook.index.build import load_index, refresh_index
from codegen_hook.index.extract import extract_content
from codegen_hook.index.files import FileList, list_python_files
from codegen_hook.index.records import FileContent, FileRecord
from codegen_hook.index.store import Store, default_store_dir

FILES = {
    "app/__init__.py": '"""App."""\n',
    "app/core.py": "import os\n\n\ndef run(path: str) -> str:\n    return os.path.join(path)\n",
    "app/util.py": "# helpers\ndef helper():\n    ...\n",
    "src/lib/thing.py": "class Thing:\n    def go(self):\n        return 1\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, FILES)
    return root


class CountingExtract:
    """Wraps extract_content in this process, counting calls (jobs=1 runs in-process)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.real: Callable[[bytes], FileContent] = extract_content
        monkeypatch.setattr(build, "extract_content", self)

    def __call__(self, data: bytes) -> FileContent:
        self.calls += 1
        return self.real(data)


class ReversingCodec:
    name = "reversing"

    def seal(self, role: str, data: bytes) -> bytes:
        return data[::-1]

    def open(self, role: str, data: bytes) -> bytes:
        return data[::-1]


def store_of(root: Path) -> Store:
    return Store(default_store_dir(root.resolve()))


def manifest_stat(root: Path) -> tuple[int, int]:
    st = store_of(root).manifest_path.stat()
    return st.st_mtime_ns, st.st_ino


def as_json(records: list[FileRecord]) -> list[dict[str, object]]:
    return [r.to_json() for r in sorted(records, key=lambda r: r.path)]


def test_cold_index_parses_every_file(repo: Path) -> None:
    report = refresh_index(repo, jobs=1)
    assert (report.files, report.parsed, report.reused, report.removed) == (4, 4, 0, 0)
    assert report.lines_parsed == sum(t.count("\n") for t in FILES.values())
    assert report.bytes_read == sum(len(t.encode()) for t in FILES.values())
    assert report.skipped == [] and report.workers == 1 and report.git is False
    assert report.root == str(repo.resolve())
    assert report.store == str(repo.resolve() / ".codegen-hook" / "index")
    index = load_index(repo)
    assert {r.path: r.module for r in index.records} == {
        "app/__init__.py": "app", "app/core.py": "app.core", "app/util.py": "app.util",
        "src/lib/thing.py": "lib.thing"}
    core = index.record("app/core.py")
    assert core is not None and core.content.symbols[0].calls == ("os.path.join",)
    assert index.record("missing.py") is None
    assert (repo / ".codegen-hook" / ".gitignore").exists()


def test_warm_run_with_nothing_changed_parses_nothing_and_keeps_manifest(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_index(repo, jobs=1)
    before = manifest_stat(repo)
    counter = CountingExtract(monkeypatch)
    report = refresh_index(repo, jobs=1)
    assert (report.files, report.parsed, report.reused, report.removed) == (4, 0, 4, 0)
    assert counter.calls == 0
    assert manifest_stat(repo) == before


def test_changing_one_file_parses_exactly_that_file(repo: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_index(repo, jobs=1)
    (repo / "app/util.py").write_text("def helper():\n    return 2\n")
    counter = CountingExtract(monkeypatch)
    report = refresh_index(repo, jobs=1)
    assert (report.parsed, report.reused, report.lines_parsed) == (1, 3, 2)
    assert counter.calls == 1
    record = load_index(repo).record("app/util.py")
    assert record is not None and not record.content.symbols[0].is_stub


def test_renamed_file_reuses_its_content(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_index(repo, jobs=1)
    (repo / "app/core.py").rename(repo / "app/engine.py")
    counter = CountingExtract(monkeypatch)
    report = refresh_index(repo, jobs=1)
    assert (report.parsed, report.reused, report.removed, report.files) == (0, 4, 1, 4)
    assert counter.calls == 0
    index = load_index(repo)
    assert index.record("app/core.py") is None
    engine = index.record("app/engine.py")
    assert engine is not None and engine.module == "app.engine"
    assert [s.name for s in engine.content.symbols] == ["run"]


def test_deleted_file_leaves_manifest_and_its_object_is_collected(repo: Path) -> None:
    refresh_index(repo, jobs=1)
    store = store_of(repo)
    digest = store.read_manifest().files["app/util.py"]
    assert store.has_object(digest)
    (repo / "app/util.py").unlink()
    report = refresh_index(repo, jobs=1)
    assert (report.removed, report.files) == (1, 3)
    assert "app/util.py" not in store.read_manifest().files
    assert not store.has_object(digest)


def test_syntax_error_is_skipped_and_not_parsed_again_until_fixed(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"bad.py": "x = 1\ndef broken(:\n    pass\n"})
    counter = CountingExtract(monkeypatch)
    first = refresh_index(repo, jobs=1)
    assert counter.calls == 5 and first.files == 4
    assert [(s.path, s.reason.split(":")[0]) for s in first.skipped] == \
        [("bad.py", "syntax error on line 2")]

    second = refresh_index(repo, jobs=1)
    assert counter.calls == 5  # the skip reason is cached by content hash
    assert second.skipped == first.skipped
    assert [s.path for s in load_index(repo).skipped] == ["bad.py"]

    (repo / "bad.py").write_text("x = 1\ndef fixed():\n    pass\n")
    third = refresh_index(repo, jobs=1)
    assert counter.calls == 6 and third.parsed == 1 and third.skipped == []
    assert load_index(repo).record("bad.py") is not None
    assert load_index(repo).skipped == []


def test_oversize_file_is_skipped_until_the_limit_is_raised(repo: Path) -> None:
    write(repo, {"big.py": "DATA = [\n" + "    1,\n" * 100 + "]\n"})
    size = (repo / "big.py").stat().st_size
    report = refresh_index(repo, jobs=1, max_file_bytes=500)
    (skip,) = report.skipped
    assert skip.path == "big.py"
    assert f"{size:,} bytes" in skip.reason and "500-byte limit" in skip.reason
    assert "index_max_file_bytes" in skip.reason
    assert load_index(repo).record("big.py") is None

    report = refresh_index(repo, jobs=1, max_file_bytes=10_000)
    assert report.skipped == [] and report.parsed == 1
    big = load_index(repo).record("big.py")
    assert big is not None and big.content.constants == ("DATA",)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file anyway")
def test_unreadable_file_is_skipped_by_permissions(repo: Path) -> None:
    target = repo / "app/util.py"
    target.chmod(0)
    try:
        report = refresh_index(repo, jobs=1)
    finally:
        target.chmod(0o644)
    assert [(s.path, s.reason) for s in report.skipped] == \
        [("app/util.py", "cannot be read (Permission denied)")]
    assert report.files == 3


def test_file_that_cannot_be_read_is_skipped(repo: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Works as root too: the file turns into a folder between listing and reading."""
    refresh_index(repo, jobs=1)
    real_listing = list_python_files

    def listing_then_replace(root: Path, exclude: Iterable[str] = ()) -> FileList:
        listing = real_listing(root, exclude)
        (repo / "app/util.py").unlink()
        (repo / "app/util.py").mkdir()
        return listing

    monkeypatch.setattr(build, "list_python_files", listing_then_replace)
    report = refresh_index(repo, jobs=1)
    assert [(s.path, s.reason) for s in report.skipped] == \
        [("app/util.py", "cannot be read (Is a directory)")]
    assert (report.files, report.removed) == (3, 1)
    assert [s.path for s in load_index(repo).skipped] == ["app/util.py"]


def test_interrupted_parse_leaves_the_previous_index(repo: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_index(repo, jobs=1)
    manifest = store_of(repo).manifest_path
    before_bytes, before_index = manifest.read_bytes(), as_json(load_index(repo).records)
    write(repo, {"app/core.py": "def changed():\n    pass\n", "new.py": "Y = 2\n"})

    def interrupted(data: bytes) -> FileContent:
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "extract_content", interrupted)
    with pytest.raises(KeyboardInterrupt):
        refresh_index(repo, jobs=1)
    assert manifest.read_bytes() == before_bytes
    assert as_json(load_index(repo).records) == before_index

    monkeypatch.undo()
    report = refresh_index(repo, jobs=1)
    assert report.parsed == 2 and report.files == 5


def test_interrupted_manifest_write_leaves_the_previous_index(
        repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_index(repo, jobs=1)
    manifest = store_of(repo).manifest_path
    before_bytes, before_index = manifest.read_bytes(), as_json(load_index(repo).records)
    (repo / "app/core.py").write_text("def changed():\n    pass\n")
    (repo / "app/util.py").unlink()

    def interrupted(self: Store, new: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Store, "write_manifest", interrupted)
    with pytest.raises(KeyboardInterrupt):
        refresh_index(repo, jobs=1)
    monkeypatch.undo()
    assert manifest.read_bytes() == before_bytes
    assert as_json(load_index(repo).records) == before_index  # no object was collected

    report = refresh_index(repo, jobs=1)
    assert report.files == 3 and report.removed == 1


def test_parallel_build_gives_the_same_records(tmp_path: Path, repo: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {f"gen/m{i}.py": f"def f{i}(x):\n    return g(x) + {i}\n" for i in range(12)})
    write(repo, {"gen/bad.py": "def (\n"})
    monkeypatch.setattr(build, "_PARALLEL_MIN_BYTES", 1)
    seen: list[tuple[int, int]] = []
    parallel = refresh_index(repo, tmp_path / "parallel", jobs=2,
                             progress=lambda done, total: seen.append((done, total)))
    serial = refresh_index(repo, tmp_path / "serial", jobs=1)
    assert parallel.workers == 2 and serial.workers == 1
    assert (parallel.files, parallel.parsed) == (serial.files, serial.parsed) == (16, 16)
    assert parallel.skipped == serial.skipped and len(parallel.skipped) == 1
    assert seen == [(i, 17) for i in range(1, 18)]
    assert as_json(load_index(repo, tmp_path / "parallel").records) == \
        as_json(load_index(repo, tmp_path / "serial").records)


def test_small_batches_stay_in_process_even_with_jobs(repo: Path) -> None:
    report = refresh_index(repo, jobs=4)
    assert report.workers == 1 and report.parsed == 4


def test_load_index_filters_by_paths(repo: Path) -> None:
    refresh_index(repo, jobs=1)
    index = load_index(repo, paths=["app/core.py", "src/lib/thing.py", "not/there.py"])
    assert sorted(r.path for r in index.records) == ["app/core.py", "src/lib/thing.py"]
    assert load_index(repo, paths=[]).records == []


def test_load_index_of_unindexed_repo_is_empty(repo: Path) -> None:
    index = load_index(repo)
    assert index.records == [] and index.skipped == [] and index.root == repo.resolve()


def test_rebuild_parses_everything_again(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo, {"bad.py": "def (\n"})
    refresh_index(repo, jobs=1)
    counter = CountingExtract(monkeypatch)
    report = refresh_index(repo, jobs=1, rebuild=True)
    assert (report.parsed, report.reused, report.files) == (4, 0, 4)
    assert counter.calls == 5  # the cached skip is parsed again too
    assert [s.path for s in report.skipped] == ["bad.py"]


def test_rebuild_recovers_a_damaged_manifest(repo: Path) -> None:
    refresh_index(repo, jobs=1)
    store_of(repo).manifest_path.write_bytes(b"garbage")
    with pytest.raises(IndexStoreError, match="codegen-hook index --rebuild"):
        refresh_index(repo, jobs=1)
    report = refresh_index(repo, jobs=1, rebuild=True)
    assert report.files == 4
    assert len(load_index(repo).records) == 4


def test_progress_counts_up_to_the_files_parsed(repo: Path) -> None:
    seen: list[tuple[int, int]] = []
    refresh_index(repo, jobs=1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    (repo / "app/util.py").write_text("X = 3\n")
    seen.clear()
    refresh_index(repo, jobs=1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 1)]


def test_damaged_object_is_left_out_then_parsed_again(repo: Path) -> None:
    refresh_index(repo, jobs=1)
    store = store_of(repo)
    digest = store.read_manifest().files["app/core.py"]
    (store.folder / "objects" / digest[:2] / digest[2:]).write_bytes(b"\0damaged")
    assert load_index(repo).record("app/core.py") is None
    report = refresh_index(repo, jobs=1)
    assert report.parsed == 1
    assert load_index(repo).record("app/core.py") is not None


def test_store_dir_and_codec_are_honoured(tmp_path: Path, repo: Path) -> None:
    codec = ReversingCodec()
    elsewhere = tmp_path / "store"
    report = refresh_index(repo, elsewhere, jobs=1, codec=codec)
    assert report.store == str(elsewhere) and report.files == 4
    assert not (repo / ".codegen-hook").exists()
    assert b"app/core.py" not in (elsewhere / "manifest").read_bytes()
    assert len(load_index(repo, elsewhere, codec=ReversingCodec()).records) == 4


def test_symlink_skips_are_reported_and_kept_in_the_manifest(repo: Path) -> None:
    os.symlink("loop.py", repo / "loop.py")
    report = refresh_index(repo, jobs=1)
    assert [s.path for s in report.skipped] == ["loop.py"]
    assert "symlink loop" in load_index(repo).skipped[0].reason


def test_git_repo_build_respects_gitignore(repo: Path) -> None:
    git = pygit2.init_repository(str(repo))
    write(repo, {".gitignore": "generated/\nscratch.py\n", "generated/out.py": "Z = 1\n",
                 "scratch.py": "W = 1\n"})
    git.index.add("app/core.py")
    git.index.write()
    report = refresh_index(repo, jobs=1)
    assert report.git is True
    assert report.files == 4
    assert sorted(r.path for r in load_index(repo).records) == sorted(FILES)
    # the store itself is never listed: its own .gitignore keeps it out of `git status`
    status = git.status(untracked_files="all")
    assert not [p for p in status if p.startswith(".codegen-hook/")]
