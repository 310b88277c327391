"""flake8 and mypy, run as tools on a copy of the spliced module.

They read the code, never import it. Each runs with the repository root as its
working folder so the repository's own settings (setup.cfg, .flake8, tox.ini,
mypy.ini, pyproject.toml) apply.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from codegen_hook.checks.base import Check, CheckContext, Finding
from codegen_hook.errors import CodegenHookError

__all__ = ["Flake8Check", "MypyCheck"]

_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")
_TIMEOUT = 120


class ToolCheck(Check):
    """Run a tool on the module written to a temp folder; parse path:line:col lines."""

    def argv(self, path: Path, context: CheckContext) -> list[str]:
        raise NotImplementedError

    def parse(self, rest: str) -> tuple[str, str] | None:
        raise NotImplementedError

    def run(self, code: str, context: CheckContext) -> list[Finding]:
        with tempfile.TemporaryDirectory(prefix="codegen-hook-check-") as folder:
            path = package_copy(Path(folder), context)
            path.write_text(code, "utf-8")
            try:
                proc = subprocess.run(self.argv(path, context), cwd=context.root,
                                      capture_output=True, text=True, timeout=_TIMEOUT,
                                      stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise CodegenHookError(f"{self.name} could not run ({exc}); reinstall "
                                       "codegen-hook or drop it from `checks`") from exc
        findings = []
        for line in proc.stdout.splitlines():
            match = _LINE.match(line)
            if not match or not context.owns(int(match["line"])):
                continue
            parsed = self.parse(match["rest"])
            if parsed:
                findings.append(Finding(self.name, int(match["line"]), int(match["col"]),
                                        parsed[0], parsed[1]))
        if proc.returncode not in (0, 1):
            raise CodegenHookError(f"{self.name} failed (exit {proc.returncode}): "
                                   f"{proc.stderr.strip()[-400:]}; check its config in "
                                   f"{context.root}")
        return findings


def package_copy(folder: Path, context: CheckContext) -> Path:
    """Where the module goes in the temp folder: at its place in its package, with an
    empty `__init__.py` for each package above it, so a relative import (`from .utils
    import x`) still has a parent package (mypy stops with exit 2 without one)."""
    try:
        rel = context.path.resolve().relative_to(context.root.resolve())
    except (ValueError, OSError):
        return folder / context.path.name
    source_dir, target = context.root.resolve(), folder
    for part in rel.parts[:-1]:
        source_dir, target = source_dir / part, target / part
        if not (source_dir / "__init__.py").is_file():
            return folder / context.path.name     # not inside a package: alone is right
    target = folder
    for part in rel.parts[:-1]:
        target = target / part
        target.mkdir(exist_ok=True)
        (target / "__init__.py").touch()
    return target / rel.parts[-1]


class Flake8Check(ToolCheck):
    name: ClassVar[str] = "flake8"

    def argv(self, path: Path, context: CheckContext) -> list[str]:
        return [sys.executable, "-m", "flake8", "--format=default", str(path)]

    def parse(self, rest: str) -> tuple[str, str] | None:
        code, _, message = rest.partition(" ")
        return code, message


_MYPY_FLAGS = ["--ignore-missing-imports", "--follow-imports=silent", "--no-error-summary",
               "--show-column-numbers", "--hide-error-context", "--no-color-output",
               "--show-error-codes", "--no-pretty"]


class MypyCheck(ToolCheck):
    """mypy with a cache that never keeps user code: a base cache made from an empty
    module (the standard library's stubs only) is copied into the run's temp folder,
    used, and deleted with it. Without it mypy re-reads typeshed on every run."""

    name: ClassVar[str] = "mypy"

    def argv(self, path: Path, context: CheckContext) -> list[str]:
        cache = path.parent / ".mypy-cache"
        base = self._base_cache(context.cache_dir / "mypy-base")
        if base is not None:
            shutil.copytree(base, cache)
        return [sys.executable, "-m", "mypy", *_MYPY_FLAGS, "--cache-dir", str(cache),
                str(path)]

    @staticmethod
    def _base_cache(folder: Path) -> Path | None:
        if (folder / ".complete").is_file():
            return folder
        with tempfile.TemporaryDirectory(prefix="codegen-hook-mypy-base-") as tmp:
            empty = Path(tmp) / "empty.py"
            empty.write_text("x = 1\n")
            built = Path(tmp) / "cache"
            proc = subprocess.run([sys.executable, "-m", "mypy", *_MYPY_FLAGS, "--cache-dir",
                                   str(built), str(empty)], capture_output=True, timeout=_TIMEOUT,
                                  stdin=subprocess.DEVNULL, cwd=tmp)
            if proc.returncode != 0:
                return None  # run without a base; slower, still right
            (built / ".complete").write_text("")
            folder.parent.mkdir(parents=True, exist_ok=True)
            staged = Path(tempfile.mkdtemp(prefix=".mypy-base-", dir=folder.parent))
            shutil.copytree(built, staged, dirs_exist_ok=True)
            shutil.rmtree(folder, ignore_errors=True)  # a half-built one from a crash
            try:
                staged.rename(folder)
            except OSError:  # another run got there first; theirs is as good
                shutil.rmtree(staged, ignore_errors=True)
        return folder

    def parse(self, rest: str) -> tuple[str, str] | None:
        if not rest.startswith("error:"):
            return None
        message = rest[len("error:"):].strip()
        match = re.search(r"\s+\[([\w-]+)\]$", message)
        return (match.group(1), message[: match.start()]) if match else ("error", message)
