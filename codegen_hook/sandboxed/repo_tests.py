"""Runs inside the sandbox: a repository's test command against a copy of it.

Shipped as a job file, never imported by the hook. It reads /job/spec.json:
  src       the repository copy, bound read-only (copied to /work/repo, writable)
  site      folders of the test environment's packages (bound read-only)
  argv      the test command, split: `pytest ...` or `python -m pytest ...`
  select    pytest node ids to run instead of the command's own paths (or null)
  coverage  {path: [[key, first, last], ...]}: report which tests ran which function
  timing    {path, name, lines}: seconds spent inside that function (a profiler hook)
  nonce     marks the one result line this prints
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from types import FrameType
from typing import Any

_IGNORED = shutil.ignore_patterns(".git", ".codegen-hook", "__pycache__", ".pytest_cache",
                                  ".mypy_cache", ".tox", ".nox", ".venv")
_VALUE_OPTIONS = {"-k", "-m", "-c", "-p", "-o", "-W", "--rootdir", "--confcutdir", "--ignore",
                  "--deselect", "--basetemp", "--junitxml", "--maxfail", "--tb", "-n",
                  "--ignore-glob", "--import-mode", "--durations"}


class Outcomes:
    """A pytest plugin that counts what happened to each test."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.outcome != "passed":
            key = report.outcome if report.when == "call" else (
                "error" if report.outcome == "failed" else report.outcome)
            self.counts[key] = self.counts.get(key, 0) + 1
            if report.outcome == "failed" and len(self.failed) < 20:
                self.failed.append(report.nodeid)


class Timer:
    """Seconds spent inside one function's frames (outermost calls only)."""

    def __init__(self, path: str, name: str, lines: list[int]) -> None:
        self.path, self.name, self.lines = path, name, set(lines)
        self.depth = 0
        self.started = 0.0
        self.seconds = 0.0
        self.calls = 0
        self.known: dict[Any, bool] = {}

    def _ours(self, frame: FrameType) -> bool:
        code = frame.f_code
        found = self.known.get(code)
        if found is None:
            found = self.known[code] = (code.co_name == self.name
                                        and code.co_firstlineno in self.lines
                                        and os.path.realpath(code.co_filename) == self.path)
        return found

    def profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and self._ours(frame):
            if self.depth == 0:
                self.started = time.perf_counter()
                self.calls += 1
            self.depth += 1
        elif event == "return" and self._ours(frame) and self.depth:
            self.depth -= 1
            if self.depth == 0:
                self.seconds += time.perf_counter() - self.started


def _pytest_args(argv: list[str], select: list[str] | None) -> list[str]:
    if argv[:1] in (["pytest"], ["py.test"]):
        rest = argv[1:]
    elif argv[:3] == ["python", "-m", "pytest"] or argv[:3] == ["python3", "-m", "pytest"]:
        rest = argv[3:]
    else:
        raise SystemExit(f"unsupported test command {argv!r}")
    if select is None:
        return rest
    kept: list[str] = []
    skip_next = False
    for arg in rest:
        if skip_next:
            kept.append(arg)
            skip_next = False
        elif arg.startswith("-"):
            kept.append(arg)
            skip_next = arg in _VALUE_OPTIONS
    return kept + select


def _covered(data_file: str, root: str,
             functions: dict[str, list[list[Any]]]) -> dict[str, list[str]]:
    import coverage  # type: ignore[import-not-found,unused-ignore]

    data = coverage.CoverageData(basename=data_file)
    data.read()
    out: dict[str, list[str]] = {}
    for rel, ranges in functions.items():
        by_line = data.contexts_by_lineno(os.path.join(root, rel))
        for key, first, last in ranges:
            tests: set[str] = set()
            for line in range(first, last + 1):
                for context in by_line.get(line, ()):
                    if context:
                        tests.add(context.rsplit("|", 1)[0])
            if tests:
                out[key] = sorted(tests)
    return out


def main() -> int:
    with open("/job/spec.json", encoding="utf-8") as handle:
        spec = json.load(handle)
    root = "/work/repo"
    shutil.copytree(spec["src"], root, symlinks=True, ignore=_IGNORED)
    os.chdir(root)
    paths = [root] + ([os.path.join(root, "src")] if os.path.isdir("src") else [])
    # Ahead of the system's own packages (a distribution's older pytest, say).
    sys.path[:0] = paths + spec["site"]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + spec["site"])
    import pytest

    args = _pytest_args(spec["argv"], spec.get("select")) + ["-p", "no:cacheprovider"]
    coverage = spec.get("coverage")
    data_file = "/work/.coverage"
    if coverage is not None:
        os.environ["COVERAGE_FILE"] = data_file
        args += [f"--cov={root}", "--cov-context=test", "--cov-report="]
    timer = None
    if spec.get("timing"):
        timing = spec["timing"]
        timer = Timer(os.path.join(root, timing["path"]), timing["name"], timing["lines"])
        sys.setprofile(timer.profile)
        threading.setprofile(timer.profile)
    outcomes = Outcomes()
    started = time.perf_counter()
    try:
        code = int(pytest.main(args, plugins=[outcomes]))
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    result: dict[str, Any] = {"exit": code, "counts": outcomes.counts, "failed": outcomes.failed,
                              "seconds": time.perf_counter() - started}
    if timer is not None:
        result["timing"] = {"seconds": timer.seconds, "calls": timer.calls}
    if coverage is not None:
        result["covered"] = _covered(data_file, root, coverage)
    sys.stdout.flush()
    print(f"\n{spec['nonce']} {json.dumps(result)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
