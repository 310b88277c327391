"""A scripted sandbox for tests: it runs nothing and returns what a test enqueued."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob

__all__ = ["ScriptedSandbox"]


class ScriptedSandbox(Sandbox):
    name: ClassVar[str] = "scripted"

    def __init__(self, answer: Callable[[SandboxJob], RunResult]) -> None:
        self.answer = answer
        self.jobs: list[SandboxJob] = []

    def run(self, job: SandboxJob) -> RunResult:
        self.jobs.append(job)
        return self.answer(job)
