"""eval repo: functions cut back to stubs, filled, scored by the repository's own tests.

The sandbox, pytest, coverage and the index are real; only the model is scripted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import codegen_hook.evals.repo as repo_eval
from codegen_hook.backends.fake import ScriptedBackend
from codegen_hook.checks import make_checks
from codegen_hook.cli import main
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError, EvalError
from codegen_hook.evals.repo import (RepoEval, find_functions, run_repo_eval, stub_out,
                                     summarize_arm)
from codegen_hook.evals.repo_report import render_repo_report
from codegen_hook.evals.testenv import (BASE_REQUIREMENTS, Workspace, _install, _open_to_sandbox,
                                        make_workspace, parse_test_command, run_repo_tests)
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.stubs import find_stubs

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

OPS = '''"""Small arithmetic."""


def double(x: int) -> int:
    """Twice x.

    >>> double(2)
    4
    """
    return x * 2


def placeholder() -> None:
    """Nothing yet."""
    pass


def clamp(x: int, low: int, high: int) -> int:
    """x limited to [low, high]."""
    if x < low:
        return low
    return min(x, high)


def unused(x: int) -> int:
    """Not called by any test."""
    return x - 1


def no_doc(x: int) -> int:
    return x


class Box:
    def __init__(self, v: int) -> None:
        """A box."""
        self.v = v

    @property
    def value(self) -> int:
        """The value."""
        return self.v

    @value.setter
    def value(self, v: int) -> None:
        """Set it."""
        self.v = v
'''

TESTS = '''from mathx.ops import Box, clamp, double


def test_double():
    assert double(3) == 6


def test_clamp():
    assert clamp(5, 0, 3) == 3
    assert clamp(-1, 0, 3) == 0
    assert clamp(2, 0, 3) == 2


def test_box():
    assert Box(2).v == 2
'''

SETTINGS = Settings(checks=("flake8",), candidates=1, max_rounds=1, generated_tests=False,
                    sandbox="bwrap")
RIGHT_DOUBLE = "```python\ndef double(x: int) -> int:\n    return x * 2\n```"
WRONG_CLAMP = "```python\ndef clamp(x: int, low: int, high: int) -> int:\n    return x\n```"
RIGHT_INIT = "```python\ndef __init__(self, v: int) -> None:\n    self.v = v\n```"


@pytest.fixture(scope="module")
def test_site() -> Iterator[Path]:
    """pytest and pytest-cov, installed once, readable by the sandbox's user."""
    folder = Path(tempfile.mkdtemp(prefix="codegen-hook-test-site-"))
    try:
        _install(folder, list(BASE_REQUIREMENTS))
        _open_to_sandbox(folder)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "mathx").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "mathx" / "__init__.py").write_text("")
    (root / "mathx" / "ops.py").write_text(OPS)
    (root / "tests" / "test_ops.py").write_text(TESTS)
    return root


@pytest.fixture
def workspace(project: Path, test_site: Path) -> Iterator[Workspace]:
    ws = make_workspace(project, [], [test_site])
    yield ws
    ws.close()


def evaluate(ws: Workspace, tmp_path: Path, answers: list[str], **kw: object
             ) -> tuple[RepoEval, ScriptedBackend]:
    backend = ScriptedBackend(answers)
    options: dict[str, object] = {"arms": ("retrieval",), **kw}
    run = run_repo_eval(ws, ["pytest", "-q"], SETTINGS, out_dir=tmp_path / "out",
                        make_backend=lambda: backend, make_sandbox=BwrapSandbox,
                        checks=make_checks(SETTINGS.checks), **options)  # type: ignore[arg-type]
    return run, backend


def test_find_functions_keeps_documented_bodies_outside_the_tests(project: Path) -> None:
    functions, skipped = find_functions(project)
    assert [f.key for f in functions] == ["mathx/ops.py::double", "mathx/ops.py::clamp",
                                          "mathx/ops.py::unused", "mathx/ops.py::Box.__init__"]
    assert skipped["no docstring"] == 1
    assert skipped["no body to write"] == 1            # the `pass` one
    assert skipped["defined more than once"] == 2      # the property's getter and setter


def test_stub_out_leaves_a_stub_the_hook_finds_and_the_rest_as_it_was(project: Path) -> None:
    functions, _ = find_functions(project)
    clamp = next(f for f in functions if f.qualname == "clamp")
    text = (project / "mathx" / "ops.py").read_text()
    stubbed = stub_out(text, clamp)
    stubs = find_stubs(stubbed).stubs
    assert [s.qualname for s in stubs] == ["clamp"]
    assert "return min(x, high)" not in stubbed
    assert stubbed.replace('    """x limited to [low, high]."""\n    ...\n', "") == \
        text.replace('    """x limited to [low, high]."""\n    if x < low:\n        return low\n'
                     '    return min(x, high)\n', "")


def test_parse_test_command_takes_pytest_runs_only() -> None:
    assert parse_test_command("pytest -q tests") == ["pytest", "-q", "tests"]
    assert parse_test_command("python -m pytest -x")[:3] == ["python", "-m", "pytest"]
    with pytest.raises(ConfigError, match="not a pytest run"):
        parse_test_command("make test")
    with pytest.raises(ConfigError, match="does not parse"):
        parse_test_command("pytest 'unclosed")


