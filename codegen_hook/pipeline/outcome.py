"""The report stage: the Outcome of one stub, built from the stages' records, and its
JSON (one schema, `SCHEMA_VERSION`, documented in the README's `--json` section)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from codegen_hook.checks.base import Finding
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.select import (Choice, Decision, Ranked, failed_stated,
                                          passes_stated, stated_results)
from codegen_hook.pipeline.spec import SpecTest

__all__ = ["SCHEMA_VERSION", "Event", "EventKind", "ExampleResult", "GeneratedTestResult",
           "Outcome", "OutcomeVerdict", "Selection"]

SCHEMA_VERSION = 2
OutcomeVerdict = Literal["verified", "unverified", "failed"]
EventKind = Literal["index", "start", "round", "done"]


@dataclass(frozen=True)
class Event:
    """Progress, for whoever shows it: the repository's index was refreshed, a stub
    starts, a round of a stub starts, a stub is done (its verdict)."""

    kind: EventKind
    file: str
    qualname: str
    message: str


@dataclass(frozen=True)
class ExampleResult:
    """The answer on one of the user's own tests."""

    source: str
    want: str
    got: str
    passed: bool
    error: str = ""


@dataclass(frozen=True)
class GeneratedTestResult:
    """One of the model's own tests and whether the answer passed it (None: not run)."""

    test: str
    passed: bool | None


@dataclass(frozen=True)
class Selection:
    """How the answer was picked, for the report and for measuring the rule later."""

    method: str
    tests: str = ""              # one letter a test column: d(ocstring) s(tated) m(odel) p(robe)
    index: int | None = None     # the chosen candidate
    round: int | None = None
    score: float = 0.0
    group: int = 0
    agree: int = 0
    rank: int = -1
    top_group: int = 0
    candidates_passing_stated: int = 0


@dataclass
class Outcome:
    file: str
    name: str
    qualname: str
    line: int
    verdict: OutcomeVerdict
    code: str
    reasons: list[str]
    checks: list[Finding]
    tests: list[ExampleResult]
    attempts: int
    timings: dict[str, float]
    model: str
    sandbox: str
    written: bool = False
    body: str = ""
    spec: tuple[SpecTest, ...] = ()              # every test the candidates ran
    candidates: tuple[Candidate, ...] = ()       # in generation order
    ranking: tuple[Ranked, ...] = ()             # best first
    retrieved: list[str] = field(default_factory=list)   # "path::qualname" put in the prompt
    redactions: dict[str, int] = field(default_factory=dict)  # secrets kept out of the prompt
    stub_sha256: str = ""
    model_sha256: str = ""
    style_score: float | None = None   # the returned code against the repo's style, 0..1
    generated_tests: list[GeneratedTestResult] = field(default_factory=list)
    selection: Selection = Selection("agreement")
    evidence: tuple[str, ...] = ()   # what the answer passed: "repo-tests:3", "examples:2", ...
    repo_tests: tuple[str, ...] = ()  # the repository's tests that exercise the stub
    notes: tuple[str, ...] = ()      # what finding the evidence learnt (tests dropped, ...)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("ranking",)}
        data["checks"] = [dataclasses.asdict(f) for f in self.checks]
        data["tests"] = [dataclasses.asdict(t) for t in self.tests]
        data["spec"] = [t.to_json() for t in self.spec]
        data["generated_tests"] = [dataclasses.asdict(t) for t in self.generated_tests]
        data["selection"] = dataclasses.asdict(self.selection)
        for key in ("evidence", "repo_tests", "notes"):
            data[key] = list(data[key])
        ranks = {r.index: r for r in self.ranking}
        data["candidates"] = [_candidate_json(c, ranks.get(i), self.spec)
                              for i, c in enumerate(self.candidates)]
        return data


def _candidate_json(cand: Candidate, ranked: Ranked | None,
                    spec: Sequence[SpecTest]) -> dict[str, Any]:
    data = cand.to_json()
    data["failed_examples"] = failed_stated(cand, spec)
    data.update(score=round(ranked.score, 3) if ranked else 0.0,
                group=ranked.group if ranked else 0, agree=ranked.agree if ranked else 0)
    return data


def _selection(choice: Choice, chosen: int | None, tests: Sequence[SpecTest],
               method: str) -> Selection:
    columns = "".join(t.origin[0] for t in tests)
    if chosen is None:
        return Selection(method, columns)
    ranked = next(r for r in choice.ranking if r.index == chosen)
    cand = choice.candidates[chosen]
    return Selection(method, columns, cand.index, cand.round, round(ranked.score, 3),
                     ranked.group, ranked.agree,
                     next(i for i, r in enumerate(choice.ranking) if r.index == chosen),
                     max((r.group for r in choice.ranking), default=0),
                     sum(passes_stated(c, tests) for c in choice.candidates))


def outcome_of(choice: Choice, decision: Decision, tests: Sequence[SpecTest], *,
               method: str, code: str, **fields: Any) -> Outcome:
    """The Outcome of a fill: the chosen candidate's body, code, findings and results
    on the user's tests; `fields` are the rest (file, name, timings, model, ...)."""
    cand = choice.candidates[decision.chosen] if decision.chosen is not None else None
    generated = [GeneratedTestResult(t.render(), cand.results[i].passed
                                     if cand is not None and i < len(cand.results) else None)
                 for i, t in enumerate(tests) if t.origin == "model"]
    return Outcome(
        verdict=decision.verdict, code=code, reasons=list(decision.reasons),
        checks=list(cand.findings) if cand else [],
        tests=[ExampleResult(t.call, t.expected, r.got, r.passed, r.error)
               for t, r in (stated_results(cand, tests) if cand else ())],
        attempts=len(choice.candidates), body=cand.body if cand else "",
        style_score=cand.style_score if cand else None, spec=tuple(tests),
        candidates=choice.candidates, ranking=choice.ranking, generated_tests=generated,
        selection=_selection(choice, decision.chosen, tests, method),
        evidence=decision.evidence, **fields)
