"""The record of one candidate body, as each stage adds what it learnt.

A `Candidate` is frozen: generate makes it (the model's text), prepare adds the body
and the module it is spliced into (parsed and compiled on the host, never run),
evidence adds its row of the sandbox's test matrix and the static checks' findings.
Stages hand on new records (`dataclasses.replace`), so what select decides over is
exactly what was observed. `to_json` / `from_json` keep the record of a fill, so
`eval` replays pipeline/select.py over a saved run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, cast

from codegen_hook.checks.base import Finding
from codegen_hook.pipeline.repo_matrix import RepoOutcome

__all__ = ["Candidate", "Origin", "TestOutcome"]

# round 1 | a repair | a fresh sample | a sample asked to take another approach
Origin = Literal["first", "repair", "resample", "alternative"]


@dataclass(frozen=True)
class TestOutcome:
    """One candidate x one test, as the sandboxed runner reported it."""

    __test__ = False  # not a pytest class

    passed: bool
    got: str = ""      # value tests: repr of the value; doctest tests: the output text
    error: str = ""    # traceback tail if it raised; "timed out after Ns" past its timer
    answer: str = ""   # digest of what it computed ("!" first where it raised): select
    #                    compares candidates by these

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Candidate:
    """One generated body (untrusted) and everything learnt about it."""

    round: int
    index: int                 # position among every candidate of the fill
    temperature: float
    seed: int | None
    origin: Origin = "first"
    answer: str = ""           # the model's text
    body: str = ""             # the body spliced in (composed: local imports, helpers)
    module: str = ""           # the whole module with the body spliced in
    problem: str = ""          # host side: no usable body, does not compile
    tested: bool = False       # it was sent to the sandbox
    run_problem: str = ""      # why its tests gave no row (import error, crash, timeout)
    results: tuple[TestOutcome, ...] = ()   # its row of the test matrix (every test)
    sandbox_verdict: str | None = None
    checked: bool = False      # the static checks ran on it
    findings: tuple[Finding, ...] = ()
    style_score: float | None = None   # 0..1 against the repo's style; None: not scored
    repo_results: tuple[RepoOutcome, ...] = ()   # the repository's evidence tests
    repo_problem: str = ""     # why those tests gave no outcome for it (counts as failing)

    @property
    def repo_failed(self) -> bool:
        """It failed (or could not be run against) a repository test that exercises the
        stub. With no such tests, never."""
        return bool(self.repo_problem) or any(not r.passed for r in self.repo_results)

    @property
    def ran(self) -> bool:
        """Its tests ran in the sandbox (it imported and reported a row of results)."""
        return self.tested and not self.run_problem and not self.problem

    @property
    def blocking_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    def to_json(self) -> dict[str, Any]:
        """Everything but the model's raw text and the spliced module (the body is
        enough to splice it again)."""
        return {"round": self.round, "index": self.index, "temperature": self.temperature,
                "seed": self.seed, "origin": self.origin, "body": self.body,
                "problem": self.problem, "tested": self.tested,
                "run_problem": self.run_problem, "ran": self.ran,
                "results": [r.to_json() for r in self.results],
                "passes": "".join("1" if r.passed else "0" for r in self.results),
                "outputs": [r.answer for r in self.results],
                "sandbox_verdict": self.sandbox_verdict, "checked": self.checked,
                "findings": [dataclasses.asdict(f) for f in self.findings],
                "style_score": self.style_score,
                "repo_results": [dataclasses.asdict(r) for r in self.repo_results],
                "repo_problem": self.repo_problem}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Candidate":
        results = tuple(TestOutcome(bool(r["passed"]), str(r.get("got", "")),
                                    str(r.get("error", "")), str(r.get("answer", "")))
                        for r in data.get("results", ()))
        return cls(int(data["round"]), int(data["index"]), float(data.get("temperature", 0.0)),
                   data.get("seed"), cast(Origin, data.get("origin", "first")),
                   body=str(data.get("body", "")), problem=str(data.get("problem", "")),
                   tested=bool(data.get("tested", False)),
                   run_problem=str(data.get("run_problem", "")), results=results,
                   sandbox_verdict=data.get("sandbox_verdict"),
                   checked=bool(data.get("checked", False)),
                   findings=tuple(Finding(**f) for f in data.get("findings", ())),
                   style_score=data.get("style_score"),
                   repo_results=tuple(RepoOutcome(str(r["test"]), str(r["outcome"]),
                                                  str(r.get("message", "")))
                                      for r in data.get("repo_results", ())),
                   repo_problem=str(data.get("repo_problem", "")))
