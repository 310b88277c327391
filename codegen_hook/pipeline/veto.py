"""Vetoes: evidence that stops a `verified` though the candidate passes the user's tests.

The voters are the distinct programs (pipeline/programs.py) that pass every stated test
and repository test: the bodies consistent with what the user wrote. A model-written
test is trusted when most of them pass it (at least two); the candidate failing a
trusted test is not verified (the model's tests alone cannot verify, but they can
object). Likewise a probe: the candidate raising where most voters return a value.
Copies of one program vote once, so a program cannot outvote the rest by repetition.
"""

from __future__ import annotations

from collections.abc import Sequence

from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.programs import program_of
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.pipeline.standing import passes_stated

__all__ = ["vetoes", "voters"]


def voters(cands: Sequence[Candidate], tests: Sequence[SpecTest]) -> list[Candidate]:
    """One candidate per distinct program among those passing the user's own tests."""
    found: dict[str, Candidate] = {}
    for cand in cands:
        if passes_stated(cand, tests) and len(cand.results) == len(tests):
            found.setdefault(program_of(cand), cand)
    return list(found.values())


def _majority(count: int, whole: int) -> bool:
    return count >= 2 and 2 * count > whole


def vetoes(cand: Candidate, cands: Sequence[Candidate],
           tests: Sequence[SpecTest]) -> list[str]:
    """Why `cand` may not be verified, in words for the report; [] when nothing objects."""
    if len(cand.results) != len(tests):
        return []
    pool = voters(cands, tests)
    own = program_of(cand)
    others = [c for c in pool if program_of(c) != own]
    whole = len(others) + 1
    found: list[str] = []
    for j, test in enumerate(tests):
        mine = cand.results[j]
        if test.origin == "model" and not mine.passed:
            passing = sum(c.results[j].passed for c in others)
            if _majority(passing, whole):
                found.append(f"it fails the model-written test `{test.render()}`, which "
                             f"{passing} of the {whole} distinct programs that pass your "
                             "examples pass")
        elif test.kind == "probe" and mine.answer.startswith("!"):
            returning = sum(not c.results[j].answer.startswith("!") for c in others)
            if _majority(returning, whole):
                found.append(f"it raises on the probe input `{test.call.strip()}`, where "
                             f"{returning} of the {whole} distinct programs that pass your "
                             "examples return a value")
    return found
