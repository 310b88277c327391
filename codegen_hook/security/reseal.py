"""Re-encrypt every sealed file under some folders with the codec's active key.

Files are found by their magic (`is_sealed`), whatever their role; each is replaced
atomically (temp file beside it, fsync, rename, fsync of the folder), so an
interruption leaves every file either as it was or resealed, and both open while the
ring holds both keys. Files already sealed with the active key are left alone, so a
second run resumes where the first stopped.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.atomic import atomic_file, write_atomic
from codegen_hook.errors import CryptoError
from codegen_hook.security.crypto import STREAM_MAGIC, EncryptedCodec, is_sealed, key_id_of
from codegen_hook.security.keyring import fsync_dir

__all__ = ["Progress", "ResealResult", "reseal_file", "reseal_tree", "sealed_files"]

Progress = Callable[[int, int, Path], None]  # (done, total, the file just done)
_PREFIX = 1 << 18  # enough bytes of a file to read its key id


@dataclass(frozen=True)
class ResealResult:
    resealed: tuple[str, ...]
    unchanged: int
    failed: tuple[str, ...]  # "path: what went wrong and what to do"


def sealed_files(roots: Iterable[Path]) -> Iterator[Path]:
    """Every sealed regular file under `roots` (recursive, symlinks not followed, our
    own temp files skipped), each once."""
    seen: set[Path] = set()
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in sorted(names):
                path = Path(folder) / name
                if (name.startswith(".") and ".tmp-" in name) or path.is_symlink():
                    continue
                real = path.resolve()
                if real not in seen and _starts_sealed(path):
                    seen.add(real)
                    yield path


def _starts_sealed(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return is_sealed(handle.read(4))
    except OSError:
        return False


def reseal_file(codec: EncryptedCodec, path: Path) -> bool:
    """Reseal one file with the active key; False when it already was."""
    with open(path, "rb") as handle:
        head = handle.read(_PREFIX)
    if key_id_of(head) == codec.active:
        return False
    if head[:4] == STREAM_MAGIC:
        _reseal_stream_file(codec, path)
    else:
        write_atomic(path, codec.reseal(path.read_bytes()))
    fsync_dir(path.parent)
    return True


def _reseal_stream_file(codec: EncryptedCodec, path: Path) -> None:
    with open(path, "rb") as source, atomic_file(path) as sink:
        codec.reseal_stream(source, sink)


def reseal_tree(codec: EncryptedCodec, roots: Iterable[Path],
                progress: Progress | None = None) -> ResealResult:
    """Reseal every sealed file under `roots`; a file that fails is reported, not fatal."""
    files = list(sealed_files(roots))
    resealed: list[str] = []
    failed: list[str] = []
    for done, path in enumerate(files, 1):
        try:
            if reseal_file(codec, path):
                resealed.append(str(path))
        except (CryptoError, OSError) as exc:
            failed.append(f"{path}: {exc} (restore or remove this file, then run "
                          "`codegen-hook key rotate --reencrypt` again)")
        if progress is not None:
            progress(done, len(files), path)
    return ResealResult(tuple(resealed), len(files) - len(resealed) - len(failed),
                        tuple(failed))
