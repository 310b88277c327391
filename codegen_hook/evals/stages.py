"""Pass rate by stage of the flow, replayed over one run's recorded fills.

`eval humaneval` keeps each fill's records (the tests, every candidate with its row
of the test matrix and its checks) and, after the answer is fixed, whether each
candidate passes the hidden tests. Each stage's pick is made by pipeline/select.py's
own functions over those typed records, so the figure for a stage is what the hook's
policy would do with the candidates of that stage; nothing is generated again.
Static checks are not run again: a stage picks among candidates on tests alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from codegen_hook.evals.results import ResultsLog, TaskResult
from codegen_hook.pipeline import select
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.spec import SpecTest, TestOrigin

__all__ = ["STAGES", "fill_records", "percent_cell", "replay_arguments", "scored_tasks",
           "stage_rates"]

Rule = Callable[[Sequence[Candidate], Sequence[SpecTest]], int | None]
_STATED = frozenset({"docstring", "stated"})
_WITH_MODEL = frozenset({"docstring", "stated", "model"})
_ORIGIN: dict[str, TestOrigin] = {"d": "docstring", "s": "stated", "m": "model", "p": "probe"}


def scored_tasks(path: Path) -> list[TaskResult]:
    """The tasks of a results file whose candidates were all scored (the replays' input)."""
    log: ResultsLog[TaskResult] = ResultsLog(path)
    return [t for t in log.load() if "candidate_passed" in t.details]


def replay_arguments(description: str) -> tuple[Path, list[TaskResult], bool]:
    """A replay script's command line (RESULTS [--json]): the file, its scored tasks
    (exits with a message when none is scored) and whether --json was given."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("results", type=Path, help="hook.jsonl from eval humaneval / suite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tasks = scored_tasks(args.results)
    if not tasks:
        raise SystemExit(f"{args.results}: no task has per-candidate scores")
    return args.results, tasks, args.json


def percent_cell(x: float | None) -> str:
    """A share as a fixed-width table cell for the replay scripts' printouts."""
    return "    -" if x is None else f"{100 * x:5.1f}%"


def fill_records(task: TaskResult) -> tuple[list[SpecTest], list[Candidate]]:
    """A saved fill's tests and candidates as the hook's records. A run saved before
    the tests were kept has only their origins (`selection.tests`); that is all the
    ranking needs of them."""
    details = task.details
    if "spec" in details:
        tests = [SpecTest.from_json(t) for t in details["spec"]]
    else:
        tests = [SpecTest("", "", _ORIGIN[c], "probe" if c == "p" else "value")
                 for c in details.get("selection", {}).get("tests", "")]
    cands = [Candidate.from_json(_upgraded(c, len(tests))) for c in details["candidates"]]
    return tests, cands


def _upgraded(cand: dict[str, Any], n_tests: int) -> dict[str, Any]:
    """An older record (`passes` and `outputs` strings, no `results`) in today's shape."""
    if "results" in cand:
        return cand
    passes, outputs = str(cand.get("passes", "")), list(cand.get("outputs") or [])
    ran = bool(cand.get("ran")) and len(passes) == n_tests
    results = [{"passed": p == "1", "answer": outputs[i] if i < len(outputs) else p}
               for i, p in enumerate(passes)] if ran else []
    return {**cand, "results": results, "tested": ran, "run_problem": "" if ran else "-"}


def _greedy(cands: Sequence[Candidate], tests: Sequence[SpecTest]) -> int | None:
    return 0 if cands else None


def _first_passing(cands: Sequence[Candidate], tests: Sequence[SpecTest]) -> int | None:
    return next((i for i, c in enumerate(cands) if select.passes_stated(c, tests)), 0)


def _ranked(method: select.Method, origins: frozenset[str] | None = None) -> Rule:
    """The hook's fallback pick over the hook's ranking on these tests: the best-ranked
    candidate passing every stated test, else the best-ranked that ran."""
    def rule(cands: Sequence[Candidate], tests: Sequence[SpecTest]) -> int | None:
        ranking = tuple(select.rank(cands, tests, method, origins))
        return select.fallback(select.Choice(tuple(cands), ranking, None), tests)
    return rule


# (label, rule, rounds): rounds "1" replays the first round's candidates only, "5" the
# first five of them (the earlier default k), "all" every round's, "repairs" every
# round's but the fresh samples of later rounds (what repair alone found; a later
# round's repair saw the fresh samples' failures, so this is the nearest replay)
STAGES: list[tuple[str, Rule, str]] = [
    ("greedy candidate", _greedy, "1"),
    ("first passing the stated tests", _first_passing, "1"),
    ("agreement, stated tests", _ranked("agreement", _STATED), "1"),
    ("agreement, + model tests, first 5 candidates", _ranked("agreement", _WITH_MODEL), "5"),
    ("agreement, + model tests", _ranked("agreement", _WITH_MODEL), "1"),
    ("agreement, + model tests + probe clusters", _ranked("clustered", _WITH_MODEL), "1"),
    ("agreement, + repair rounds, fresh samples left out", _ranked("agreement"), "repairs"),
    ("agreement, + repair rounds", _ranked("agreement"), "all"),
]


def _subset(cands: list[Candidate], rounds: str) -> list[Candidate]:
    if rounds == "all":
        return cands
    if rounds == "repairs":
        return [c for c in cands if c.origin not in ("resample", "alternative")]
    first = [c for c in cands if c.round == 1]
    return first[:5] if rounds == "5" else first


def _picked_right(task: TaskResult, rule: Rule, rounds: str) -> bool:
    tests, cands = fill_records(task)
    chosen_from = _subset(cands, rounds)
    chosen = rule(chosen_from, tests)
    return chosen is not None and bool(
        task.details["candidate_passed"][chosen_from[chosen].index])


def _oracle(task: TaskResult, rounds: str) -> bool:
    return any(task.details["candidate_passed"][c.index]
               for c in _subset(fill_records(task)[1], rounds))


def stage_rates(results: Sequence[TaskResult]) -> dict[str, float] | None:
    """Pass rate of each stage's pick, the hook's answer, and the oracle (some
    candidate right); None when the results carry no per-candidate scores."""
    tasks = [r for r in results if "candidate_passed" in r.details]
    if not tasks:
        return None
    rates: dict[str, float] = {}
    for label, rule, rounds in STAGES:
        rates[label] = sum(_picked_right(t, rule, rounds) for t in tasks) / len(tasks)
    rates["the hook's answer"] = sum(t.passed for t in tasks) / len(tasks)
    # where nothing verified, select.fallback answers with the rule of the last stage
    # (agreement over every round): replayed, for runs made before it did
    every_round = _ranked("agreement")
    rates["verified answers as given, the others agreement's pick"] = sum(
        t.passed if t.verdict == "verified" else _picked_right(t, every_round, "all")
        for t in tasks) / len(tasks)
    rates["oracle, first 5 candidates of round 1"] = sum(
        _oracle(t, "5") for t in tasks) / len(tasks)
    rates["oracle without the fresh samples"] = sum(
        _oracle(t, "repairs") for t in tasks) / len(tasks)
    rates["oracle: some candidate right"] = sum(
        any(t.details["candidate_passed"]) or t.passed for t in tasks) / len(tasks)
    return rates
