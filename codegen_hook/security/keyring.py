"""The key ring file and the key-encryption keys (KEKs) that wrap it.

`<data_dir>/keys/ring` (JSON, 0600, folder 0700) holds every data key only wrapped:
AES-256-GCM under a KEK, with associated data binding the ring format, the KEK's id
and the data key's id. A KEK is 32 bytes from CODEGEN_HOOK_KEY, a key file, or
scrypt over a passphrase (the ring records each passphrase KEK's salt and cost).
A KEK's id is the first 8 hex digits of sha256(b"kek-id" + kek), so a wrong key is
told apart from a damaged ring. See `keys.py` for which KEK applies and rotation.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from codegen_hook.atomic import write_atomic
from codegen_hook.errors import KeyUnavailableError
from codegen_hook.security.perms import private_folder

__all__ = ["SCRYPT_N", "Kdf", "Kek", "Ring", "RingKey", "Wrap", "b64d", "b64e",
           "create_exclusive", "fsync_dir", "kek_from_passphrase", "kek_id", "load_ring",
           "new_kdf", "new_key_id", "now", "ring_lock", "ring_path",
           "save_ring", "tighten", "unwrap_key", "unwrap_ring", "wrap_all", "wrap_key"]

RING_FORMAT = "codegen-hook key ring"
RING_VERSION = 1
_RING_AAD = b"codegen-hook key ring v1"
SCRYPT_N = 2 ** 15  # the default; the ring records the n each passphrase KEK used


def b64e(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def b64d(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def kek_id(kek: bytes) -> str:
    return hashlib.sha256(b"kek-id" + kek).hexdigest()[:8]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Kdf:
    """How one passphrase KEK is derived: scrypt(passphrase, salt, n, r, p)."""

    kek: str
    salt: bytes
    n: int = SCRYPT_N
    r: int = 8
    p: int = 1


@dataclass(frozen=True)
class Kek:
    """A key-encryption key and where it came from (`origin` names it for messages)."""

    key: bytes = field(repr=False)
    source: str  # "env" | "passphrase" | "key-file"
    origin: str
    path: Path | None = None  # the key file
    kdf: Kdf | None = None  # how a passphrase became this key

    @property
    def id(self) -> str:
        return kek_id(self.key)


@dataclass(frozen=True)
class Wrap:
    nonce: bytes
    wrapped: bytes


@dataclass
class RingKey:
    id: str
    created: str
    wraps: dict[str, Wrap] = field(default_factory=dict)  # by KEK id


@dataclass
class Ring:
    active: str
    keys: dict[str, RingKey]
    kdfs: list[Kdf] = field(default_factory=list)
    retiring: list[str] = field(default_factory=list)  # dropped once re-encryption is done

    def kek_ids(self) -> set[str]:
        return {kid for key in self.keys.values() for kid in key.wraps}


def new_kdf(passphrase: str, n: int | None = None) -> tuple[Kdf, bytes]:
    salt = os.urandom(16)
    key = _scrypt(passphrase, salt, n or SCRYPT_N, 8, 1)
    return Kdf(kek_id(key), salt, n or SCRYPT_N), key


def kek_from_passphrase(passphrase: str, kdf: Kdf) -> bytes:
    return _scrypt(passphrase, kdf.salt, kdf.n, kdf.r, kdf.p)


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise KeyUnavailableError("the passphrase is empty: type one, or set "
                                  "CODEGEN_HOOK_PASSPHRASE")
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())


def _aad(context: bytes, kek: str, key_id: str) -> bytes:
    return b"\0".join([context, kek.encode(), key_id.encode()])


def wrap_key(kek: bytes, key_id: str, key: bytes, context: bytes = _RING_AAD) -> Wrap:
    nonce = os.urandom(12)
    return Wrap(nonce, AESGCM(kek).encrypt(nonce, key, _aad(context, kek_id(kek), key_id)))


def unwrap_key(kek: bytes, key_id: str, wrap: Wrap, context: bytes = _RING_AAD) -> bytes | None:
    """The data key, or None when this wrap does not open with `kek` (damaged)."""
    try:
        return AESGCM(kek).decrypt(wrap.nonce, wrap.wrapped, _aad(context, kek_id(kek), key_id))
    except InvalidTag:
        return None


# The ring file.
def ring_path(data_dir: Path) -> Path:
    return data_dir / "keys" / "ring"


def ring_to_bytes(ring: Ring) -> bytes:
    doc = {
        "format": RING_FORMAT, "version": RING_VERSION, "active": ring.active,
        "retiring": sorted(ring.retiring),
        "kdfs": [{"name": "scrypt", "kek": k.kek, "salt": b64e(k.salt), "n": k.n, "r": k.r,
                  "p": k.p} for k in ring.kdfs],
        "keys": [{"id": key.id, "created": key.created,
                  "wraps": [{"kek": kid, "nonce": b64e(w.nonce), "wrapped": b64e(w.wrapped)}
                            for kid, w in sorted(key.wraps.items())]}
                 for key in ring.keys.values()],
    }
    return (json.dumps(doc, indent=2) + "\n").encode()


def ring_from_bytes(raw: bytes, path: Path) -> Ring:
    try:
        doc: dict[str, Any] = json.loads(raw)
        if doc.get("format") != RING_FORMAT or doc.get("version") != RING_VERSION:
            raise ValueError("unknown format or version")
        keys = {k["id"]: RingKey(k["id"], k["created"], {
            w["kek"]: Wrap(b64d(w["nonce"]), b64d(w["wrapped"])) for w in k["wraps"]})
            for k in doc["keys"]}
        kdfs = [Kdf(k["kek"], b64d(k["salt"]), int(k["n"]), int(k["r"]), int(k["p"]))
                for k in doc["kdfs"]]
        ring = Ring(doc["active"], keys, kdfs, list(doc["retiring"]))
        if ring.active not in keys:
            raise ValueError("the active key is missing")
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyUnavailableError(f"the key ring {path} is damaged ({exc}): restore it with "
                                  "`codegen-hook key import <bundle>`") from exc
    return ring


def load_ring(data_dir: Path) -> Ring | None:
    path = ring_path(data_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyUnavailableError(f"cannot read the key ring {path} ({exc}): fix its "
                                  f"permissions (`chmod 600 {path}`)") from exc
    private_folder(path.parent)
    tighten(path, 0o600)
    return ring_from_bytes(raw, path)


def save_ring(data_dir: Path, ring: Ring) -> None:
    """Replace the ring atomically and durably (the rename reaches the disk too)."""
    path = ring_path(data_dir)
    private_folder(path.parent)
    write_atomic(path, ring_to_bytes(ring))
    tighten(path, 0o600)
    fsync_dir(path.parent)


# Files and folders that only this user may read.
def tighten(path: Path, mode: int) -> None:
    """Make `path` no looser than `mode` (0700 / 0600) when it is ours."""
    info = path.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & ~mode:
        os.chmod(path, stat.S_IMODE(info.st_mode) & mode)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_exclusive(path: Path, data: bytes) -> bool:
    """Create `path` (0600) holding `data` whole, unless it exists: False then. Two
    processes racing to create it agree on one content."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(path.parent)
    return True


