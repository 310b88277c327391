"""The seccomp deny-list: it compiles here, and bwrap applies it."""

from __future__ import annotations

from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.seccomp import DENIED_SYSCALLS, seccomp_filter_bpf

PROBE = """
import ctypes, json, socket
libc = ctypes.CDLL(None, use_errno=True)
out = {}
try:
    socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
    out["inet"] = "created"
except OSError as exc:
    out["inet"] = exc.errno
out["unshare"] = (libc.unshare(0x40000000), ctypes.get_errno())
out["keyctl"] = (libc.syscall(250, 0, 0, 0, 0, 0), ctypes.get_errno())
a, b = socket.socketpair()
out["unix"] = "ok"
print(json.dumps(out))
"""


def run_probe(sandbox: BwrapSandbox) -> dict[str, object]:
    import json
    result = sandbox.run(SandboxJob(files={"probe.py": PROBE}, entry="probe.py"))
    assert result.ok, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_filter_compiles_and_lists_the_dangerous_calls() -> None:
    bpf = seccomp_filter_bpf()
    assert bpf is not None and len(bpf) % 8 == 0 and len(bpf) > 8 * len(DENIED_SYSCALLS)
    for name in ("ptrace", "io_uring_setup", "keyctl", "bpf", "unshare", "setns", "mount"):
        assert name in DENIED_SYSCALLS


def test_bwrap_applies_the_filter() -> None:
    data = run_probe(BwrapSandbox())
    assert data["inet"] == 1  # EPERM: no AF_INET socket at all
    assert data["unshare"] == [-1, 1] and data["keyctl"] == [-1, 1]
    assert data["unix"] == "ok"  # AF_UNIX stays usable


def test_without_the_filter_the_probe_sees_the_difference() -> None:
    """Negative control: the same probe, filter off, gets further."""
    data = run_probe(BwrapSandbox(use_seccomp=False))
    assert data["inet"] == "created"
    assert data["keyctl"] != [-1, 1]
