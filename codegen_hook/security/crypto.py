"""AES-256-GCM for everything stored that derives from user code.

A sealed blob is `header || nonce || ciphertext+tag`, where the header is
`b"CGHE" | version | len(key_id) | key_id | len(role) (2 bytes, big-endian) | role`
and is the associated data, so a blob moved to another role (`index-manifest`,
`audit-entry`, …), another format version or claimed by another key does not open.
Every seal draws a fresh 96-bit random nonce.

Large files (models) are sealed streams: `b"CGHS" | version | stream id (16 bytes) |
len(role) (2 bytes) | role`, then 4 MiB chunks, each `len (4 bytes) | sealed blob`
whose role is `role#<stream id>#<index>#<1 if last else 0>`. So a chunk spliced in
from another stream, or a truncated, reordered or extended stream, is refused; the
stream header itself is checked through those chunk roles.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import BinaryIO, NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codegen_hook.errors import DecryptionError

__all__ = ["CHUNK", "FORMAT_VERSION", "EncryptedCodec", "is_sealed", "key_id_of",
           "new_data_key", "role_of"]

MAGIC = b"CGHE"
STREAM_MAGIC = b"CGHS"
FORMAT_VERSION = 2  # 1 had no role in the header
_NONCE = 12
_TAG = 16
_STREAM_ID = 16
CHUNK = 4 << 20
_RECOVER = ("restore the key that wrote it (`codegen-hook key import`), or for the index "
            "rebuild it (`codegen-hook index --rebuild`)")


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def is_sealed(first_bytes: bytes) -> bool:
    """Whether a file starting with these bytes is a sealed blob or a sealed stream."""
    return first_bytes[:4] in (MAGIC, STREAM_MAGIC)


class _Header(NamedTuple):
    key_id: str
    role: str
    size: int  # bytes of header, before the nonce


class _StreamHeader(NamedTuple):
    stream_id: bytes
    role: str
    size: int


def _header(key_id: str, role: str) -> bytes:
    kid, name = key_id.encode(), role.encode()
    if len(kid) > 255 or len(name) > 0xFFFF:
        raise ValueError("key id or role too long to seal")
    return MAGIC + bytes([FORMAT_VERSION, len(kid)]) + kid + struct.pack(">H", len(name)) + name


def _check_version(version: int) -> None:
    if version != FORMAT_VERSION:
        raise DecryptionError(f"encrypted with format version {version}, this codegen-hook "
                              f"reads version {FORMAT_VERSION}; use the codegen-hook that "
                              f"wrote it, or {_RECOVER}")


def _parse_header(blob: bytes) -> _Header:
    if blob[:4] == STREAM_MAGIC:
        raise DecryptionError("this file is a sealed stream, not a sealed blob; open it as a "
                              "stream (it was moved or replaced)")
    if len(blob) < 8 or blob[:4] != MAGIC:
        raise DecryptionError("not a codegen-hook encrypted file (no header); it was "
                              f"replaced or damaged: {_RECOVER}")
    _check_version(blob[4])
    role_at = 6 + blob[5]
    role_size = struct.unpack(">H", blob[role_at:role_at + 2])[0] if len(blob) >= role_at + 2 else 0
    size = role_at + 2 + role_size
    if len(blob) < size + _NONCE + _TAG:
        raise DecryptionError(f"the encrypted file is truncated; {_RECOVER}")
    return _Header(blob[6:role_at].decode(errors="replace"),
                   blob[role_at + 2:size].decode(errors="replace"), size)


def _parse_stream_header(head: bytes) -> _StreamHeader:
    if head[:4] == MAGIC:
        raise DecryptionError("this file is a sealed blob, not a sealed stream; it was "
                              "moved or replaced")
    if head[:4] != STREAM_MAGIC or len(head) < 5:
        raise DecryptionError("not a codegen-hook encrypted stream (no header); it was "
                              f"replaced or damaged: {_RECOVER}")
    _check_version(head[4])
    role_at = 5 + _STREAM_ID
    if len(head) < role_at + 2:
        raise DecryptionError(f"the encrypted stream is truncated; {_RECOVER}")
    size = role_at + 2 + struct.unpack(">H", head[role_at:role_at + 2])[0]
    if len(head) < size:
        raise DecryptionError(f"the encrypted stream is truncated; {_RECOVER}")
    return _StreamHeader(head[5:role_at], head[role_at + 2:size].decode(errors="replace"), size)


def key_id_of(blob: bytes) -> str:
    """The id of the key a blob (or a stream, given at least its first chunk) was
    sealed with; DecryptionError if it is not ours."""
    if blob[:4] == STREAM_MAGIC:
        at = _parse_stream_header(blob).size
        blob = blob[at + 4:]
    return _parse_header(blob).key_id


def role_of(blob: bytes) -> str:
    """The role a blob (or a stream, given its header) was sealed for."""
    if blob[:4] == STREAM_MAGIC:
        return _parse_stream_header(blob).role
    return _parse_header(blob).role


def _role_mismatch(found: str, expected: str) -> DecryptionError:
    return DecryptionError(f"this file holds a {found}, not a {expected}; it was moved or "
                           f"replaced: put the right file back, or {_RECOVER}")


class EncryptedCodec:
    """Seals with the active data key; opens with whichever known key a blob names."""

    name = "aes-256-gcm"

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"active key {active!r} is not among the keys")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active = active

    def seal(self, role: str, data: bytes) -> bytes:
        header = _header(self.active, role)
        nonce = os.urandom(_NONCE)
        return header + nonce + self._keys[self.active].encrypt(nonce, data, header)

    def open(self, role: str, data: bytes) -> bytes:
        header = _parse_header(data)
        if header.role != role:
            raise _role_mismatch(header.role, role)
        aead = self._keys.get(header.key_id)
        if aead is None:
            raise DecryptionError(f"sealed with key {header.key_id!r}, which this key ring "
                                  f"does not hold; {_RECOVER}")
        split = header.size
        nonce, body = data[split:split + _NONCE], data[split + _NONCE:]
        try:
            return aead.decrypt(nonce, body, data[:split])
        except InvalidTag as exc:
            raise DecryptionError(f"a stored {role} does not open with key {header.key_id!r}: "
                                  f"it was altered or truncated, or the key is wrong; "
                                  f"{_RECOVER}") from exc

    def reseal(self, blob: bytes) -> bytes:
        """The same plaintext and role, sealed again with the active key."""
        role = role_of(blob)
        return self.seal(role, self.open(role, blob))

    def seal_stream(self, role: str, source: BinaryIO, sink: BinaryIO) -> int:
        """Seal `source` into `sink` chunk by chunk; returns the plaintext size."""
        return self._seal_chunks(role, iter(lambda: source.read(CHUNK), b""), sink)

    def open_stream(self, role: str, source: BinaryIO) -> Iterator[bytes]:
        """The plaintext chunks of a sealed stream, each checked before it is yielded;
        a stream cut at a chunk boundary fails too (its last chunk was not sealed last)."""
        header = _read_stream_header(source)
        if header.role != role:
            raise _role_mismatch(header.role, role)
        return self._open_chunks(header, source)

    def reseal_stream(self, source: BinaryIO, sink: BinaryIO) -> int:
        """Re-encrypt a sealed stream with the active key, whatever its role; returns the
        plaintext size. `sink` holds garbage if this raises: write to a temp file."""
        header = _read_stream_header(source)
        return self._seal_chunks(header.role, self._open_chunks(header, source), sink)

    def _seal_chunks(self, role: str, chunks: Iterable[bytes], sink: BinaryIO) -> int:
        stream_id = os.urandom(_STREAM_ID)
        name = role.encode()
        sink.write(STREAM_MAGIC + bytes([FORMAT_VERSION]) + stream_id
                   + struct.pack(">H", len(name)) + name)
        total, index, source = 0, 0, iter(chunks)
        chunk = next(source, b"")
        while True:
            following = next(source, None)
            last = following is None
            blob = self.seal(_chunk_role(role, stream_id, index, last), chunk)
            sink.write(struct.pack(">I", len(blob)) + blob)
            total += len(chunk)
            if following is None:
                return total
            chunk, index = following, index + 1

    def _open_chunks(self, header: _StreamHeader, source: BinaryIO) -> Iterator[bytes]:
        blob = _read_blob(source, header.role)
        if blob is None:
            raise DecryptionError(f"the encrypted {header.role} is empty; {_RECOVER}")
        index = 0
        while True:
            following = _read_blob(source, header.role)
            last = following is None
            yield self.open(_chunk_role(header.role, header.stream_id, index, last), blob)
            if following is None:
                return
            blob, index = following, index + 1


def _chunk_role(role: str, stream_id: bytes, index: int, last: bool) -> str:
    return f"{role}#{stream_id.hex()}#{index}#{int(last)}"


def _read_stream_header(source: BinaryIO) -> _StreamHeader:
    fixed = 5 + _STREAM_ID + 2
    head = source.read(fixed)
    if len(head) < fixed:
        return _parse_stream_header(head)  # raises: not ours, or truncated
    return _parse_stream_header(head + source.read(struct.unpack(">H", head[-2:])[0]))


def _read_blob(source: BinaryIO, role: str) -> bytes | None:
    prefix = source.read(4)
    if not prefix:
        return None
    size = struct.unpack(">I", prefix)[0] if len(prefix) == 4 else -1
    blob = source.read(size) if size >= 0 else b""
    if size < 0 or len(blob) != size:
        raise DecryptionError(f"the encrypted {role} is truncated; {_RECOVER}")
    return blob
