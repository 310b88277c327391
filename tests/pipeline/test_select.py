"""The one selection policy: ranking, choice, verdict, and its replay over a saved fill."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.checks.base import Finding
from codegen_hook.config import Settings
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.pipeline import select
from codegen_hook.pipeline.candidate import Candidate, TestOutcome
from codegen_hook.pipeline.run import fill_paths
from codegen_hook.pipeline.spec import SpecTest

TESTS = [SpecTest("f(1)", "1", "docstring"), SpecTest("f(2)", "2", "model"),
         SpecTest("f(3)", "3", "model")]


def cand(index: int, row: list[bool] | None, answers: list[str] | None = None,
         origin: str = "first", **fields: object) -> Candidate:
    """A candidate whose run passed `row` (None: it did not run)."""
    results = () if row is None else tuple(
        TestOutcome(ok, got=str(ok), answer=(answers[j] if answers else str(ok)))
        for j, ok in enumerate(row))
    return Candidate(1, index, 0.0, index, origin, body=f"return {index}",  # type: ignore
                     tested=True, run_problem="" if row is not None else "crashed",
                     results=results, **fields)  # type: ignore[arg-type]


def test_agreeing_candidates_beat_a_lone_one_that_passes_more_model_tests() -> None:
    cands = [cand(0, [True, False, False]),    # alone: 4
             cand(1, [True, True, False]),     # with 2: 2 x 5 = 10
             cand(2, [True, True, False]),
             cand(3, [True, True, True]),      # alone: 6
             cand(4, None)]                    # did not run
    ranked = select.rank(cands, TESTS)
    assert [r.index for r in ranked] == [1, 2, 3, 0, 4]
    assert ranked[0] == select.Ranked(1, 10.0, 2, 5.0, agree=2)
    assert ranked[-1] == select.Ranked(4, 0.0, 0, 0.0, agree=0)


def test_passing_nothing_still_beats_not_running() -> None:
    ranked = select.rank([cand(0, None), cand(1, [False, False, False])], TESTS)
    assert [r.index for r in ranked] == [1, 0] and 0 < ranked[0].score < 1


def test_ties_keep_generation_order_and_the_ablation_keeps_it_always() -> None:
    cands = [cand(0, [False, True, False]), cand(1, [False, False, True]),
             cand(2, [True, False, False])]
    assert [r.index for r in select.rank(cands, TESTS)] == [2, 0, 1]
    assert [r.index for r in select.rank(cands, TESTS, "first")] == [0, 1, 2]


def test_clusters_split_a_group_that_computes_differently_on_probes() -> None:
    tests = [SpecTest("f(1)", "1", "docstring"), SpecTest("f(9)", "", "probe", "probe")]
    cands = [cand(0, [True, True], ["a", "x"]), cand(1, [True, True], ["a", "y"]),
             cand(2, [True, True], ["a", "y"])]
    assert [r.group for r in select.rank(cands, tests)] == [3, 3, 3]
    clustered = select.rank(cands, tests, "clustered")
    assert [r.index for r in clustered] == [1, 2, 0]
    assert [r.agree for r in sorted(clustered, key=lambda r: r.index)] == [1, 2, 2]


def test_the_check_budget_stops_the_walk_and_findings_block() -> None:
    blocked = Finding("flake8", 1, 1, "F401", "unused")
    cands = [cand(i, [True, True, True], ["a", "b", "c"]) for i in range(5)]
    seen: list[int] = []

    def check(c: Candidate) -> Candidate:
        seen.append(c.index)
        return Candidate(**{**c.__dict__, "checked": True, "findings": (blocked,)})

    choice = select.choose(cands, TESTS, select.Policy(checks_per_round=3), check)
    assert choice.winner is None and seen == [0, 1, 2]
    assert [c.checked for c in choice.candidates] == [True, True, True, False, False]
    # the next call checks the next ones; a clean one wins
    clean = select.choose(choice.candidates, TESTS, select.Policy(),
                          lambda c: Candidate(**{**c.__dict__, "checked": True}))
    assert clean.winner == 3


def test_an_example_every_independent_candidate_disputes_is_never_verified() -> None:
    """Repairs were shown the example's failure, so they are not independent: two of them
    pass the odd example, while both first-round candidates computed the same other
    value. The winner is the repair, and it is not verified."""
    tests = [SpecTest("f(1)", "1", "docstring"), SpecTest("f(2)", "5", "docstring")]
    first = [cand(i, [True, False], ["a", "c"]) for i in (0, 1)]
    repaired = [cand(i, [True, True], ["a", "b"], origin="repair", checked=True)
                for i in (2, 3)]
    choice = select.choose([*first, *repaired], tests, select.Policy(), lambda c: c)
    decision = select.decide(choice, tests, select.Policy())
    assert choice.winner == 2 and decision.chosen == 2
    assert decision.verdict == "unverified"
    assert "every independently generated candidate computed False" in decision.reasons[0]


# -- the replay of a real fill (scripted model, real sandbox) -------------------------

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed")

SQUARE = '''def square(x: int) -> int:
    """Return x times x.

    >>> square(2)
    4
    """
    ...
'''
SIG = "def square(x: int) -> int:"


def fence(body: str) -> str:
    return f"```python\n{SIG}\n    {body}\n```"


TESTS_TEXT = "```python\nassert square(3) == 9\nassert square(0) == 0\n```"
SCENARIOS = {
    # agreement on the model's tests picks the sampled pair over the lucky greedy one
    "verified": [TESTS_TEXT, fence("return x + 2"), fence("return x * x"),
                 fence("return x ** 2")],
    # round 1 all wrong; in round 2 three wrong fresh samples agree (2 * x) and
    # outvote the one right one: verified, and wrong (the precision issue's case)
    "agreeing-wrong": [TESTS_TEXT, fence("return x + 2"), fence("return 4"),
                       fence("return x"), fence("return x * x"), fence("return x - 1"),
                       fence("return 2 * x"), fence("return x + x"), fence("return x * 2")],
    # the body raises everywhere: a failed example in every round
    "broken": [TESTS_TEXT, *[fence("raise ValueError(x)")] * 3, *[fence("return 1 / 0")] * 6],
}


@needs_bwrap
@pytest.mark.sandbox
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_replaying_a_saved_fill_reproduces_the_hooks_choice_and_verdict(
        tmp_path: Path, scenario: str) -> None:
    path = tmp_path / "sq.py"
    path.write_text(SQUARE)
    settings = Settings(candidates=3, max_rounds=2, resample=4, alternatives=0, checks=("flake8",),
                        timeout=5.0, generated_tests=True)
    report = fill_paths([path], settings, tmp_path, tmp_path / "cache",
                        lambda: ScriptedBackend(SCENARIOS[scenario]), BwrapSandbox,
                        make_checks(settings.checks), check_only=True)
    saved = json.loads(json.dumps(report.to_json()))["stubs"][0]   # as a file would hold it
    tests = [SpecTest.from_json(t) for t in saved["spec"]]
    cands = [Candidate.from_json(c) for c in saved["candidates"]]
    choice, decision = select.replay(cands, tests, select.Policy.from_settings(settings))
    assert (decision.verdict, decision.chosen) == (saved["verdict"],
                                                   saved["selection"]["index"])
    assert list(decision.reasons) == saved["reasons"]
    assert [r.index for r in choice.ranking] == [
        c["index"] for c in sorted(saved["candidates"], key=lambda c: -c["score"])]
    assert (saved["verdict"], saved["body"]) == {
        "verified": ("verified", "return x * x"), "agreeing-wrong": ("verified", "return 2 * x"),
        "broken": ("unverified", "raise ValueError(x)")}[scenario]


def _with_body(c: Candidate, body: str) -> Candidate:
    import dataclasses
    return dataclasses.replace(c, body=body)


def test_copies_of_one_program_agree_once() -> None:
    """Three samples of one program are one vote: not enough to verify alone, and
    their group weighs as one program (the ablation counts copies)."""
    copies = [_with_body(cand(i, [True, True, True]), "return x") for i in range(3)]
    ranked = select.rank(copies, TESTS)
    assert [r.agree for r in ranked] == [1, 1, 1] and ranked[0].group == 1
    assert [r.agree for r in select.rank(copies, TESTS, distinct=False)] == [3, 3, 3]
    assert select.choose(copies, TESTS, select.Policy(), lambda c: c).winner is None
    assert select.choose(copies, TESTS, select.Policy(distinct=False),
                         lambda c: c).winner == 0


def test_a_model_test_most_distinct_programs_pass_vetoes_the_one_failing_it() -> None:
    """The greedy body passes the user's example but fails a model test that two other
    programs pass: not verified, and the reason names the test."""
    cands = [_with_body(cand(0, [True, True, False]), "return 1"),
             _with_body(cand(1, [True, True, True]), "return x"),
             _with_body(cand(2, [True, True, True]), "return x + 0"),
             _with_body(cand(3, [True, True, True]), "return x - 0")]
    policy = select.Policy(ranking="first", agreement=1)
    choice = select.choose(cands, TESTS, policy, lambda c: c)
    assert choice.winner == 1    # 0 is vetoed though it comes first
    assert select.vetoes(cands[0], cands, TESTS) and not select.vetoes(cands[1], cands, TESTS)
    unvetoed = select.choose(cands, TESTS, select.Policy("first", 1, veto=False),
                             lambda c: c)
    assert unvetoed.winner == 0
    # a test only one other program passes is not trusted
    assert not select.vetoes(cands[0], cands[:2], TESTS)


def test_raising_where_the_other_programs_return_is_vetoed() -> None:
    tests = [SpecTest("f(1)", "1", "docstring"), SpecTest("f(0)", "", "probe", kind="probe")]
    raising = Candidate(1, 0, 0.0, 0, body="return 1 // x", tested=True, results=(
        TestOutcome(True, answer="a"), TestOutcome(True, answer="!ZeroDivisionError")))
    others = [Candidate(1, i, 0.0, i, body=f"return x + {i}", tested=True, results=(
        TestOutcome(True, answer="a"), TestOutcome(True, answer=f"v{i}"))) for i in (1, 2)]
    [reason] = select.vetoes(raising, [raising, *others], tests)
    assert "raises on the probe input `f(0)`" in reason and "2 of the 3" in reason
    assert select.vetoes(others[0], [raising, *others], tests) == []
    decision = select.decide(select.choose([raising, *others], tests,
                                           select.Policy(ranking="first", agreement=1),
                                           lambda c: c), tests, select.Policy())
    assert decision.chosen == 1 and decision.verdict == "verified"


def test_too_few_examples_do_not_verify_alone_when_the_policy_asks_for_more() -> None:
    """Two distinct programs agree and pass the one example: verified under the default
    policy; with verify_min_examples = 2 not, and the reason says what to add."""
    pair = [cand(0, [True, True, True]), cand(1, [True, True, True])]
    assert select.choose(pair, TESTS, select.Policy(), lambda c: c).winner == 0
    strict = select.Policy(min_examples=2)
    choice = select.choose(pair, TESTS, strict, lambda c: c)
    assert choice.winner is None
    decision = select.decide(choice, TESTS, strict)
    assert decision.verdict == "unverified"
    assert "verify_min_examples" in decision.reasons[0]
    assert select.Policy.from_settings(Settings(verify_min_examples=2)).min_examples == 2
