"""What each ingredient of the flow adds, from one `eval humaneval` run's results.

`eval humaneval` scores every candidate the hook generated against the hidden tests
after the answer is fixed (details.candidate_passed) and keeps each candidate's row
of the test matrix (details.candidates[].passes, columns by details.selection.tests:
d docstring, s stated in free form, m model-written). So other selection rules can
be replayed over the same candidates without generating again:

    .venv/bin/python benchmarks/humaneval_ablations.py humaneval-results/hook.jsonl

Static checks (flake8, mypy) are not replayed: a rule here picks among all candidates
that ran, where the hook also required the checks to pass.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from codegen_hook.pipeline.rank import rank_by_agreement
from codegen_hook.pipeline.spec import ORIGIN_WEIGHT

Task = dict[str, Any]
Rule = Callable[[list[dict[str, Any]], str], int | None]
_ORIGIN = {"d": "docstring", "s": "stated", "m": "model"}


def _row(cand: dict[str, Any], columns: str) -> list[bool] | None:
    if not cand.get("ran") or len(cand["passes"]) != len(columns):
        return None
    return [c == "1" for c in cand["passes"]]


def _keep(row: list[bool], columns: str, origins: str) -> list[bool]:
    return [ok for ok, col in zip(row, columns) if col in origins]


def _passes_stated(cand: dict[str, Any], columns: str) -> bool:
    row = _row(cand, columns)
    return row is not None and all(_keep(row, columns, "ds"))


def greedy(cands: list[dict[str, Any]], columns: str) -> int | None:
    return 0 if cands else None


def first_passing_stated(cands: list[dict[str, Any]], columns: str) -> int | None:
    return next((i for i, c in enumerate(cands) if _passes_stated(c, columns)), 0)


def agreement(origins: str) -> Rule:
    def rule(cands: list[dict[str, Any]], columns: str) -> int | None:
        rows = [_row(c, columns) for c in cands]
        kept = [None if r is None else _keep(r, columns, origins) for r in rows]
        weights = [ORIGIN_WEIGHT[_ORIGIN[c]] for c in columns if c in origins]
        order = rank_by_agreement(kept, weights)
        stated = [r.index for r in order if _passes_stated(cands[r.index], columns)]
        return stated[0] if stated else (order[0].index if order else None)
    return rule


def _stated_count(task: Task) -> int:
    return sum(c in "ds" for c in task["details"]["selection"].get("tests", ""))


def _round_one(task: Task) -> list[dict[str, Any]]:
    return [c for c in task["details"]["candidates"] if c["round"] == 1]


def replay(tasks: Sequence[Task], rule: Rule, rounds: str = "1") -> float:
    right = 0
    for task in tasks:
        details = task["details"]
        cands = _round_one(task) if rounds == "1" else details["candidates"]
        chosen = rule(cands, details["selection"].get("tests", ""))
        if chosen is not None:
            index = cands[chosen]["index"]
            right += bool(details["candidate_passed"][index])
    return right / len(tasks)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="hook.jsonl from eval humaneval")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tasks = [json.loads(line) for line in args.results.read_text().splitlines() if line]
    tasks = [t for t in tasks if "candidate_passed" in t.get("details", {})]
    if not tasks:
        raise SystemExit(f"{args.results}: no task has per-candidate scores")
    k = statistics.median(len(_round_one(t)) for t in tasks)
    figures: dict[str, float | None] = {
        "greedy only (round 1, candidate 0)": replay(tasks, greedy),
        "first candidate passing the stated tests": replay(tasks, first_passing_stated),
        "agreement, stated tests only": replay(tasks, agreement("ds")),
        "agreement, stated + model tests": replay(tasks, agreement("dsm")),
        "agreement, stated + model, with repair rounds": replay(tasks, agreement("dsm"), "all"),
        "the hook's answer (checks, repair)": sum(t["passed"] for t in tasks) / len(tasks),
        f"oracle: some round-1 candidate right (k={k:g})": sum(
            any(t["details"]["candidate_passed"][c["index"]] for c in _round_one(t))
            for t in tasks) / len(tasks),
        "oracle, all rounds": sum(any(t["details"]["candidate_passed"])
                                  for t in tasks) / len(tasks),
    }
    verified = [t for t in tasks if t["verdict"] == "verified"]
    rules: dict[str, Callable[[Task], bool]] = {
        "as the hook said": lambda t: True,
        "and another candidate passed exactly the same tests (group >= 2)":
            lambda t: t["details"]["selection"].get("group", 0) >= 2,
        "and >= 2 candidates passed the stated tests":
            lambda t: t["details"]["selection"].get("candidates_passing_stated", 0) >= 2,
        "and >= 2 stated tests, or group >= 2":
            lambda t: _stated_count(t) >= 2 or t["details"]["selection"].get("group", 0) >= 2,
    }
    for name, keep in rules.items():
        kept = [t for t in verified if keep(t)]
        figures[f"precision of verified, {name}"] = (
            sum(t["passed"] for t in kept) / len(kept) if kept else None)
        figures[f"verified rate, {name}"] = len(kept) / len(tasks)
    if args.json:
        print(json.dumps({"tasks": len(tasks), "figures": figures}, indent=2))
        return
    print(f"{len(tasks)} tasks from {args.results}")
    for name, value in figures.items():
        print(f"  {_pct(value)}  {name}")


if __name__ == "__main__":
    main()
