"""The select stage: the ONE policy that ranks candidates, picks the answer and
decides its verdict. The hook calls it after every round; `eval` replays it over a
saved fill (evals/stages.py), so a stage's figure is what the hook does.

Ranking is CodeT's dual agreement: candidates that pass exactly the same set of tests
form a group, and a group's score is its size times the weight of the tests it passes
(the user's examples weigh most, spec.ORIGIN_WEIGHT); ties keep generation order
(greedy first). Sizes and agreement count distinct programs (pipeline/programs.py):
copies of one program are one vote. `verified` needs a candidate that passes every
stated test and every check, that enough distinct programs computed the same on every
test and probe (`Policy.agreement`), and that no veto stands against (pipeline/veto.py:
a model test most distinct programs pass, a probe it alone raises on); it is withdrawn
when the independent candidates all disagree with an example it passes (the example
may be wrong).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from codegen_hook.config import Settings
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.programs import program_of
from codegen_hook.pipeline.reasons import disputed_examples, feedback, unverified_reason
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.pipeline.standing import (badness, failed_stated, passed_everything,
                                            passes_stated, stated_results)
from codegen_hook.pipeline.veto import vetoes

__all__ = ["Choice", "Decision", "Method", "Policy", "Ranked", "badness", "choose", "decide",
           "fallback", "failed_stated", "feedback", "needs_alternative", "passed_everything",
           "passes_stated", "rank", "replay", "stated_results", "vetoes"]

Method = Literal["agreement", "first", "clustered"]
REPO_WEIGHT = 4.0   # a repository test passed weighs as much as one of the user's examples
Verdict = Literal["verified", "unverified", "failed"]


@dataclass(frozen=True)
class Policy:
    ranking: Method = "agreement"
    agreement: int = 2           # candidates computing the same on every test, to verify
    checks_per_round: int = 3    # static checks cost seconds: new candidates checked a round
    distinct: bool = True        # agreement counts distinct programs, not copies
    veto: bool = True            # trusted model tests and probes can stop a verdict
    min_examples: int = 1        # the user's tests needed to verify without repo tests

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        """Passing the docstring's examples alone was right ~90% of the time (issue 6's
        probe); a second, independently sampled program that agrees is the cheap
        confirmation. With one candidate configured there is nothing to agree with."""
        return cls(cast(Method, settings.ranking),
                   settings.verify_agreement if settings.candidates > 1 else 1,
                   distinct=settings.distinct_agreement, veto=settings.verify_veto,
                   min_examples=settings.verify_min_examples)


@dataclass(frozen=True)
class Ranked:
    index: int          # position in the candidates given
    score: float        # group size x weight passed; 0 for a candidate that did not run
    group: int          # how many candidates passed exactly the same tests
    passed: float       # the weight of the tests it passed
    agree: int = 0      # how many candidates computed the same on every test and probe


def _answers(cand: Candidate) -> tuple[str, ...] | None:
    return tuple(r.answer for r in cand.results) if cand.ran else None


def _votes(members: Sequence[int], programs: Sequence[str], distinct: bool) -> int:
    return len({programs[i] for i in members}) if distinct else len(members)


def rank(cands: Sequence[Candidate], tests: Sequence[SpecTest], method: Method = "agreement",
         origins: frozenset[str] | None = None, distinct: bool = True) -> list[Ranked]:
    """Every candidate, best first. `origins`: rank on tests of these origins only (the
    replay of a stage); probes never pass or fail, so they never weigh. "clustered":
    a group must also compute the same on the probes (output clusters, as in
    AlphaCode / MBR-exec). "first": generation order, scores still reported.
    `distinct`: a group's size and a candidate's agreement count distinct programs."""
    scored = [j for j, t in enumerate(tests)
              if t.kind != "probe" and (origins is None or t.origin in origins)]
    probes = [j for j, t in enumerate(tests) if t.kind == "probe"]
    keys: list[tuple[frozenset[int], tuple[str, ...], frozenset[str]] | None] = []
    for cand in cands:
        if not cand.ran:
            keys.append(None)
            continue
        extra = tuple(cand.results[j].answer for j in probes) if method == "clustered" else ()
        keys.append((frozenset(j for j in scored if cand.results[j].passed), extra,
                     frozenset(r.test for r in cand.repo_results if r.passed)))
    answers = [_answers(c) for c in cands]
    programs = [program_of(c) for c in cands]
    ranked = []
    for index, key in enumerate(keys):
        agree = _votes([j for j, a in enumerate(answers) if a == answers[index]], programs,
                       distinct) if answers[index] is not None else 0
        if key is None:
            ranked.append(Ranked(index, 0.0, 0, 0.0, agree))
            continue
        size = _votes([j for j, k in enumerate(keys) if k == key], programs, distinct)
        weight = sum(tests[j].weight for j in key[0]) + REPO_WEIGHT * len(key[2])
        # A group that passes nothing still beats a candidate that did not run.
        ranked.append(Ranked(index, size * (weight or 1e-3), size, weight, agree))
    if method == "first":
        return ranked
    return sorted(ranked, key=lambda r: (-r.score, r.index))


@dataclass(frozen=True)
class Choice:
    candidates: tuple[Candidate, ...]   # as given, with the checks select asked for
    ranking: tuple[Ranked, ...]
    winner: int | None                  # the candidate to verify, if any


CheckFn = Callable[[Candidate], Candidate | None]


def choose(cands: Sequence[Candidate], tests: Sequence[SpecTest], policy: Policy,
           check: CheckFn) -> Choice:
    """The best-ranked candidate that passes every stated test, agrees with enough
    others, and passes every check. `check` returns the candidate with its findings,
    or None when it was not checked (a replay of a fill that stopped there); at most
    `policy.checks_per_round` new candidates are checked in one call."""
    found = list(cands)
    ranking = tuple(rank(found, tests, policy.ranking, distinct=policy.distinct))
    if not any(t.stated for t in tests) and not any(c.repo_results for c in found):
        return Choice(tuple(found), ranking, None)   # nothing of the user's to verify against
    few = sum(t.stated for t in tests) < policy.min_examples   # too few to verify alone
    fresh = 0
    for ranked in ranking:
        cand = found[ranked.index]
        # the repository's own tests, passed, need no second candidate to agree
        if not passes_stated(cand, tests) or (
                (ranked.agree < policy.agreement or few) and not cand.repo_results):
            continue
        if policy.veto and vetoes(cand, found, tests):
            continue
        if not cand.checked:
            checked = check(cand) if fresh < policy.checks_per_round else None
            if checked is None:
                break
            fresh += 1
            cand = found[ranked.index] = checked
        if passed_everything(cand, tests):
            return Choice(tuple(found), ranking, ranked.index)
    return Choice(tuple(found), ranking, None)


def needs_alternative(choice: Choice, tests: Sequence[SpecTest], policy: Policy) -> bool:
    """Whether the best candidate passing the stated tests lacks only agreement: too few
    distinct programs computed what it computed, so another way of writing it could
    agree (generate.later_asks). Not when the repository's tests decide instead."""
    if choice.winner is not None or not any(t.stated for t in tests):
        return False
    for ranked in choice.ranking:
        cand = choice.candidates[ranked.index]
        if passes_stated(cand, tests) and not cand.repo_results:
            return ranked.agree < policy.agreement
    return False


