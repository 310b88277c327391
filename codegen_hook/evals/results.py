"""What each benchmark task scored, kept one JSON line per task, and the summary.

The results file is appended as each task finishes, so a long run can stop and
resume. It holds generated code (derived from a public benchmark, not user code),
and is still written 0600.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from codegen_hook.errors import ConfigError

__all__ = ["ResultsLog", "Summary", "TaskResult", "interval_text", "percent", "summarize",
           "wilson_interval"]

VERDICTS = ("verified", "unverified", "failed")


@dataclass
class TaskResult:
    """One task's answer and its score against the hidden tests."""

    task_id: str
    mode: str                    # hook | raw
    verdict: str                 # verified | unverified | failed (raw: never verified)
    passed: bool                 # the hidden tests passed
    seconds: float               # producing the answer (not scoring it)
    completion_tokens: int = 0
    attempts: int = 0            # candidates generated
    score_verdict: str = ""      # the hidden-test run's sandbox verdict; "" if not run
    score_detail: str = ""       # the tail of its stderr when it failed
    reasons: list[str] = field(default_factory=list)
    model: str = ""
    code: str = ""               # the function text returned (untrusted, never run here)
    details: dict[str, Any] = field(default_factory=dict)  # timings, selection, candidates
    plus_passed: bool | None = None  # the stricter HumanEval+ check passed; None: not run
    plus_detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TaskResult":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Summary:
    tasks: int
    passed: int
    pass_at_1: float | None
    verified: int
    verified_rate: float | None
    precision_verified: float | None   # passed among verified; None: nothing verified
    by_verdict: dict[str, dict[str, int]]
    mean_seconds: float | None
    median_seconds: float | None
    tokens_per_task: float | None
    # any candidate the hook generated passes the hidden tests: the ceiling of selection
    oracle_pass: float | None = None
    right_unverified: int = 0            # passed the hidden tests, not verified
    # the stricter (HumanEval+) check, where it ran on every task; None otherwise
    plus_passed: int | None = None
    plus_pass_at_1: float | None = None
    precision_plus: float | None = None  # plus-passed among verified
    right_unverified_plus: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def percent(value: float | None, missing: str = "–") -> str:
    """A share as the reports print it (`missing` where there is none)."""
    return missing if value is None else f"{100 * value:.1f}%"


def interval_text(interval: tuple[float, float] | None) -> str:
    """A 95% interval as the reports append it to a share ("" where there is none)."""
    return "" if interval is None else f", 95% CI {percent(interval[0])}–{percent(interval[1])}"


def wilson_interval(part: int, whole: int, z: float = 1.96) -> tuple[float, float] | None:
    """The 95% Wilson score interval of the share `part / whole` (None with no trials)."""
    if whole <= 0:
        return None
    share = part / whole
    centre = (share + z * z / (2 * whole)) / (1 + z * z / whole)
    half = z * math.sqrt(share * (1 - share) / whole + z * z / (4 * whole * whole)) / (
        1 + z * z / whole)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def summarize(results: list[TaskResult]) -> Summary:
    n = len(results)
    verified = [r for r in results if r.verdict == "verified"]
    seconds = [r.seconds for r in results]
    by_verdict = {v: {"tasks": sum(r.verdict == v for r in results),
                      "passed": sum(r.passed for r in results if r.verdict == v)}
                  for v in VERDICTS}
    passed = sum(r.passed for r in results)
    return Summary(
        tasks=n, passed=passed, pass_at_1=_ratio(passed, n), verified=len(verified),
        verified_rate=_ratio(len(verified), n),
        precision_verified=_ratio(sum(r.passed for r in verified), len(verified)),
        by_verdict=by_verdict,
        mean_seconds=statistics.fmean(seconds) if seconds else None,
        median_seconds=statistics.median(seconds) if seconds else None,
        tokens_per_task=statistics.fmean(r.completion_tokens for r in results) if n else None,
        oracle_pass=_oracle(results),
        right_unverified=by_verdict["unverified"]["passed"], **_plus(results, verified))


def _plus(results: list[TaskResult], verified: list[TaskResult]) -> dict[str, Any]:
    if not results or any(r.plus_passed is None for r in results):
        return {}
    passed = sum(bool(r.plus_passed) for r in results)
    return {"plus_passed": passed, "plus_pass_at_1": passed / len(results),
            "precision_plus": _ratio(sum(bool(r.plus_passed) for r in verified), len(verified)),
            "right_unverified_plus": sum(bool(r.plus_passed) for r in results
                                         if r.verdict == "unverified")}


def _oracle(results: list[TaskResult]) -> float | None:
    scored = [r for r in results if "candidate_passed" in r.details]
    if not scored:
        return None
    return sum(any(r.details["candidate_passed"]) or r.passed for r in scored) / len(scored)


class _Record(Protocol):
    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Record)


@dataclass
class ResultsLog(Generic[R]):
    """A JSONL file of results (TaskResult by default), one line per task, appended as
    tasks finish."""

    path: Path
    parse: Callable[[dict[str, Any]], R] = TaskResult.from_json  # type: ignore[assignment]

    def load(self) -> list[R]:
        """The results recorded so far; a line cut short by a crash is ignored."""
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path}: cannot read the results ({exc}); move it "
                              "away or choose another --out") from exc
        out = []
        for line in text.splitlines():
            try:
                out.append(self.parse(json.loads(line)))
            except (ValueError, TypeError):
                continue
        return out

    def append(self, result: R) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)
            line = json.dumps(result.to_json()) + "\n"
            if os.fstat(fd).st_size and not self._ends_with_newline():
                line = "\n" + line   # a crash left half a line: start a fresh one
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) == b"\n"
