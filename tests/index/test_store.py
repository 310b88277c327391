"""Store: an atomic manifest over content-addressed objects, every byte through a codec."""

from __future__ import annotations

import fcntl
import json
import os
import threading
from pathlib import Path

import pytest

from codegen_hook.errors import IndexStoreError
from codegen_hook.index.extract import extract_content
from codegen_hook.index.records import FileContent
from codegen_hook.index.store import Manifest, PlainCodec, Store, default_store_dir


class XorCodec:
    """A test codec: xor with a key byte and tag the role, so plain JSON never lands on disk."""

    name = "xor"

    def __init__(self) -> None:
        self.roles: list[str] = []

    def seal(self, role: str, data: bytes) -> bytes:
        self.roles.append(role)
        return role.encode() + b":" + bytes(b ^ 0x5A for b in data)

    def open(self, role: str, data: bytes) -> bytes:
        self.roles.append(role)
        prefix = role.encode() + b":"
        if not data.startswith(prefix):
            raise ValueError(f"not sealed as {role}")
        return bytes(b ^ 0x5A for b in data[len(prefix):])


SOURCE = "def f(x: int) -> int:\n    # c\n    return g(x)\n"


def sample_content(source: str = SOURCE) -> FileContent:
    return extract_content(source.encode())


def payload(content: FileContent) -> bytes:
    return json.dumps(content.to_json()).encode()


def sample_manifest(content: FileContent) -> Manifest:
    return Manifest(files={"pkg/a.py": content.hash}, skipped={"b.py": "syntax error"},
                    skip_reasons={"f" * 64: "syntax error"}, root="/repo")


def store_at(tmp_path: Path, codec: XorCodec | None = None) -> Store:
    return Store(default_store_dir(tmp_path), codec)


def test_default_store_dir(tmp_path: Path) -> None:
    assert default_store_dir(tmp_path) == tmp_path / ".codegen-hook" / "index"


