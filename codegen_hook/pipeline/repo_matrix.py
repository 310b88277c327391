"""The repository's own tests against every candidate, in one sandbox start.

The host ships the repository's Python and test-config files as job files (so the
sandbox's user needs no access to the repository itself), each candidate's module, the
selected node ids and `sandboxed/repo_matrix.py`; the project's site-packages are bound
read-only. Nothing here runs the candidates or the tests: the host builds the job and
parses the runner's marker lines.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from codegen_hook.isolation.base import RunResult, SandboxJob
from codegen_hook.sandboxed import program_text

__all__ = ["RepoOutcome", "read_repo_matrix", "repo_files", "repo_job"]

_CONFIGS = {"pyproject.toml", "setup.cfg", "pytest.ini", "tox.ini"}
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox",
              "build", "dist", ".codegen-hook", "site-packages", ".mypy_cache",
              ".pytest_cache"}
_MAX_FILES = 2000
_MAX_BYTES = 20 << 20
_START_S = 8.0     # the runner's start, the copy, pytest's import
_PER_TEST_S = 2.0


@dataclass(frozen=True)
class RepoOutcome:
    """One repository test (node id) against one candidate."""

    test: str
    outcome: str       # passed | failed | error | skipped | missing (not collected)
    message: str = ""  # the failure's tail, for the repair prompt

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"


def repo_files(root: Path) -> dict[str, str]:
    """The repository's Python files and test configs, by path under the root."""
    files: dict[str, str] = {}
    size = 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(p in _SKIP_DIRS or p.startswith(".") for p in rel.parts[:-1]):
            continue
        if not path.is_file() or not (path.suffix == ".py" or path.name in _CONFIGS):
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        size += len(text)
        if len(files) >= _MAX_FILES or size > _MAX_BYTES:
            break
        files[str(PurePosixPath(*rel.parts))] = text
    return files


def repo_job(root: Path, path: Path, modules: Sequence[str], tests: Sequence[str],
             site: Sequence[Path], *, timeout: float, memory_mb: int,
             extra_files: Mapping[str, str] | None = None) -> tuple[SandboxJob, str]:
    """A job running `tests` (node ids) with each of `modules` as the file at `path`;
    `extra_files` (path under the root -> text) join or replace the repository's."""
    marker = f"@@codegen-hook-{secrets.token_hex(8)}@@"
    root = root.resolve()
    module_path = str(PurePosixPath(*path.resolve().relative_to(root).parts))
    files = {f"repo/{name}": text
             for name, text in {**repo_files(root), **(extra_files or {})}.items()}
    candidates = [f"candidates/{i}.py" for i in range(len(modules))]
    files.update(zip(candidates, modules))
    per_candidate = timeout + _PER_TEST_S * len(tests)
    binds = tuple((str(folder), f"/env{i}") for i, folder in enumerate(site))
    files["repo_matrix.json"] = json.dumps({
        "marker": marker, "module_path": module_path, "candidates": candidates,
        "tests": list(tests), "timeout": per_candidate,
        "site": [inside for _, inside in binds]})
    files["repo_matrix.py"] = program_text("repo_matrix")
    return SandboxJob(files=files, entry="repo_matrix.py", binds=binds,
                      timeout=_START_S + len(modules) * (per_candidate + 0.5),
                      memory_mb=memory_mb,
                      output_limit=max(1 << 20, len(modules) * (8 << 10) * (1 + len(tests)))
                      ), marker


_Row = tuple[int, str, tuple[RepoOutcome, ...]]


def _row(payload: str, n: int, tests: Sequence[str]) -> _Row | None:
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("candidate"), int) or \
            not 0 <= data["candidate"] < n or not isinstance(data.get("problem"), str):
        return None
    rows = data.get("results")
    if data["problem"]:
        return data["candidate"], data["problem"], ()
    if not isinstance(rows, list) or [r.get("test") for r in rows if isinstance(r, dict)] \
            != list(tests):
        return None
    return data["candidate"], "", tuple(
        RepoOutcome(str(r["test"]), str(r.get("outcome", "missing")),
                    str(r.get("message", ""))[-1200:]) for r in rows)


def read_repo_matrix(run: RunResult, marker: str, n: int,
                     tests: Sequence[str]) -> list[tuple[str, tuple[RepoOutcome, ...]]]:
    """(problem, outcomes) per candidate; a candidate with no line gets the run's verdict."""
    found: dict[int, tuple[str, tuple[RepoOutcome, ...]]] = {}
    for line in run.stdout.splitlines():
        if line.startswith(marker):
            row = _row(line[len(marker):], n, tests)
            if row is not None:
                found[row[0]] = row[1:]
    tail = run.stderr.strip()[-600:]
    missing = (f"the repository's tests gave no report for it ({run.verdict}: "
               f"{'; '.join(run.notes) or f'exit code {run.exit_code}'})"
               + (f"\n{tail}" if tail else ""))
    return [found.get(i, (missing, ())) for i in range(n)]
