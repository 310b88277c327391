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

import dataclasses
import json
from collections.abc import Callable

from codegen_hook.evals.results import TaskResult
from codegen_hook.evals.stages import fill_records, percent_cell, replay_arguments, stage_rates
from codegen_hook.pipeline import select
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.spec import SpecTest


def _stated_count(task: TaskResult) -> int:
    tests, _ = fill_records(task)
    return sum(t.stated for t in tests)


def _group(task: TaskResult) -> int:
    return int(task.details["selection"].get("group", 0))


def _chosen(task: TaskResult) -> Candidate | None:
    index = task.details["selection"].get("index")
    return next((c for c in fill_records(task)[1] if c.index == index), None)


def _agree_on_tests(task: TaskResult) -> int:
    """How many candidates computed what the answer computed on every test, the probes
    left out: the agreement `verified` needed before probes (select.rank's `agree`,
    over the tests without the probes)."""
    tests, cands = fill_records(task)
    chosen = _chosen(task)
    if chosen is None or not chosen.ran:
        return 0
    keep = [j for j, t in enumerate(tests) if t.kind != "probe"]
    unprobed = [SpecTest("", "", "docstring")] * len(keep)   # only the answers count
    trimmed = [dataclasses.replace(c, results=tuple(c.results[j] for j in keep))
               if c.ran else c for c in cands]
    ranked = select.rank(trimmed, unprobed)
    return next(r.agree for r in ranked if cands[r.index].index == chosen.index)


def _verified_without_probes(task: TaskResult) -> bool:
    """Replayed: the answer passes the stated tests, another candidate agrees with it on
    every test (probes ignored) and its checks found nothing. An approximation: the
    answer kept is the hook's, where without probes another might have won."""
    if task.verdict == "verified":
        return True
    tests, _ = fill_records(task)
    chosen = _chosen(task)
    if chosen is None or chosen.findings or not select.passes_stated(chosen, tests):
        return False
    return bool(select.stated_results(chosen, tests)) and _agree_on_tests(task) >= 2


def _cluster_margin(task: TaskResult) -> int:
    """Among candidates passing the stated tests: the size of the answer's output cluster
    (same results on every test and probe) less the size of the largest other one."""
    tests, cands = fill_records(task)
    chosen = _chosen(task)
    passing = [c for c in cands if select.passes_stated(c, tests)]
    if chosen is None or chosen not in passing:
        return 0
    sizes: dict[tuple[str, ...], int] = {}
    for cand in passing:
        key = tuple(r.answer for r in cand.results)
        sizes[key] = sizes.get(key, 0) + 1
    own = sizes.pop(tuple(r.answer for r in chosen.results))
    return own - max(sizes.values(), default=0)


VERIFY_RULES: dict[str, Callable[[TaskResult], bool]] = {
    "as the hook said": lambda t: True,
    "and another candidate passed exactly the same tests (group >= 2)":
        lambda t: _group(t) >= 2,
    "and >= 2 candidates passed the stated tests":
        lambda t: t.details["selection"].get("candidates_passing_stated", 0) >= 2,
    "and >= 2 stated tests, or group >= 2": lambda t: _stated_count(t) >= 2 or _group(t) >= 2,
    "and its output cluster is the largest of those passing the stated tests":
        lambda t: _cluster_margin(t) > 0,
    "and its output cluster is >= 2 larger than any other": lambda t: _cluster_margin(t) >= 2,
}


def main() -> None:
    results, tasks, as_json = replay_arguments(__doc__.split("\n")[0])
    rates = stage_rates(tasks)
    assert rates is not None   # replay_arguments exits when no task is scored
    figures: dict[str, float | None] = dict(rates)
    replayed = [t for t in tasks if _verified_without_probes(t)]
    figures["precision of verified, probes left out (replayed)"] = (
        sum(t.passed for t in replayed) / len(replayed) if replayed else None)
    figures["verified rate, probes left out (replayed)"] = len(replayed) / len(tasks)
    verified = [t for t in tasks if t.verdict == "verified"]
    for name, keep in VERIFY_RULES.items():
        kept = [t for t in verified if keep(t)]
        figures[f"precision of verified, {name}"] = (
            sum(t.passed for t in kept) / len(kept) if kept else None)
        figures[f"verified rate, {name}"] = len(kept) / len(tasks)
    if as_json:
        print(json.dumps({"tasks": len(tasks), "figures": figures}, indent=2))
        return
    print(f"{len(tasks)} tasks from {results}")
    for name, value in figures.items():
        print(f"  {percent_cell(value)}  {name}")


if __name__ == "__main__":
    main()
