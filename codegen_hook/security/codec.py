"""The codec for this user's stored data, from the settings: one place to ask."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from codegen_hook.config import Settings
from codegen_hook.security.crypto import EncryptedCodec

__all__ = ["codec_for"]


def codec_for(settings: Settings, data_dir: Path, create: bool = True,
              passphrase: Callable[[], str] | None = None) -> EncryptedCodec:
    """The data dir's key ring, unwrapped with the key the environment or key file gives
    (created on first use when `create`)."""
    from codegen_hook.security.keys import open_codec

    key_file = Path(settings.key_file).expanduser() if settings.key_file else None
    return open_codec(data_dir, key_file=key_file, create=create, passphrase=passphrase)
