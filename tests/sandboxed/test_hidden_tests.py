"""The hidden-test scorer runs in the real sandbox and counts only its own report."""

from __future__ import annotations

import shutil

import pytest

from codegen_hook.config import Settings
from codegen_hook.evals.humaneval import Task, score_with_hidden_tests
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.sandboxed import program_text

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed")]

SETTINGS = Settings(timeout=10.0)
# HumanEval's shape: `check` may call a helper of the prompt (as HumanEval/32 does)
TASK = Task("T/0", "", "inc", "def check(candidate):\n"
            "    assert candidate(1) == 2\n    assert helper() == 'h'\n")
MODULE = "def helper():\n    return 'h'\n\n\ndef inc(x):\n{body}\n"


def score(body: str) -> tuple[bool, str]:
    result = score_with_hidden_tests(TASK, MODULE.format(body=body), BwrapSandbox(), SETTINGS)
    return result.passed, result.detail


def test_a_right_answer_passes_and_a_wrong_one_fails() -> None:
    assert score("    return x + 1") == (True, "")
    passed, detail = score("    return x")
    assert not passed and "AssertionError" in detail


@pytest.mark.parametrize("body", ["    import sys\n    sys.exit(0)",
                                  "    raise SystemExit(0)",
                                  "    import os\n    os._exit(0)"])
def test_exiting_with_status_zero_is_no_pass(body: str) -> None:
    """A candidate that ends the process with status 0 inside the tests passed
    HumanEval's scorer before: the scorer then judged by the exit status."""
    passed, _ = score(body)
    assert not passed


def test_exiting_at_import_is_no_pass() -> None:
    module = "import sys\nsys.exit(0)\n" + MODULE.format(body="    return x + 1")
    assert not score_with_hidden_tests(TASK, module, BwrapSandbox(), SETTINGS).passed


def test_programs_are_named_and_an_unknown_one_is_refused() -> None:
    assert "def main()" in program_text("run_matrix")
    with pytest.raises(ValueError, match="known: run_matrix"):
        program_text("nope")


def test_a_method_entry_point_gives_check_its_class() -> None:
    task = Task("T/1", "", "Box.size", "def check(candidate):\n"
                "    assert candidate([1, 2]).size() == 2\n")
    module = ("class Box:\n    def __init__(self, items):\n        self.items = items\n\n"
              "    def size(self):\n        return {}\n")
    sandbox = BwrapSandbox()
    assert score_with_hidden_tests(task, module.format("len(self.items)"), sandbox,
                                   SETTINGS).passed
    assert not score_with_hidden_tests(task, module.format("0"), sandbox, SETTINGS).passed
