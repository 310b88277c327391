"""bubblewrap: new namespaces (user, net, pid, ipc, uts, mount), read-only system,
a size-limited tmpfs as the only writable place, rlimits, no environment.

bwrap is never launched as root: started by root, the sandboxed process is host
uid 0 (measured on these machines). When the hook runs as root it launches bwrap
as a dedicated unprivileged uid, so the interpreter must be readable by that uid.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import shutil
import subprocess
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.cgroups import SlotCgroup, slot_cgroup
from codegen_hook.isolation.seccomp import seccomp_filter_bpf
from codegen_hook.isolation.jobdir import new_job_folder
from codegen_hook.isolation.process import (Limits, release_job_files, run_untrusted_process,
                                            write_job_files)

__all__ = ["BwrapSandbox", "readable_by"]

_SLOTS_FOLDER = Path("/tmp/codegen-hook-uid-slots")   # not TMPDIR: see slots_folder
_SLOTS = 64
_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin")


def readable_by(path: Path, uid: int) -> bool:
    """Whether `uid` (not root, in no group of ours) can reach and read `path`."""
    path = Path(os.path.realpath(path))
    for part in [*reversed(path.parents), path]:
        try:
            info = part.stat()
        except OSError:
            return False
        need = stat.S_IROTH if part == path else stat.S_IXOTH
        if info.st_uid == uid:
            need <<= 6
        if not info.st_mode & need:
            return False
    return True


def _pick_python(configured: str, uid: int | None) -> str:
    candidates = [configured] if configured else [sys.executable, "/usr/bin/python3"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and (
                uid is None or readable_by(Path(candidate), uid)):
            return os.path.realpath(candidate)
    raise SandboxUnavailableError(
        "no Python interpreter the sandbox user can read: " + ", ".join(candidates) +
        " (a Python under /root is not readable by it); install python3 from your "
        "distribution or set sandbox_python to one outside /root")


class BwrapSandbox(Sandbox):
    name: ClassVar[str] = "bwrap"

    def __init__(self, python: str = "", uid: int = 61000, use_seccomp: bool = True) -> None:
        self.bwrap = shutil.which("bwrap") or ""
        if not self.bwrap:
            raise SandboxUnavailableError("bubblewrap is not installed; install it "
                                          "(apt-get install bubblewrap)")
        self.uid: int | None = uid if os.geteuid() == 0 else None
        self.python = _pick_python(python, self.uid)
        self.seccomp = seccomp_filter_bpf() if use_seccomp else None
        self._version: tuple[int, int] | None = None

    def _mounts(self) -> list[str]:
        args: list[str] = []
        for folder in _SYSTEM_DIRS:
            if os.path.islink(folder):
                args += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                args += ["--ro-bind", folder, folder]
        prefix = str(Path(self.python).parent.parent)
        if not prefix.startswith("/usr"):
            args += ["--ro-bind", prefix, prefix]
        return args

    def command(self, job: SandboxJob, job_dir: str, seccomp_fd: int | None = None) -> list[str]:
        scratch = str(max(job.memory_mb // 4, 16) << 20)
        seccomp = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
        return [self.bwrap, *seccomp, "--unshare-all", "--unshare-user", "--disable-userns",
                "--die-with-parent", "--new-session", "--clearenv",
                "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/work",
                "--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
                *self._mounts(), "--proc", "/proc", "--dev", "/dev",
                "--size", scratch, "--tmpfs", "/tmp", "--size", scratch, "--tmpfs", "/work",
                "--ro-bind", job_dir, "/job", *_binds(job), "--remount-ro", "/",
                "--chdir", "/work",
                self.python, "-I", "-B", f"/job/{job.entry}", *job.args]

    def python_version(self) -> tuple[int, int] | None:
        """Asked of the interpreter the sandbox runs (a host program, not a job)."""
        if self._version is None:
            done = subprocess.run([self.python, "-I", "-c",
                                   "import sys; print('%d %d' % sys.version_info[:2])"],
                                  capture_output=True, text=True, timeout=30, check=False)
            major, _, minor = done.stdout.strip().partition(" ")
            self._version = (int(major), int(minor)) if done.returncode == 0 else (0, 0)
        return self._version if self._version != (0, 0) else None

    def run(self, job: SandboxJob) -> RunResult:
        scratch = max(job.memory_mb // 4, 16)
        with _uid_slot(self.uid) as uid, _seccomp_fd(self.seccomp) as fd, \
                _cgroup(uid, (job.memory_mb + 2 * scratch) << 20) as cgroup:
            job_dir = str(new_job_folder(cross=uid is not None))
            try:
                write_job_files(job, Path(job_dir), uid)
                limits = Limits.for_job(job, processes=64 if uid is not None else None,
                                        cgroups=cgroup.procs)
                result = run_untrusted_process(self.command(job, job_dir, fd), job, limits,
                                               self.name, cwd="/", user=uid,
                                               pass_fds=() if fd is None else (fd,))
                if result.verdict == "killed" and cgroup.memory_exhausted():
                    result.verdict = "memory"
                return result
            finally:
                release_job_files(Path(job_dir))


def _binds(job: SandboxJob) -> list[str]:
    return [arg for host, inside in job.binds for arg in ("--ro-bind", host, inside)]


def _cgroup(uid: int | None, memory_bytes: int) -> contextlib.AbstractContextManager[SlotCgroup]:
    if uid is None:
        return contextlib.nullcontext(SlotCgroup((), None))
    return slot_cgroup(uid, memory_bytes, pids=64)


@contextlib.contextmanager
def _seccomp_fd(bpf: bytes | None) -> Iterator[int | None]:
    """The filter on a pipe bwrap reads once (it is far smaller than a pipe's buffer)."""
    if bpf is None:
        yield None
        return
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, bpf)
        os.close(write_end)
        write_end = -1
        yield read_end
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)


def _pids_of(uid: int) -> list[int]:
    """Live processes of `uid`; zombies are skipped (dead already, init reaps them)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            pids.append(int(entry.name))
    return pids


def _reap_uid(uid: int, patience: float = 5.0) -> None:
    """Kill whatever the run left behind under its uid (a fork bomb's children die
    with the pid namespace, but not instantly) and wait until the uid is free."""
    deadline = time.monotonic() + patience
    while pids := _pids_of(uid):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return
        time.sleep(0.01)


def slots_folder() -> Path:
    """Where the uid slots' locks are: one place for every run on the machine, whatever
    its TMPDIR, since a slot's reaping kills every process of its uid (two runs that
    held their locks in different folders once shared uid 61000, and one killed the
    other's sandbox). Ours and no link, or no slots at all."""
    folder = _SLOTS_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise SandboxUnavailableError(f"{folder} is not a private folder of ours (someone "
                                      "else made it, or it is a link); remove it and retry")
    return folder


@contextlib.contextmanager
def _uid_slot(base: int | None) -> Iterator[int | None]:
    """A uid of our own for this run: RLIMIT_NPROC counts every process of a uid, so
    concurrent runs (or a fork bomb in one) must not share one. Slots are held with
    file locks in a root-only folder."""
    if base is None:
        yield None
        return
    folder = slots_folder()
    for slot in range(_SLOTS):
        handle = open(folder / f"{slot}.lock", "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        try:
            yield base + slot
        finally:
            _reap_uid(base + slot)
            handle.close()
        return
    raise SandboxUnavailableError(f"all {_SLOTS} sandbox uids are busy; wait for other "
                                  "codegen-hook runs to finish")
