"""The AES-256-GCM codec: blobs and streams open only as sealed, for their role, with
their key; every altered, cut, moved or reordered byte is refused."""

from __future__ import annotations

import io
import struct

import pytest

from codegen_hook.errors import DecryptionError
from codegen_hook.security import crypto
from codegen_hook.security.crypto import (EncryptedCodec, is_sealed, key_id_of, new_data_key,
                                          role_of)

KEY_A, KEY_B = new_data_key(), new_data_key()


@pytest.fixture()
def codec() -> EncryptedCodec:
    return EncryptedCodec({"dk-a": KEY_A}, "dk-a")


@pytest.fixture()
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(crypto, "CHUNK", 8)
    return 8


def stream_of(codec: EncryptedCodec, role: str, data: bytes) -> bytes:
    sink = io.BytesIO()
    assert codec.seal_stream(role, io.BytesIO(data), sink) == len(data)
    return sink.getvalue()


def read_stream(codec: EncryptedCodec, role: str, sealed: bytes) -> bytes:
    return b"".join(codec.open_stream(role, io.BytesIO(sealed)))


def test_blob_round_trip_and_header(codec: EncryptedCodec) -> None:
    blob = codec.seal("index-manifest", b"def f(): pass")
    assert codec.open("index-manifest", blob) == b"def f(): pass"
    assert blob.startswith(b"CGHE" + bytes([crypto.FORMAT_VERSION, 4]) + b"dk-a"
                           + struct.pack(">H", 14) + b"index-manifest")
    assert key_id_of(blob) == "dk-a" and role_of(blob) == "index-manifest"
    assert b"def f" not in blob
    assert codec.seal("r", b"x") != codec.seal("r", b"x")  # a fresh nonce each time
    assert codec.open("r", codec.seal("r", b"")) == b""


def test_wrong_key_and_unknown_key_id(codec: EncryptedCodec) -> None:
    blob = codec.seal("r", b"secret")
    with pytest.raises(DecryptionError, match="altered or truncated, or the key is wrong"):
        EncryptedCodec({"dk-a": KEY_B}, "dk-a").open("r", blob)
    with pytest.raises(DecryptionError, match="'dk-a', which this key ring does not hold"):
        EncryptedCodec({"dk-b": KEY_B}, "dk-b").open("r", blob)


def test_every_region_of_a_blob_is_checked(codec: EncryptedCodec) -> None:
    blob = codec.seal("audit-entry", b"payload bytes")
    header = 6 + 4 + 2 + len("audit-entry")
    regions = {"magic": 0, "version": 4, "key id length": 5, "key id": 7,
               "role length": 10, "role": 14, "nonce": header + 3,
               "ciphertext": header + 12 + 2, "tag": len(blob) - 1}
    for name, at in regions.items():
        bad = bytearray(blob)
        bad[at] ^= 0x01
        with pytest.raises(DecryptionError):
            codec.open("audit-entry", bytes(bad))
            pytest.fail(f"a flipped {name} byte opened")


def test_truncated_and_foreign_blobs(codec: EncryptedCodec) -> None:
    blob = codec.seal("r", b"payload")
    for size in (0, 3, 7, 12, len(blob) - 16, len(blob) - 1):
        with pytest.raises(DecryptionError):
            codec.open("r", blob[:size])
    with pytest.raises(DecryptionError, match="not a codegen-hook encrypted file"):
        codec.open("r", b"plain text, not ours at all")
    with pytest.raises(DecryptionError, match="format version 1"):
        codec.open("r", b"CGHE\x01" + blob[5:])


def test_a_blob_moved_to_another_role_is_refused(codec: EncryptedCodec) -> None:
    blob = codec.seal("index-manifest", b"{}")
    with pytest.raises(DecryptionError, match="holds a index-manifest, not a audit-entry; it "
                                              "was moved or replaced"):
        codec.open("audit-entry", blob)
    # Rewriting the header's role to match is caught by the tag (the header is the AAD).
    forged = blob.replace(b"index-manifest", b"index-manifesT", 1)
    with pytest.raises(DecryptionError, match="altered"):
        codec.open("index-manifesT", forged)


def test_reseal_moves_a_blob_to_the_active_key() -> None:
    old = EncryptedCodec({"dk-a": KEY_A}, "dk-a")
    both = EncryptedCodec({"dk-a": KEY_A, "dk-b": KEY_B}, "dk-b")
    blob = both.reseal(old.seal("prompt-log", b"hello"))
    assert key_id_of(blob) == "dk-b" and role_of(blob) == "prompt-log"
    assert EncryptedCodec({"dk-b": KEY_B}, "dk-b").open("prompt-log", blob) == b"hello"


