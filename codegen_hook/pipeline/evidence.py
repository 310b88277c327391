"""The evidence stage: what running and checking the candidates showed.

`run_untrusted_tests` sends every prepared candidate to the sandbox in ONE job
(pipeline/matrix.py) and records each one's row of results; `run_checks` runs the
static checks (flake8, mypy, style, ...) on one candidate's module text. Neither
decides anything: pipeline/select.py does, over these records.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.checks.base import Check, CheckContext
from codegen_hook.checks.style import StyleCheck
from codegen_hook.index.style import StyleProfile
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.candidate import Candidate, TestOutcome
from codegen_hook.pipeline.matrix import TestResult, matrix_job, read_matrix
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.stubs import Stub

__all__ = ["CheckPlace", "computed_answer", "run_checks", "run_untrusted_tests"]

_PER_TEST_S = 3.0   # one test's limit; a hanging candidate costs this per test


def computed_answer(result: TestResult, test: SpecTest) -> str:
    """A digest of what one test computed: candidates agree when these are equal on
    every test and probe (stricter than passing the same tests: two programs can fail
    a test differently). On a probe or a model test, whose input may be one the spec
    rules out (the small model writes count_chars(123456789, 5)), any exception is the
    same answer: "it refused" (str.count and a loop refuse an int differently, and
    are both right). Whether the test passed still counts. "!" first where it raised."""
    why = ""
    if result.error.strip():
        why = ("raised" if test.kind == "probe" or test.origin == "model"
               else result.error.strip().splitlines()[-1])
    digest = hashlib.sha256(f"{result.passed}\0{result.got}\0{why}".encode()).hexdigest()
    return ("!" if why else "") + digest[:12]


def run_untrusted_tests(sandbox: Sandbox, cands: Sequence[Candidate], path: Path, stub: Stub,
                        tests: Sequence[SpecTest], *, timeout: float, memory_mb: int,
                        site: Sequence[Path] = ()) -> list[Candidate]:
    """Every runnable candidate against every test, in one sandbox start; the others
    come back as they were."""
    ready = [c for c in cands if c.module and not c.problem]
    if not ready:
        return list(cands)
    job, marker = matrix_job(stub, path, [c.module for c in ready], tests, timeout=timeout,
                             memory_mb=memory_mb, site=site,
                             per_test_timeout=min(timeout, _PER_TEST_S))
    matrix = read_matrix(sandbox.run(job), marker, len(ready), len(tests))
    done: dict[int, Candidate] = {}
    for i, cand in enumerate(ready):
        why = matrix.problem or matrix.problems[i]
        results = () if why else tuple(
            TestOutcome(r.passed, r.got, r.error, computed_answer(r, t))
            for r, t in zip(matrix.results[i], tests))
        done[cand.index] = dataclasses.replace(
            cand, tested=True, run_problem=why, results=results,
            sandbox_verdict=matrix.run.verdict)
    return [done.get(c.index, c) for c in cands]


@dataclass(frozen=True)
class CheckPlace:
    """What the checks need to know of where the stub is, the same for every candidate."""

    path: Path
    root: Path
    cache_dir: Path
    first_line: int
    example_sources: tuple[str, ...]
    style: StyleProfile | None


def run_checks(checks: Sequence[Check], cand: Candidate, place: CheckPlace) -> Candidate:
    """`cand` with the static checks' findings (once per candidate: they cost seconds).
    The checks read the module's text; none of them runs it."""
    if cand.checked:
        return cand
    context = CheckContext(
        path=place.path, root=place.root, first_line=place.first_line,
        last_line=place.first_line + cand.body.strip("\n").count("\n"),
        cache_dir=place.cache_dir, example_sources=place.example_sources, style=place.style)
    findings = list(cand.findings)
    style_score = cand.style_score
    for check in checks:
        if isinstance(check, StyleCheck):  # its score goes into the report too
            scored = check.score(cand.module, context)
            findings += scored.findings
            style_score = scored.score
        else:
            findings += check.run(cand.module, context)
    return dataclasses.replace(cand, checked=True, findings=tuple(findings),
                               style_score=style_score)
