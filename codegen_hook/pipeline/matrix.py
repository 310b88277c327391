"""Every candidate against every test, in one sandbox start.

The host ships one job: the module's import tree once (without the module under test),
each candidate's module as a file of its own, the tests as JSON and the runner,
`codegen_hook/sandboxed/run_matrix.py`. Inside the sandbox one Python process starts;
it forks a child per candidate and prints one marker line per candidate. Nothing here
runs the candidates' code: the host only builds the job and parses the marker lines.

Time budget (seconds), with n candidates and m tests:

    candidate deadline = timeout + m * per_test_timeout + _GRACE_S
    SandboxJob.timeout = _START_S + n * (candidate deadline + _FORK_S)

`timeout` is what one candidate may spend importing its module (and what the per-test
timers leave over); a test that hangs costs `per_test_timeout`, so a candidate that only
times out in tests still reports every test before its deadline.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codegen_hook.isolation.base import RunResult, SandboxJob
from codegen_hook.pipeline.layout import collect_module_files, module_name
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.sandboxed import program_text
from codegen_hook.stubs import Stub

__all__ = ["MatrixRun", "TestResult", "matrix_job", "matrix_timeout", "read_matrix"]

_START_S = 5.0    # the runner's interpreter start and imports, the sandbox's own set-up
_FORK_S = 0.5     # fork, kill and reap of one child
_GRACE_S = 0.5    # lets the child's own timers fire before the parent's deadline
# The limit of a test the user did not write (the model's, a probe): its input may be
# one the code never meant to handle (largest_divisor(0) loops in most candidates), and
# such a test only ranks, so a hang there costs this, not the user's tests' limit.
_UNSTATED_S = 1.0
_ENTRY = "run_matrix.py"
_SPEC = "matrix.json"


@dataclass(frozen=True)
class TestResult:
    """One candidate x one test."""

    __test__ = False  # not a pytest class

    passed: bool
    got: str         # value tests: repr of the value; doctest tests: the output text
    error: str = ""  # traceback tail if it raised; "timed out after Ns" past its timer


@dataclass(frozen=True)
class MatrixRun:
    results: tuple[tuple[TestResult, ...], ...]  # [candidate][test]; () where it did not run
    problems: tuple[str, ...]  # per candidate: "" if it ran, else why not
    run: RunResult
    problem: str = ""          # the whole run gave no report (then every problems[i] says so)


def matrix_timeout(n_candidates: int, n_tests: int, timeout: float,
                   per_test_timeout: float) -> float:
    """The whole job's wall limit: every candidate may use its full deadline."""
    candidate = timeout + n_tests * per_test_timeout + _GRACE_S
    return _START_S + n_candidates * (candidate + _FORK_S)


def matrix_job(stub: Stub, path: Path, modules: Sequence[str], tests: Sequence[SpecTest], *,
               timeout: float, memory_mb: int, per_test_timeout: float = 2.0,
               site: Sequence[Path] = ()) -> tuple[SandboxJob, str]:
    """A job that runs every test against every candidate module, and its marker.

    `modules[i]` is the whole module text with candidate i's body spliced in; `site`
    are the project's package folders, bound read-only and importable after the
    module's own tree.
    """
    marker = f"@@codegen-hook-{secrets.token_hex(8)}@@"
    # The tree beside the module, without the module itself: each candidate brings its own.
    tree = collect_module_files(path, marker)
    files = {f"src/{name}": text for name, text in tree.items() if text != marker}
    own = next(name for name, text in tree.items() if text == marker)
    name = module_name(path)
    package = None
    if name.endswith(".__init__"):  # the stub is in a package's __init__.py
        name = name[: -len(".__init__")]
        package = "src/" + own.rsplit("/", 1)[0]
    candidates = [f"candidates/{i}/{Path(own).name}" for i in range(len(modules))]
    files.update(zip(candidates, modules))
    binds = tuple((str(folder), f"/env{i}") for i, folder in enumerate(site))
    spec = {"marker": marker, "module": name, "package": package, "qualname": stub.qualname,
            "site": [inside for _, inside in binds],
            "candidates": candidates, "timeout": timeout, "per_test_timeout": per_test_timeout,
            "grace": _GRACE_S,
            "tests": [{"call": t.call, "expected": t.expected, "kind": t.kind,
                       "setup": list(t.setup),
                       "timeout": per_test_timeout if t.stated
                       else min(per_test_timeout, _UNSTATED_S)} for t in tests]}
    files[_SPEC] = json.dumps(spec)
    files[_ENTRY] = program_text("run_matrix")
    # Each test's line holds at most ~1,100 characters before JSON escaping (up to 6x).
    output_limit = max(1 << 20, len(modules) * (16 << 10) * (1 + len(tests)))
    return SandboxJob(files=files, entry=_ENTRY, binds=binds,
                      timeout=matrix_timeout(len(modules), len(tests), timeout,
                                             per_test_timeout),
                      memory_mb=memory_mb, output_limit=output_limit), marker


def _row(payload: str, n_candidates: int,
         n_tests: int) -> tuple[int, str, tuple[TestResult, ...]] | None:
    """One candidate's line: (index, problem, results), or None if it is not well formed."""
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    index, problem, rows = data.get("candidate"), data.get("problem"), data.get("results")
    if not (isinstance(index, int) and 0 <= index < n_candidates and isinstance(problem, str)
            and isinstance(rows, list)):
        return None
    if problem:
        return index, problem, ()
    if len(rows) != n_tests:
        return None
    results = []
    for row in rows:
        if not (isinstance(row, dict) and isinstance(row.get("passed"), bool)
                and isinstance(row.get("got"), str) and isinstance(row.get("error", ""), str)):
            return None
        results.append(TestResult(row["passed"], row["got"], row.get("error", "")))
    return index, "", tuple(results)


def read_matrix(run: RunResult, marker: str, n_candidates: int, n_tests: int) -> MatrixRun:
    """Parse the runner's marker lines; anything else the run printed is only context.

    A candidate's last well-formed line counts. A candidate with no line (the run was
    stopped first) gets the run's verdict as its problem; with no line at all, so does
    the whole run.
    """
    found: dict[int, tuple[str, tuple[TestResult, ...]]] = {}
    for line in run.stdout.splitlines():
        if line.startswith(marker):
            row = _row(line[len(marker):], n_candidates, n_tests)
            if row is not None:
                found[row[0]] = row[1:]
    reason = "; ".join(run.notes) or f"exit code {run.exit_code}"
    tail = run.stderr.strip()[-600:]
    context = f"{run.verdict}: {reason}" + (f"\n{tail}" if tail else "")
    if not found:
        problem = f"the sandbox run ended without a report ({context})"
        return MatrixRun(((),) * n_candidates, (problem,) * n_candidates, run, problem)
    missing = f"the sandbox run ended before this candidate's report ({context})"
    rows = [found.get(i, (missing, ())) for i in range(n_candidates)]
    return MatrixRun(tuple(r for _, r in rows), tuple(p for p, _ in rows), run)
