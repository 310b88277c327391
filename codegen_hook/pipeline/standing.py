"""Where one candidate stands against the user's own truth: its results on the stated
examples and on the repository's tests. select.py decides with these; reasons.py words
them."""

from __future__ import annotations

from collections.abc import Sequence

from codegen_hook.pipeline.candidate import Candidate, TestOutcome
from codegen_hook.pipeline.spec import SpecTest

__all__ = ["badness", "failed_stated", "passed_everything", "passes_stated", "stated_results"]


def stated_results(cand: Candidate,
                   tests: Sequence[SpecTest]) -> list[tuple[SpecTest, TestOutcome]]:
    """The candidate's results on the user's own tests (docstring and stated)."""
    return [(t, r) for t, r in zip(tests, cand.results) if t.stated]


def failed_stated(cand: Candidate, tests: Sequence[SpecTest]) -> int:
    return sum(not r.passed for _, r in stated_results(cand, tests))


def passes_stated(cand: Candidate, tests: Sequence[SpecTest]) -> bool:
    """It passes the user's own truth: every stated example and every repository test
    that exercises the stub."""
    return cand.ran and failed_stated(cand, tests) == 0 and not cand.repo_failed


def passed_everything(cand: Candidate, tests: Sequence[SpecTest]) -> bool:
    return (passes_stated(cand, tests) and not cand.blocking_findings
            and bool(stated_results(cand, tests) or cand.repo_results))


def badness(cand: Candidate, tests: Sequence[SpecTest]) -> tuple[int, int, int, int]:
    """Lower is better: usable code first, then fewer failing tests and findings."""
    repo_failures = sum(not r.passed for r in cand.repo_results) + bool(cand.repo_problem)
    return (int(not cand.body), int(not cand.ran), failed_stated(cand, tests) + repo_failures,
            len(cand.blocking_findings))
