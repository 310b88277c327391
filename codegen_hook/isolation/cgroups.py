"""cgroup limits for a bwrap run, where the machine allows them (detected, never required).

rlimits are per process: a fork bomb of small processes or many children each under
RLIMIT_AS still add up. Where the cgroup v1 memory and pids hierarchies are writable
(root on a v1 or hybrid host), each uid slot gets its own cgroup with a memory limit
(swap included where the kernel accounts it) and a pids limit; the sandboxed process
joins it itself, before it execs bwrap. On a pure cgroup v2 host, joining needs write
access to a common ancestor, which an unprivileged child lacks: there the limits are
left to rlimits and the pid namespace, and `available()` says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SlotCgroup", "available", "slot_cgroup"]

_ROOT = Path("/sys/fs/cgroup")
_PARENT = "codegen-hook"


def available() -> tuple[bool, str]:
    """Whether per-run cgroups can be used here, and why (not)."""
    if os.geteuid() != 0:
        return False, "not root: limits are rlimits and the pid namespace only"
    missing = [c for c in ("memory", "pids") if not (_ROOT / c / "cgroup.procs").exists()]
    if missing:
        return False, ("no cgroup v1 " + "/".join(missing) + " hierarchy (cgroup v2 needs "
                       "delegation); limits are rlimits and the pid namespace only")
    try:
        for controller in ("memory", "pids"):
            (_ROOT / controller / _PARENT).mkdir(exist_ok=True)
            # traversable by the slot uids whatever the caller's umask (ours is 077)
            os.chmod(_ROOT / controller / _PARENT, 0o755)
    except OSError as exc:
        return False, f"cgroup hierarchy not writable ({exc.strerror})"
    return True, "cgroup v1 memory and pids limits per run"


@dataclass(frozen=True)
class SlotCgroup:
    """The cgroup.procs files a run's first process writes its pid into."""

    procs: tuple[str, ...]
    memory_dir: Path | None

    def memory_exhausted(self) -> bool:
        if self.memory_dir is None:
            return False
        try:
            return int((self.memory_dir / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False


def _write(path: Path, value: int) -> None:
    with contextlib.suppress(OSError):  # e.g. memsw files absent without swap accounting
        path.write_text(str(value))


@contextlib.contextmanager
def slot_cgroup(uid: int, memory_bytes: int, pids: int) -> Iterator[SlotCgroup]:
    """A fresh cgroup pair for one run as `uid`; removed afterwards."""
    ok, _ = available()
    if not ok:
        yield SlotCgroup((), None)
        return
    dirs = [_ROOT / c / _PARENT / f"uid-{uid}" for c in ("memory", "pids")]
    try:
        for folder in dirs:
            folder.mkdir(exist_ok=True)
            os.chmod(folder, 0o755)
            os.chown(folder / "cgroup.procs", uid, uid)
        memory, pid_dir = dirs
        # memsw may never sit below the plain limit: write it around the limit so both
        # raising and lowering a reused cgroup's limits succeed
        for name in ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes",
                     "memory.memsw.limit_in_bytes"):
            _write(memory / name, memory_bytes)
        _write(memory / "memory.failcnt", 0)
        _write(pid_dir / "pids.max", pids)
    except OSError:
        yield SlotCgroup((), None)
        return
    try:
        yield SlotCgroup(tuple(str(d / "cgroup.procs") for d in dirs), memory)
    finally:
        for folder in dirs:
            with contextlib.suppress(OSError):  # still busy: left for the next run to reuse
                folder.rmdir()
