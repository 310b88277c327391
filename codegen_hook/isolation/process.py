"""The host side of every run: capped output, wall deadline, process-group kill."""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.isolation.base import RunResult, SandboxJob, Verdict

__all__ = ["Limits", "classify", "finish_run", "release_job_files", "run_untrusted_process",
           "write_job_files"]

_MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int
    memory_bytes: int
    file_bytes: int = 64 * _MB
    processes: int | None = 64
    open_files: int = 256
    cgroups: tuple[str, ...] = ()  # cgroup.procs files the process joins itself

    @classmethod
    def for_job(cls, job: SandboxJob, processes: int | None,
                cgroups: tuple[str, ...] = ()) -> "Limits":
        return cls(cpu_seconds=int(job.timeout) + 1, memory_bytes=job.memory_mb * _MB,
                   processes=processes, cgroups=cgroups)

    def preexec(self) -> Callable[[], None]:
        def apply() -> None:
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds))
            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
            resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_bytes, self.file_bytes))
            resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if self.processes is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (self.processes, self.processes))
            for procs in self.cgroups:
                with open(procs, "w") as handle:
                    handle.write(str(os.getpid()))
        return apply


def write_job_files(job: SandboxJob, folder: Path, uid: int | None) -> None:
    """Lay out the job's files read-only, owned by the sandbox uid when there is one."""
    for name, content in job.files.items():
        target = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"job file name {name!r} leaves the job folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, "utf-8")
    for path in sorted(folder.rglob("*"), reverse=True) + [folder]:
        os.chmod(path, 0o500 if path.is_dir() else 0o400)
        if uid is not None:
            os.chown(path, uid, uid)


def release_job_files(folder: Path) -> None:
    """Make the job folder ours again and remove it."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o700)
    shutil.rmtree(folder, ignore_errors=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _signal_of(code: int | None) -> int | None:
    """The signal that ended a run: negative from Popen, 128+N from bwrap and docker."""
    if code is None:
        return None
    if code < 0:
        return -code
    return code - 128 if 128 < code <= 128 + 64 else None


def classify(code: int | None, stderr: str, timed_out: bool, flooded: bool,
             oom: bool = False) -> Verdict:
    """One verdict rule for every backend."""
    if timed_out:
        return "timeout"
    if flooded:
        return "killed"
    if code == 0:
        return "ok"
    if oom or "MemoryError" in stderr[-2000:]:
        return "memory"
    signal_number = _signal_of(code)
    if signal_number == signal.SIGXCPU:
        return "timeout"
    return "error" if signal_number is None else "killed"


def finish_run(job: SandboxJob, out_chunks: list[bytes], err_chunks: list[bytes],
               code: int | None, timed_out: bool, flooded: bool, seconds: float,
               sandbox: str, oom: bool = False) -> RunResult:
    """The RunResult of a finished run: output within the job's limit (stdout first),
    the verdict, and notes on why a run was stopped."""
    out = b"".join(out_chunks)[: job.output_limit]
    err = b"".join(err_chunks)[: max(0, job.output_limit - len(out))]
    stderr = err.decode("utf-8", "replace")
    verdict = classify(code, stderr, timed_out, flooded, oom)
    notes = []
    if flooded:
        notes.append(f"output passed {job.output_limit} bytes; the run was stopped")
    if verdict == "timeout":
        notes.append(f"no result within {job.timeout:g} s; the run was stopped")
    return RunResult(verdict=verdict, exit_code=code, stdout=out.decode("utf-8", "replace"),
                     stderr=stderr, seconds=seconds, sandbox=sandbox, truncated=flooded,
                     notes=notes)


def _read_capped(proc: subprocess.Popen[bytes], deadline: float,
                 limit: int) -> tuple[dict[int, list[bytes]], bool, bool]:
    """Read stdout (1) and stderr (2) until both close, the deadline passes, or
    together they pass `limit` bytes. Returns the chunks, timed_out, flooded."""
    chunks: dict[int, list[bytes]] = {1: [], 2: []}
    total = 0
    with selectors.DefaultSelector() as sel:
        assert proc.stdout is not None and proc.stderr is not None
        sel.register(proc.stdout, selectors.EVENT_READ, 1)
        sel.register(proc.stderr, selectors.EVENT_READ, 2)
        while sel.get_map():
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return chunks, True, False
            for key, _ in sel.select(timeout=min(remaining, 0.5)):
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                total += len(data)
                chunks[key.data].append(data)
                if total > limit:
                    return chunks, False, True
    return chunks, False, False


def run_untrusted_process(argv: Sequence[str], job: SandboxJob, limits: Limits, name: str,
                          cwd: str, user: int | None = None,
                          pass_fds: Sequence[int] = ()) -> RunResult:
    """Run `argv` in a new session with rlimits; kill its group at the deadline or
    when its output passes `job.output_limit`. Nothing is inherited but the argv."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, cwd=cwd, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        close_fds=True, pass_fds=tuple(pass_fds), start_new_session=True,
        preexec_fn=limits.preexec(),
        user=user, group=user, extra_groups=[] if user is not None else None)
    deadline = start + job.timeout
    chunks, timed_out, flooded = _read_capped(proc, deadline, job.output_limit)
    if timed_out or flooded:
        _kill_group(proc)
    try:
        code: int | None = proc.wait(timeout=max(0.1, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        timed_out = True
        code = proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    return finish_run(job, chunks[1], chunks[2], code, timed_out, flooded,
                      time.perf_counter() - start, name)
