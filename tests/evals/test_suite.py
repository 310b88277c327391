"""The realistic dev set and its loader: every reference solution passes its hidden
tests in the real sandbox, every stub fails them, and a bad file is a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.evals.humaneval import score_with_hidden_tests, stub_module
from codegen_hook.evals.suite import DEFAULT_SUITE, load_suite
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.stubs import find_stubs

SETTINGS = Settings(timeout=10.0)
SUITE = load_suite()


def test_the_realistic_set_is_large_varied_and_well_formed() -> None:
    assert len(SUITE) >= 60   # issue 21
    tags = [set(t.tags) for t in SUITE]
    for examples in ("examples-0", "examples-1", "examples-2"):
        assert sum(examples in t for t in tags) >= 10, examples
    assert sum("." in t.task.entry_point for t in SUITE) >= 5   # method stubs
    for item in SUITE:
        # the hook sees a stub it can find, named as the task says
        names = [s.qualname for s in find_stubs(stub_module(item.task.prompt,
                                                            item.task.entry_point)).stubs]
        assert item.task.entry_point in names, item.task.task_id


@pytest.mark.sandbox
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_every_reference_passes_its_hidden_tests_and_every_stub_fails_them() -> None:
    sandbox = BwrapSandbox()
    for item in SUITE:
        task = item.task
        right = score_with_hidden_tests(task, item.reference_module, sandbox, SETTINGS)
        assert right.passed, (task.task_id, right.detail)
        stub = score_with_hidden_tests(task, stub_module(task.prompt, task.entry_point),
                                       sandbox, SETTINGS)
        assert not stub.passed, task.task_id


def test_tasks_are_chosen_by_tag_id_and_stride() -> None:
    first = SUITE[0].task.task_id
    assert [t.task.task_id for t in load_suite(task_ids=[first])] == [first]
    assert len(load_suite(every=2, offset=1)) == len(SUITE) // 2
    methods = load_suite(tags=["methods"])
    assert methods and all("methods" in t.tags for t in methods)
    with pytest.raises(ConfigError, match="unknown task"):
        load_suite(task_ids=["realistic/nope"])


@pytest.mark.parametrize("text, match", [
    ("- id: a\n  entry_point: f\n", "lacks prompt, solution, test"),
    ("{}\n", "a YAML list of tasks"),
    ("- [1]\n", "is not a mapping"),
    ("- {id: a, entry_point: f, prompt: 'def f(:', solution: x, test: y}\n",
     "its prompt does not parse"),
    ("- {id: a, entry_point: f, prompt: 'x = 1', solution: x, test: y, tags: 3}\n",
     "tags must be a list"),
    ("- {id: a, entry_point: f, prompt: 'x = 1', solution: x, test: y}\n"
     "- {id: a, entry_point: f, prompt: 'x = 1', solution: x, test: y}\n", "used twice"),
    (": : :\n", "cannot read the suite"),
])
def test_a_bad_suite_file_is_a_clear_error(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_suite(path)


def test_a_missing_or_empty_suite_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no suite at"):
        load_suite(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="holds no .yaml"):
        load_suite(tmp_path)
    assert DEFAULT_SUITE.name == "realistic"
