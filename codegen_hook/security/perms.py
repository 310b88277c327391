"""Least privilege on disk: our folders 0700, our files 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from codegen_hook.errors import ConfigError

__all__ = ["PRIVATE_UMASK", "private_folder"]

PRIVATE_UMASK = 0o077


def private_folder(path: Path) -> Path:
    """Create `path` (and parents) if needed and make it 0700 when it is ours. A shared
    folder (sticky bit, like /tmp) is refused, never tightened."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = path.stat()
    if info.st_mode & stat.S_ISVTX:
        raise ConfigError(f"{path} is a shared folder (like /tmp); point data_dir or --store "
                          "at a folder of its own")
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path
