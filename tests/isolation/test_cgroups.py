"""Per-run cgroups: memory adds up across a run's processes, and the limit holds."""

from __future__ import annotations

import pytest

from codegen_hook.isolation import cgroups
from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox

# Twelve children, each touching 60 MB: 720 MB in all, each one far under RLIMIT_AS.
CHILDREN = """
import os, time
kids = []
for _ in range(12):
    pid = os.fork()
    if pid == 0:
        block = b"x" * (60 << 20)
        time.sleep(1)
        os._exit(0)
    kids.append(pid)
print(" ".join(str(os.waitpid(k, 0)[1]) for k in kids))
"""


def statuses(sandbox: BwrapSandbox) -> list[int]:
    result = sandbox.run(SandboxJob(files={"m.py": CHILDREN}, entry="m.py", timeout=20,
                                    memory_mb=256))
    assert result.ok, result.stderr
    return [int(s) for s in result.stdout.split()]


def test_memory_of_all_processes_is_capped_per_run() -> None:
    ok, why = cgroups.available()
    if not ok:
        pytest.skip(why)
    killed = [s for s in statuses(BwrapSandbox()) if s == 9]  # SIGKILL from the OOM killer
    assert killed, "no child was stopped: the run's total memory was not limited"


def test_without_cgroups_the_same_run_is_not_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: rlimits alone let the children add up."""
    if not cgroups.available()[0]:
        pytest.skip("cgroups are not used here anyway")
    monkeypatch.setattr(cgroups, "available", lambda: (False, "switched off by the test"))
    assert statuses(BwrapSandbox()) == [0] * 12
