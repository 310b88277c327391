"""The rules for `verified`, switched on and off over the same candidates: distinct-program
agreement (pipeline/programs.py), the vetoes (pipeline/veto.py), and the candidates
asked for "another way" (generate.later_asks, origin "alternative") left out.

`eval humaneval` / `eval suite` keep each fill's records and score every candidate on the
hidden tests afterwards (details.candidate_passed, and candidate_plus_passed with
--plus), so pipeline/select.py's own `replay` can decide each task again under another
Policy without generating anything:

    .venv/bin/python benchmarks/verify_policies.py suite-results/hook.jsonl [--json]

The replay is conservative where a variant would pick a candidate the hook's static
checks never reached: it is counted unverified (the checks are not run again). Leaving
the alternatives out is the nearest replay of `--no-alternatives`: without them the
hook would have sampled nothing else in their place, but its later rounds saw them
(only a run with `--alternatives N` has any).
Printed per policy: verified, precision of verified (and on the plus tests), pass@1 of
the replayed answer.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from codegen_hook.config import Settings
from codegen_hook.evals.results import TaskResult
from codegen_hook.evals.stages import fill_records, percent_cell, replay_arguments
from codegen_hook.pipeline import select

# name: (Policy fields changed, candidate origins left out)
VARIANTS: dict[str, tuple[dict[str, Any], frozenset[str]]] = {
    "distinct + veto (default)": ({}, frozenset()),
    "3 distinct programs agree": ({"agreement": 3}, frozenset()),
    "2 examples needed": ({"min_examples": 2}, frozenset()),
    "alternatives left out": ({}, frozenset({"alternative"})),
    "veto off": ({"veto": False}, frozenset()),
    "distinct off (copies agree)": ({"distinct": False}, frozenset()),
    "both off (before issue 21)": ({"distinct": False, "veto": False},
                                   frozenset({"alternative"})),
}


def _replayed(task: TaskResult, policy: select.Policy,
              drop: frozenset[str] = frozenset()) -> tuple[str, int | None]:
    tests, cands = fill_records(task)
    cands = [c for c in cands if c.origin not in drop]
    _, decision = select.replay(cands, tests, policy)
    index = cands[decision.chosen].index if decision.chosen is not None else None
    return decision.verdict, index


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def figures(tasks: list[TaskResult], policy: select.Policy,
            drop: frozenset[str] = frozenset()) -> dict[str, Any]:
    verified = right = plus_right = passed = 0
    plus = all("candidate_plus_passed" in t.details for t in tasks)
    for task in tasks:
        verdict, index = _replayed(task, policy, drop)
        ok = index is not None and bool(task.details["candidate_passed"][index])
        ok_plus = plus and index is not None and bool(
            task.details["candidate_plus_passed"][index])
        passed += ok
        if verdict == "verified":
            verified += 1
            right += ok
            plus_right += ok_plus
    out = {"tasks": len(tasks), "verified": verified,
           "verified_rate": _share(verified, len(tasks)), "precision": _share(right, verified),
           "pass_at_1": _share(passed, len(tasks))}
    if plus:
        out["precision_plus"] = _share(plus_right, verified)
    return out


def main() -> None:
    results, tasks, as_json = replay_arguments(__doc__.split("\n")[0])
    base = select.Policy.from_settings(Settings())
    table = {name: figures(tasks, dataclasses.replace(base, **change), drop)
             for name, (change, drop) in VARIANTS.items()}
    hook = sum(t.verdict == "verified" for t in tasks)
    table["as the hook said (recorded)"] = {
        "tasks": len(tasks), "verified": hook, "verified_rate": _share(hook, len(tasks)),
        "precision": _share(sum(t.passed for t in tasks if t.verdict == "verified"), hook),
        "pass_at_1": _share(sum(t.passed for t in tasks), len(tasks))}
    if all(t.plus_passed is not None for t in tasks):
        table["as the hook said (recorded)"]["precision_plus"] = _share(
            sum(bool(t.plus_passed) for t in tasks if t.verdict == "verified"), hook)
    if as_json:
        print(json.dumps(table, indent=2))
        return
    print(f"{len(tasks)} tasks from {results}")
    print(f"  {'policy':32} verified   rate  precision plus-prec pass@1")
    for name, row in table.items():
        print(f"  {name:32} {row['verified']:4d} {percent_cell(row['verified_rate'])} "
              f"{percent_cell(row['precision'])}  {percent_cell(row.get('precision_plus'))}  "
              f"{percent_cell(row['pass_at_1'])}")


if __name__ == "__main__":
    main()
