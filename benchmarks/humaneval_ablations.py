"""What each ingredient of the flow adds, from one `eval humaneval` run's results.

`eval humaneval` scores every candidate the hook generated against the hidden tests
after the answer is fixed (details.candidate_passed) and keeps each candidate's row
of the test matrix, so selection rules can be replayed over the same candidates
without generating again (codegen_hook/evals/stages.py), and rules for `verified`
can be checked against the hidden-test results:

    .venv/bin/python benchmarks/humaneval_ablations.py humaneval-results/hook.jsonl

Static checks (flake8, mypy) are not replayed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from codegen_hook.evals.results import ResultsLog, TaskResult
from codegen_hook.evals.stages import stage_rates


def _stated_count(task: TaskResult) -> int:
    return sum(c in "ds" for c in task.details["selection"].get("tests", ""))


def _group(task: TaskResult) -> int:
    return int(task.details["selection"].get("group", 0))


VERIFY_RULES: dict[str, Callable[[TaskResult], bool]] = {
    "as the hook said": lambda t: True,
    "and another candidate passed exactly the same tests (group >= 2)":
        lambda t: _group(t) >= 2,
    "and >= 2 candidates passed the stated tests":
        lambda t: t.details["selection"].get("candidates_passing_stated", 0) >= 2,
    "and >= 2 stated tests, or group >= 2": lambda t: _stated_count(t) >= 2 or _group(t) >= 2,
}


def _pct(x: float | None) -> str:
    return "    -" if x is None else f"{100 * x:5.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="hook.jsonl from eval humaneval")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tasks = [t for t in ResultsLog(args.results).load() if "candidate_passed" in t.details]
    rates = stage_rates(tasks)
    if rates is None:
        raise SystemExit(f"{args.results}: no task has per-candidate scores")
    figures: dict[str, float | None] = dict(rates)
    verified = [t for t in tasks if t.verdict == "verified"]
    for name, keep in VERIFY_RULES.items():
        kept = [t for t in verified if keep(t)]
        figures[f"precision of verified, {name}"] = (
            sum(t.passed for t in kept) / len(kept) if kept else None)
        figures[f"verified rate, {name}"] = len(kept) / len(tasks)
    if args.json:
        print(json.dumps({"tasks": len(tasks), "figures": figures}, indent=2))
        return
    print(f"{len(tasks)} tasks from {args.results}")
    for name, value in figures.items():
        print(f"  {_pct(value)}  {name}")


if __name__ == "__main__":
    main()
