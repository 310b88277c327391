"""Pass rate by stage of the flow, replayed over one run's recorded test matrix.

`eval humaneval` keeps each candidate's row of the test matrix (which tests it passed;
columns d docstring, s stated, m model-written, p probe; and a digest of what it computed
on each) and, after the answer is fixed, whether
each candidate passes the hidden tests. Replaying selection rules over those rows says
what each stage adds without generating again. Static checks are not replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from codegen_hook.evals.results import TaskResult
from codegen_hook.pipeline.rank import rank_by_agreement
from codegen_hook.pipeline.spec import ORIGIN_WEIGHT

__all__ = ["STAGES", "probe_outputs", "stage_rates"]

Cands = list[dict[str, Any]]
Rule = Callable[[Cands, str], int | None]
_ORIGIN = {"d": "docstring", "s": "stated", "m": "model", "p": "probe"}


def _row(cand: dict[str, Any], columns: str) -> list[bool] | None:
    if not cand.get("ran") or len(cand.get("passes", "")) != len(columns):
        return None
    return [c == "1" for c in cand["passes"]]


def _keep(row: list[bool], columns: str, origins: str) -> list[bool]:
    return [ok for ok, col in zip(row, columns) if col in origins]


def _passes_stated(cand: dict[str, Any], columns: str) -> bool:
    row = _row(cand, columns)
    return row is not None and all(_keep(row, columns, "ds"))


def _greedy(cands: Cands, columns: str) -> int | None:
    return 0 if cands else None


def _first_passing(cands: Cands, columns: str) -> int | None:
    return next((i for i, c in enumerate(cands) if _passes_stated(c, columns)), 0)


def _agreement(origins: str) -> Rule:
    def rule(cands: Cands, columns: str) -> int | None:
        rows = [_row(c, columns) for c in cands]
        kept = [None if r is None else _keep(r, columns, origins) for r in rows]
        weights = [ORIGIN_WEIGHT[_ORIGIN[c]] for c in columns if c in origins]
        order = rank_by_agreement(kept, weights)
        stated = [r.index for r in order if _passes_stated(cands[r.index], columns)]
        return stated[0] if stated else (order[0].index if order else None)
    return rule


def probe_outputs(cand: dict[str, Any], columns: str) -> tuple[str, ...]:
    """The digests of what a candidate computed on the probes (fill.py records any
    exception on a probe as one answer)."""
    outputs = cand.get("outputs") or []
    return tuple(out for out, col in zip(outputs, columns) if col == "p")


def _clustered(cands: Cands, columns: str) -> int | None:
    """Agreement where a group must also compute the same on the probes (output
    clusters, as in AlphaCode / MBR-exec), the group's size times its tests' weight."""
    keys: list[tuple[Any, ...] | None] = []
    for cand in cands:
        row = _row(cand, columns)
        keys.append(None if row is None else (tuple(_keep(row, columns, "dsm")),
                                              probe_outputs(cand, columns)))
    weights = [ORIGIN_WEIGHT[_ORIGIN[c]] for c in columns if c in "dsm"]
    sizes = {key: keys.count(key) for key in keys if key is not None}
    scores = [0.0 if key is None else
              sizes[key] * (sum(w for ok, w in zip(key[0], weights) if ok) or 1e-3)
              for key in keys]
    order = sorted(range(len(cands)), key=lambda i: (-scores[i], i))
    stated = [i for i in order if _passes_stated(cands[i], columns)]
    return stated[0] if stated else (order[0] if order else None)


# (label, rule, rounds): rounds "1" replays the first round's candidates only, "5" the
# first five of them (the earlier default k), "all" every round's, "repairs" every
# round's but the fresh samples of later rounds (what repair alone found; a later
# round's repair saw the fresh samples' failures, so this is the nearest replay)
STAGES: list[tuple[str, Rule, str]] = [
    ("greedy candidate", _greedy, "1"),
    ("first passing the stated tests", _first_passing, "1"),
    ("agreement, stated tests", _agreement("ds"), "1"),
    ("agreement, + model tests, first 5 candidates", _agreement("dsm"), "5"),
    ("agreement, + model tests", _agreement("dsm"), "1"),
    ("agreement, + model tests + probe clusters", _clustered, "1"),
    ("agreement, + repair rounds, fresh samples left out", _agreement("dsm"), "repairs"),
    ("agreement, + repair rounds", _agreement("dsm"), "all"),
]


def _candidates(task: TaskResult, rounds: str) -> Cands:
    cands: Cands = task.details["candidates"]
    if rounds == "all":
        return cands
    if rounds == "repairs":
        return [c for c in cands if c.get("origin") != "resample"]
    first = [c for c in cands if c["round"] == 1]
    return first[:5] if rounds == "5" else first


def _picked_right(task: TaskResult, rule: Rule, rounds: str) -> bool:
    cands = _candidates(task, rounds)
    chosen = rule(cands, task.details["selection"].get("tests", ""))
    return chosen is not None and bool(task.details["candidate_passed"][cands[chosen]["index"]])


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
    # where nothing verified, fill._fallback answers with the rule of the last stage
    # (agreement over every round): replayed, for runs made before it did
    every_round = _agreement("dsm")
    rates["verified answers as given, the others agreement's pick"] = sum(
        t.passed if t.verdict == "verified" else _picked_right(t, every_round, "all")
        for t in tasks) / len(tasks)
    rates["oracle, first 5 candidates of round 1"] = sum(
        any(task.details["candidate_passed"][c["index"]] for c in _candidates(task, "5"))
        for task in tasks) / len(tasks)
    rates["oracle without the fresh samples"] = sum(
        any(task.details["candidate_passed"][c["index"]] for c in _candidates(task, "repairs"))
        for task in tasks) / len(tasks)
    rates["oracle: some candidate right"] = sum(
        any(t.details["candidate_passed"]) or t.passed for t in tasks) / len(tasks)
    return rates
