"""`codegen-hook index` killed with SIGKILL at any moment leaves an index that loads,
and holds either the previous run's records or the new run's, never a mix."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from codegen_hook.config import data_dir, resolve_settings
from codegen_hook.index.build import load_index
from codegen_hook.index.extract import file_hash
from codegen_hook.index.store import Store, default_store_dir
from codegen_hook.security.codec import codec_for
from codegen_hook.security.crypto import EncryptedCodec, is_sealed

FILES = 400
FUNCTIONS = 8
DELAYS = (0.05, 0.15, 0.3, 0.6)  # start-up and parsing
NEW_OBJECTS = (1, FILES // 2, FILES - 1)  # the writes at the end of a run
Trigger = tuple[str, float | int | None]


def write_generation(root: Path, gen: int) -> dict[str, str]:
    """Every file rewritten with functions named for `gen`; path -> content hash."""
    hashes = {}
    for i in range(FILES):
        data = "".join(f'def gen{gen}_{i}_{j}(x: int, y: int = {j}) -> int:\n'
                       f'    """Add {j} times y to x."""\n    return x + y * {j}\n\n\n'
                       for j in range(FUNCTIONS)).encode()
        rel = f"mod_{i:03d}.py"
        (root / rel).write_bytes(data)
        hashes[rel] = file_hash(data)
    return hashes


def start_index(root: Path, *flags: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "codegen_hook", "index", str(root), "--jobs", "1", *flags]
    return subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def run_index(root: Path, *flags: str) -> None:
    assert start_index(root, *flags).wait(timeout=60) == 0


def generation_held(root: Path, codec: EncryptedCodec,
                    generations: dict[int, dict[str, str]]) -> int:
    """Which generation the stored index holds, after checking it loads whole."""
    manifest = Store(default_store_dir(root), codec).read_manifest()
    held = [gen for gen, hashes in generations.items() if manifest.files == hashes]
    assert len(held) == 1, "the manifest mixes generations or misses files"
    index = load_index(root, codec=codec)
    assert len(index.records) == FILES, "an object the manifest names does not load"
    for record in index.records:
        assert record.content.hash == manifest.files[record.path]
        names = {s.name for s in record.content.symbols}
        number = int(record.path[4:7])
        assert names == {f"gen{held[0]}_{number}_{j}" for j in range(FUNCTIONS)}
    return held[0]


def stray_temp_files(root: Path) -> list[Path]:
    return [p for p in default_store_dir(root).rglob(".*.tmp-*") if p.is_file()]


def object_inodes(root: Path) -> dict[str, int]:
    """Each stored object's inode: a write replaces the file, so the inode changes."""
    found = {}
    with os.scandir(default_store_dir(root) / "objects") as subs:
        for sub in subs:
            with os.scandir(sub.path) as entries:
                found.update({e.path: e.inode() for e in entries if e.name[0] != "."})
    return found


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool]) -> bool:
    """SIGKILL `process` as soon as `ready()`; False when it finished first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if ready():
            os.kill(process.pid, signal.SIGKILL)  # not yet reaped: the pid is still its
            process.wait(timeout=60)
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.0005)
    raise AssertionError("the index run neither finished nor got there in 60 s")


def interrupt(root: Path, trigger: Trigger) -> bool:
    """Run `index` and kill it at `trigger`; whether it was killed."""
    kind, arg = trigger
    manifest = default_store_dir(root) / "manifest"
    before, committed = object_inodes(root), manifest.stat().st_ino
    process = start_index(root)
    if kind == "delay":
        time.sleep(float(arg or 0))
        return kill_when(process, lambda: True)
    if kind == "objects":
        def ready() -> bool:
            now = object_inodes(root)
            return sum(before.get(path) != inode for path, inode in now.items()) >= int(arg or 0)
        return kill_when(process, ready)
    if kind == "manifest":  # just committed: old objects are being dropped
        return kill_when(process, lambda: manifest.stat().st_ino != committed)
    assert process.wait(timeout=60) == 0
    return False


def test_sigkill_at_any_moment_leaves_the_old_or_the_new_index(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    generations = {0: write_generation(root, 0)}
    run_index(root)
    settings = resolve_settings(root)
    codec = codec_for(settings, data_dir(settings), create=False)
    assert generation_held(root, codec, generations) == 0

    triggers: list[Trigger] = [*(("delay", d) for d in DELAYS),
                               *(("objects", n) for n in NEW_OBJECTS),
                               ("manifest", None), ("finish", None)]
    held, newest, seen = 0, 0, []
    for trigger in triggers:
        if held == newest:  # the last run committed: give the next one work to do
            newest += 1
            generations[newest] = write_generation(root, newest)
        killed = interrupt(root, trigger)
        held = generation_held(root, codec, generations)
        assert held in (newest - 1, newest)
        seen.append((trigger, killed, "new" if held == newest else "old"))
    outcome = {trigger: (killed, state) for trigger, killed, state in seen}
    assert outcome[("delay", DELAYS[0])] == (True, "old"), seen  # killed starting up
    assert outcome[("objects", 1)] == (True, "old"), seen  # killed writing objects
    assert outcome[("finish", None)] == (False, "new"), seen

    generations[newest + 1] = write_generation(root, newest + 1)
    run_index(root)
    assert generation_held(root, codec, generations) == newest + 1
    # Runs killed mid-write leave temp files behind: only ever sealed bytes. A run
    # killed after its commit leaves old objects a refresh never drops; --rebuild does.
    for stray in stray_temp_files(root):
        head = stray.read_bytes()[:4]
        assert not head or is_sealed(head), stray
    assert len(object_inodes(root)) >= FILES
    run_index(root, "--rebuild")
    assert generation_held(root, codec, generations) == newest + 1
    assert len(object_inodes(root)) == FILES
    assert not [p for p in stray_temp_files(root) if p.parent.parent.name == "objects"]
