"""Envelope encryption: data keys in a key ring, wrapped by a key-encryption key (KEK).

The ring (`<data_dir>/keys/ring`, see `keyring.py`) holds random 32-byte data keys
("dk-<8 hex>"), one active, older ones kept so old files still open; none in the
clear. The KEK comes from CODEGEN_HOOK_KEY, a passphrase, or a key file, in that
order (`keysource.resolve_kek`). Rotation re-wraps the data keys under a new KEK and,
with `reencrypt`, also makes a new data key and reseals every file with it; each step
is an atomic, durable rename, so whichever key file is on disk after a crash still
unwraps the ring, and every file still opens. Running rotate again completes it.

A key file is shared by every data dir that uses it: rotating it for one data dir
leaves the others' rings unreadable, so give each data dir its own key file there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from codegen_hook.errors import KeyUnavailableError
from codegen_hook.security.crypto import EncryptedCodec, new_data_key
from codegen_hook.security.keyring import (Kdf, Kek, Ring, RingKey, Wrap, b64d, b64e,
                                           create_exclusive, fsync_dir, kek_from_passphrase,
                                           kek_id, load_ring, new_kdf, new_key_id, now,
                                           ring_lock, ring_path, ring_to_bytes,
                                           save_ring, unwrap_key, unwrap_ring, wrap_all,
                                           wrap_key)
from codegen_hook.security.keysource import (ENV_KEY, default_key_file, key_file_mode,
                                             read_key_file, resolve_kek, source_of,
                                             write_new_key_file)
from codegen_hook.security.perms import private_folder
from codegen_hook.security.reseal import Progress, reseal_tree

__all__ = ["KeyStatus", "RotateReport", "export_keys", "import_keys", "init_keys",
           "key_status", "open_codec", "rotate_keys"]

Passphrase = Callable[[], str]
_BUNDLE_FORMAT = "codegen-hook key bundle"
_BUNDLE_AAD = b"codegen-hook key bundle v1"
_Bundle = tuple[str, dict[str, RingKey], dict[str, bytes]]  # active, records, keys


@dataclass(frozen=True)
class KeyStatus:
    """What `key status` shows; read without unwrapping anything."""

    source: str  # "env" | "passphrase" | "key-file"
    kek_id: str | None  # of the key at hand; None for a passphrase (not derived here)
    ring_path: str
    ring_exists: bool
    ring_kek_ids: tuple[str, ...]
    data_key_ids: tuple[str, ...]
    active: str | None
    retiring: tuple[str, ...]  # kept until `rotate --reencrypt` finishes
    key_file: str | None
    key_file_mode: str | None  # "0600"; None when there is no key file
    matches: bool | None  # whether the ring is wrapped for the key at hand

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RotateReport:
    source: str
    old_kek_id: str
    kek_id: str
    kek_rotated: bool
    active: str
    new_data_key: str | None
    resealed: tuple[str, ...]
    unchanged: int
    failed: tuple[str, ...]
    retired: tuple[str, ...]
    complete: bool  # False: some files failed; retired keys are kept, run it again
    key_file: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def open_codec(data_dir: Path, *, env: Mapping[str, str] | None = None,
               key_file: Path | None = None, create: bool = True,
               passphrase: Passphrase | None = None) -> EncryptedCodec:
    """The codec for `data_dir`'s key ring, unwrapped with the KEK that applies. With no
    ring yet and `create`, a ring (and if needed a key file) is made; never under a
    prompted passphrase (`init_keys` does that), so a hook does not prompt."""
    env = _env(env)
    private_folder(data_dir)
    ring = load_ring(data_dir)
    if ring is None and not create:
        raise KeyUnavailableError(f"no key ring in {data_dir}: run `codegen-hook key init`, "
                                  "or `codegen-hook key import <bundle>`")
    if ring is None:
        ring = _create_ring(data_dir, env, key_file, None)
    kek = resolve_kek(ring, env, key_file, passphrase, create=False, prompt_new=False)
    return EncryptedCodec(unwrap_ring(ring, kek, ring_path(data_dir)), ring.active)


def _create_ring(data_dir: Path, env: Mapping[str, str], key_file: Path | None,
                 passphrase: Passphrase | None) -> Ring:
    """A new ring with one data key; if another process made one first, that one."""
    kek = resolve_kek(None, env, key_file, passphrase, create=True, prompt_new=True)
    key_id = new_key_id(set())
    ring = Ring(key_id, {key_id: RingKey(key_id, now())})
    wrap_all({key_id: new_data_key()}, ring, [kek])
    path = ring_path(data_dir)
    private_folder(path.parent)
    create_exclusive(path, ring_to_bytes(ring))
    made = load_ring(data_dir)
    assert made is not None
    return made


def init_keys(data_dir: Path, *, env: Mapping[str, str] | None = None,
              key_file: Path | None = None, passphrase: Passphrase | None = None) -> KeyStatus:
    """Make the key ring (protected by a passphrase when one is given); an error if one
    exists."""
    env = _env(env)
    with ring_lock(data_dir):
        if load_ring(data_dir) is not None:
            raise KeyUnavailableError(f"a key ring already exists: {ring_path(data_dir)}; see "
                                      "`codegen-hook key status`, or change keys with "
                                      "`codegen-hook key rotate`")
        _create_ring(data_dir, env, key_file, passphrase)
    return key_status(data_dir, env=env, key_file=key_file)


def key_status(data_dir: Path, *, env: Mapping[str, str] | None = None,
               key_file: Path | None = None) -> KeyStatus:
    env = _env(env)
    ring = load_ring(data_dir)
    source = source_of(ring, env)
    path = key_file or default_key_file(env)
    mode = key_file_mode(path)
    at_hand: str | None = None
    if source == "env":
        at_hand = resolve_kek(ring, env, key_file, None, create=False, prompt_new=False).id
    elif source == "key-file" and mode is not None and not mode & 0o077:
        kek = read_key_file(path)
        at_hand = kek.id if kek else None
    ring_keks = tuple(sorted(ring.kek_ids())) if ring else ()
    return KeyStatus(
        source, at_hand, str(ring_path(data_dir)), ring is not None, ring_keks,
        tuple(ring.keys) if ring else (), ring.active if ring else None,
        tuple(ring.retiring) if ring else (), str(path), None if mode is None else f"{mode:04o}",
        None if ring is None or at_hand is None else at_hand in ring_keks)


def rotate_keys(data_dir: Path, *, env: Mapping[str, str] | None = None,
                key_file: Path | None = None, passphrase: Passphrase | None = None,
                new_passphrase: str | None = None, reencrypt: bool = False,
                roots: Sequence[Path] = (), progress: Progress | None = None) -> RotateReport:
    """A new KEK re-wraps every data key: a new key file, or `new_passphrase` (which
    also moves a key-file ring to a passphrase). With `reencrypt`, a new data key
    becomes active too, every sealed file under `data_dir` and `roots` is resealed with
    it, and only then are the older keys dropped. CODEGEN_HOOK_KEY lives in a secret
    store: with it set, only `reencrypt` runs (the KEK stays)."""
    env = _env(env)
    with ring_lock(data_dir):
        ring = load_ring(data_dir)
        if ring is None:
            raise KeyUnavailableError(f"no key ring in {data_dir}: run `codegen-hook key init`")
        old = resolve_kek(ring, env, key_file, passphrase, create=False, prompt_new=False)
        keys = unwrap_ring(ring, old, ring_path(data_dir))
        if old.source == "env" and not reencrypt:
            raise KeyUnavailableError(
                f"{ENV_KEY} is set, so the key-encryption key lives in your secret store: "
                f"put a new secret there and move the keys to it (`codegen-hook key export`, "
                f"then with the new {ENV_KEY} `codegen-hook key import`), or rotate the data "
                "key with `codegen-hook key rotate --reencrypt`")
        new = old if old.source == "env" else _rotate_kek(data_dir, ring, keys, old,
                                                          new_passphrase)
        if not reencrypt:
            return _report(old, new, ring, None, (), 0, (), (), True)
        return _rotate_data_key(data_dir, ring, keys, old, new, roots, progress)


def _rotate_kek(data_dir: Path, ring: Ring, keys: dict[str, bytes], old: Kek,
                new_passphrase: str | None) -> Kek:
    """Re-wrap under a new KEK. Steps, each durable: (1) the new key file as `key.new`;
    (2) the ring wrapped under old and new; (3) `key.new` renamed over the key file;
    (4) the ring wrapped under the new KEK only. At every point the key file on disk,
    or the old passphrase until (4), unwraps the ring."""
    if new_passphrase is not None:
        kdf, key = new_kdf(new_passphrase)
        new = Kek(key, "passphrase", "the passphrase", kdf=kdf)
    elif old.source == "passphrase" or old.path is None:
        raise KeyUnavailableError("the key ring is protected by a passphrase: give the new "
                                  "one (`codegen-hook key rotate --new-passphrase`)")
    else:
        new = write_new_key_file(old.path)
    wrap_all(keys, ring, [old, new])
    save_ring(data_dir, ring)
    if new.path is not None:
        os.replace(new.path.with_name(new.path.name + ".new"), new.path)
        fsync_dir(new.path.parent)
    wrap_all(keys, ring, [new])
    save_ring(data_dir, ring)
    return new


def _rotate_data_key(data_dir: Path, ring: Ring, keys: dict[str, bytes], old: Kek, kek: Kek,
                     roots: Sequence[Path], progress: Progress | None) -> RotateReport:
    """Make a new data key active (unless an interrupted run already did), reseal every
    file with it, then drop the retired keys; a file that fails keeps them all."""
    made: str | None = None
    if not ring.retiring:
        made = new_key_id(set(ring.keys))
        keys[made] = new_data_key()
        ring.retiring = sorted(ring.keys)
        ring.keys[made] = RingKey(made, now())
        ring.active = made
        wrap_all(keys, ring, [kek])
        save_ring(data_dir, ring)
    codec = EncryptedCodec(keys, ring.active)
    result = reseal_tree(codec, [data_dir, *roots], progress)
    retired: tuple[str, ...] = ()
    if not result.failed:
        retired = tuple(k for k in ring.retiring if k != ring.active)
        for key_id in retired:
            ring.keys.pop(key_id, None)
        ring.retiring = []
        save_ring(data_dir, ring)
    return _report(old, kek, ring, made, result.resealed, result.unchanged, result.failed,
                   retired, not result.failed)


def _report(old: Kek, new: Kek, ring: Ring, made: str | None, resealed: tuple[str, ...],
            unchanged: int, failed: tuple[str, ...], retired: tuple[str, ...],
            complete: bool) -> RotateReport:
    return RotateReport(new.source, old.id, new.id, new.id != old.id, ring.active, made,
                        resealed, unchanged, failed, retired, complete,
                        str(new.path) if new.path else None)


def export_keys(data_dir: Path, target: Path, export_passphrase: str, *,
                env: Mapping[str, str] | None = None, key_file: Path | None = None,
                passphrase: Passphrase | None = None) -> None:
    """Write every data key to `target` (a new file, 0600) wrapped by a key derived from
    `export_passphrase`, for a backup or another machine (`import_keys`)."""
    env = _env(env)
    if len(export_passphrase) < 8:
        raise KeyUnavailableError("choose an export passphrase of 8 or more characters")
    ring = load_ring(data_dir)
    if ring is None:
        raise KeyUnavailableError(f"no key ring in {data_dir} to export: run "
                                  "`codegen-hook key init`")
    kek = resolve_kek(ring, env, key_file, passphrase, create=False, prompt_new=False)
    keys = unwrap_ring(ring, kek, ring_path(data_dir))
    kdf, bundle_kek = new_kdf(export_passphrase)
    doc = {"format": _BUNDLE_FORMAT, "version": 1, "active": ring.active,
           "kdf": {"name": "scrypt", "kek": kdf.kek, "salt": b64e(kdf.salt), "n": kdf.n,
                   "r": kdf.r, "p": kdf.p},
           "keys": [_bundle_entry(bundle_kek, key, keys[key.id]) for key in ring.keys.values()]}
    target.parent.mkdir(parents=True, exist_ok=True)
    if not create_exclusive(target, (json.dumps(doc, indent=2) + "\n").encode()):
        raise KeyUnavailableError(f"{target} exists: choose another path, or remove it first")


def _bundle_entry(bundle_kek: bytes, key: RingKey, plain: bytes) -> dict[str, str]:
    wrap = wrap_key(bundle_kek, key.id, plain, _BUNDLE_AAD)
    return {"id": key.id, "created": key.created, "nonce": b64e(wrap.nonce),
            "wrapped": b64e(wrap.wrapped)}


def _read_bundle(bundle: Path, export_passphrase: str) -> _Bundle:
    """The bundle's active key id, its keys' records and the keys themselves."""
    damaged = f"the key bundle {bundle} is damaged: export it again (`codegen-hook key export`)"
    try:
        doc = json.loads(bundle.read_bytes())
        if doc.get("format") != _BUNDLE_FORMAT or doc.get("version") != 1:
            raise ValueError("not a codegen-hook key bundle")
        spec = doc["kdf"]
        kdf = Kdf(spec["kek"], b64d(spec["salt"]), int(spec["n"]), int(spec["r"]),
                  int(spec["p"]))
        entries = [(e["id"], e["created"], b64d(e["nonce"]), b64d(e["wrapped"]))
                   for e in doc["keys"]]
        active = str(doc["active"])
    except FileNotFoundError as exc:
        raise KeyUnavailableError(f"no key bundle at {bundle}: give the file "
                                  "`codegen-hook key export` wrote") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyUnavailableError(f"{damaged} ({exc})") from exc
    bundle_kek = kek_from_passphrase(export_passphrase, kdf)
    if kek_id(bundle_kek) != kdf.kek:
        raise KeyUnavailableError(f"the export passphrase does not open the key bundle "
                                  f"{bundle}: type the passphrase given to `key export`")
    keys: dict[str, bytes] = {}
    for key_id, _, nonce, wrapped in entries:
        plain = unwrap_key(bundle_kek, key_id, Wrap(nonce, wrapped), _BUNDLE_AAD)
        if plain is None:
            raise KeyUnavailableError(damaged)
        keys[key_id] = plain
    if active not in keys:
        raise KeyUnavailableError(damaged)
    return active, {e[0]: RingKey(e[0], e[1]) for e in entries}, keys


def import_keys(data_dir: Path, bundle: Path, export_passphrase: str, *,
                env: Mapping[str, str] | None = None, key_file: Path | None = None,
                passphrase: Passphrase | None = None) -> KeyStatus:
    """Add a bundle's keys to the ring (made if missing), wrapped by the local KEK; the
    bundle's active key becomes active. A ring the local KEK cannot unwrap (lost key
    file) is replaced when the bundle holds all its keys; a damaged ring is set aside
    as `ring.damaged`."""
    env = _env(env)
    active, records, keys = _read_bundle(bundle, export_passphrase)
    with ring_lock(data_dir):
        ring, kek, local = _local_ring(data_dir, env, key_file, passphrase, set(keys))
        merged = {**local, **keys}
        entries = {**(ring.keys if ring else {}), **records}
        retiring = [k for k in (ring.retiring if ring else []) if k != active]
        new_ring = Ring(active, {k: RingKey(k, entries[k].created) for k in merged},
                        retiring=retiring)
        wrap_all(merged, new_ring, [kek])
        save_ring(data_dir, new_ring)
    return key_status(data_dir, env=env, key_file=key_file)


def _local_ring(data_dir: Path, env: Mapping[str, str], key_file: Path | None,
                passphrase: Passphrase | None,
                incoming: set[str]) -> tuple[Ring | None, Kek, dict[str, bytes]]:
    """The ring to merge into, the local KEK, and the ring's keys; (None, KEK, {}) when
    there is no usable ring to keep."""
    path = ring_path(data_dir)
    try:
        ring = load_ring(data_dir)
    except KeyUnavailableError:
        os.replace(path, path.with_name("ring.damaged"))
        ring = None
    if ring is not None:
        try:
            kek = resolve_kek(ring, env, key_file, passphrase, create=False, prompt_new=False)
            return ring, kek, unwrap_ring(ring, kek, path)
        except KeyUnavailableError as exc:
            missing = set(ring.keys) - incoming
            if source_of(ring, env, passphrase is not None) == "passphrase":
                raise KeyUnavailableError(f"{exc}; to replace that ring with the bundle, move "
                                          f"{path} aside, then import again") from exc
            if missing:
                raise KeyUnavailableError(f"{exc}; the bundle cannot replace the ring: it "
                                          f"lacks keys {', '.join(sorted(missing))}") from exc
    # A new ring takes the KEK a first use would (CODEGEN_HOOK_PASSPHRASE, else the key
    # file): `passphrase` unlocks a ring, it never prompts for a new one (`key init` does).
    kek = resolve_kek(None, env, key_file, passphrase, create=True, prompt_new=False)
    return None, kek, {}
