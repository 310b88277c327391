"""Sandboxes for untrusted code, and the choice among them."""

from __future__ import annotations

from codegen_hook.config import Settings
from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob, Verdict

__all__ = ["RunResult", "Sandbox", "SandboxJob", "Verdict", "probe_sandbox", "select_sandbox"]

_PROBE = SandboxJob(files={"probe.py": "print('sandbox-ok')\n"}, entry="probe.py",
                    timeout=20.0)


def probe_sandbox(sandbox: Sandbox) -> RunResult:
    """Run a trivial job to prove the sandbox starts here."""
    return sandbox.run(_PROBE)


def select_sandbox(settings: Settings) -> Sandbox:
    """The strongest sandbox that works here, or the unsafe runner if asked by name.

    Raises SandboxUnavailableError when none works: generated code never runs
    unsandboxed by default.
    """
    if settings.unsafe_no_sandbox:
        from codegen_hook.isolation.unsafe import UnsandboxedRunner
        return UnsandboxedRunner()
    from codegen_hook.isolation.bwrap import BwrapSandbox
    sandbox = BwrapSandbox(python=settings.sandbox_python, uid=settings.sandbox_uid)
    result = probe_sandbox(sandbox)
    if not result.ok or "sandbox-ok" not in result.stdout:
        raise SandboxUnavailableError(
            f"bubblewrap is installed but cannot start a sandbox here ({result.verdict}: "
            f"{result.stderr.strip()[-300:]}); check that unprivileged user namespaces "
            "are enabled (sysctl kernel.unprivileged_userns_clone=1), or pass "
            "--unsafe-no-sandbox to run generated code without one")
    return sandbox
