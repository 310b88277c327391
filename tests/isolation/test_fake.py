"""ScriptedSandbox: runs nothing, records each job, answers with the test's callable."""

from __future__ import annotations

import pytest

from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob, Verdict
from codegen_hook.isolation.fake import ScriptedSandbox


def result(verdict: Verdict = "ok", stdout: str = "") -> RunResult:
    return RunResult(verdict=verdict, exit_code=0 if verdict == "ok" else 1,
                     stdout=stdout, stderr="", seconds=0.0, sandbox="scripted")


def test_records_jobs_in_order_and_returns_the_answer() -> None:
    seen: list[str] = []

    def answer(job: SandboxJob) -> RunResult:
        seen.append(job.entry)
        return result(stdout=f"ran {job.entry} with {sorted(job.files)}")

    sandbox = ScriptedSandbox(answer)
    first = SandboxJob(files={"a.py": "print(1)\n"}, entry="a.py")
    second = SandboxJob(files={"b.py": "", "lib/c.py": ""}, entry="b.py", args=("x",),
                        timeout=3.0)
    got_first = sandbox.run(first)
    got_second = sandbox.run(second)

    assert sandbox.jobs == [first, second]
    assert sandbox.jobs[1] is second
    assert seen == ["a.py", "b.py"]
    assert got_first.stdout == "ran a.py with ['a.py']"
    assert got_second.stdout == "ran b.py with ['b.py', 'lib/c.py']"
    assert isinstance(sandbox, Sandbox)
    assert sandbox.name == "scripted"


def test_returns_exactly_the_object_the_callable_gives() -> None:
    canned = result("timeout")
    sandbox = ScriptedSandbox(lambda job: canned)
    got = sandbox.run(SandboxJob(files={"m.py": "while True: pass\n"}, entry="m.py"))
    assert got is canned
    assert got.verdict == "timeout" and not got.ok
    assert len(sandbox.jobs) == 1


def test_a_raising_callable_still_records_the_job() -> None:
    def answer(job: SandboxJob) -> RunResult:
        raise RuntimeError("scripted failure")

    sandbox = ScriptedSandbox(answer)
    job = SandboxJob(files={"m.py": ""}, entry="m.py")
    with pytest.raises(RuntimeError, match="scripted failure"):
        sandbox.run(job)
    assert sandbox.jobs == [job]


def test_starts_with_no_jobs() -> None:
    sandbox = ScriptedSandbox(lambda job: result())
    assert sandbox.jobs == []