def test_is_sealed(codec: EncryptedCodec) -> None:
    assert is_sealed(codec.seal("r", b"x")[:4])
    assert is_sealed(stream_of(codec, "model", b"abc")[:4])
    assert not is_sealed(b"GGUF") and not is_sealed(b"") and not is_sealed(b"CGH")


def test_stream_round_trips(codec: EncryptedCodec, small_chunks: int) -> None:
    for size in (0, 1, 8, 9, 16, 17, 100):
        data = bytes(range(256))[:size]
        sealed = stream_of(codec, "model", data)
        assert sealed[:5] == b"CGHS" + bytes([crypto.FORMAT_VERSION])
        assert role_of(sealed) == "model" and key_id_of(sealed) == "dk-a"
        assert read_stream(codec, "model", sealed) == data
        chunks = list(codec.open_stream("model", io.BytesIO(sealed)))
        assert all(len(c) == small_chunks for c in chunks[:-1])


def chunks_of(sealed: bytes) -> tuple[bytes, list[bytes]]:
    """The stream header and the length-prefixed chunk records."""
    at = 5 + 16 + 2 + struct.unpack(">H", sealed[21:23])[0]
    head, records = sealed[:at], []
    while at < len(sealed):
        size = struct.unpack(">I", sealed[at:at + 4])[0]
        records.append(sealed[at:at + 4 + size])
        at += 4 + size
    return head, records


def test_stream_cut_reordered_or_extended_is_refused(codec: EncryptedCodec,
                                                     small_chunks: int) -> None:
    sealed = stream_of(codec, "model", b"0123456789abcdefghij")  # 3 chunks
    head, records = chunks_of(sealed)
    assert len(records) == 3
    cases = {
        "cut at a chunk boundary": head + records[0] + records[1],
        "cut mid-chunk": sealed[:-5],
        "header only": head,
        "reordered": head + records[1] + records[0] + records[2],
        "chunk repeated": head + records[0] + records[0] + records[1] + records[2],
        "extra data": sealed + b"junk",
        "extra chunk": sealed + records[2],
        "spliced from another stream": head + chunks_of(
            stream_of(codec, "model", b"0123456789abcdefghij"))[1][0] + records[1] + records[2],
        "tampered role in stream header": sealed.replace(b"model", b"modeL", 1),
    }
    for name, bad in cases.items():
        with pytest.raises(DecryptionError):
            read_stream(codec, "modeL" if "role" in name else "model", bad)
            pytest.fail(f"{name} opened")


def test_stream_role_and_kind_are_checked(codec: EncryptedCodec) -> None:
    sealed = stream_of(codec, "model", b"weights")
    with pytest.raises(DecryptionError, match="holds a model, not a adapter"):
        codec.open_stream("adapter", io.BytesIO(sealed))
    with pytest.raises(DecryptionError, match="sealed stream, not a sealed blob"):
        codec.open("model", sealed)
    with pytest.raises(DecryptionError, match="sealed blob, not a sealed stream"):
        codec.open_stream("model", io.BytesIO(codec.seal("model", b"x")))
    with pytest.raises(DecryptionError, match="does not hold"):
        read_stream(EncryptedCodec({"dk-b": KEY_B}, "dk-b"), "model", sealed)


def test_reseal_stream_needs_no_role(small_chunks: int) -> None:
    old = EncryptedCodec({"dk-a": KEY_A}, "dk-a")
    both = EncryptedCodec({"dk-a": KEY_A, "dk-b": KEY_B}, "dk-b")
    data = b"x" * 30
    sink = io.BytesIO()
    assert both.reseal_stream(io.BytesIO(stream_of(old, "adapter", data)), sink) == 30
    resealed = sink.getvalue()
    assert key_id_of(resealed) == "dk-b" and role_of(resealed) == "adapter"
    _, records = chunks_of(resealed)
    assert all(key_id_of(record[4:]) == "dk-b" for record in records)
    assert read_stream(EncryptedCodec({"dk-b": KEY_B}, "dk-b"), "adapter", resealed) == data
    with pytest.raises(DecryptionError):
        both.reseal_stream(io.BytesIO(stream_of(old, "adapter", data)[:-3]), io.BytesIO())