@contextlib.contextmanager
def ring_lock(data_dir: Path) -> Iterator[None]:
    """One key command at a time per data dir (init, rotate, import)."""
    path = private_folder(ring_path(data_dir).parent) / "lock"
    with open(path, "a+b") as handle:
        os.chmod(path, 0o600)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise KeyUnavailableError(f"another codegen-hook key command holds {path}: wait "
                                      "for it to finish, then run this again") from exc
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def unwrap_ring(ring: Ring, kek: Kek, path: Path) -> dict[str, bytes]:
    """Every data key of the ring, unwrapped with `kek`. A KEK the ring was not wrapped
    for, or a wrap that does not open, is a KeyUnavailableError naming the fix."""
    keys: dict[str, bytes] = {}
    for key in ring.keys.values():
        wrap = key.wraps.get(kek.id)
        if wrap is None:
            raise KeyUnavailableError(_wrong_kek(kek, path, ring))
        plain = unwrap_key(kek.key, key.id, wrap)
        if plain is None:
            raise KeyUnavailableError(f"the key ring {path} is damaged (key {key.id} does not "
                                      "unwrap): restore it from a backup with "
                                      "`codegen-hook key import <bundle>`")
        keys[key.id] = plain
    return keys


def _wrong_kek(kek: Kek, path: Path, ring: Ring) -> str:
    wanted = ", ".join(sorted(ring.kek_ids()))
    fix = {"env": "set CODEGEN_HOOK_KEY to the secret that created it, or unset it to use "
                  "the key file",
           "passphrase": "type the passphrase that protects it (CODEGEN_HOOK_PASSPHRASE)",
           "key-file": "restore the right key file (`codegen-hook key import`) or set "
                       "CODEGEN_HOOK_KEY"}[kek.source]
    return (f"{kek.origin} (key {kek.id}) does not unwrap the key ring {path} (wrapped for "
            f"key {wanted}): {fix}")


def wrap_all(keys: Mapping[str, bytes], ring: Ring, keks: list[Kek]) -> None:
    """Give every key of `ring` a wrap under each of `keks`, and only those."""
    for key_id, key in ring.keys.items():
        key.wraps = {kek.id: wrap_key(kek.key, key_id, keys[key_id]) for kek in keks}
    ring.kdfs = [kek.kdf for kek in keks if kek.kdf is not None]


def new_key_id(taken: set[str]) -> str:
    while True:
        candidate = f"dk-{secrets.token_hex(4)}"
        if candidate not in taken:
            return candidate
