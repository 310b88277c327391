"""The key ring: KEK sources, permissions, rotation that survives a crash at every
step, re-encryption that resumes, and export/import between data dirs."""

from __future__ import annotations

import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.errors import DecryptionError, KeyUnavailableError
from codegen_hook.security import crypto, keyring, keys, reseal
from codegen_hook.security.crypto import EncryptedCodec, key_id_of
from codegen_hook.security.keys import (export_keys, import_keys, init_keys, key_status,
                                        open_codec, rotate_keys)

ENV_KEY = "Q" * 43 + "="  # base64 of 32 bytes


class Crash(BaseException):
    """A simulated power cut: nothing after it runs, no `except Exception` catches it."""


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture()
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "xdg_config_home" / "codegen-hook" / "key"


@pytest.fixture()
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "SCRYPT_N", 2 ** 10)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def seal_file(codec: EncryptedCodec, path: Path, role: str, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(codec.seal(role, data))


def seal_stream_file(codec: EncryptedCodec, path: Path, role: str, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as sink:
        codec.seal_stream(role, io.BytesIO(data), sink)


def read_stream_file(codec: EncryptedCodec, path: Path, role: str) -> bytes:
    with open(path, "rb") as source:
        return b"".join(codec.open_stream(role, source))


def crash_on_call(monkeypatch: pytest.MonkeyPatch, module: Any, name: str,
                  at: int) -> list[int]:
    """Make the `at`-th call of `module.name` crash before it does anything."""
    real: Callable[..., Any] = getattr(module, name)
    calls = [0]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] == at:
            raise Crash(f"{name} #{at}")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


# First use, sources, permissions.
def test_first_use_makes_a_private_key_file_and_a_wrapped_ring(data_dir: Path,
                                                               key_path: Path) -> None:
    codec = open_codec(data_dir)
    ring = data_dir / "keys" / "ring"
    assert mode(key_path) == 0o600 and mode(key_path.parent) == 0o700
    assert mode(ring) == 0o600 and mode(ring.parent) == 0o700 and mode(data_dir) == 0o700
    doc = json.loads(ring.read_text())
    [entry] = doc["keys"]
    assert entry["id"] == codec.active and codec.active.startswith("dk-")
    assert len(codec.active) == len("dk-") + 8
    [wrap] = entry["wraps"]
    assert len(keyring.b64d(wrap["wrapped"])) == 32 + 16  # a wrapped key, not a plain one
    assert key_path.read_text().strip() not in ring.read_text()
    blob = codec.seal("index-manifest", b"data")
    assert open_codec(data_dir).open("index-manifest", blob) == b"data"
    status = key_status(data_dir)
    assert (status.source, status.active, status.key_file_mode) == ("key-file", codec.active,
                                                                    "0600")
    assert status.matches is True and status.ring_kek_ids == (status.kek_id,)
    assert json.loads(json.dumps(status.to_json()))["ring_exists"] is True


def test_no_ring_without_create(data_dir: Path) -> None:
    with pytest.raises(KeyUnavailableError, match="codegen-hook key init"):
        open_codec(data_dir, create=False)
    assert not (data_dir / "keys" / "ring").exists()


def test_loose_key_file_refused_and_loose_folders_tightened(data_dir: Path,
                                                            key_path: Path) -> None:
    open_codec(data_dir)
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "keys" / "ring", 0o644)
    open_codec(data_dir)
    assert mode(data_dir) == 0o700 and mode(data_dir / "keys" / "ring") == 0o600
    os.chmod(key_path, 0o640)
    with pytest.raises(KeyUnavailableError, match=f"run `chmod 600 {key_path}`"):
        open_codec(data_dir)
    assert key_status(data_dir).key_file_mode == "0640"


