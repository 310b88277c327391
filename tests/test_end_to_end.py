"""The real thing: real git, real pre-commit, the embedded model, the bwrap sandbox.

These load the real model (marked `real_model`); they are few and run in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codegen_hook.isolation.base import SandboxJob
from codegen_hook.isolation.bwrap import BwrapSandbox

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "examples" / "strings.py"
pytestmark = pytest.mark.real_model


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          check=check)


@pytest.fixture
def hook_env(monkeypatch: pytest.MonkeyPatch, real_model_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", bin_dir + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv("CODEGEN_HOOK_MODEL", str(real_model_path))
    for key, value in {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                       "GIT_COMMITTER_NAME": "Dev",
                       "GIT_COMMITTER_EMAIL": "dev@example.com"}.items():
        monkeypatch.setenv(key, value)


def hook_repo(tmp_path: Path) -> Path:
    """A git repository holding this project's .pre-commit-hooks.yaml as it is now."""
    repo = tmp_path / "hooks"
    repo.mkdir()
    shutil.copy(ROOT / ".pre-commit-hooks.yaml", repo / ".pre-commit-hooks.yaml")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "hooks")
    return repo


def run_doctests_sandboxed(path: Path) -> dict[str, int]:
    """Run the filled file's doctests — generated code, so only in the sandbox."""
    runner = ("import doctest, json, sys\nsys.path.insert(0, '/job')\nimport strings\n"
              "r = doctest.testmod(strings)\n"
              "print(json.dumps({'failed': r.failed, 'attempted': r.attempted}))\n")
    result = BwrapSandbox().run(SandboxJob(
        files={"strings.py": path.read_text(), "check.py": runner}, entry="check.py"))
    assert result.ok, result.stderr
    data: dict[str, int] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def test_git_commit_fills_the_stub_then_passes(tmp_path: Path, hook_env: None) -> None:
    hooks = hook_repo(tmp_path)
    rev = git(hooks, "rev-parse", "HEAD").stdout.strip()
    work = tmp_path / "work"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {hooks}\n  rev: {rev}\n  hooks:\n  - id: codegen-hook-system\n")
    shutil.copy(STUB, work / "strings.py")
    subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=work, check=True,
                   capture_output=True)
    git(work, "add", ".")

    first = git(work, "commit", "-m", "add a stub", check=False)
    assert first.returncode != 0, first.stdout + first.stderr
    assert "files were modified by this hook" in first.stdout + first.stderr
    filled = (work / "strings.py").read_text()
    assert "    ...\n" not in filled
    assert filled.startswith(STUB.read_text().rsplit("    ...\n", 1)[0])
    assert run_doctests_sandboxed(work / "strings.py") == {"failed": 0, "attempted": 1}

    git(work, "add", "strings.py")
    second = git(work, "commit", "-m", "add count_chars", check=False)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (work / "strings.py").read_text() == filled
    assert git(work, "status", "--porcelain").stdout == ""


def test_a_stub_whose_example_is_wrong_is_not_verified(tmp_path: Path, hook_env: None) -> None:
    path = tmp_path / "strings.py"
    original = STUB.read_text().replace("    3\n", "    2\n")
    path.write_text(original)
    proc = subprocess.run([sys.executable, "-m", "codegen_hook", "fill", "--json",
                           str(path)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    [stub] = json.loads(proc.stdout)["stubs"]
    assert stub["verdict"] != "verified", stub
    assert stub["written"] is False
    assert path.read_text() == original
