"""Where a fill's time and tokens went: the `timings` of its Outcome."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from codegen_hook.checks.base import Check
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.evidence import CheckPlace, run_checks
from codegen_hook.pipeline.generate import Generated

__all__ = ["FillTimes"]


@dataclass
class FillTimes:
    """Seconds (`*_s`) and token counts, summed over a fill's rounds."""

    values: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.values.get(key, 0.0)

    def add(self, key: str, amount: float) -> None:
        self.values[key] = self[key] + amount

    @contextmanager
    def timed(self, key: str, when: bool = True) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if when:
                self.add(key, time.perf_counter() - start)

    def count(self, made: Generated, *, repair: bool, tests: bool) -> None:
        """A round's generation: its seconds and tokens (a later round's are repair tokens,
        which the repair budget counts)."""
        self.add("generate_s", made.seconds)
        self.add("completion_tokens", made.completion_tokens)
        self.add("prompt_tokens", made.prompt_tokens)
        if tests:
            self.add("tests_tokens", made.tests_tokens)
        if repair:
            self.add("repair_tokens", made.completion_tokens)

    def check(self, checks: Sequence[Check], cand: Candidate, place: CheckPlace) -> Candidate:
        with self.timed("checks_s"):
            return run_checks(checks, cand, place)
