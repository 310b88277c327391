"""Ranking candidates by what they did in the sandbox (CodeT's dual agreement).

Candidates that pass exactly the same set of tests form a group. A group's score is
the number of candidates in it times the weight of the tests they pass: agreement
between independently sampled programs counts, and so does agreement with tests,
the docstring's own examples weighing most (spec.ORIGIN_WEIGHT). Every candidate
of a group gets the group's score; ties keep generation order (greedy first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Ranked", "rank_by_agreement", "rank_in_order"]


@dataclass(frozen=True)
class Ranked:
    index: int          # position in the candidates given
    score: float        # group size x weight passed; 0 for a candidate that did not run
    group: int          # how many candidates passed exactly the same tests
    passed: float       # the weight of the tests it passed


def rank_by_agreement(passes: Sequence[Sequence[bool] | None],
                      weights: Sequence[float]) -> list[Ranked]:
    """`passes[i]` is candidate i's row of the test matrix, None if it did not run.
    Returns every candidate, best first."""
    keys: list[frozenset[int] | None] = [
        None if row is None else frozenset(j for j, ok in enumerate(row) if ok)
        for row in passes]
    sizes: dict[frozenset[int], int] = {}
    for key in keys:
        if key is not None:
            sizes[key] = sizes.get(key, 0) + 1
    ranked = []
    for index, key in enumerate(keys):
        if key is None:
            ranked.append(Ranked(index, 0.0, 0, 0.0))
            continue
        weight = sum(weights[j] for j in key)
        # A group that passes nothing still beats a candidate that did not run.
        ranked.append(Ranked(index, sizes[key] * (weight or 1e-3), sizes[key], weight))
    return sorted(ranked, key=lambda r: (-r.score, r.index))


def rank_in_order(passes: Sequence[Sequence[bool] | None],
                  weights: Sequence[float]) -> list[Ranked]:
    """The ablation: generation order, no agreement (scores still reported)."""
    by_index = {r.index: r for r in rank_by_agreement(passes, weights)}
    return [by_index[i] for i in range(len(passes))]
