"""The Sandbox extension point: one abstract method, `run`.

A job is a set of files placed read-only at /job and an entry script run with
the sandbox's Python. A run that fails, hangs or floods is data (a RunResult),
never an exception: only a sandbox that cannot start at all raises.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import ClassVar, Literal

__all__ = ["RunResult", "Sandbox", "SandboxJob", "Verdict"]

Verdict = Literal["ok", "error", "timeout", "memory", "killed"]
# Folders of the sandbox itself that a bind may not cover.
_RESERVED = {"job", "work", "tmp", "proc", "dev", "usr", "lib", "lib64", "lib32", "bin", "sbin",
             "etc"}


@dataclass(frozen=True)
class SandboxJob:
    """Untrusted code to run: `files` land in /job, `entry` is run with `args`.

    `binds` are host folders shown read-only inside at the path given (a test
    environment's packages, a scratch copy of a repository); the sandbox's user must
    be able to read them, so they never hold anything the run may not see.
    """

    files: dict[str, str]
    entry: str
    args: tuple[str, ...] = ()
    timeout: float = 10.0
    memory_mb: int = 512
    output_limit: int = 1 << 20
    binds: tuple[tuple[str, str], ...] = ()   # (host folder, path inside), read-only

    def __post_init__(self) -> None:
        for host, inside in self.binds:
            place = PurePosixPath(inside)
            if not place.is_absolute() or ".." in place.parts or not host or \
                    len(place.parts) < 2 or place.parts[1] in _RESERVED:
                raise ValueError(f"bind {host!r} -> {inside!r}: the inside path must be an "
                                 "absolute path outside the sandbox's own folders")


@dataclass
class RunResult:
    verdict: Verdict
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    sandbox: str
    truncated: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


class Sandbox(abc.ABC):
    """Somewhere untrusted code can run without reaching the host."""

    name: ClassVar[str] = "sandbox"
    isolated: ClassVar[bool] = True
    network: ClassVar[bool] = False

    @abc.abstractmethod
    def run(self, job: SandboxJob) -> RunResult:
        """Run `job` and report what happened."""

    def python_version(self) -> tuple[int, int] | None:
        """The (major, minor) of the Python that runs jobs here, so the project's
        packages are bound only into a Python that can load them; None: unknown (a
        fake), and then they are not bound."""
        return None