def test_coverage_says_which_tests_run_which_function(workspace: Workspace,
                                                      project: Path) -> None:
    functions, _ = find_functions(workspace.src)
    ranges: dict[str, list[list[object]]] = {}
    for fn in functions:
        ranges.setdefault(fn.path, []).append([fn.key, fn.body_first, fn.last_line])
    run = run_repo_tests(BwrapSandbox(), workspace, ["pytest", "-q"], coverage=ranges)
    assert run.passed and run.counts == {"passed": 3}
    assert run.covered == {"mathx/ops.py::double": ["tests/test_ops.py::test_double"],
                           "mathx/ops.py::clamp": ["tests/test_ops.py::test_clamp"],
                           "mathx/ops.py::Box.__init__": ["tests/test_ops.py::test_box"]}


def test_ab_run_scores_the_hook_answers_with_the_repository_tests(
        workspace: Workspace, project: Path, tmp_path: Path) -> None:
    run, backend = evaluate(workspace, tmp_path, [RIGHT_INIT, WRONG_CLAMP, RIGHT_DOUBLE])
    assert (run.candidates, run.covered) == (4, 3)
    by_key = {r.key: r for r in run.results}
    double = by_key["mathx/ops.py::double"].arms["retrieval"]
    assert double.verdict == "verified" and double.passed
    assert double.tests == {"passed": 1}
    assert double.speed_ratio is not None and double.speed_ratio > 0
    assert by_key["mathx/ops.py::double"].original_calls == 1
    clamp = by_key["mathx/ops.py::clamp"].arms["retrieval"]
    assert not clamp.passed and clamp.failed_tests == ["tests/test_ops.py::test_clamp"]
    assert clamp.verdict != "verified"
    summary = run.summaries["retrieval"]
    assert (summary.functions, summary.passed, summary.verified) == (3, 2, 1)
    assert summary.precision_verified == 1.0
    # The model never saw a hand-written body it was asked to write.
    prompts = [m.content for r in backend.requests for m in r.messages]
    assert not any("return x * 2" in p or "return min(x, high)" in p for p in prompts)
    # Everything is put back: the scratch copy, and the user's repository was never touched.
    assert (workspace.src / "mathx" / "ops.py").read_text() == OPS
    assert (project / "mathx" / "ops.py").read_text() == OPS
    lines = (tmp_path / "out" / "repo.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["key"] == "mathx/ops.py::Box.__init__"
    html = render_repo_report(run.results, run.summaries, "project")
    assert "mathx/ops.py::clamp" in html and "<svg" in html


def test_resume_reuses_finished_functions(workspace: Workspace, tmp_path: Path) -> None:
    evaluate(workspace, tmp_path, [RIGHT_DOUBLE], only=["mathx/ops.py::double"])
    with pytest.raises(ConfigError, match="--resume"):
        evaluate(workspace, tmp_path, [], only=["mathx/ops.py::double"])
    again, backend = evaluate(workspace, tmp_path, [], only=["mathx/ops.py::double"],
                              resume=True)
    assert again.resumed == 1 and backend.requests == []
    assert again.results[0].arms["retrieval"].passed


def test_both_arms_fill_with_and_without_retrieval(workspace: Workspace,
                                                   tmp_path: Path) -> None:
    run, backend = evaluate(workspace, tmp_path, [RIGHT_DOUBLE, RIGHT_DOUBLE],
                            only=["mathx/ops.py::double"], arms=repo_eval.DEFAULT_ARMS)
    assert set(run.results[0].arms) == {"retrieval", "docstring-only"}
    assert len(backend.requests) == 2
    assert all(s.passed == 1 for s in run.summaries.values())


def test_a_function_whose_tests_fail_as_written_is_skipped(
        project: Path, test_site: Path, tmp_path: Path) -> None:
    (project / "tests" / "test_ops.py").write_text(TESTS.replace("== 6", "== 7"))
    ws = make_workspace(project, [], [test_site])
    try:
        run, backend = evaluate(ws, tmp_path, [], only=["mathx/ops.py::double"])
    finally:
        ws.close()
    assert run.results[0].status == "skipped"
    assert "test_double" in run.results[0].skip_reason
    assert backend.requests == [] and summarize_arm(run.results, "retrieval").functions == 0


def test_a_body_left_in_the_index_stops_the_run(workspace: Workspace, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(repo_eval, "stub_out", lambda text, fn: text)
    with pytest.raises(EvalError, match="still holds the hand-written definition"):
        evaluate(workspace, tmp_path, [], only=["mathx/ops.py::double"])


def test_unknown_functions_are_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--list"):
        evaluate(workspace, tmp_path, [], only=["mathx/ops.py::nope"])


def test_cli_lists_functions_and_refuses_a_non_pytest_command(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "repo", str(project), "--list", "--json"]) == 0
    assert "mathx/ops.py::clamp" in json.loads(capsys.readouterr().out)
    assert main(["eval", "repo", str(project), "--test-cmd", "make test"]) == 2
    assert "not a pytest run" in capsys.readouterr().err
    assert main(["eval", "repo", str(project / "missing")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_deps_the_sandbox_user_cannot_read_are_refused(project: Path, tmp_path: Path) -> None:
    private = tmp_path / "private-site"
    private.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o700)
    with pytest.raises(ConfigError, match="cannot read it"):
        make_workspace(project, [], [private], sandbox_uid=61000)


def test_the_sandboxed_runner_swaps_paths_for_the_selected_tests() -> None:
    from codegen_hook.sandboxed.repo_tests import _pytest_args

    argv = ["pytest", "-q", "-k", "not slow", "tests", "--tb", "short", "other"]
    assert _pytest_args(argv, None) == argv[1:]
    assert _pytest_args(argv, ["tests/t.py::a"]) == ["-q", "-k", "not slow", "--tb", "short",
                                                     "tests/t.py::a"]
    assert _pytest_args(["python", "-m", "pytest", "x"], ["n"]) == ["n"]


def test_the_sandboxed_runner_times_only_outermost_calls(tmp_path: Path) -> None:
    import sys

    from codegen_hook.sandboxed.repo_tests import Timer

    def fib(n: int) -> int:
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    code = fib.__code__
    timer = Timer(os.path.realpath(code.co_filename), "fib", [code.co_firstlineno])
    sys.setprofile(timer.profile)
    try:
        fib(10)
        fib(3)
    finally:
        sys.setprofile(None)
    assert timer.calls == 2 and timer.seconds > 0 and timer.depth == 0


CLAMP_TESTS = '''from mathx.ops import clamp


def test_clamp_high():
    assert clamp(5, 0, 3) == 3


def test_clamp_low():
    assert clamp(-1, 0, 3) == 0


class TestClampInside:
    def test_inside(self):
        assert clamp(2, 0, 3) == 2


def test_clamp_bounds():
    assert clamp(0, 0, 3) == 0 and clamp(3, 0, 3) == 3
'''
RIGHT_CLAMP = ("```python\ndef clamp(x: int, low: int, high: int) -> int:\n"
               "    return max(low, min(x, high))\n```")


def test_the_tdd_arm_sees_half_the_tests_and_the_rest_score_every_arm(
        project: Path, test_site: Path, tmp_path: Path) -> None:
    (project / "tests" / "test_clamp.py").write_text(CLAMP_TESTS)
    ws = make_workspace(project, [], [test_site])
    try:
        run, backend = evaluate(ws, tmp_path, [WRONG_CLAMP, RIGHT_CLAMP, RIGHT_CLAMP],
                                only=["mathx/ops.py::clamp"], arms=repo_eval.ARMS, seed=3)
        assert (ws.src / "tests" / "test_clamp.py").read_text() == CLAMP_TESTS
    finally:
        ws.close()
    [result] = run.results
    naming = {"tests/test_ops.py::test_clamp", "tests/test_clamp.py::test_clamp_high",
              "tests/test_clamp.py::test_clamp_low", "tests/test_clamp.py::test_clamp_bounds",
              "tests/test_clamp.py::TestClampInside::test_inside"}
    assert len(result.visible_tests) == 2 and set(result.visible_tests) <= naming
    assert result.scored_tests == 3       # the covering tests outside the visible half
    tdd = result.arms["tdd"]
    # The fill's evidence was the visible half only; nothing hidden ran or reached a prompt.
    prompts = "\n".join(m.content for r in backend.requests for m in r.messages)
    hidden = naming - set(result.visible_tests)
    assert not any(t.rsplit("::", 1)[-1] + "(" in prompts for t in hidden)
    assert tdd.verdict == "verified" and tdd.passed
    assert set(tdd.repo_tests) == set(result.visible_tests)
    assert any(e.startswith("repo-tests:") for e in tdd.evidence)
    assert sum(tdd.tests.values()) == 3
    for arm in ("retrieval", "docstring-only"):
        assert sum(result.arms[arm].tests.values()) == 3
    summary = run.summaries["tdd"]
    assert summary.accuracy_ci is not None and summary.accuracy_ci[1] == 1.0


def test_with_too_few_tests_naming_it_a_function_is_skipped_for_tdd(
        workspace: Workspace, tmp_path: Path) -> None:
    run, backend = evaluate(workspace, tmp_path, [], only=["mathx/ops.py::double"],
                            arms=repo_eval.ARMS)
    assert run.results[0].status == "skipped"
    assert "fewer than 2" in run.results[0].skip_reason and backend.requests == []


def test_unknown_arms_are_a_clear_error(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tdd"):
        evaluate(workspace, tmp_path, [], arms=("nope",))


def test_the_workspace_is_open_to_the_sandbox_under_the_clis_umask(project: Path,
                                                                   test_site: Path) -> None:
    previous = os.umask(0o077)
    try:
        ws = make_workspace(project, [], [test_site])
    finally:
        os.umask(previous)
    try:
        run = run_repo_tests(BwrapSandbox(), ws, ["pytest", "-q"], timeout=120)
        assert run.verdict == "ok" and run.counts.get("passed") == 3, run.detail
    finally:
        ws.close()
