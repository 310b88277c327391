"""The review the CI bot posts: suggestions on the stub's lines, notes, the summary."""

from __future__ import annotations

from codegen_hook.checks.base import Finding
from codegen_hook.ci.review import build_review, render_summary
from codegen_hook.forges.base import Note, Suggestion
from codegen_hook.pipeline.outcome import (ExampleResult, GeneratedTestResult, Outcome,
                                           OutcomeVerdict)


def outcome(name: str, verdict: OutcomeVerdict, code: str = "",
            reasons: tuple[str, ...] = (), checks: tuple[Finding, ...] = ()) -> Outcome:
    return Outcome(
        file=f"/repo/pkg/{name}.py", name=name, qualname=name, line=3, verdict=verdict,
        code=code, reasons=list(reasons), checks=list(checks),
        tests=[ExampleResult(f"{name}(1)", "2", "2", True)], attempts=5,
        timings={"total_s": 12.34}, model="llama-cpp:m", sandbox="bwrap",
        generated_tests=[GeneratedTestResult("assert f(2) == 3", True),
                         GeneratedTestResult("assert f(0) == 1", False)])


GOOD = outcome("inc", "verified", "def inc(x: int) -> int:\n    \"\"\"Add one.\"\"\"\n"
               "    return x + 1\n")
BAD = outcome("dec", "unverified", "def dec(x):\n    return x\n",
              reasons=("no candidate passed every check and example; the closest one:\n"
                       "dec(1) returned 1, expected 0",),
              checks=(Finding("mypy", 4, 1, "no-untyped-def", "untyped"),))


def test_a_suggestion_replaces_exactly_the_stub_lines_and_a_note_explains_the_rest() -> None:
    review = build_review([("pkg/inc.py", GOOD), ("pkg/dec.py", BAD)],
                          {("pkg/inc.py", "inc"): (3, 5), ("pkg/dec.py", "dec"): (3, 6)},
                          summary="S", base_sha="b" * 40, head_sha="h" * 40)
    [suggestion] = review.suggestions
    assert suggestion == Suggestion(
        "pkg/inc.py", 3, 5, 'def inc(x: int) -> int:\n    """Add one."""\n    return x + 1',
        suggestion.comment)
    assert "`inc`" in suggestion.comment and "✅ verified" in suggestion.comment
    assert "tests 1/1 (+ 1/2 model-written)" in suggestion.comment
    [note] = review.notes
    assert isinstance(note, Note) and (note.path, note.line) == ("pkg/dec.py", 3)
    assert "dec(1) returned 1, expected 0" in note.body
    assert "```python\ndef dec(x):\n    return x\n```" in note.body
    assert (review.summary, review.base_sha, review.head_sha) == ("S", "b" * 40, "h" * 40)


def test_the_summary_table_has_a_row_per_stub_and_says_why() -> None:
    text = render_summary([("pkg/inc.py", GOOD), ("pkg/dec.py", BAD)], mode="review",
                          model="llama-cpp:m", sandbox="bwrap", seconds=42.0)
    assert text.startswith("### codegen-hook\n")
    assert "Filled **1** of **2** stub(s)" in text and "delivered as **review**" in text
    assert ("| `inc` | `pkg/inc.py:3` | ✅ verified | 1/1 (+ 1/2 model-written) | clean | "
            "12.3 s |") in text
    assert "| `dec` | `pkg/dec.py:3` | ⚠️ unverified | 1/1 (+ 1/2 model-written) | mypy |" in text
    assert "- `dec` (pkg/dec.py): no candidate passed every check and example;" in text
    assert "model `llama-cpp:m` · sandbox `bwrap` · 42 s" in text


def test_no_stubs_says_so() -> None:
    text = render_summary([], mode="review", model="m", sandbox="bwrap", seconds=1.0,
                          notes=["no push rights: delivered as review"])
    assert "adds no stubs" in text and "> no push rights: delivered as review" in text
