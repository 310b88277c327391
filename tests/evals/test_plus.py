"""HumanEval+ scoring: EvalPlus's inputs, the canonical solution as the oracle, in the
real sandbox; the data is read from ../shared, never copied."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.evals.humaneval import score_with_hidden_tests
from codegen_hook.evals.plus import DEFAULT_PLUS, load_plus_tasks, plus_check
from codegen_hook.evals.results import TaskResult, summarize
from codegen_hook.isolation.bwrap import BwrapSandbox

SETTINGS = Settings(timeout=10.0)
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed")
needs_data = pytest.mark.skipif(not DEFAULT_PLUS.is_file(),
                                reason=f"HumanEval+ data not at {DEFAULT_PLUS}")

ROW = {"task_id": "HumanEval/900", "entry_point": "halve",
       "prompt": "def halve(x: float) -> float:\n    \"\"\"Half of x.\"\"\"\n",
       "canonical_solution": "    return x / 2\n", "test": "def check(c):\n    pass\n",
       "base_input": [[2.0]], "plus_input": [[3.0], [1e-9]], "atol": 0}


def _score(row: dict[str, object], body: str) -> bool:
    from codegen_hook.evals.humaneval import Task
    task = Task(str(row["task_id"]), str(row["prompt"]), str(row["entry_point"]), "",
                plus_check(row))
    module = str(row["prompt"]) + body
    return score_with_hidden_tests(task, module, BwrapSandbox(), SETTINGS, plus=True).passed


@pytest.mark.sandbox
@needs_bwrap
def test_the_plus_check_compares_with_the_canonical_solution_on_every_input() -> None:
    assert _score(ROW, "    return x / 2\n")
    assert _score(ROW, "    return x * 0.5 * (1 + 1e-9)\n")      # floats: relative 1e-7
    assert not _score(ROW, "    return x / 2 if x < 3 else 1.0\n")  # a plus input catches it
    assert not _score(ROW, "    import sys\n    sys.exit(0)\n")
    # the canonical solution's helpers do not stand in for the answer's
    helper = dict(ROW, prompt="def _h(x):\n    return x\n\n\n" + str(ROW["prompt"]))
    assert not _score(helper, "    return _g(x) / 2\n")


@needs_data
def test_the_shipped_data_loads_with_both_checks_and_can_be_chosen() -> None:
    tasks = load_plus_tasks()
    assert len(tasks) == 164 and all(t.test and t.plus_test for t in tasks)
    chosen = load_plus_tasks(every=40, offset=1)
    assert [t.task_id for t in chosen] == ["HumanEval/1", "HumanEval/41", "HumanEval/81",
                                           "HumanEval/121", "HumanEval/161"]
    assert [t.task_id for t in load_plus_tasks(task_ids=["32"])] == ["HumanEval/32"]


@pytest.mark.sandbox
@needs_bwrap
@needs_data
def test_canonical_solutions_pass_their_own_plus_checks_find_zero_included() -> None:
    rows = {}
    with gzip.open(DEFAULT_PLUS, "rt") as handle:
        for line in handle:
            row = json.loads(line)
            rows[row["task_id"]] = row
    for task in load_plus_tasks(task_ids=["2", "32", "53"]):
        module = task.prompt + rows[task.task_id]["canonical_solution"]
        assert score_with_hidden_tests(task, module, BwrapSandbox(), SETTINGS,
                                       plus=True).passed, task.task_id


def test_missing_or_foreign_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--plus-data"):
        load_plus_tasks(tmp_path / "none.jsonl.gz")
    bad = tmp_path / "bad.jsonl.gz"
    with gzip.open(bad, "wt") as handle:
        handle.write(json.dumps({"task_id": "x"}) + "\n")
    with pytest.raises(ConfigError, match="lacks"):
        load_plus_tasks(bad)
    (tmp_path / "text.jsonl.gz").write_text("not gzip")
    with pytest.raises(ConfigError, match="not a readable"):
        load_plus_tasks(tmp_path / "text.jsonl.gz")


def test_the_summary_gives_plus_figures_only_when_every_task_has_them() -> None:
    def result(verdict: str, passed: bool, plus: bool | None) -> TaskResult:
        return TaskResult("t", "hook", verdict, passed, 1.0, plus_passed=plus)
    both = summarize([result("verified", True, True), result("verified", True, False),
                      result("unverified", True, True)])
    assert (both.plus_passed, both.precision_plus, both.right_unverified_plus) == (2, 0.5, 1)
    assert both.right_unverified == 1
    assert summarize([result("verified", True, None)]).plus_pass_at_1 is None
