"""The one verdict rule every backend uses."""

from __future__ import annotations

import signal

import pytest

from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.process import classify, finish_run


@pytest.mark.parametrize("code, stderr, timed_out, flooded, oom, verdict", [
    (0, "", False, False, False, "ok"),
    (1, "Traceback ...\nValueError", False, False, False, "error"),
    (1, "Traceback ...\nMemoryError", False, False, False, "memory"),
    (137, "", False, False, True, "memory"),              # docker: OOMKilled
    (-signal.SIGKILL, "", False, False, False, "killed"),  # Popen: killed by a signal
    (128 + signal.SIGKILL, "", False, False, False, "killed"),  # bwrap / docker report 128+N
    (128 + signal.SIGXCPU, "", False, False, False, "timeout"),  # RLIMIT_CPU
    (-signal.SIGXCPU, "", False, False, False, "timeout"),
    (None, "", True, False, False, "timeout"),
    (0, "", False, True, False, "killed"),                  # output flood
])
def test_verdicts(code: int | None, stderr: str, timed_out: bool, flooded: bool, oom: bool,
                  verdict: str) -> None:
    assert classify(code, stderr, timed_out, flooded, oom) == verdict


def test_output_stays_within_the_limit_stdout_first() -> None:
    job = SandboxJob(files={}, entry="x.py", output_limit=10, timeout=3)
    result = finish_run(job, [b"a" * 8], [b"b" * 8], None, True, False, 0.5, "test")
    assert result.stdout == "a" * 8 and result.stderr == "bb"
    assert result.verdict == "timeout" and result.notes == [
        "no result within 3 s; the run was stopped"]
