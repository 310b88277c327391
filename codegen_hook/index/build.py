"""Build and refresh a repository's index, incrementally and in parallel.

A file is read and hashed on every run; only content the store has never seen is
parsed (in worker processes when there is enough of it). Renamed files reuse
their content, deleted ones leave the manifest, and unreferenced objects are
removed once the new manifest is in place.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.index.extract import SkipFile, extract_content, file_hash
from codegen_hook.index.files import list_python_files, module_name
from codegen_hook.index.records import FileRecord, Skipped
from codegen_hook.index.store import Codec, Manifest, Store, default_store_dir

__all__ = ["IndexReport", "RepoIndex", "load_index", "refresh_index"]

DEFAULT_MAX_FILE_BYTES = 1_000_000
EXPORT_FORMAT = "codegen-hook-index/1"
# Below this much new content a process pool costs more than it saves.
_PARALLEL_MIN_BYTES = 1_000_000

Progress = Callable[[int, int], None]


@dataclass
class IndexReport:
    root: str
    store: str
    files: int = 0
    parsed: int = 0
    reused: int = 0
    removed: int = 0
    lines_parsed: int = 0
    bytes_read: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 1
    git: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"root": self.root, "store": self.store, "files": self.files,
                "parsed": self.parsed, "reused": self.reused, "removed": self.removed,
                "lines_parsed": self.lines_parsed, "bytes_read": self.bytes_read,
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
                "seconds": round(self.seconds, 4), "workers": self.workers, "git": self.git}


@dataclass
class RepoIndex:
    """The loaded index: every indexed file's record."""

    root: Path
    records: list[FileRecord]
    skipped: list[Skipped]

    def record(self, path: str) -> FileRecord | None:
        return next((r for r in self.records if r.path == path), None)

    def to_json(self) -> dict[str, Any]:
        """The documented export form (docs/index-format.md)."""
        return {"format": EXPORT_FORMAT, "root": str(self.root),
                "files": [r.to_json() for r in sorted(self.records, key=lambda r: r.path)],
                "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped]}


def _extract_one(job: tuple[str, bytes]) -> tuple[str, str, bytes | None, str, int]:
    """Worker: (path, hash, FileContent JSON or None, skip reason, lines)."""
    rel, data = job
    digest = file_hash(data)
    try:
        content = extract_content(data)
    except SkipFile as exc:
        return rel, digest, None, str(exc), 0
    return rel, digest, json.dumps(content.to_json()).encode(), "", content.lines


def _workers(jobs: int | None) -> int:
    return max(1, jobs if jobs else (os.cpu_count() or 1))


def _run_jobs(todo: list[tuple[str, bytes]], jobs: int | None,
              progress: Progress | None) -> tuple[list[tuple[str, str, bytes | None, str, int]],
                                                  int]:
    workers = _workers(jobs)
    if workers == 1 or sum(len(d) for _, d in todo) < _PARALLEL_MIN_BYTES:
        workers = 1
        results = []
        for i, job in enumerate(todo):
            results.append(_extract_one(job))
            if progress:
                progress(i + 1, len(todo))
        return results, workers
    # Largest first, so no worker is left with one big file at the end.
    ordered = sorted(todo, key=lambda job: -len(job[1]))
    results = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(_extract_one, ordered, chunksize=8)):
            results.append(result)
            if progress:
                progress(i + 1, len(todo))
    return results, workers


def _read(root: str, rel: str) -> bytes | str:
    try:
        with open(os.path.join(root, rel), "rb") as handle:
            return handle.read()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"


def refresh_index(root: Path, store_dir: Path | None = None, *, exclude: Iterable[str] = (),
                  max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, jobs: int | None = None,
                  codec: Codec | None = None, rebuild: bool = False,
                  progress: Progress | None = None) -> IndexReport:
    """Bring the index of `root` up to date and return what was done."""
    start = time.perf_counter()
    root = root.resolve()
    store = Store(store_dir or default_store_dir(root), codec)
    listing = list_python_files(root, exclude)
    report = IndexReport(str(root), str(store.folder), git=listing.git)
    with store.locked():
        old = Manifest() if rebuild else store.read_manifest()
        new = Manifest(root=str(root))
        skipped = list(listing.skipped)
        todo: list[tuple[str, bytes]] = []
        known = set(old.files.values())
        for rel in listing.files:
            data = _read(str(root), rel)
            if isinstance(data, str):
                skipped.append(Skipped(rel, data))
                continue
            report.bytes_read += len(data)
            if len(data) > max_file_bytes:  # not cached: the limit may change
                skipped.append(Skipped(rel, f"{len(data):,} bytes, over the "
                                            f"{max_file_bytes:,}-byte limit "
                                            "(index_max_file_bytes); likely generated"))
                continue
            digest = file_hash(data)
            if digest in old.skip_reasons:
                skipped.append(Skipped(rel, old.skip_reasons[digest]))
                new.skip_reasons[digest] = old.skip_reasons[digest]
            elif digest in known and store.has_object(digest):
                new.files[rel] = digest
                report.reused += 1
            else:
                todo.append((rel, data))
        results, report.workers = _run_jobs(todo, jobs, progress)
        for rel, digest, payload, reason, lines in results:
            if payload is None:
                skipped.append(Skipped(rel, reason))
                new.skip_reasons[digest] = reason
                continue
            store.write_object(digest, payload)
            new.files[rel] = digest
            report.parsed += 1
            report.lines_parsed += lines
        new.skipped = {s.path: s.reason for s in sorted(skipped, key=lambda s: s.path)}
        new.files = dict(sorted(new.files.items()))
        report.removed = len(old.files.keys() - new.files.keys())
        if new.to_json() != old.to_json() or not store.manifest_path.exists():
            store.write_manifest(new)
            store.collect_garbage(set(new.files.values()))
    report.files = len(new.files)
    report.skipped = sorted(skipped, key=lambda s: s.path)
    report.seconds = time.perf_counter() - start
    return report


def load_index(root: Path, store_dir: Path | None = None, codec: Codec | None = None,
               paths: Sequence[str] | None = None) -> RepoIndex:
    """Read the stored index (as last refreshed); objects that cannot be read are left
    out (the next refresh parses their files again)."""
    root = root.resolve()
    store = Store(store_dir or default_store_dir(root), codec)
    manifest = store.read_manifest()
    records = []
    wanted = set(paths) if paths is not None else None
    for rel, digest in manifest.files.items():
        if wanted is not None and rel not in wanted:
            continue
        content = store.read_object(digest)
        if content is None:
            store.discard_object(digest)
            continue
        records.append(FileRecord(rel, module_name(rel), content))
    skipped = [Skipped(p, r) for p, r in manifest.skipped.items()]
    return RepoIndex(root, records, skipped)
