"""CodeT dual agreement: group size times the weight of the tests passed."""

from __future__ import annotations

from codegen_hook.pipeline.rank import Ranked, rank_by_agreement, rank_in_order

WEIGHTS = [4.0, 1.0, 1.0]


def test_agreeing_candidates_beat_a_lone_one_that_passes_more_model_tests() -> None:
    rows = [
        [True, False, False],    # 0: alone, 4
        [True, True, False],     # 1: with 2, 2 x 5 = 10
        [True, True, False],     # 2
        [True, True, True],      # 3: alone, 6
        None,                    # 4: did not run
    ]
    ranked = rank_by_agreement(rows, WEIGHTS)
    assert [r.index for r in ranked] == [1, 2, 3, 0, 4]
    assert ranked[0] == Ranked(1, 10.0, 2, 5.0)
    assert ranked[-1] == Ranked(4, 0.0, 0, 0.0)


def test_passing_nothing_still_beats_not_running() -> None:
    ranked = rank_by_agreement([None, [False, False, False]], WEIGHTS)
    assert [r.index for r in ranked] == [1, 0] and 0 < ranked[0].score < 1


def test_ties_keep_generation_order_and_the_ablation_keeps_it_always() -> None:
    rows = [[False, True, False], [False, False, True], [True, False, False]]
    assert [r.index for r in rank_by_agreement(rows, WEIGHTS)] == [2, 0, 1]
    assert [r.index for r in rank_in_order(rows, WEIGHTS)] == [0, 1, 2]
