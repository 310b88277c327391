"""Encryption at rest through the command line: key commands, wrong keys, tampering
with each stored kind, and the modes of everything written."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.cli import main
from codegen_hook.config import data_dir, resolve_settings
from codegen_hook.errors import DecryptionError
from codegen_hook.models import MODEL_ROLE
from codegen_hook.security import keyring
from codegen_hook.security.codec import codec_for
from codegen_hook.security.crypto import key_id_of
from codegen_hook.security.memfd import decrypt_to_memfd
from tests.test_cli import HELPER, RIGHT, STUB

Capsys = pytest.CaptureFixture[str]
EXPORT_PASSPHRASE = "correct horse battery"


@pytest.fixture
def repo(repo: Path) -> Path:
    """The CLI tests' repository, with a helper module beside the stub."""
    (repo / "text.py").write_text(HELPER)
    return repo


@pytest.fixture
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "SCRYPT_N", 2 ** 10)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The data dir the autouse fixture points CODEGEN_HOOK_DATA_DIR at."""
    return tmp_path / "data"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / "xdg_config_home" / "codegen-hook" / "key"


def run(capsys: Capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: Capsys, *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def flip_last_byte(path: Path) -> bytes:
    """Alter the GCM tag at the end of a sealed file; returns the altered bytes."""
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    return bytes(raw)


def found_slugify(capsys: Capsys) -> bool:
    data = run_json(capsys, "search", "url slug of a title")
    return "slugify" in [r["qualname"] for r in data["results"]]


def write_other_key(path: Path) -> None:
    path.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    os.chmod(path, 0o600)


# Key commands.
def test_status_then_init_then_init_again(home: Path, key_file: Path, capsys: Capsys) -> None:
    before = run_json(capsys, "key", "status")
    assert before["ring_exists"] is False and before["data_key_ids"] == []
    assert before["source"] == "key-file" and before["key_file_mode"] is None
    assert run(capsys, "key", "init")[0] == 0
    status = run_json(capsys, "key", "status")
    assert status["source"] == "key-file" and status["ring_exists"] is True
    assert status["key_file"] == str(key_file) and status["key_file_mode"] == "0600"
    assert mode(key_file) == 0o600 and mode(key_file.parent) == 0o700
    assert len(status["data_key_ids"]) == 1 and status["active"] == status["data_key_ids"][0]
    assert status["matches"] is True and status["retiring"] == []
    ring = (home / "keys" / "ring").read_bytes()
    code, _, err = run(capsys, "key", "init")
    assert code == 2 and "a key ring already exists" in err and "key rotate" in err
    assert (home / "keys" / "ring").read_bytes() == ring


def test_export_import_moves_the_keys_to_another_data_dir(
        repo: Path, tmp_path: Path, fast_scrypt: None, monkeypatch: pytest.MonkeyPatch,
        capsys: Capsys) -> None:
    monkeypatch.setenv("CODEGEN_HOOK_EXPORT_PASSPHRASE", EXPORT_PASSPHRASE)
    assert run(capsys, "index")[0] == 0
    bundle = tmp_path / "bundle.json"
    assert run(capsys, "key", "export", str(bundle))[0] == 0
    assert mode(bundle) == 0o600
    assert b"dk-" in bundle.read_bytes()  # ids only: the keys are wrapped
    first = run_json(capsys, "key", "status")

    # A data dir without those keys makes a ring of its own, which does not open the index.
    monkeypatch.setenv("CODEGEN_HOOK_DATA_DIR", str(tmp_path / "stranger"))
    monkeypatch.setenv("CODEGEN_HOOK_KEY_FILE", str(tmp_path / "stranger-key"))
    code, _, err = run(capsys, "search", "slug")
    assert code == 2 and "does not hold" in err and "key import" in err

    # A fresh data dir with its own key file: import makes its ring, no prompt.
    second_key = tmp_path / "elsewhere" / "key"
    monkeypatch.setenv("CODEGEN_HOOK_DATA_DIR", str(tmp_path / "data2"))
    monkeypatch.setenv("CODEGEN_HOOK_KEY_FILE", str(second_key))
    imported = run_json(capsys, "key", "import", str(bundle))
    assert imported["source"] == "key-file" and imported["key_file"] == str(second_key)
    assert mode(second_key) == 0o600 and imported["matches"] is True
    assert imported["active"] == first["active"]
    assert imported["data_key_ids"] == first["data_key_ids"]
    assert imported["kek_id"] != first["kek_id"]  # same data keys, another KEK
    assert found_slugify(capsys)


def test_rotate_then_rotate_reencrypt(repo: Path, key_file: Path, capsys: Capsys) -> None:
    assert run(capsys, "index")[0] == 0
    old_key = key_file.read_bytes()
    before = run_json(capsys, "key", "status")
    rotated = run_json(capsys, "key", "rotate")
    assert rotated["kek_rotated"] is True and rotated["active"] == before["active"]
    assert key_file.read_bytes() != old_key and mode(key_file) == 0o600
    assert run(capsys, "index")[0] == 0 and found_slugify(capsys)

    report = run_json(capsys, "key", "rotate", "--reencrypt")
    new_active = report["active"]
    assert report["complete"] is True and report["new_data_key"] == new_active
    assert new_active != before["active"] and report["retired"] == [before["active"]]
    store = repo / ".codegen-hook" / "index"
    assert key_id_of((store / "manifest").read_bytes()) == new_active
    objects = [p for p in (store / "objects").rglob("*") if p.is_file()]
    assert objects and all(key_id_of(p.read_bytes()) == new_active for p in objects)
    assert str(store / "manifest") in report["resealed"]
    assert run_json(capsys, "key", "status")["data_key_ids"] == [new_active]
    assert run(capsys, "index")[0] == 0 and found_slugify(capsys)


# Wrong keys: refused before anything is written.
def test_wrong_passphrase_is_refused_and_changes_nothing(
        repo: Path, fast_scrypt: None, monkeypatch: pytest.MonkeyPatch, key_file: Path,
        capsys: Capsys) -> None:
    monkeypatch.setenv("CODEGEN_HOOK_PASSPHRASE", "the right one")
    status = run_json(capsys, "key", "init", "--passphrase")
    assert status["source"] == "passphrase" and status["ring_exists"] is True
    assert not key_file.exists()
    assert run(capsys, "index")[0] == 0 and found_slugify(capsys)
    before = snapshot(repo / ".codegen-hook")

    monkeypatch.setenv("CODEGEN_HOOK_PASSPHRASE", "a wrong one")
    (repo / "strings.py").write_text(STUB + "\n\ndef more() -> None:\n    pass\n")
    code, _, err = run(capsys, "index")
    assert code == 2 and "the passphrase" in err and "does not unwrap" in err
    assert "type the passphrase that protects it (CODEGEN_HOOK_PASSPHRASE)" in err
    assert snapshot(repo / ".codegen-hook") == before

    monkeypatch.delenv("CODEGEN_HOOK_PASSPHRASE")
    code, _, err = run(capsys, "index")
    assert code == 2 and "protected by a passphrase: set CODEGEN_HOOK_PASSPHRASE" in err
    assert snapshot(repo / ".codegen-hook") == before


def test_wrong_key_file_is_refused_even_for_rebuild(
        repo: Path, tmp_path: Path, key_file: Path, fast_scrypt: None,
        monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    monkeypatch.setenv("CODEGEN_HOOK_EXPORT_PASSPHRASE", EXPORT_PASSPHRASE)
    assert run(capsys, "index")[0] == 0
    bundle = tmp_path / "backup.json"
    assert run(capsys, "key", "export", str(bundle))[0] == 0
    manifest = repo / ".codegen-hook" / "index" / "manifest"
    before = snapshot(repo / ".codegen-hook")
    write_other_key(key_file)

    for argv in (["index"], ["index", "--rebuild"], ["search", "slug"]):
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert f"the key file {key_file}" in err and "does not unwrap the key ring" in err
        assert "restore the right key file (`codegen-hook key import`)" in err
        assert snapshot(repo / ".codegen-hook") == before
    assert run_json(capsys, "key", "status")["matches"] is False

    # The fix the message names: the bundle's keys, wrapped under the key file at hand.
    assert run_json(capsys, "key", "import", str(bundle))["matches"] is True
    assert found_slugify(capsys)
    assert manifest.read_bytes() == before["index/manifest"]


# Tampering, one stored kind at a time.
def test_altered_manifest_names_rebuild_and_rebuild_recovers(repo: Path, capsys: Capsys) -> None:
    assert run(capsys, "index")[0] == 0
    manifest = repo / ".codegen-hook" / "index" / "manifest"
    altered = flip_last_byte(manifest)
    for argv in (["index"], ["search", "slug"]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and "index-manifest" in err and "altered" in err
        assert "`codegen-hook index --rebuild`" in err
        assert manifest.read_bytes() == altered
    code, out, _ = run(capsys, "index", "--rebuild")
    assert code == 0 and "2 parsed" in out
    assert found_slugify(capsys)


def test_altered_object_stops_search_until_rebuild(repo: Path, capsys: Capsys) -> None:
    assert run(capsys, "index")[0] == 0
    objects = [p for p in (repo / ".codegen-hook" / "index" / "objects").rglob("*")
               if p.is_file()]
    assert len(objects) == 2
    for each in objects:
        flip_last_byte(each)
    # A refresh reuses object files without reading them; loading one is refused with
    # the fix, not silently dropped (a wrong key would otherwise discard the index).
    code, _, err = run(capsys, "search", "slug")
    assert code == 2 and "index-object" in err and "altered" in err
    assert "`codegen-hook index --rebuild`" in err
    assert run(capsys, "index")[0] == 0  # refresh alone does not read the objects
    code, _, _ = run(capsys, "search", "slug")
    assert code == 2
    code, out, _ = run(capsys, "index", "--rebuild")
    assert code == 0 and "2 parsed" in out
    assert found_slugify(capsys)


def test_altered_audit_entry_fails_verify_and_show(
        repo: Path, home: Path, scripted: ScriptedBackend, capsys: Capsys) -> None:
    scripted.enqueue(RIGHT)
    assert run(capsys, "fill", "strings.py")[0] == 1
    [entry] = run_json(capsys, "audit", "show")
    assert entry["file"] == "strings.py" and entry["qualname"] == "count_chars"
    assert entry["verdict"] == "verified" and entry["delivery"] == "written to strings.py"
    assert entry["seq"] == 1 and entry["repository"] == str(repo)
    assert run_json(capsys, "audit", "verify")["ok"] is True

    entries = home / "audit" / "entries"
    line = bytearray(entries.read_bytes())
    middle = len(line) // 2
    line[middle] = ord("A") if line[middle] != ord("A") else ord("B")  # still base64
    entries.write_bytes(bytes(line))
    code, out, _ = run(capsys, "audit", "verify")
    assert code == 1 and "NOT intact" in out
    assert "problem: line 1: the entry does not open" in out and "altered" in out
    assert "seq 1..1: removed from the end" in out
    code, _, err = run(capsys, "audit", "show")
    assert code == 2 and "audit entry on line 1" in err and "audit verify" in err


def test_altered_private_model_does_not_decrypt(
        tmp_path: Path, home: Path, capsys: Capsys) -> None:
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF" + os.urandom(4096))
    added = run_json(capsys, "model", "add", str(gguf), "--name", "mine", "--encrypt")
    sealed = Path(added["path"])
    assert added["encrypted"] is True and sealed.name == "mine.gguf.sealed"
    assert b"GGUF" not in sealed.read_bytes()
    [listed] = run_json(capsys, "model", "list")["private"]
    assert listed["name"] == "mine" and listed["encrypted"] is True

    settings = resolve_settings(tmp_path)
    codec = codec_for(settings, data_dir(settings))
    fd = decrypt_to_memfd(sealed, codec, MODEL_ROLE)
    try:
        assert os.read(fd, 8192) == gguf.read_bytes()
    finally:
        os.close(fd)
    flip_last_byte(sealed)
    with pytest.raises(DecryptionError, match="altered"):
        decrypt_to_memfd(sealed, codec, MODEL_ROLE)


# Modes.
def test_everything_written_is_private(repo: Path, home: Path, key_file: Path,
                                       scripted: ScriptedBackend, capsys: Capsys) -> None:
    assert run(capsys, "index")[0] == 0
    scripted.enqueue(RIGHT)
    assert run(capsys, "fill", "strings.py")[0] == 1
    store = repo / ".codegen-hook"
    assert (home / "audit" / "entries").is_file() and (store / "index" / "manifest").is_file()
    assert (store / ".gitignore").is_file()
    for top in (home, store, key_file.parent):
        assert mode(top) == 0o700, top
        for path in top.rglob("*"):
            assert mode(path) == (0o700 if path.is_dir() else 0o600), path
