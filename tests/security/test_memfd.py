"""Encrypted private models: sealed on disk, decrypted into a sealed memfd only."""

from __future__ import annotations

import fcntl
import io
import os
from pathlib import Path

import pytest

from codegen_hook.backends.base import CompletionRequest, Message
from codegen_hook.backends.llama import LlamaCppBackend
from codegen_hook.errors import DecryptionError, ModelError
from codegen_hook.models import (MODEL_ROLE, add_private_model, find_private_model,
                                 list_private_models)
from codegen_hook.security.crypto import EncryptedCodec, new_data_key
from codegen_hook.security.memfd import decrypt_to_memfd

PAYLOAD = b"GGUF" + os.urandom(3 << 20) + b"the-end"


@pytest.fixture
def codec() -> EncryptedCodec:
    return EncryptedCodec({"k": new_data_key()}, "k")


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "mine.gguf"
    path.write_bytes(PAYLOAD)
    return path


def test_memfd_holds_the_plaintext_sealed_and_close_on_exec(tmp_path: Path,
                                                            codec: EncryptedCodec) -> None:
    sealed = tmp_path / "m.sealed"
    with sealed.open("wb") as sink:
        codec.seal_stream(MODEL_ROLE, io.BytesIO(PAYLOAD), sink)
    assert PAYLOAD[100:200] not in sealed.read_bytes()
    fd = decrypt_to_memfd(sealed, codec, MODEL_ROLE)
    try:
        assert Path(f"/proc/self/fd/{fd}").read_bytes() == PAYLOAD
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE and seals & fcntl.F_SEAL_SEAL
        with pytest.raises(PermissionError):
            os.write(fd, b"x")
        assert os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:")
    finally:
        os.close(fd)


def test_a_wrong_key_or_tampered_model_never_yields_bytes(tmp_path: Path,
                                                          codec: EncryptedCodec) -> None:
    sealed = tmp_path / "m.sealed"
    with sealed.open("wb") as sink:
        codec.seal_stream(MODEL_ROLE, io.BytesIO(PAYLOAD), sink)
    other = EncryptedCodec({"k": new_data_key()}, "k")
    with pytest.raises(DecryptionError):
        decrypt_to_memfd(sealed, other, MODEL_ROLE)
    raw = bytearray(sealed.read_bytes())
    raw[len(raw) // 2] ^= 1
    sealed.write_bytes(bytes(raw))
    with pytest.raises(DecryptionError):
        decrypt_to_memfd(sealed, codec, MODEL_ROLE)


def test_add_private_model_encrypted_and_plain(tmp_path: Path, gguf: Path,
                                               codec: EncryptedCodec) -> None:
    data = tmp_path / "data"
    seen: list[tuple[int, int]] = []
    model = add_private_model(gguf, "mine", data, codec, lambda d, t: seen.append((d, t)))
    assert model.encrypted and model.size == len(PAYLOAD) and seen[-1][0] == len(PAYLOAD)
    assert model.path.name == "mine.gguf.sealed"
    assert PAYLOAD[1000:1100] not in model.path.read_bytes()
    assert find_private_model("mine", data) == model
    plain = add_private_model(gguf, "open", data, None)
    assert plain.path.read_bytes() == PAYLOAD and plain.sha256 == model.sha256
    assert [m.name for m in list_private_models(data)] == ["mine", "open"]
    again = add_private_model(gguf, "mine", data, None)  # re-added plain: old file goes
    assert not model.path.exists() and again.path.is_file()


@pytest.mark.parametrize("name", ["", "../x", "a b", "qwen2.5-coder-0.5b-instruct"])
def test_bad_model_names_are_refused(tmp_path: Path, gguf: Path, name: str) -> None:
    with pytest.raises(ModelError, match="model name"):
        add_private_model(gguf, name, tmp_path, None)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"PK\x03\x04zip")
    with pytest.raises(ModelError, match="not a GGUF"):
        add_private_model(bad, "x", tmp_path / "data", None)
    with pytest.raises(ModelError, match="cannot read"):
        add_private_model(tmp_path / "missing.gguf", "x", tmp_path / "data", None)


@pytest.mark.real_model
def test_real_model_loads_from_memory_only(tmp_path: Path, real_model_path: Path,
                                           codec: EncryptedCodec) -> None:
    model = add_private_model(real_model_path, "private-qwen", tmp_path / "data", codec)
    backend = LlamaCppBackend(model.path, n_ctx=512,
                              decrypt=lambda p: decrypt_to_memfd(p, codec, MODEL_ROLE))
    answer = backend.complete(CompletionRequest(
        (Message("user", "Say the word: hello"),), max_tokens=8, seed=1))
    assert answer.texts[0].strip()
    assert backend._fd is not None
    assert os.readlink(f"/proc/self/fd/{backend._fd}").startswith("/memfd:")
    assert "encrypted" in backend.describe()
