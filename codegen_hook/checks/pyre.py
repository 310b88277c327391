"""Pyre (Meta's type checker), run the way Pyre runs: a scratch project with its own
`.pyre_configuration`, holding the module at its place in its package, checked with
`pyre check` offline. It reads the code, never imports it.

Pyre is not a dependency of codegen-hook: its package pins an old `click` that other
extras here cannot share, so it lives in a venv of its own (`pip install pyre-check`
there) and `pyre_command` names its `pyre`. Imports Pyre cannot resolve in the scratch
project (code 21, the project's own packages) are not findings: mypy runs with
`--ignore-missing-imports` for the same reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from codegen_hook.checks.base import Check, CheckContext, CheckOptions, Finding
from codegen_hook.checks.tools import package_copy
from codegen_hook.errors import CodegenHookError, ConfigError

__all__ = ["PyreCheck", "find_pyre"]

_TIMEOUT = 180
_UNDEFINED_IMPORT = 21
INSTALL_HINT = ("install Pyre in a venv of its own (python3 -m venv ~/.pyre-venv && "
                "~/.pyre-venv/bin/pip install pyre-check) and point "
                "CODEGEN_HOOK_PYRE_COMMAND at its bin/pyre (a repository's own config "
                "may not name a program to run), or drop \"pyre\" from `checks`")


def find_pyre(command: str = "") -> str:
    """The `pyre` to run: `command` if given, else the one beside this Python, else
    the one on PATH. Raises ConfigError naming what to install."""
    if command:
        path = Path(command).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(command)
        if found:
            return found
        raise ConfigError(f"pyre_command {command!r} is not an executable here; "
                          + INSTALL_HINT)
    beside = Path(sys.executable).with_name("pyre")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("pyre")
    if found:
        return found
    raise ConfigError("the pyre check needs Pyre, which is not installed here; "
                      + INSTALL_HINT)


class PyreCheck(Check):
    name: ClassVar[str] = "pyre"

    def __init__(self, command: str = "") -> None:
        self.command = command

    @classmethod
    def configured(cls, options: CheckOptions) -> "PyreCheck":
        """Found when the checks are built, so a missing Pyre stops the run at once."""
        return cls(find_pyre(options.pyre_command))

    def run(self, code: str, context: CheckContext) -> list[Finding]:
        pyre = find_pyre(self.command)
        with tempfile.TemporaryDirectory(prefix="codegen-hook-pyre-") as folder:
            project = Path(folder)
            source = project / "src"
            source.mkdir()
            path = package_copy(source, context)
            path.write_text(code, "utf-8")
            (project / ".pyre_configuration").write_text(json.dumps(
                {"source_directories": ["src"], "search_path": [], "strict": False}))
            try:
                proc = subprocess.run(
                    [pyre, "--noninteractive", "--output=json", "--number-of-workers", "1",
                     "check"], cwd=project, capture_output=True, text=True,
                    timeout=_TIMEOUT, stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise CodegenHookError(f"pyre could not run ({exc}); " + INSTALL_HINT) from exc
        if proc.returncode not in (0, 1):
            raise CodegenHookError(f"pyre failed (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()[-400:]}; " + INSTALL_HINT)
        return [f for f in _findings(proc.stdout) if context.owns(f.line)]


def _findings(output: str) -> list[Finding]:
    try:
        errors: Any = json.loads(output or "[]")
    except ValueError as exc:
        raise CodegenHookError(f"pyre printed no JSON report ({output[-200:]!r})") from exc
    if not isinstance(errors, list):
        raise CodegenHookError(f"pyre's report is not a list of errors: {output[-200:]!r}")
    return [Finding("pyre", int(e["line"]), int(e["column"]) + 1, str(e["code"]),
                    str(e.get("concise_description") or e.get("description", "")))
            for e in errors if isinstance(e, dict) and e.get("code") != _UNDEFINED_IMPORT]
