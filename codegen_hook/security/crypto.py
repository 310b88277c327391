"""AES-256-GCM for everything stored that derives from user code.

A sealed blob is `header || nonce || ciphertext+tag`, where the header is
`b"CGHE" | version | len(key_id) | key_id`. The associated data is the header
plus the role (`index-manifest`, `audit-entry`, …), so a blob moved to another
role, another format version or claimed by another key does not open. Every seal
draws a fresh 96-bit random nonce. Large files (models) are sealed in 4 MiB chunks,
each bound to its index and to whether it is the last, so a truncated, reordered
or extended file is refused.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from codegen_hook.errors import DecryptionError

__all__ = ["FORMAT_VERSION", "EncryptedCodec", "key_id_of", "new_data_key"]

MAGIC = b"CGHE"
FORMAT_VERSION = 1
_NONCE = 12
CHUNK = 4 << 20
_RECOVER = ("restore the key that wrote it (`codegen-hook key import`), or for the index "
            "rebuild it (`codegen-hook index --rebuild`)")


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _header(key_id: str) -> bytes:
    raw = key_id.encode()
    return MAGIC + bytes([FORMAT_VERSION, len(raw)]) + raw


def key_id_of(blob: bytes) -> str:
    """The id of the key a blob was sealed with; DecryptionError if it is not ours."""
    if len(blob) < 6 or blob[:4] != MAGIC:
        raise DecryptionError("not a codegen-hook encrypted file (no header); it was "
                              f"replaced or damaged: {_RECOVER}")
    if blob[4] != FORMAT_VERSION:
        raise DecryptionError(f"encrypted with format version {blob[4]}, this codegen-hook "
                              f"reads version {FORMAT_VERSION}; upgrade codegen-hook")
    size = blob[5]
    if len(blob) < 6 + size + _NONCE + 16:
        raise DecryptionError(f"the encrypted file is truncated; {_RECOVER}")
    return blob[6:6 + size].decode(errors="replace")


class EncryptedCodec:
    """Seals with the active data key; opens with whichever known key a blob names."""

    name = "aes-256-gcm"

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ValueError(f"active key {active!r} is not among the keys")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.active = active

    def seal(self, role: str, data: bytes) -> bytes:
        header = _header(self.active)
        nonce = os.urandom(_NONCE)
        return header + nonce + self._keys[self.active].encrypt(nonce, data, header + role.encode())

    def open(self, role: str, data: bytes) -> bytes:
        key_id = key_id_of(data)
        aead = self._keys.get(key_id)
        if aead is None:
            raise DecryptionError(f"sealed with key {key_id!r}, which this key ring does not "
                                  f"hold; {_RECOVER}")
        split = 6 + len(key_id.encode())
        header, nonce, body = data[:split], data[split:split + _NONCE], data[split + _NONCE:]
        try:
            return aead.decrypt(nonce, body, header + role.encode())
        except InvalidTag as exc:
            raise DecryptionError(f"a stored {role} does not open with key {key_id!r}: it "
                                  f"was altered or truncated, or the key is wrong; "
                                  f"{_RECOVER}") from exc

    # Large files: a sequence of length-prefixed sealed chunks.
    def seal_stream(self, role: str, source: BinaryIO, sink: BinaryIO) -> int:
        """Seal `source` into `sink` chunk by chunk; returns the plaintext size."""
        total, index = 0, 0
        chunk = source.read(CHUNK)
        while True:
            following = source.read(CHUNK) if chunk else b""
            last = not following
            blob = self.seal(f"{role}#{index}#{int(last)}", chunk)
            sink.write(struct.pack(">I", len(blob)) + blob)
            total += len(chunk)
            if last:
                return total
            chunk, index = following, index + 1

    def open_stream(self, role: str, source: BinaryIO) -> Iterator[bytes]:
        """The plaintext chunks of a sealed stream, each checked before it is yielded;
        a stream cut at a chunk boundary fails too (its last chunk was not sealed last)."""
        blob = _read_blob(source, role)
        if blob is None:
            raise DecryptionError(f"the encrypted {role} is empty; {_RECOVER}")
        index = 0
        while True:
            following = _read_blob(source, role)
            yield self.open(f"{role}#{index}#{int(following is None)}", blob)
            if following is None:
                return
            blob, index = following, index + 1


def _read_blob(source: BinaryIO, role: str) -> bytes | None:
    prefix = source.read(4)
    if not prefix:
        return None
    size = struct.unpack(">I", prefix)[0] if len(prefix) == 4 else -1
    blob = source.read(size) if size >= 0 else b""
    if size < 0 or len(blob) != size:
        raise DecryptionError(f"the encrypted {role} is truncated; {_RECOVER}")
    return blob
