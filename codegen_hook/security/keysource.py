"""Where the key-encryption key comes from: the environment, a passphrase, a key file.

The key file (default `$XDG_CONFIG_HOME/codegen-hook/key`) holds base64 of 32 random
bytes, mode 0600 in a 0700 folder. It is never created inside a git work tree, where
a commit could publish it, and a key file others can read is refused.
"""

from __future__ import annotations

import binascii
import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path

from codegen_hook.atomic import write_atomic
from codegen_hook.errors import KeyUnavailableError
from codegen_hook.security.keyring import (Kek, Ring, b64d, b64e, create_exclusive, kek_id,
                                           kek_from_passphrase, new_kdf)
from codegen_hook.security.perms import private_folder

__all__ = ["ENV_KEY", "ENV_PASSPHRASE", "create_key_file", "default_key_file",
           "key_file_mode", "read_key_file", "resolve_kek", "source_of", "write_new_key_file"]

ENV_KEY = "CODEGEN_HOOK_KEY"
ENV_PASSPHRASE = "CODEGEN_HOOK_PASSPHRASE"


def default_key_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "codegen-hook" / "key"


def source_of(ring: Ring | None, env: Mapping[str, str], prompt: bool = False) -> str:
    """Which kind of KEK applies: "env", "passphrase" or "key-file" (see resolve_kek)."""
    if env.get(ENV_KEY):
        return "env"
    if ring is not None and ring.kdfs:
        return "passphrase" if env.get(ENV_PASSPHRASE) or prompt or _only_passphrases(ring) \
            else "key-file"
    if ring is None and (env.get(ENV_PASSPHRASE) or prompt):
        return "passphrase"
    return "key-file"


def _only_passphrases(ring: Ring) -> bool:
    return not ring.kek_ids() - {kdf.kek for kdf in ring.kdfs}


def resolve_kek(ring: Ring | None, env: Mapping[str, str], key_file: Path | None,
                passphrase: Callable[[], str] | None, *, create: bool,
                prompt_new: bool) -> Kek:
    """The KEK for a key ring (`None`: one about to be made). First that applies:

    1. CODEGEN_HOOK_KEY: base64 of 32 bytes (CI keeps it in its secret store);
    2. a passphrase, CODEGEN_HOOK_PASSPHRASE else the `passphrase` callback (a prompt),
       when the ring is passphrase-protected; for a new ring only CODEGEN_HOOK_PASSPHRASE,
       or the callback when `prompt_new` (`key init`), so a hook never prompts on first use;
    3. the key file, `key_file` else $XDG_CONFIG_HOME/codegen-hook/key, created when
       there is no ring yet and `create`.
    """
    prompt = passphrase is not None and (prompt_new if ring is None else True)
    source = source_of(ring, env, prompt)
    if source == "env":
        return _env_kek(env[ENV_KEY])
    if source == "passphrase":
        text = env.get(ENV_PASSPHRASE) or (passphrase() if passphrase is not None else None)
        if text is None:
            raise KeyUnavailableError("the key ring is protected by a passphrase: set "
                                      f"{ENV_PASSPHRASE}, or run the command in a terminal "
                                      "to type it")
        return _passphrase_kek(ring, text)
    path = key_file or default_key_file(env)
    kek = read_key_file(path)
    if kek is not None:
        return kek
    if ring is None and create:
        return create_key_file(path)
    if ring is None:
        raise KeyUnavailableError(f"no key ring and no key file {path}: run `codegen-hook key "
                                  f"init`, or `codegen-hook key import <bundle>`")
    raise KeyUnavailableError(f"no key file {path}, which the key ring needs: restore it "
                              f"(`codegen-hook key import <bundle>`), pass --key-file, or "
                              f"set {ENV_KEY}")


def _env_kek(text: str) -> Kek:
    try:
        key = b64d(text.strip())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise KeyUnavailableError(f"{ENV_KEY} must be base64 of 32 bytes (make one with "
                                  "`head -c32 /dev/urandom | base64`)")
    return Kek(key, "env", ENV_KEY)


def _passphrase_kek(ring: Ring | None, text: str) -> Kek:
    """The KEK a passphrase gives: the ring's kdf whose key id it reproduces, or a new
    kdf for a new ring. A wrong passphrase gives a KEK the ring refuses by id."""
    if ring is None or not ring.kdfs:
        kdf, key = new_kdf(text)
        return Kek(key, "passphrase", "the passphrase", kdf=kdf)
    for kdf in ring.kdfs:
        key = kek_from_passphrase(text, kdf)
        if kek_id(key) == kdf.kek:
            break
    return Kek(key, "passphrase", "the passphrase", kdf=kdf)


def key_file_mode(path: Path) -> int | None:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return None


def read_key_file(path: Path) -> Kek | None:
    """The key in `path`, None when there is no such file; refused when others can
    read it, or when it is not a key file."""
    mode = key_file_mode(path)
    if mode is None:
        return None
    if mode & 0o077:
        raise KeyUnavailableError(f"the key file {path} can be read by others (mode "
                                  f"{mode:04o}): run `chmod 600 {path}`, and if others did "
                                  "read it, `codegen-hook key rotate --reencrypt`")
    try:
        key = b64d(path.read_text().strip())
    except (OSError, UnicodeDecodeError, binascii.Error, ValueError) as exc:
        raise KeyUnavailableError(f"cannot read the key file {path} ({exc}): restore it "
                                  "(`codegen-hook key import <bundle>`)") from exc
    if len(key) != 32:
        raise KeyUnavailableError(f"{path} is not a codegen-hook key file (not base64 of 32 "
                                  "bytes): restore it (`codegen-hook key import <bundle>`)")
    return Kek(key, "key-file", f"the key file {path}", path=path)


def create_key_file(path: Path) -> Kek:
    """A new random key in `path` (0600, folder 0700); if another process made it
    first, that one."""
    tree = _git_work_tree(path)
    if tree is not None:
        raise KeyUnavailableError(f"the key file {path} would be inside the git work tree "
                                  f"{tree}, where a commit could publish it: choose a path "
                                  "outside any repository (--key-file, setting key_file) or "
                                  f"set {ENV_KEY}")
    private_folder(path.parent)
    create_exclusive(path, (b64e(os.urandom(32)) + "\n").encode())
    kek = read_key_file(path)
    assert kek is not None
    return kek


def write_new_key_file(path: Path) -> Kek:
    """A new random key in `<path>.new` beside the key file (0600), for rotation."""
    staged = path.with_name(path.name + ".new")
    key = os.urandom(32)
    write_atomic(staged, (b64e(key) + "\n").encode())
    os.chmod(staged, 0o600)
    return Kek(key, "key-file", f"the key file {path}", path=path)


def _git_work_tree(path: Path) -> Path | None:
    for folder in path.resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None
