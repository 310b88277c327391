"""The index's working store: `<repo>/.codegen-hook/index/`.

Layout: `manifest` (which path holds which content hash, and why files were
skipped) and `objects/ab/cdef…` (one extracted `FileContent` per content hash,
so unchanged and renamed files are never parsed again). Every byte goes through a
`Codec` with the role it plays; the plain codec here is the drop-in point for
encryption at rest. The manifest is the commit point: it is replaced atomically
(temp file, fsync, rename) after the objects it names are written, so an
interrupted run leaves the previous index whole; what such a run left behind (its
objects, temp files) goes the next time the manifest changes. With the encrypting
codec an object that does not open is an error whose message says to rebuild.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codegen_hook.atomic import write_atomic
from codegen_hook.errors import IndexStoreError
from codegen_hook.index.records import FileContent
from codegen_hook.security.perms import private_folder

__all__ = ["Codec", "Manifest", "PlainCodec", "Store", "default_store_dir"]

FORMAT = 1


class Codec(Protocol):
    """Turns stored bytes into what is written, and back; `role` names what they are."""

    name: str

    def seal(self, role: str, data: bytes) -> bytes: ...

    def open(self, role: str, data: bytes) -> bytes: ...


class PlainCodec:
    name = "plain"

    def seal(self, role: str, data: bytes) -> bytes:
        return data

    def open(self, role: str, data: bytes) -> bytes:
        return data


@dataclass
class Manifest:
    files: dict[str, str] = field(default_factory=dict)        # path -> content hash
    skipped: dict[str, str] = field(default_factory=dict)      # path -> reason
    skip_reasons: dict[str, str] = field(default_factory=dict)  # content hash -> reason
    root: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "root": self.root, "files": self.files,
                "skipped": self.skipped, "skip_reasons": self.skip_reasons}


def default_store_dir(root: Path) -> Path:
    return root / ".codegen-hook" / "index"


class Store:
    def __init__(self, folder: Path, codec: Codec | None = None) -> None:
        self.folder = folder
        self.codec: Codec = codec or PlainCodec()
        self._objects = str(folder / "objects")

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest"

    def _object_path(self, content_hash: str) -> Path:
        return self.folder / "objects" / content_hash[:2] / content_hash[2:]

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time (pre-commit may start several hook processes)."""
        if self.folder.parent.name == ".codegen-hook":  # ours; a --store parent may not be
            private_folder(self.folder.parent)
        private_folder(self.folder)
        marker = self.folder.parent / ".gitignore"
        if self.folder.parent.name == ".codegen-hook" and not marker.exists():
            marker.write_text("# written by codegen-hook: its store is never committed\n*\n")
        with open(self.folder / "lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_manifest(self) -> Manifest:
        try:
            raw = self.manifest_path.read_bytes()
        except FileNotFoundError:
            return Manifest()
        except OSError as exc:
            raise IndexStoreError(f"cannot read {self.manifest_path} ({exc}); check its "
                                  "permissions") from exc
        try:
            data = json.loads(self.codec.open("index-manifest", raw))
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            return Manifest(files=dict(data["files"]), skipped=dict(data["skipped"]),
                            skip_reasons=dict(data.get("skip_reasons", {})),
                            root=str(data.get("root", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IndexStoreError(
                f"the index at {self.folder} cannot be read ({exc}); run "
                "`codegen-hook index --rebuild` to build it again") from exc

    def write_manifest(self, manifest: Manifest) -> None:
        payload = json.dumps(manifest.to_json(), sort_keys=True).encode()
        write_atomic(self.manifest_path, self.codec.seal("index-manifest", payload),
                     durable=True)

    def has_object(self, content_hash: str) -> bool:
        # string paths: this runs once per file on every refresh, pathlib costs 5x
        return os.path.isfile(os.path.join(self._objects, content_hash[:2], content_hash[2:]))

    def write_object(self, content_hash: str, payload: bytes) -> None:
        """`payload` is a FileContent's JSON; not fsynced: the manifest is the commit
        point and an unreadable object is simply parsed again."""
        write_atomic(self._object_path(content_hash),
                     self.codec.seal("index-object", payload), durable=False)

    def read_object(self, content_hash: str) -> FileContent | None:
        """The stored content, or None when it is missing or damaged."""
        try:
            raw = self._object_path(content_hash).read_bytes()
            return FileContent.from_json(json.loads(self.codec.open("index-object", raw)))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a codec's own error (a wrong key) is not caught here

    def discard_object(self, content_hash: str) -> None:
        """Drop an object that cannot be read back, so the next refresh parses its file
        again (a refresh reuses any object file that exists, without reading it)."""
        try:
            self._object_path(content_hash).unlink(missing_ok=True)
        except OSError:
            pass  # left as it is: still unreadable, still left out by `load_index`

    def collect_garbage(self, keep: set[str]) -> int:
        """Remove every object `keep` does not name (strays of interrupted runs too) and
        stray temp files; returns how many went. Costs a listing of the whole store."""
        removed = 0
        for stray in self.folder.glob(".*.tmp-*"):
            stray.unlink(missing_ok=True)
        objects = self.folder / "objects"
        if not objects.is_dir():
            return 0
        for sub in objects.iterdir():
            for path in sub.iterdir():
                if sub.name + path.name not in keep:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed
