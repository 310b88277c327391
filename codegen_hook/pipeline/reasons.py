"""The words of a verdict: what went wrong with a candidate (for the repair prompt and the
report), why an answer is not verified, and which examples the candidates dispute."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.pipeline.standing import passes_stated, stated_results

if TYPE_CHECKING:
    from codegen_hook.pipeline.select import Choice, Policy

__all__ = ["disputed_examples", "feedback", "unverified_reason"]


def feedback(cand: Candidate, tests: Sequence[SpecTest]) -> str:
    """What went wrong with `cand`, as the repair prompt and the report show it."""
    if cand.problem or cand.run_problem:
        return cand.problem or cand.run_problem
    lines: list[str] = []
    for test, result in stated_results(cand, tests):
        if result.passed:
            continue
        call = test.call.strip()
        if result.error:
            lines.append(f"{call} raised:\n{result.error.strip()[-800:]}")
        else:
            lines.append(f"{call} returned {result.got.strip() or '(nothing)'}, "
                         f"expected {test.expected.strip()}")
    for repo in cand.repo_results:
        if not repo.passed:
            lines.append(f"the repository's test {repo.test} {repo.outcome}:\n"
                         f"{repo.message.strip()[-800:]}")
    lines += [finding.render() for finding in cand.blocking_findings]
    return "\n".join(lines)


def disputed_examples(choice: "Choice", tests: Sequence[SpecTest]) -> dict[str, str]:
    """Examples that every independent candidate (at least two; never shown a failure:
    the first round, the fresh samples) answered alike and differently from the
    docstring: the example itself may be wrong. Maps the call to what they computed."""
    independent = [choice.candidates[r.index] for r in choice.ranking
                   if choice.candidates[r.index].origin != "repair"]
    ran = [c for c in independent if c.ran]
    answers: dict[str, set[str]] = {}
    failed: dict[str, int] = {}
    for cand in ran:
        for test, result in stated_results(cand, tests):
            if result.error:
                continue
            key = test.call.strip()
            failed[key] = failed.get(key, 0) + (0 if result.passed else 1)
            answers.setdefault(key, set()).add("=" if result.passed else result.got.strip())
    return {key: next(iter(got)) for key, got in answers.items()
            if len(ran) >= 2 and failed[key] == len(ran) and len(got) == 1}


def unverified_reason(cand: Candidate, agree: int, tests: Sequence[SpecTest],
                      policy: "Policy") -> str:
    if cand.problem or cand.repo_problem:
        return cand.problem or cand.repo_problem
    stated = stated_results(cand, tests)
    if passes_stated(cand, tests) and 0 < len(stated) < policy.min_examples:
        return (f"it passes the docstring's {len(stated)} example(s), but verified needs "
                f"{policy.min_examples} without the repository's tests (setting "
                "verify_min_examples); add an example of an edge case")
    if passes_stated(cand, tests) and stated and agree < policy.agreement \
            and not cand.blocking_findings:
        return (f"it passes the docstring's examples, but no other candidate computed the same "
                f"results on every test (verified needs {policy.agreement} that agree: "
                "setting verify_agreement); add an example that pins the behaviour down")
    if cand.ran and not stated and not cand.repo_results:
        return ("the docstring has no examples to test the code against (`>>>` lines, or "
                "`f(x) => y` / `f(x) == y` in the text); add one so the hook can verify it")
    return f"no candidate passed every check and example; the closest one:\n" \
           f"{feedback(cand, tests)}"
