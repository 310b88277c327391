"""The model store, on small fake chunk packages built per test."""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from codegen_hook import models
from codegen_hook.errors import ModelError, ModelNotFoundError
from codegen_hook.models import (
    DEFAULT_MODEL,
    KNOWN_MODELS,
    ModelSpec,
    ensure_model,
    find_parts,
    model_status,
    resolve_model_path,
)

HINT = "pip install fake-model-chunks"


def _build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: int = 3,
           part_size: int = 3000, skip: tuple[int, ...] = ()) -> tuple[ModelSpec, bytes]:
    """Chunk packages `<prefix>N` on sys.path and a registered spec that fits them."""
    prefix = f"fake_model_{uuid.uuid4().hex[:12]}_part"
    site = tmp_path / "site"
    whole = b""
    for number in range(1, parts + 1):
        data = bytes((number * 37 + i) % 251 for i in range(part_size + number))
        whole += data
        if number in skip:
            continue
        package = site / f"{prefix}{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{number:02d}.bin").write_bytes(data)
    site.mkdir(exist_ok=True)
    monkeypatch.syspath_prepend(str(site))
    spec = ModelSpec(f"fake-{prefix}", prefix, parts, len(whole),
                     hashlib.sha256(whole).hexdigest(), HINT)
    monkeypatch.setitem(KNOWN_MODELS, spec.name, spec)
    return spec, whole


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_find_parts_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, whole = _build(tmp_path, monkeypatch)
    parts = find_parts(spec)
    assert [p.name for p in parts] == ["part01.bin", "part02.bin", "part03.bin"]
    assert [p.parent.parent.name for p in parts] == [f"{spec.package_prefix}{n}"
                                                     for n in (1, 2, 3)]
    assert b"".join(p.read_bytes() for p in parts) == whole


def test_ensure_model_assembles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                store: Path) -> None:
    spec, whole = _build(tmp_path, monkeypatch)
    seen: list[tuple[int, int]] = []
    path = ensure_model(spec.name, store, progress=lambda d, t: seen.append((d, t)))
    assert path == store / "models" / f"{spec.name}.gguf"
    assert path.read_bytes() == whole
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert seen, "progress was never reported"
    assert seen[-1] == (spec.size, spec.size)
    assert all(total == spec.size for _, total in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[0] > 0
    assert _listing(path.parent) == [path.name, path.name + ".verified"]
    assert model_status(spec.name, store).startswith("assembled and verified")


def test_second_call_trusts_the_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       store: Path) -> None:
    spec, whole = _build(tmp_path, monkeypatch)
    first = ensure_model(spec.name, store)

    def fail(*args: object) -> None:
        raise AssertionError("the verified model was checked again")

    monkeypatch.setattr(models, "_assemble", fail)
    monkeypatch.setattr(models, "_hash_matches", fail)
    seen: list[tuple[int, int]] = []
    second = ensure_model(spec.name, store, progress=lambda d, t: seen.append((d, t)))
    assert second == first
    assert second.read_bytes() == whole
    assert seen == []


def test_touched_model_is_rehashed_not_reassembled(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   store: Path) -> None:
    spec, _ = _build(tmp_path, monkeypatch)
    path = ensure_model(spec.name, store)
    stat_before = path.stat()
    os.utime(path, ns=(stat_before.st_atime_ns, stat_before.st_mtime_ns + 5_000_000_000))

    def fail(*args: object) -> None:
        raise AssertionError("the intact model was assembled again")

    monkeypatch.setattr(models, "_assemble", fail)
    calls: list[Path] = []
    real_hash = models._hash_matches

    def counting(target: Path, s: ModelSpec) -> bool:
        calls.append(target)
        return real_hash(target, s)

    monkeypatch.setattr(models, "_hash_matches", counting)
    assert ensure_model(spec.name, store) == path
    assert calls == [path]
    # the marker now records the new mtime: a third call hashes nothing
    assert ensure_model(spec.name, store) == path
    assert calls == [path]


def test_damaged_model_of_right_size_is_reassembled(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    store: Path) -> None:
    spec, whole = _build(tmp_path, monkeypatch)
    path = ensure_model(spec.name, store)
    path.write_bytes(b"\0" * spec.size)
    assert ensure_model(spec.name, store) == path
    assert path.read_bytes() == whole


def test_wrong_hash_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          store: Path) -> None:
    spec, _ = _build(tmp_path, monkeypatch)
    bad = replace(spec, sha256="0" * 64)
    monkeypatch.setitem(KNOWN_MODELS, spec.name, bad)
    with pytest.raises(ModelError, match="sha256") as info:
        ensure_model(spec.name, store)
    assert HINT in str(info.value)
    assert _listing(store / "models") == []


def test_missing_part_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              store: Path) -> None:
    spec, _ = _build(tmp_path, monkeypatch, skip=(2,))
    with pytest.raises(ModelNotFoundError) as info:
        ensure_model(spec.name, store)
    message = str(info.value)
    assert f"{spec.package_prefix}2" in message
    assert HINT in message
    assert _listing(store / "models") == []
    assert model_status(spec.name, store).startswith("missing:")


def test_missing_part_file_in_installed_package(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    spec, _ = _build(tmp_path, monkeypatch)
    victim = find_parts(spec)[2]
    victim.unlink()
    with pytest.raises(ModelNotFoundError, match="part03.bin is missing") as info:
        find_parts(spec)
    assert HINT in str(info.value)


def test_size_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Path) -> None:
    spec, _ = _build(tmp_path, monkeypatch)
    monkeypatch.setitem(KNOWN_MODELS, spec.name, replace(spec, size=spec.size + 1))
    with pytest.raises(ModelError, match=f"hold {spec.size} bytes, expected {spec.size + 1}"):
        ensure_model(spec.name, store)
    assert _listing(store / "models") == []


def test_model_status_before_assembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      store: Path) -> None:
    spec, _ = _build(tmp_path, monkeypatch)
    assert model_status(spec.name, store) == "chunk packages installed; assembled on first use"
    assert not (store / "models").exists()


def test_resolve_model_path_known_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       store: Path) -> None:
    spec, whole = _build(tmp_path, monkeypatch)
    path = resolve_model_path(spec.name, store)
    assert path == store / "models" / spec.filename
    assert path.read_bytes() == whole


def test_resolve_model_path_existing_file(tmp_path: Path, store: Path) -> None:
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(str(gguf), store) == gguf
    assert not store.exists()


def test_resolve_model_path_expands_home(store: Path) -> None:
    gguf = Path.home() / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path("~/m.gguf", store) == gguf


@pytest.mark.parametrize("name", ["no-such-model", "/nowhere/missing.gguf"])
def test_resolve_model_path_missing(store: Path, name: str) -> None:
    with pytest.raises(ModelNotFoundError, match="neither a known model"):
        resolve_model_path(name, store)


def test_resolve_model_path_directory_is_not_a_model(tmp_path: Path, store: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        resolve_model_path(str(tmp_path), store)


def test_unknown_model_name(store: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="unknown model 'gpt-9'") as info:
        ensure_model("gpt-9", store)
    assert DEFAULT_MODEL in str(info.value)
    assert not store.exists()


def test_real_default_model_chunks_are_installed() -> None:
    spec = KNOWN_MODELS[DEFAULT_MODEL]
    parts = find_parts(spec)
    assert len(parts) == spec.parts == 6
    assert all(p.is_file() for p in parts)
    assert [p.name for p in parts] == [f"part{n:02d}.bin" for n in range(1, 7)]
    assert sum(p.stat().st_size for p in parts) == spec.size