def test_key_file_not_created_inside_a_git_work_tree(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    inside = tmp_path / "repo" / "secrets" / "key"
    with pytest.raises(KeyUnavailableError, match="inside the git work tree"):
        open_codec(data_dir, key_file=inside)
    assert not inside.exists()


def test_wrong_key_file_is_named(data_dir: Path, tmp_path: Path) -> None:
    blob = open_codec(data_dir).seal("r", b"x")
    other = tmp_path / "other-key"
    with pytest.raises(KeyUnavailableError, match="no key file"):
        open_codec(data_dir, key_file=other)
    other.write_text(keyring.b64e(os.urandom(32)))
    other.chmod(0o600)
    with pytest.raises(KeyUnavailableError, match=f"the key file {other} .* does not unwrap "
                                                  "the key ring .*codegen-hook key import"):
        open_codec(data_dir, key_file=other)
    other.write_text("not a key")
    with pytest.raises(KeyUnavailableError, match="not base64 of 32 bytes|cannot read"):
        open_codec(data_dir, key_file=other)
    assert open_codec(data_dir).open("r", blob) == b"x"


def test_env_key_wins_and_a_wrong_one_is_refused(data_dir: Path, key_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEGEN_HOOK_KEY", ENV_KEY)
    blob = open_codec(data_dir).seal("r", b"ci")
    assert not key_path.exists()
    assert key_status(data_dir).source == "env" and key_status(data_dir).matches is True
    assert open_codec(data_dir).open("r", blob) == b"ci"
    monkeypatch.setenv("CODEGEN_HOOK_KEY", "R" * 43 + "=")
    with pytest.raises(KeyUnavailableError, match="CODEGEN_HOOK_KEY .* does not unwrap"):
        open_codec(data_dir)
    monkeypatch.setenv("CODEGEN_HOOK_KEY", "short")
    with pytest.raises(KeyUnavailableError, match="base64 of 32 bytes"):
        open_codec(data_dir)
    assert open_codec(data_dir, env={"CODEGEN_HOOK_KEY": ENV_KEY}).open("r", blob) == b"ci"


def test_passphrase_ring_with_the_default_cost(data_dir: Path, key_path: Path) -> None:
    asked: list[int] = []

    def prompt() -> str:
        asked.append(1)
        return "correct horse"

    status = init_keys(data_dir, passphrase=prompt)
    assert status.source == "passphrase" and not key_path.exists() and asked == [1]
    assert json.loads((data_dir / "keys" / "ring").read_text())["kdfs"][0]["n"] == 2 ** 15
    blob = open_codec(data_dir, passphrase=prompt).seal("r", b"p")
    env = {"CODEGEN_HOOK_PASSPHRASE": "correct horse"}
    assert open_codec(data_dir, env=env).open("r", blob) == b"p"
    with pytest.raises(KeyUnavailableError, match="the passphrase .* does not unwrap"):
        open_codec(data_dir, passphrase=lambda: "wrong horse")
    with pytest.raises(KeyUnavailableError, match="protected by a passphrase: set "
                                                  "CODEGEN_HOOK_PASSPHRASE"):
        open_codec(data_dir)


def test_first_use_never_prompts(data_dir: Path, key_path: Path) -> None:
    def prompt() -> str:
        raise AssertionError("a hook must not prompt on first use")

    open_codec(data_dir, passphrase=prompt)
    assert key_path.exists() and key_status(data_dir).source == "key-file"


def test_init_twice_is_refused(data_dir: Path) -> None:
    init_keys(data_dir)
    with pytest.raises(KeyUnavailableError, match="already exists.*key rotate"):
        init_keys(data_dir)


# Rotation of the key-encryption key.
def test_rotate_replaces_the_key_file(data_dir: Path, key_path: Path, tmp_path: Path) -> None:
    blob = open_codec(data_dir).seal("r", b"kept")
    old_copy = tmp_path / "old-key"
    old_copy.write_bytes(key_path.read_bytes())
    old_copy.chmod(0o600)
    report = rotate_keys(data_dir)
    assert report.kek_rotated and report.complete and report.key_file == str(key_path)
    assert report.kek_id != report.old_kek_id and report.new_data_key is None
    assert key_path.read_bytes() != old_copy.read_bytes() and mode(key_path) == 0o600
    assert not key_path.with_name("key.new").exists()
    assert open_codec(data_dir).open("r", blob) == b"kept"
    with pytest.raises(KeyUnavailableError, match="does not unwrap"):
        open_codec(data_dir, key_file=old_copy)
    assert key_status(data_dir).ring_kek_ids == (report.kek_id,)


def test_rotate_passphrase(data_dir: Path, fast_scrypt: None) -> None:
    init_keys(data_dir, passphrase=lambda: "old pass")
    blob = open_codec(data_dir, passphrase=lambda: "old pass").seal("r", b"x")
    with pytest.raises(KeyUnavailableError, match="--new-passphrase"):
        rotate_keys(data_dir, passphrase=lambda: "old pass")
    report = rotate_keys(data_dir, passphrase=lambda: "old pass", new_passphrase="new pass")
    assert report.kek_rotated and report.source == "passphrase"
    assert open_codec(data_dir, passphrase=lambda: "new pass").open("r", blob) == b"x"
    with pytest.raises(KeyUnavailableError, match="does not unwrap"):
        open_codec(data_dir, passphrase=lambda: "old pass")


def test_rotate_from_key_file_to_passphrase(data_dir: Path, fast_scrypt: None) -> None:
    blob = open_codec(data_dir).seal("r", b"x")
    rotate_keys(data_dir, new_passphrase="now a passphrase")
    assert key_status(data_dir).source == "passphrase"
    env = {"CODEGEN_HOOK_PASSPHRASE": "now a passphrase"}
    assert open_codec(data_dir, env=env).open("r", blob) == b"x"


def test_rotate_with_env_key(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEGEN_HOOK_KEY", ENV_KEY)
    codec = open_codec(data_dir)
    seal_file(codec, data_dir / "index" / "manifest", "index-manifest", b"m")
    with pytest.raises(KeyUnavailableError, match="secret store.*key import"):
        rotate_keys(data_dir)
    report = rotate_keys(data_dir, reencrypt=True)
    assert not report.kek_rotated and report.complete and report.retired == (codec.active,)
    assert key_id_of((data_dir / "index" / "manifest").read_bytes()) == report.active


@pytest.mark.parametrize("kind", ["key-file", "passphrase"])
def test_rotate_survives_a_crash_at_every_step(kind: str, tmp_path: Path, key_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               fast_scrypt: None) -> None:
    steps = 0
    for at in range(1, 20):
        data_dir = tmp_path / f"data-{at}"
        if kind == "passphrase":
            init_keys(data_dir, passphrase=lambda: "pass 0")
        blob = open_codec(data_dir, passphrase=lambda: "pass 0").seal("r", b"x")
        with monkeypatch.context() as patch:
            crash_on_call(patch, os, "replace", at)
            try:
                rotate_keys(data_dir, passphrase=lambda: "pass 0",
                            new_passphrase="pass 1" if kind == "passphrase" else None)
                break
            except Crash:
                steps = at
        tried = ["pass 0", "pass 1"] if kind == "passphrase" else ["unused"]
        opened = [_opens(data_dir, blob, text) for text in tried]
        assert any(opened), f"nothing opens after a crash at step {at}"
        rotate_keys(data_dir, passphrase=lambda: "pass 1" if opened[-1] else "pass 0",
                    new_passphrase="pass 2" if kind == "passphrase" else None)
        assert _opens(data_dir, blob, "pass 2")
        assert len(key_status(data_dir).ring_kek_ids) == 1
        key_path.unlink(missing_ok=True)
    assert steps >= (4 if kind == "key-file" else 2)


def _opens(data_dir: Path, blob: bytes, passphrase: str) -> bool:
    try:
        return open_codec(data_dir, passphrase=lambda: passphrase).open("r", blob) == b"x"
    except KeyUnavailableError:
        return False


# Rotation of the data key, resealing every file.
@pytest.fixture()
def tree(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Sealed blobs in the data dir and in another root, a sealed stream, plain files."""
    monkeypatch.setattr(crypto, "CHUNK", 16)
    codec = open_codec(data_dir)
    cache = tmp_path / "cache"
    seal_file(codec, data_dir / "index" / "manifest", "index-manifest", b"manifest")
    seal_file(codec, data_dir / "logs" / "2024" / "prompt-1", "prompt-log", b"prompt one")
    seal_file(codec, cache / "responses" / "a", "response-cache", b"answer a")
    seal_stream_file(codec, cache / "adapters" / "lora.bin", "adapter", b"w" * 100)
    (cache / "README").write_text("plain text, not sealed")
    (cache / "link").symlink_to(cache / "responses" / "a")
    yield cache


EXPECTED = {("index", "manifest"): ("index-manifest", b"manifest"),
            ("logs", "2024", "prompt-1"): ("prompt-log", b"prompt one")}
CACHE = {("responses", "a"): ("response-cache", b"answer a")}


def assert_tree_opens(data_dir: Path, cache: Path, key_id: str | None = None) -> None:
    codec = open_codec(data_dir)
    for base, files in ((data_dir, EXPECTED), (cache, CACHE)):
        for parts, (role, data) in files.items():
            blob = base.joinpath(*parts).read_bytes()
            assert codec.open(role, blob) == data
            assert key_id is None or key_id_of(blob) == key_id
    stream = cache / "adapters" / "lora.bin"
    assert read_stream_file(codec, stream, "adapter") == b"w" * 100
    assert key_id is None or key_id_of(stream.read_bytes()) == key_id
    assert (cache / "README").read_text() == "plain text, not sealed"


def test_reencrypt_reseals_everything_and_drops_the_old_key(data_dir: Path,
                                                            tree: Path) -> None:
    before = open_codec(data_dir)
    old = before.active
    seen: list[tuple[int, int]] = []
    report = rotate_keys(data_dir, reencrypt=True, roots=[tree],
                         progress=lambda done, total, path: seen.append((done, total)))
    assert report.complete and report.kek_rotated and report.retired == (old,)
    assert report.new_data_key == report.active != old
    assert len(report.resealed) == 4 and report.unchanged == 0 and report.failed == ()
    assert seen[-1] == (4, 4)
    assert_tree_opens(data_dir, tree, report.active)
    assert key_status(data_dir).data_key_ids == (report.active,)
    assert (tree / "link").is_symlink()
    with pytest.raises(DecryptionError, match="does not hold"):  # the old key is no use now
        before.open("index-manifest", (data_dir / "index" / "manifest").read_bytes())


def test_reencrypt_interrupted_on_the_second_file_resumes(data_dir: Path, tree: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    old = open_codec(data_dir).active
    with monkeypatch.context() as patch:
        crash_on_call(patch, reseal, "reseal_file", 2)
        with pytest.raises(Crash):
            rotate_keys(data_dir, reencrypt=True, roots=[tree])
    status = key_status(data_dir)
    assert status.retiring == (old,) and old in status.data_key_ids and status.active != old
    assert_tree_opens(data_dir, tree)
    report = rotate_keys(data_dir, reencrypt=True, roots=[tree])
    assert report.complete and report.new_data_key is None and report.active == status.active
    assert len(report.resealed) == 3 and report.unchanged == 1
    assert_tree_opens(data_dir, tree, status.active)
    assert key_status(data_dir).data_key_ids == (status.active,)


def test_reencrypt_survives_a_crash_at_every_rename(tmp_path: Path, key_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto, "CHUNK", 16)
    for at in range(1, 30):
        data_dir, cache = tmp_path / f"data-{at}", tmp_path / f"cache-{at}"
        codec = open_codec(data_dir)
        seal_file(codec, data_dir / "a", "ra", b"a")
        seal_file(codec, cache / "b", "rb", b"b")
        seal_stream_file(codec, cache / "c", "rc", b"c" * 40)
        with monkeypatch.context() as patch:
            crash_on_call(patch, os, "replace", at)
            try:
                rotate_keys(data_dir, reencrypt=True, roots=[cache])
                break
            except Crash:
                pass
        for expect in (None, "complete"):
            codec = open_codec(data_dir)
            assert codec.open("ra", (data_dir / "a").read_bytes()) == b"a"
            assert codec.open("rb", (cache / "b").read_bytes()) == b"b"
            assert read_stream_file(codec, cache / "c", "rc") == b"c" * 40
            if expect is None:
                assert rotate_keys(data_dir, reencrypt=True, roots=[cache]).complete
        assert len(key_status(data_dir).data_key_ids) == 1
        key_path.unlink()
    assert at > 4 + 1 + 3 + 1


def test_a_file_that_does_not_open_keeps_the_old_keys(data_dir: Path, tree: Path) -> None:
    stranger = EncryptedCodec({"dk-other": os.urandom(32)}, "dk-other")
    seal_file(stranger, tree / "foreign", "r", b"?")
    old = open_codec(data_dir).active
    report = rotate_keys(data_dir, reencrypt=True, roots=[tree])
    assert not report.complete and report.retired == ()
    [failure] = report.failed
    assert str(tree / "foreign") in failure and "run `codegen-hook key rotate" in failure
    assert old in key_status(data_dir).data_key_ids
    (tree / "foreign").unlink()
    report = rotate_keys(data_dir, reencrypt=True, roots=[tree])
    assert report.complete and report.retired == (old,)
    assert_tree_opens(data_dir, tree, report.active)


# Export and import.
def test_export_import_to_a_fresh_data_dir(data_dir: Path, tmp_path: Path,
                                           fast_scrypt: None) -> None:
    codec = open_codec(data_dir)
    blob = codec.seal("index-manifest", b"moved")
    bundle = tmp_path / "backup" / "keys.bundle"
    export_keys(data_dir, bundle, "export pass")
    assert mode(bundle) == 0o600 and keyring.b64e(b"moved") not in bundle.read_text()
    with pytest.raises(KeyUnavailableError, match="exists"):
        export_keys(data_dir, bundle, "export pass")
    with pytest.raises(KeyUnavailableError, match="8 or more"):
        export_keys(data_dir, tmp_path / "other.bundle", "short")
    other, other_key = tmp_path / "elsewhere", tmp_path / "elsewhere-key" / "key"
    with pytest.raises(KeyUnavailableError, match="export passphrase does not open"):
        import_keys(other, bundle, "wrong pass", key_file=other_key)
    status = import_keys(other, bundle, "export pass", key_file=other_key)
    assert status.active == codec.active and mode(other_key) == 0o600
    assert open_codec(other, key_file=other_key).open("index-manifest", blob) == b"moved"


def test_import_merges_and_the_bundles_key_becomes_active(data_dir: Path, tmp_path: Path,
                                                          fast_scrypt: None) -> None:
    first = open_codec(data_dir)
    blob = first.seal("r", b"first")
    bundle = tmp_path / "keys.bundle"
    export_keys(data_dir, bundle, "export pass")
    other, other_key = tmp_path / "other", tmp_path / "other-key"
    local = open_codec(other, key_file=other_key)
    local_blob = local.seal("r", b"local")
    status = import_keys(other, bundle, "export pass", key_file=other_key)
    assert status.active == first.active
    assert set(status.data_key_ids) == {first.active, local.active}
    merged = open_codec(other, key_file=other_key)
    assert merged.open("r", blob) == b"first" and merged.open("r", local_blob) == b"local"


def test_import_restores_a_lost_key_file(data_dir: Path, key_path: Path, tmp_path: Path,
                                         fast_scrypt: None) -> None:
    blob = open_codec(data_dir).seal("r", b"saved")
    export_keys(data_dir, tmp_path / "keys.bundle", "export pass")
    key_path.unlink()
    with pytest.raises(KeyUnavailableError, match="no key file .*key import"):
        open_codec(data_dir)
    import_keys(data_dir, tmp_path / "keys.bundle", "export pass")
    assert open_codec(data_dir).open("r", blob) == b"saved"


def test_a_damaged_bundle_is_named(data_dir: Path, tmp_path: Path, fast_scrypt: None) -> None:
    open_codec(data_dir)
    bundle = tmp_path / "keys.bundle"
    export_keys(data_dir, bundle, "export pass")
    doc = json.loads(bundle.read_text())
    doc["keys"][0]["wrapped"] = keyring.b64e(os.urandom(48))
    bundle.write_text(json.dumps(doc))
    with pytest.raises(KeyUnavailableError, match="bundle .* is damaged"):
        import_keys(tmp_path / "other", bundle, "export pass", key_file=tmp_path / "k")
    with pytest.raises(KeyUnavailableError, match="no key bundle"):
        import_keys(tmp_path / "other", tmp_path / "missing", "export pass")


def test_a_damaged_ring_is_named_and_import_sets_it_aside(data_dir: Path, tmp_path: Path,
                                                          fast_scrypt: None) -> None:
    blob = open_codec(data_dir).seal("r", b"x")
    export_keys(data_dir, tmp_path / "keys.bundle", "export pass")
    ring = data_dir / "keys" / "ring"
    ring.write_text("{ not json")
    with pytest.raises(KeyUnavailableError, match="key ring .* is damaged.*key import"):
        open_codec(data_dir)
    import_keys(data_dir, tmp_path / "keys.bundle", "export pass")
    assert (data_dir / "keys" / "ring.damaged").read_text() == "{ not json"
    assert open_codec(data_dir).open("r", blob) == b"x"


def test_one_key_command_at_a_time(data_dir: Path) -> None:
    with keyring.ring_lock(data_dir):
        with pytest.raises(KeyUnavailableError, match="another codegen-hook key command"):
            init_keys(data_dir)
    init_keys(data_dir)


def test_racing_first_uses_agree_on_one_ring(data_dir: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process makes the ring between our look and our write: we use its ring."""
    winner = open_codec(data_dir)
    looks: list[Path] = []

    def late_look(path: Path) -> keyring.Ring | None:
        looks.append(path)
        return None if len(looks) == 1 else keyring.load_ring(path)

    monkeypatch.setattr(keys, "load_ring", late_look)
    assert open_codec(data_dir).active == winner.active
    assert len(looks) == 2
    assert key_status(data_dir).data_key_ids == (winner.active,)
