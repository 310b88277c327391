"""Sandboxes for untrusted code, and the choice among them."""

from __future__ import annotations

from codegen_hook.config import Settings
from codegen_hook.errors import SandboxUnavailableError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob, Verdict
from codegen_hook.registry import SANDBOXES

__all__ = ["AUTO_ORDER", "RunResult", "Sandbox", "SandboxJob", "Verdict", "bwrap_sandbox",
           "docker_sandbox", "probe_sandbox", "select_sandbox"]

AUTO_ORDER = ("docker", "bwrap")   # `sandbox = "auto"`: the strongest that starts here

_PROBE = SandboxJob(files={"probe.py": "print('sandbox-ok')\n"}, entry="probe.py",
                    timeout=20.0)


def probe_sandbox(sandbox: Sandbox) -> RunResult:
    """Run a trivial job to prove the sandbox starts here."""
    return sandbox.run(_PROBE)


def bwrap_sandbox(settings: Settings) -> Sandbox:
    from codegen_hook.isolation.bwrap import BwrapSandbox
    sandbox = BwrapSandbox(python=settings.sandbox_python, uid=settings.sandbox_uid)
    result = probe_sandbox(sandbox)
    if not result.ok or "sandbox-ok" not in result.stdout:
        said = result.stderr.strip()[-300:]
        if "Can't find source path" in said or "Permission denied" in said:
            fix = ("the sandbox's user cannot reach a folder it needs; make every folder "
                   "above it crossable by others (chmod o+x) or set TMPDIR to one that is")
        else:
            fix = ("check that unprivileged user namespaces are enabled "
                   "(sysctl kernel.unprivileged_userns_clone=1)")
        raise SandboxUnavailableError(f"bubblewrap is installed but cannot start a sandbox "
                                      f"here ({result.verdict}: {said}); {fix}")
    return sandbox


def docker_sandbox(settings: Settings) -> Sandbox:
    from codegen_hook.isolation.docker import DockerSandbox
    return DockerSandbox(image=settings.docker_image)


def select_sandbox(settings: Settings, notices: list[str] | None = None) -> Sandbox:
    """The sandbox the settings ask for, or the strongest that works here.

    `auto` takes docker when the engine answers and the image exists, else bwrap.
    Raises SandboxUnavailableError when none works: generated code never runs
    unsandboxed unless the user asked for that by name (--unsafe-no-sandbox). When
    `auto` passes over docker, why is appended to `notices`.
    """
    if settings.unsafe_no_sandbox:
        from codegen_hook.isolation.unsafe import UnsandboxedRunner
        return UnsandboxedRunner()
    if settings.sandbox != "auto":
        named: Sandbox = SANDBOXES.load(settings.sandbox)(settings)
        return named
    reasons = []
    for name in AUTO_ORDER:
        try:
            chosen: Sandbox = SANDBOXES.load(name)(settings)
        except SandboxUnavailableError as exc:
            reasons.append(str(exc))
            continue
        if reasons and notices is not None:
            notices.append(f"not using docker ({reasons[0]}); using {chosen.name}")
        return chosen
    raise SandboxUnavailableError("no sandbox works here: " + " / ".join(reasons) +
                                  "; or pass --unsafe-no-sandbox to run generated code "
                                  "without one")
