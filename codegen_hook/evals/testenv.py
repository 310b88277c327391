"""A repository's own tests, run in the sandbox against a scratch copy of it.

The workspace is a copy of the repository (what `eval repo` cuts stubs into and
splices generated code into) and a folder of the test environment's packages
(pytest, pytest-cov and whatever the repository's tests import), both bound
read-only into the sandbox. The sandbox's user must read them, so they live under a
folder others may cross but not list (0711) with a random name; they hold a copy
of the user's code for the length of the evaluation and are removed afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.errors import ConfigError
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob
from codegen_hook.isolation.bwrap import readable_by
from codegen_hook.sandboxed import program_text

__all__ = ["TestRun", "Workspace", "make_workspace", "parse_test_command", "run_repo_tests"]

SRC_INSIDE = "/src"
SITE_INSIDE = "/testenv"
# Always in the test environment: the runner drives pytest and reads coverage's data.
BASE_REQUIREMENTS = ("pytest", "pytest-cov")
_SKIPPED = shutil.ignore_patterns(".git", ".codegen-hook", "__pycache__", "*.pyc", ".venv",
                                  "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
                                  "build", "dist", "*.egg-info", "node_modules")


def parse_test_command(command: str) -> list[str]:
    """The command split; only pytest runs (`pytest …`, `python -m pytest …`) are
    supported, since the runner drives pytest in-process for coverage and timing."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"--test-cmd {command!r} does not parse ({exc}); quote it as "
                          "you would in a shell") from exc
    module_run = argv[0:1] in (["python"], ["python3"]) and argv[1:3] == ["-m", "pytest"]
    if argv[:1] in (["pytest"], ["py.test"]) or module_run:
        return argv
    raise ConfigError(f"--test-cmd {command!r} is not a pytest run; give it as "
                      "`pytest [options] [paths]` or `python -m pytest …` (unittest suites "
                      "run under pytest too)")


@dataclass
class Workspace:
    """The scratch copy (`src`) and test packages (`site`), removed by `close`."""

    base: Path
    src: Path
    site: list[Path] = field(default_factory=list)

    def binds(self) -> tuple[tuple[str, str], ...]:
        return ((str(self.src), SRC_INSIDE),
                *((str(p), f"{SITE_INSIDE}{i}") for i, p in enumerate(self.site)))

    def close(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _open_to_sandbox(folder: Path) -> None:
    """Readable (not writable) by others, the sandbox's user among them."""
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644 | (os.stat(path).st_mode & 0o111))


def _install(target: Path, requirements: list[str]) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               "--no-input", "--target", str(target), *requirements]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"installing the test environment ({' '.join(requirements)}) "
                          f"failed:\n{done.stderr.strip()[-1500:]}\nfix the requirement, or "
                          "prepare the packages yourself and pass their folder with --deps")


def _provides(folders: list[Path], module: str) -> bool:
    return any((f / module).is_dir() or (f / f"{module}.py").is_file() for f in folders)


def make_workspace(repo: Path, install: list[str], deps: list[Path],
                   scratch: Path | None = None, sandbox_uid: int | None = None) -> Workspace:
    """Copy `repo` and install `BASE_REQUIREMENTS` (unless `deps` has them) + `install`
    (pip, --target) into the test environment; `deps` are more package folders, used as
    they are. With `sandbox_uid`, each of `deps` must be readable by that user."""
    if not repo.is_dir():
        raise ConfigError(f"{repo} is not a folder; give the repository's root")
    for folder in deps:
        if not folder.is_dir():
            raise ConfigError(f"--deps {folder} is not a folder of packages")
        if sandbox_uid is not None and not readable_by(folder, sandbox_uid):
            raise ConfigError(f"--deps {folder}: the sandbox's user (uid {sandbox_uid}) "
                              "cannot read it; put it outside /root and make it readable "
                              "by others (chmod -R a+rX)")
    parent = Path(tempfile.mkdtemp(prefix="codegen-hook-eval-", dir=scratch))
    os.chmod(parent, 0o711)       # others may cross it, not list it
    base = parent / secrets.token_hex(16)
    workspace = Workspace(parent, base / "repo")
    try:
        base.mkdir()
        os.chmod(base, 0o755)     # whatever the umask (the CLI's is 077)
        shutil.copytree(repo, workspace.src, symlinks=True, ignore=_SKIPPED)
        _open_to_sandbox(workspace.src)
        needed = [*(r for r in BASE_REQUIREMENTS
                    if not _provides(deps, r.replace("-", "_"))), *install]
        site = base / "site"
        if needed:
            _install(site, needed)
            _open_to_sandbox(site)
        workspace.site = [*([site] if needed else []), *[d.resolve() for d in deps]]
    except BaseException:
        workspace.close()
        raise
    return workspace


@dataclass
class TestRun:
    """What one run of the tests found: pytest's exit code and counts, and, when asked,
    which tests ran which function and the seconds spent inside one function."""

    exit_code: int | None
    counts: dict[str, int]
    failed: list[str]
    seconds: float
    verdict: str                   # the sandbox's verdict for the run
    covered: dict[str, list[str]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    detail: str = ""               # the tail of the output when the run broke

    @property
    def passed(self) -> bool:
        return self.verdict == "ok" and self.exit_code == 0 and self.counts.get("passed", 0) > 0


def _runner() -> str:
    return program_text("repo_tests")


def _parse(result: RunResult, nonce: str) -> TestRun:
    for line in reversed(result.stdout.splitlines()):
        if line.startswith(nonce + " "):
            data: dict[str, Any] = json.loads(line[len(nonce) + 1:])
            return TestRun(exit_code=data["exit"], counts=data["counts"],
                           failed=data["failed"], seconds=data["seconds"],
                           verdict=result.verdict, covered=data.get("covered", {}),
                           timing=data.get("timing", {}))
    tail = (result.stderr.strip() or result.stdout.strip())[-1500:]
    return TestRun(exit_code=result.exit_code, counts={}, failed=[], seconds=result.seconds,
                   verdict=result.verdict if result.verdict != "ok" else "error",
                   detail=tail or result.verdict)


def run_repo_tests(sandbox: Sandbox, workspace: Workspace, argv: list[str], *,
                   select: list[str] | None = None,
                   coverage: dict[str, list[list[Any]]] | None = None,
                   timing: dict[str, Any] | None = None,
                   timeout: float = 600.0, memory_mb: int = 2048) -> TestRun:
    """Run the test command (only `select`'s tests, when given) in the sandbox over the
    workspace as it is now. The code under test is untrusted: it runs only in there."""
    nonce = secrets.token_hex(12)
    spec = {"src": SRC_INSIDE, "site": [inside for _, inside in workspace.binds()[1:]],
            "argv": argv, "select": select, "coverage": coverage, "timing": timing,
            "nonce": nonce}
    job = SandboxJob(files={"run_tests.py": _runner(), "spec.json": json.dumps(spec)},
                     entry="run_tests.py", timeout=timeout, memory_mb=memory_mb,
                     output_limit=8 << 20, binds=workspace.binds())
    return _parse(sandbox.run(job), nonce)