def fallback(choice: Choice, tests: Sequence[SpecTest]) -> int | None:
    """The answer when nothing is verified: the best-ranked candidate that passes every
    stated test; else the best-ranked one that ran (agreement, not the count of failed
    examples: when every candidate fails some, the examples may be the wrong ones, as
    in HumanEval/116); else the least broken. Findings do not decide: only the
    candidates the checks reached have any, so counting them punished being checked."""
    cands = choice.candidates
    for keep in (lambda c: passes_stated(c, tests), lambda c: c.ran):
        pool = [r.index for r in choice.ranking if keep(cands[r.index])]
        if pool:
            return pool[0]
    order = [r.index for r in choice.ranking]
    return min(order, key=lambda i: badness(cands[i], tests)) if order else None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    chosen: int | None          # the candidate whose body is the answer
    reasons: tuple[str, ...]
    evidence: tuple[str, ...] = ()   # what the answer passed, strongest first


def evidence_of(cand: Candidate, agree: int, tests: Sequence[SpecTest],
                distinct: bool = True) -> tuple[str, ...]:
    """The evidence ladder, strongest first: the repository's tests that exercise the
    stub, the docstring's examples, the probes, how many candidates (distinct programs)
    agree."""
    found = []
    if cand.repo_results:
        found.append(f"repo-tests:{sum(r.passed for r in cand.repo_results)}")
    stated = stated_results(cand, tests)
    if stated:
        found.append(f"examples:{sum(r.passed for _, r in stated)}")
    probes = sum(t.kind == "probe" for t in tests)
    if probes and cand.ran:
        found.append(f"probes:{probes}")
    if agree > 1 and cand.results:
        found.append(f"agreement:{agree} distinct" if distinct else f"agreement:{agree}")
    return tuple(found)


def decide(choice: Choice, tests: Sequence[SpecTest], policy: Policy,
           notes: Sequence[str] = ()) -> Decision:
    """The answer and its verdict: the winner, verified unless the independent
    candidates dispute an example it passes; else the fallback, unverified (failed
    when there is no body at all). `notes` (a spent budget, a backend error) lead
    the reasons."""
    reasons = list(notes)
    winner = choice.winner
    chosen = winner if winner is not None else fallback(choice, tests)
    cand = choice.candidates[chosen] if chosen is not None else None
    verdict: Verdict = "verified" if winner is not None else "unverified"
    if cand is not None and winner is not None:
        disputed = disputed_examples(choice, tests)
        for test, result in stated_results(cand, tests):
            got = disputed.get(test.call.strip())
            if got is not None and result.passed:
                verdict = "unverified"
                reasons.append(
                    f"the docstring says {test.call.strip()} is {test.expected.strip()}, "
                    f"but every independently generated candidate computed {got}; check "
                    "that example")
    if cand is None or not cand.body:
        verdict = "failed"
    elif winner is None:
        agree = next(r.agree for r in choice.ranking if r.index == chosen)
        objections = (vetoes(cand, choice.candidates, tests)
                      if policy.veto and passes_stated(cand, tests) else [])
        reasons.extend(objections[:3] or [unverified_reason(cand, agree, tests, policy)])
    if cand is not None and cand.problem and not cand.body:
        reasons.append(cand.problem)
    agree = next((r.agree for r in choice.ranking if r.index == chosen), 0)
    evidence = (evidence_of(cand, agree, tests, policy.distinct)
                if cand is not None and cand.ran else ())
    return Decision(verdict, chosen, tuple(reasons), evidence)


def replay(cands: Sequence[Candidate], tests: Sequence[SpecTest],
           policy: Policy) -> tuple[Choice, Decision]:
    """Select over a saved fill's records: the checks as recorded (a candidate the
    hook did not check stops the walk where the hook's check budget stopped it)."""
    choice = choose(cands, tests, policy, lambda c: None)
    return choice, decide(choice, tests, policy)
