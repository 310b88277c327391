"""Hunks of a unified diff: which head lines a review comment may sit on."""

from __future__ import annotations

from codegen_hook.forges.diff import hunk_for, parse_hunks
from codegen_hook.forges.markdown import fence


def test_new_side_ranges_and_old_numbers_of_unchanged_lines() -> None:
    patch = ("--- a/m.py\n+++ b/m.py\n"
             "@@ -8,4 +8,5 @@ def f():\n a\n-b\n+B\n+C\n c\n d\n"
             "@@ -30 +31,2 @@\n x\n+y\n")
    first, second = parse_hunks(patch)
    assert (first.new_start, first.new_end, first.old_of) == (8, 12, {8: 8, 11: 10, 12: 11})
    assert (second.new_start, second.new_end, second.old_of) == (31, 32, {31: 30})
    hunks = [first, second]
    assert hunk_for(hunks, 9, 10) is first and hunk_for(hunks, 8, 12) is first
    assert hunk_for(hunks, 12, 13) is None          # runs past the hunk
    assert hunk_for(hunks, 12, 31) is None          # spans two hunks
    assert hunk_for(hunks, 5, 4) is None            # not a range


def test_form_feeds_and_no_newline_markers_do_not_shift_lines() -> None:
    patch = "@@ -1,2 +1,3 @@\n a\x0c still a\n+b\u2028 still b\n\\ No newline at end of file\n c\n"
    [hunk] = parse_hunks(patch)
    assert (hunk.new_start, hunk.new_end, hunk.old_of) == (1, 3, {1: 1, 3: 2})


def test_a_deleted_file_shows_no_head_lines() -> None:
    [hunk] = parse_hunks("@@ -1,2 +0,0 @@\n-a\n-b\n")
    assert hunk_for([hunk], 1, 1) is None


def test_a_fence_is_longer_than_any_backtick_run() -> None:
    assert fence("x = 1") == "```"
    assert fence('s = "```"') == "````"
    assert fence("a ````` b") == "``````"