def test_manifest_and_object_round_trip(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    content = sample_content()
    store.write_object(content.hash, payload(content))
    store.write_manifest(sample_manifest(content))
    assert store.read_manifest() == sample_manifest(content)
    assert store.read_object(content.hash) == content
    assert store.has_object(content.hash)
    assert (store.folder / "objects" / content.hash[:2] / content.hash[2:]).is_file()
    assert isinstance(store.codec, PlainCodec)
    on_disk = json.loads(store.manifest_path.read_bytes())
    assert on_disk["format"] == 1 and on_disk["files"] == {"pkg/a.py": content.hash}


def test_missing_manifest_reads_as_empty(tmp_path: Path) -> None:
    assert store_at(tmp_path).read_manifest() == Manifest()


@pytest.mark.parametrize("raw", [
    b"\x00\x01 not json",
    b"[1, 2]",
    b'{"format": 1, "files": {}}',
    b'{"format": 1, "files": [], "skipped": 3}',
])
def test_damaged_manifest_says_to_rebuild(tmp_path: Path, raw: bytes) -> None:
    store = store_at(tmp_path)
    store.folder.mkdir(parents=True)
    store.manifest_path.write_bytes(raw)
    with pytest.raises(IndexStoreError) as info:
        store.read_manifest()
    assert "codegen-hook index --rebuild" in str(info.value)
    assert str(store.folder) in str(info.value)


def test_wrong_format_number_says_to_rebuild(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.folder.mkdir(parents=True)
    document = {**Manifest().to_json(), "format": 99}
    store.manifest_path.write_text(json.dumps(document))
    with pytest.raises(IndexStoreError) as info:
        store.read_manifest()
    assert "codegen-hook index --rebuild" in str(info.value)
    assert "format 99" in str(info.value)


def test_damaged_or_missing_object_reads_as_none(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    content = sample_content()
    assert store.read_object(content.hash) is None
    store.write_object(content.hash, payload(content))
    path = store.folder / "objects" / content.hash[:2] / content.hash[2:]
    for damage in (b"", b"{not json", b'{"hash": "x"}', b'"a string"', b"\xff\xfe"):
        path.write_bytes(damage)
        assert store.read_object(content.hash) is None, damage


def test_discard_object_removes_it(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    content = sample_content()
    store.write_object(content.hash, payload(content))
    store.discard_object(content.hash)
    assert not store.has_object(content.hash)
    store.discard_object(content.hash)  # already gone: no error


def test_collect_garbage_keeps_only_named_objects(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    assert store.collect_garbage(set()) == 0  # no objects folder yet
    contents = [sample_content(f"X = {i}\n") for i in range(4)]
    for content in contents:
        store.write_object(content.hash, payload(content))
    keep = {contents[0].hash, contents[2].hash}
    assert store.collect_garbage(keep) == 2
    assert [store.has_object(c.hash) for c in contents] == [True, False, True, False]
    assert store.read_object(contents[2].hash) == contents[2]
    assert store.collect_garbage(keep) == 0


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    content = sample_content()
    store.write_object(content.hash, payload(content))
    store.write_manifest(sample_manifest(content))
    store.write_manifest(Manifest())
    names = [p.name for p in store.folder.rglob("*")]
    assert not [n for n in names if n.startswith(".tmp-")]


def test_failed_manifest_write_keeps_the_previous_one(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    store = store_at(tmp_path)
    content = sample_content()
    store.write_manifest(sample_manifest(content))
    before = store.manifest_path.read_bytes()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.write_manifest(Manifest())
    monkeypatch.undo()
    assert store.manifest_path.read_bytes() == before
    assert store.read_manifest() == sample_manifest(content)
    assert not list(store.folder.glob(".tmp-*"))


def test_locked_writes_gitignore_in_codegen_hook_folder(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    with store.locked():
        assert store.folder.is_dir()
    marker = tmp_path / ".codegen-hook" / ".gitignore"
    assert marker.read_text().splitlines()[-1] == "*"
    marker.write_text("# kept as edited\n")
    with store.locked():
        pass
    assert marker.read_text() == "# kept as edited\n"


def test_store_elsewhere_writes_no_gitignore(tmp_path: Path) -> None:
    store = Store(tmp_path / "custom" / "index")
    with store.locked():
        pass
    assert not (tmp_path / "custom" / ".gitignore").exists()


def test_locked_excludes_a_second_writer(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.locked():
            inside.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(5)
        with open(store.folder / "lock", "a+b") as handle:
            with pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        release.set()
        holder.join(5)
    with open(store.folder / "lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
        fcntl.flock(handle, fcntl.LOCK_UN)


def test_codec_seals_every_byte_on_disk(tmp_path: Path) -> None:
    codec = XorCodec()
    store = store_at(tmp_path, codec)
    content = sample_content()
    store.write_object(content.hash, payload(content))
    store.write_manifest(sample_manifest(content))
    assert codec.roles == ["index-object", "index-manifest"]

    for path in (store.manifest_path,
                 store.folder / "objects" / content.hash[:2] / content.hash[2:]):
        raw = path.read_bytes()
        with pytest.raises(ValueError):
            json.loads(raw)
        assert b"pkg/a.py" not in raw and b'"symbols"' not in raw

    assert store.read_manifest() == sample_manifest(content)
    assert store.read_object(content.hash) == content
    assert codec.roles[2:] == ["index-manifest", "index-object"]


def test_sealed_store_cannot_be_read_without_its_codec(tmp_path: Path) -> None:
    store = store_at(tmp_path, XorCodec())
    content = sample_content()
    store.write_object(content.hash, payload(content))
    store.write_manifest(sample_manifest(content))
    plain = store_at(tmp_path)
    with pytest.raises(IndexStoreError, match="--rebuild"):
        plain.read_manifest()
    assert plain.read_object(content.hash) is None
