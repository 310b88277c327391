"""The Sandbox extension point: one abstract method, `run`.

A job is a set of files placed read-only at /job and an entry script run with
the sandbox's Python. A run that fails, hangs or floods is data (a RunResult),
never an exception: only a sandbox that cannot start at all raises.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import ClassVar, Literal

__all__ = ["RunResult", "Sandbox", "SandboxJob", "Verdict"]

Verdict = Literal["ok", "error", "timeout", "memory", "killed"]


@dataclass(frozen=True)
class SandboxJob:
    """Untrusted code to run: `files` land in /job, `entry` is run with `args`."""

    files: dict[str, str]
    entry: str
    args: tuple[str, ...] = ()
    timeout: float = 10.0
    memory_mb: int = 512
    output_limit: int = 1 << 20


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
