"""Pass rate by stage, replayed over recorded test-matrix rows."""

from __future__ import annotations

from typing import Any

from codegen_hook.evals.results import TaskResult
from codegen_hook.evals.stages import stage_rates


def task(candidates: list[tuple[int, str]], right: list[bool], tests: str,
         passed: bool) -> TaskResult:
    cands: list[dict[str, Any]] = [
        {"round": rnd, "index": i, "ran": True, "passes": passes}
        for i, (rnd, passes) in enumerate(candidates)]
    return TaskResult("T", "hook", "verified", passed, 1.0, details={
        "candidates": cands, "candidate_passed": right, "selection": {"tests": tests}})


def test_each_stage_picks_as_its_rule_says() -> None:
    # greedy fails the example; the first passing one is wrong on the model's tests;
    # two agreeing candidates are right; a repair-round candidate is right too.
    one = task([(1, "00"), (1, "10"), (1, "11"), (1, "11"), (2, "11")],
               [False, False, True, True, True], "dm", passed=True)
    # nothing passes the stated test: every rule falls back, the oracle sees the repair
    two = task([(1, "0"), (2, "1")], [False, True], "s", passed=True)
    rates = stage_rates([one, two])
    assert rates == {
        "greedy candidate": 0.0,
        "first passing the stated tests": 0.0,
        "agreement, stated tests": 0.0,     # 1, 2, 3 all pass d: the first of them
        "agreement, + model tests, first 5 candidates": 0.5,
        "agreement, + model tests": 0.5,    # 2 and 3 agree on d and m
        "agreement, + model tests + probe clusters": 0.5,  # no probes: the same
        "agreement, + repair rounds, fresh samples left out": 1.0,  # none recorded
        "agreement, + repair rounds": 1.0,  # the repaired candidate of task two
        "the hook's answer": 1.0,
        "verified answers as given, the others agreement's pick": 1.0,
        "oracle, first 5 candidates of round 1": 0.5,
        "oracle without the fresh samples": 1.0,
        "oracle: some candidate right": 1.0,
    }


def test_probe_clusters_and_the_first_five_candidates() -> None:
    # all pass the example; on the probes 0-1 compute one thing, 2-4 another (right)
    one = task([(1, "111")] * 5, [False, False, True, True, True], "dpp", passed=True)
    for cand, outputs in zip(one.details["candidates"],
                             [["a", "x", "y"]] * 2 + [["a", "x", "!e1"]] * 3):
        cand["outputs"] = outputs
    # only the 6th candidate passes the example, and it is right
    two = task([(1, "0")] * 5 + [(1, "1")], [False] * 5 + [True], "d", passed=False)
    rates = stage_rates([one, two])
    assert rates["agreement, + model tests"] == 0.5      # one: all alike, the first, wrong
    assert rates["agreement, + model tests + probe clusters"] == 1.0  # the larger cluster
    assert rates["agreement, + model tests, first 5 candidates"] == 0.0
    assert rates["oracle, first 5 candidates of round 1"] == 0.5
    assert rates["oracle: some candidate right"] == 1.0


def test_fresh_samples_are_told_apart_from_repairs() -> None:
    """Only a fresh sample of the second round passes, and it is right: every round's
    candidates find it; the replay without fresh samples falls back to a wrong one."""
    one = task([(1, "0"), (2, "0"), (2, "1")], [False, False, True], "d", passed=True)
    for cand, origin in zip(one.details["candidates"], ["first", "repair", "resample"]):
        cand["origin"] = origin
    rates = stage_rates([one])
    assert rates["agreement, + repair rounds"] == 1.0
    assert rates["agreement, + repair rounds, fresh samples left out"] == 0.0
    assert rates["oracle without the fresh samples"] == 0.0
    assert rates["oracle: some candidate right"] == 1.0


def test_unverified_answers_are_replayed_with_agreement() -> None:
    """Unverified, the hook answered with the candidate failing fewer examples (wrong);
    agreement's pick is the group of two (right). A verified answer stays as it was."""
    one = task([(1, "10"), (1, "01"), (1, "01")], [False, True, True], "dd", passed=False)
    one.verdict = "unverified"
    two = task([(1, "1")], [False], "d", passed=True)
    rates = stage_rates([one, two])
    assert rates["the hook's answer"] == 0.5
    assert rates["verified answers as given, the others agreement's pick"] == 1.0


def test_no_per_candidate_scores_means_no_stages() -> None:
    assert stage_rates([TaskResult("T", "raw", "unverified", True, 1.0)]) is None
