"""Running untrusted code with no isolation, only when the user asked for it by name."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.process import (Limits, release_job_files, run_untrusted_process,
                                            write_job_files)

__all__ = ["UnsandboxedRunner"]


class UnsandboxedRunner(Sandbox):
    """rlimits and a temp folder, nothing more: the code can reach the network and
    every file this user can. Used only with --unsafe-no-sandbox."""

    name: ClassVar[str] = "none (unsafe)"
    isolated: ClassVar[bool] = False
    network: ClassVar[bool] = True

    def python_version(self) -> tuple[int, int] | None:
        return sys.version_info[0], sys.version_info[1]

    def run(self, job: SandboxJob) -> RunResult:
        folder = tempfile.mkdtemp(prefix="codegen-hook-unsafe-")
        try:
            write_job_files(job, Path(folder), None)
            argv = [sys.executable, "-I", "-B", str(Path(folder) / job.entry), *job.args]
            result = run_untrusted_process(argv, job, Limits.for_job(job, processes=None),
                                           self.name, cwd=folder)
            result.notes.append("ran WITHOUT a sandbox (--unsafe-no-sandbox)")
            return result
        finally:
            release_job_files(Path(folder))
