"""Decrypt a sealed file into memory only: an anonymous, sealed memfd.

The plaintext never touches a file system: `memfd_create` gives a file that lives
in RAM, is closed on exec (the sandbox never inherits it), and is sealed against
writes once filled. llama.cpp opens it as `/proc/self/fd/N`.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from codegen_hook.errors import CryptoError

__all__ = ["decrypt_to_memfd"]


class _StreamOpener(Protocol):
    def open_stream(self, role: str, source: BinaryIO) -> Iterator[bytes]: ...


def decrypt_to_memfd(path: Path, codec: _StreamOpener, role: str) -> int:
    """The plaintext of sealed `path` in a read-only memfd; the caller closes the fd."""
    if not hasattr(os, "memfd_create"):
        raise CryptoError("this system has no memfd_create, so an encrypted model cannot be "
                          "decrypted into memory only; keep the model unencrypted here")
    fd = os.memfd_create(f"codegen-hook-{path.stem}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open(path, "rb") as source:
            for chunk in codec.open_stream(role, source):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_WRITE | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SHRINK |
                    fcntl.F_SEAL_SEAL)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd
    except BaseException:
        os.close(fd)
        raise
