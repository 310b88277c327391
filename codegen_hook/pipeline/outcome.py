"""What the pipeline returns: candidates it tried and the outcome for each stub."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from codegen_hook.checks.base import Finding
from codegen_hook.pipeline.examples import ExampleRun

if TYPE_CHECKING:
    from codegen_hook.pipeline.matrix import TestResult

__all__ = ["Candidate", "Event", "Outcome", "OutcomeVerdict"]

OutcomeVerdict = Literal["verified", "unverified", "failed"]


@dataclass
class Candidate:
    """One generated body (untrusted) and everything learnt about it."""

    round: int
    index: int
    temperature: float
    seed: int | None
    answer: str
    origin: str = "first"                # first (round 1) | repair | resample (later rounds)
    body: str = ""
    spliced: str = ""
    problem: str = ""
    examples: ExampleRun | None = None
    findings: list[Finding] = field(default_factory=list)
    style_score: float | None = None   # 0..1 against the repo's style; None: not scored
    results: tuple["TestResult", ...] = ()   # its row of the test matrix (every test)
    checked: bool = False                # the static checks ran on it
    score: float = 0.0                   # agreement score (pipeline/rank.py)
    group: int = 0                       # candidates that passed exactly the same tests
    agree: int = 0                       # candidates that computed the same on every test

    @property
    def failed_examples(self) -> int:
        if self.examples is None:
            return 0
        return sum(not r.passed for r in self.examples.results)

    @property
    def ran(self) -> bool:
        """Its tests ran in the sandbox (it imported and reported a row of results)."""
        return self.examples is not None and not self.examples.problem

    @property
    def blocking_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def passed_everything(self) -> bool:
        return (not self.problem and not self.blocking_findings and self.examples is not None
                and not self.examples.problem and bool(self.examples.results)
                and self.failed_examples == 0)

    def badness(self) -> tuple[int, int, int, int]:
        """Lower is better: usable code first, then fewer failing examples and findings."""
        broken = bool(self.problem) or not self.ran
        return (int(not self.body), int(broken), self.failed_examples,
                len(self.blocking_findings))


@dataclass(frozen=True)
class Event:
    """Progress, for whoever shows it: `kind` is start | round | done."""

    kind: str
    file: str
    qualname: str
    message: str


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
    tests: list[dict[str, Any]]
    attempts: int
    timings: dict[str, float]
    model: str
    sandbox: str
    written: bool = False
    body: str = ""
    candidates: list[dict[str, Any]] = field(default_factory=list)
    retrieved: list[str] = field(default_factory=list)   # "path::qualname" put in the prompt
    redactions: dict[str, int] = field(default_factory=dict)  # secrets kept out of the prompt
    stub_sha256: str = ""
    model_sha256: str = ""
    style_score: float | None = None   # the returned code against the repo's style, 0..1
    generated_tests: list[dict[str, Any]] = field(default_factory=list)  # the model's tests
    selection: dict[str, Any] = field(default_factory=dict)  # how the answer was picked

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [asdict(f) for f in self.checks]
        return data
