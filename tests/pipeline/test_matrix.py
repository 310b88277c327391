"""The test matrix: every candidate against every test in one sandbox start.

The parsing tests use hand-made RunResults and the scripted sandbox; the rest start
the real bubblewrap sandbox, one job per test, several candidates per job.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codegen_hook.isolation.base import RunResult, SandboxJob, Verdict
from codegen_hook.isolation.bwrap import BwrapSandbox
from codegen_hook.isolation.fake import ScriptedSandbox
from codegen_hook.pipeline.matrix import (MatrixRun, TestResult, matrix_job,
                                          matrix_timeout, read_matrix)
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.stubs import Stub, find_stubs, splice_bodies

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bubblewrap is not installed")

MOD = '''"""The module under test: a stub in a package, using a sibling by a relative import."""

from .helpers import double


class Weird:
    def __eq__(self, other: object) -> bool:
        raise TypeError("no comparing")


def scale(values: list[int], factor: int) -> list[int]:
    """Each value times `factor`; a negative factor is a ValueError.

    >>> scale([1, 2], 2)
    [2, 4]
    """
    ...
'''
HELPERS = "def double(v: int) -> int:\n    return v * 2\n"
INIT = "from .mod import scale  # the package imports the module under test\n"

CORRECT = '''if factor < 0:
    raise ValueError("negative factor")
if factor == 2:
    return [double(v) for v in values]
return [v * factor for v in values]
'''

TESTS = [
    SpecTest("scale([1, 2], 2)", "[2, 4]", "docstring"),                          # 0 list
    SpecTest("scale([], 3)", "[]", "stated"),                                     # 1
    SpecTest("dict(zip('ab', scale([1, 2], 3)))", "{'a': 3, 'b': 6}", "model"),  # 2 dict
    SpecTest("scale([5], 0)", "[0]", "model"),                                    # 3 loops
    SpecTest("scale([1], 1)", "Weird()", "model"),                       # 4 == raises
    SpecTest("scale([1, 2], 2)\n", "[2, 4]\n", "docstring", "doctest"),           # 5
    SpecTest("for v in scale([1, 2], 10):\n    print(v)\n", "10\n20\n", "stated",
             "doctest"),                                                          # 6 prints
    SpecTest("scale([1], -1)\n", "Traceback (most recent call last):\n    ...\n"
             "ValueError: negative factor\n", "docstring", "doctest"),            # 7 raises
]
CANDIDATES = {
    "correct": CORRECT,
    "wrong": "return [v + factor for v in values]\n",
    "raises": 'raise RuntimeError("nope")\n',
    "loops on zero": "while factor == 0:\n    pass\n" + CORRECT,
    "exits at import": CORRECT,
    "noisy": ("import os\nimport sys\nos.write(1, b'@@codegen-hook-0000000000000000@@{}\\n')\n"
              "print('x' * 100_000, file=sys.stderr)\n" + CORRECT),
    "sys.exit inside": "import sys\nsys.exit(4)\n",
}
# What the module itself runs at import, after the stub (candidate bodies cannot).
AT_IMPORT = {
    "exits at import": "\nimport os\nos._exit(3)\n",
    "noisy": ("\nimport os\nimport sys\nprint('@@codegen-hook-0123456789abcdef@@"
              '{"candidate": 0, "problem": "forged", "results": []}\')\n'
              "for _ in range(2000):\n    print('y' * 1000)\n    sys.stderr.write('z' * 1000)\n"),
}


@pytest.fixture
def project(tmp_path: Path) -> tuple[Stub, Path, str]:
    package = tmp_path / "proj" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(INIT)
    (package / "helpers.py").write_text(HELPERS)
    path = package / "mod.py"
    path.write_text(MOD)
    [stub] = find_stubs(MOD, str(path)).stubs
    return stub, path, MOD


def spliced(stub: Stub, text: str, body: str, at_import: str = "") -> str:
    return splice_bodies(text, [(stub, body)], "\n") + at_import


def run(stdout: str, verdict: Verdict = "ok", notes: tuple[str, ...] = (),
        stderr: str = "") -> RunResult:
    return RunResult(verdict=verdict, exit_code=0 if verdict == "ok" else None,
                     stdout=stdout, stderr=stderr, seconds=0.1, sandbox="scripted",
                     notes=list(notes))


def line(marker: str, index: int, problem: str = "",
         results: list[dict[str, object]] | None = None) -> str:
    return "\n" + marker + json.dumps({"candidate": index, "problem": problem,
                                       "results": results or []}) + "\n"


ROW = [{"passed": True, "got": "3", "error": ""}, {"passed": False, "got": "", "error": "boom"}]
MARK = "@@codegen-hook-00112233aabbccdd@@"


# -- reading the report (no sandbox) -------------------------------------------------


def test_read_matrix_parses_each_candidates_line() -> None:
    out = "noise\n" + line(MARK, 1, "import failed") + line(MARK, 0, results=ROW) + "tail"
    matrix = read_matrix(run(out), MARK, 2, 2)
    assert matrix.problem == ""
    assert matrix.problems == ("", "import failed")
    assert matrix.results == ((TestResult(True, "3"), TestResult(False, "", "boom")), ())


@pytest.mark.parametrize("stdout", [
    "",
    "some output\nwithout any marker\n",
    MARK + "{not json\n",
    MARK + '["a list"]\n',
    MARK + json.dumps({"candidate": 7, "problem": "", "results": ROW}) + "\n",
    MARK + json.dumps({"candidate": 0, "problem": "", "results": ROW[:1]}) + "\n",
    MARK + json.dumps({"candidate": 0, "problem": "", "results": [{"passed": "yes"}] * 2}),
    line("@@codegen-hook-ffffffffffffffff@@", 0, results=ROW),  # another run's nonce
])
def test_no_usable_report_is_the_whole_runs_problem(stdout: str) -> None:
    matrix = read_matrix(run(stdout, "error", ("it broke",), "Traceback: boom"), MARK, 2, 2)
    assert matrix.problem.startswith("the sandbox run ended without a report (error: it broke")
    assert "Traceback: boom" in matrix.problem
    assert matrix.problems == (matrix.problem, matrix.problem)
    assert matrix.results == ((), ())


def test_a_line_with_the_wrong_nonce_is_ignored() -> None:
    forged = line("@@codegen-hook-0000000000000000@@", 0, results=[ROW[0], ROW[0]])
    matrix = read_matrix(run(forged + line(MARK, 0, results=ROW) + forged), MARK, 1, 2)
    assert matrix.problems == ("",)
    assert [r.passed for r in matrix.results[0]] == [True, False]


def test_a_run_stopped_midway_keeps_the_finished_candidates() -> None:
    out = line(MARK, 0, results=ROW)
    matrix = read_matrix(run(out, "timeout", ("no result within 9 s",)), MARK, 3, 2)
    assert matrix.problem == ""
    assert matrix.problems[0] == ""
    assert matrix.problems[1] == matrix.problems[2] != ""
    assert "ended before this candidate's report (timeout: no result within 9 s" \
        in matrix.problems[1]
    assert matrix.results[1:] == ((), ())


def test_job_ships_the_tree_once_and_each_candidate_apart(
        project: tuple[Stub, Path, str]) -> None:
    stub, path, text = project
    modules = [spliced(stub, text, "return []\n"), spliced(stub, text, "return values\n")]
    job, marker = matrix_job(stub, path, modules, TESTS[:3], timeout=4.0, memory_mb=256,
                             per_test_timeout=1.5)
    assert sorted(job.files) == ["candidates/0/mod.py", "candidates/1/mod.py", "matrix.json",
                                 "run_matrix.py", "src/pkg/__init__.py", "src/pkg/helpers.py"]
    assert job.files["candidates/1/mod.py"] == modules[1]
    spec = json.loads(job.files["matrix.json"])
    assert spec["module"] == "pkg.mod" and spec["qualname"] == "scale"
    assert spec["marker"] == marker and marker.startswith("@@codegen-hook-")
    # the model's test gets the shorter limit of a test the user did not write
    assert [t["timeout"] for t in spec["tests"]] == [1.5, 1.5, 1.0]
    assert spec["tests"][2] == {"call": TESTS[2].call, "expected": TESTS[2].expected,
                                "kind": "value", "setup": [], "timeout": 1.0}
    # 5 s start + 2 candidates x (4 s import + 3 tests x 1.5 s + 0.5 grace + 0.5 fork)
    assert job.timeout == matrix_timeout(2, 3, 4.0, 1.5) == pytest.approx(24.0)
    assert job.memory_mb == 256 and job.entry == "run_matrix.py"
    compile(job.files["run_matrix.py"], "run_matrix.py", "exec")  # compiled, never run here
    other, other_marker = matrix_job(stub, path, modules, TESTS[:3], timeout=4.0,
                                     memory_mb=256)
    assert other_marker != marker  # a fresh nonce per run


def test_scripted_sandbox_round_trip(project: tuple[Stub, Path, str]) -> None:
    stub, path, text = project

    def answer(job: SandboxJob) -> RunResult:
        marker = json.loads(job.files["matrix.json"])["marker"]
        return run(line(marker, 0, results=ROW[:1]) + line(marker, 1, "crashed"))

    sandbox = ScriptedSandbox(answer)
    job, marker = matrix_job(stub, path, [text, text], TESTS[:1], timeout=1.0, memory_mb=64)
    matrix = read_matrix(sandbox.run(job), marker, 2, 1)
    assert sandbox.jobs == [job]
    assert matrix.problems == ("", "crashed")
    assert matrix.results == ((TestResult(True, "3"),), ())


# -- the real sandbox ----------------------------------------------------------------


def run_matrix(stub: Stub, path: Path, modules: list[str], tests: list[SpecTest],
               **limits: float) -> MatrixRun:
    options = {"timeout": 5.0, "per_test_timeout": 1.0, **limits}
    job, marker = matrix_job(stub, path, modules, tests, memory_mb=256, **options)
    return read_matrix(BwrapSandbox().run(job), marker, len(modules), len(tests))


def passes(matrix: MatrixRun, index: int) -> list[bool]:
    return [r.passed for r in matrix.results[index]]


@pytest.mark.sandbox
@needs_bwrap
def test_every_candidate_against_every_test_in_one_job(
        project: tuple[Stub, Path, str]) -> None:
    stub, path, text = project
    names = list(CANDIDATES)
    modules = [spliced(stub, text, CANDIDATES[n], AT_IMPORT.get(n, "")) for n in names]
    matrix = run_matrix(stub, path, modules, TESTS)
    assert matrix.run.verdict == "ok", matrix.run
    assert matrix.problem == ""
    row = dict(zip(names, range(len(names))))

    # correct: everything but the test whose expected value refuses to compare
    assert matrix.problems[row["correct"]] == ""
    assert passes(matrix, row["correct"]) == [True, True, True, True, False, True, True, True]
    correct = matrix.results[row["correct"]]
    assert [r.got for r in correct] == ["[2, 4]", "[]", "{'a': 3, 'b': 6}", "[0]", "[1]",
                                        "[2, 4]\n", "10\n20\n", correct[7].got]
    assert correct[7].got.startswith("Traceback (most recent call last):")
    assert all(r.error == "" for i, r in enumerate(correct) if i != 4)
    assert correct[4].error.rstrip().endswith("TypeError: no comparing")

    # wrong: right only where adding and multiplying agree (the empty list)
    assert passes(matrix, row["wrong"]) == [False, True, False, False, False, False, False,
                                            False]
    wrong = matrix.results[row["wrong"]]
    assert wrong[0].got == "[3, 4]" and wrong[0].error == ""
    assert wrong[5].got == "[3, 4]\n" and wrong[6].got == "11\n12\n"
    assert wrong[7].got == "[0]\n"  # the expected exception did not come

    # raises: every test fails with the traceback's tail, nothing is a crash
    assert matrix.problems[row["raises"]] == ""
    raised = matrix.results[row["raises"]]
    assert not any(r.passed for r in raised)
    assert all(r.error.rstrip().endswith("RuntimeError: nope") for r in raised[:7])
    assert raised[0].got == ""
    # test 7 wants an exception: another one is a plain failure, its traceback the output
    assert raised[7].error == "" and raised[7].got.rstrip().endswith("RuntimeError: nope")

    # loops on zero: only test 3 times out, the tests after it still ran
    loops = matrix.results[row["loops on zero"]]
    assert matrix.problems[row["loops on zero"]] == ""
    assert passes(matrix, row["loops on zero"]) == passes(matrix, row["correct"])[:3] + [
        False] + passes(matrix, row["correct"])[4:]
    assert loops[3].error == "timed out after 1s" and loops[3].got == ""

    # os._exit(3) at import: that candidate's problem, no row
    assert matrix.problems[row["exits at import"]] == (
        "its process exited with code 3 while importing the module")
    assert matrix.results[row["exits at import"]] == ()

    # noisy: its output (and marker-looking lines) change nothing
    assert matrix.problems[row["noisy"]] == ""
    assert passes(matrix, row["noisy"]) == passes(matrix, row["correct"])
    assert [r.got for r in matrix.results[row["noisy"]]][:7] == [r.got for r in correct][:7]
    assert "forged" not in matrix.run.stdout and "yyyy" not in matrix.run.stdout
    assert len(matrix.run.stdout) < 20_000 and not matrix.run.truncated

    # sys.exit() inside the function: a failed test each time, not a crash
    exits = matrix.results[row["sys.exit inside"]]
    assert matrix.problems[row["sys.exit inside"]] == ""
    assert not any(r.passed for r in exits)
    assert all("SystemExit: 4" in r.error for r in exits[:7])
    assert "SystemExit: 4" in exits[7].got

    # the stated tests, as the rest of the pipeline reads them
    stated = [r.passed for r, t in zip(matrix.results[row["correct"]], TESTS) if t.stated]
    assert stated == [True, True, True, True, True]
    assert matrix.problems[row["exits at import"]].startswith("its process exited with code 3")


@pytest.mark.sandbox
@needs_bwrap
def test_crashes_stay_with_their_candidate(project: tuple[Stub, Path, str]) -> None:
    stub, path, text = project
    bodies = {
        "swallows the timer": "while True:\n    try:\n        while True:\n            pass\n"
                              "    except BaseException:\n        pass\n",
        "sys.exit at import": CORRECT,
        "segfaults": "import ctypes\nctypes.string_at(0)\n" + CORRECT,
        "memory at import": CORRECT,
        "kills itself": "import os\nimport signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
                        + CORRECT,
        "hangs at import": CORRECT,
        "correct": CORRECT,
    }
    at_import = {"sys.exit at import": "\nimport sys\nsys.exit('bye')\n",
                 "memory at import": "\nblob = bytearray(1 << 40)\n",
                 "hangs at import": "\nwhile True:\n    pass\n"}
    names = list(bodies)
    modules = [spliced(stub, text, bodies[n], at_import.get(n, "")) for n in names]
    tests = [TESTS[0], TESTS[2]]
    matrix = run_matrix(stub, path, modules, tests, timeout=1.0, per_test_timeout=0.5)
    assert matrix.run.verdict == "ok", matrix.run
    problems = dict(zip(names, matrix.problems))
    # 1 s import + 2 tests x 0.5 s + 0.5 s grace
    assert problems["swallows the timer"] == "it ran past its time (2.5s) during test 1 of 2"
    assert problems["sys.exit at import"].startswith(
        "the module could not be imported in the sandbox:")
    assert problems["sys.exit at import"].rstrip().endswith("SystemExit: bye")
    assert problems["segfaults"] == "its process was killed by signal SIGSEGV during test 1 of 2"
    assert problems["memory at import"].rstrip().endswith("MemoryError")
    assert problems["kills itself"] == (
        "its process was killed by signal SIGKILL during test 1 of 2")
    assert problems["hangs at import"] == (
        "the module could not be imported in the sandbox:\ntimed out after 1s")
    assert problems["correct"] == ""
    assert passes(matrix, names.index("correct")) == [True, True]
    assert all(matrix.results[i] == () for i, n in enumerate(names) if n != "correct")


@pytest.mark.sandbox
@needs_bwrap
def test_a_stub_in_a_packages_init(tmp_path: Path) -> None:
    package = tmp_path / "proj" / "pkg"
    package.mkdir(parents=True)
    (package / "helpers.py").write_text(HELPERS)
    text = MOD.replace("from .helpers", "from pkg.helpers")
    (package / "__init__.py").write_text(text)
    [stub] = find_stubs(text, str(package / "__init__.py")).stubs
    modules = [spliced(stub, text, CORRECT), spliced(stub, text, "return [0]\n")]
    matrix = run_matrix(stub, package / "__init__.py", modules,
                        [TESTS[0], SpecTest("__name__", "'pkg'", "model")])
    assert matrix.problems == ("", "")
    assert [passes(matrix, 0), passes(matrix, 1)] == [[True, True], [False, True]]


SESSION = '''def apply_twice(f, x):
    """f applied to x, then to the result.

    >>> def inc(n):
    ...     return n + 1
    >>> start = 1
    >>> apply_twice(inc, start)
    3
    >>> apply_twice(str.upper, "a")
    'A'
    """
    ...
'''


def test_doctest_examples_form_a_session() -> None:
    from codegen_hook.pipeline.spec import spec_tests

    [stub] = find_stubs(SESSION).stubs
    tests = spec_tests(stub)
    # The definitions are no tests of their own: they run before each later example.
    assert [t.call.strip() for t in tests] == ['apply_twice(inc, start)',
                                               'apply_twice(str.upper, "a")']
    assert tests[0].setup == ("def inc(n):\n    return n + 1\n", "start = 1\n")
    assert tests[0].render().startswith(">>> def inc(n):\n...     return n + 1\n>>> start = 1\n")


CHECKS_WITHOUT_OUTPUT = '''
def count(xs: list[int]) -> int:
    """How many there are.

    >>> count([]) == 0
    >>> assert count([1, 2]) == 2
    >>> count([1])
    1
    """
    ...
'''


def test_a_comparison_with_no_output_line_wants_true() -> None:
    from codegen_hook.pipeline.spec import spec_tests

    [stub] = find_stubs(CHECKS_WITHOUT_OUTPUT).stubs
    tests = spec_tests(stub)
    assert [(t.call.strip(), t.expected, t.setup) for t in tests] == [
        ("count([]) == 0", "True\n", ()), ("assert count([1, 2]) == 2", "", ()),
        ("count([1])", "1\n", ())]


def run_docstring_tests(path: Path, source: str, bodies: list[str]) -> MatrixRun:
    """`source`'s one stub filled with each body, against its docstring's tests."""
    from codegen_hook.pipeline.spec import spec_tests

    path.write_text(source)
    [stub] = find_stubs(source).stubs
    modules = [spliced(stub, source, body) for body in bodies]
    return run_matrix(stub, path, modules, spec_tests(stub))


@pytest.mark.sandbox
@needs_bwrap
def test_checks_with_no_output_line_pass_and_fail_as_meant(tmp_path: Path) -> None:
    matrix = run_docstring_tests(tmp_path / "count.py", CHECKS_WITHOUT_OUTPUT,
                                 ["return len(xs)\n", "return len(xs) + 1\n"])
    assert passes(matrix, 0) == [True, True, True]
    assert passes(matrix, 1) == [False, False, False]
    assert matrix.results[1][1].error.rstrip().endswith("AssertionError")


@pytest.mark.sandbox
@needs_bwrap
def test_a_doctest_session_runs_in_one_namespace(tmp_path: Path) -> None:
    matrix = run_docstring_tests(tmp_path / "twice.py", SESSION,
                                 ["return f(f(x))\n", "return f(x)\n"])
    assert matrix.problem == "", matrix.run
    assert passes(matrix, 0) == [True, True]
    assert passes(matrix, 1) == [False, True]      # upper twice is upper once
    assert "NameError" not in matrix.results[1][0].error


@pytest.mark.sandbox
@needs_bwrap
def test_a_probe_records_what_each_candidate_returns(project: tuple[Stub, Path, str]) -> None:
    stub, path, text = project
    probes = [SpecTest("scale([2, 1], 2)", "", "probe", kind="probe"),
              SpecTest("scale([1], 0)", "", "probe", kind="probe"),
              SpecTest("scale([1], -1)", "", "probe", kind="probe")]
    bodies = [CORRECT, "return [v + factor for v in values]\n", CANDIDATES["loops on zero"]]
    modules = [spliced(stub, text, body) for body in bodies]
    job, _ = matrix_job(stub, path, modules, probes, timeout=5.0, memory_mb=256,
                        per_test_timeout=3.0)
    spec = json.loads(job.files["matrix.json"])
    assert [t["timeout"] for t in spec["tests"]] == [1.0, 1.0, 1.0]  # a probe's own limit
    matrix = run_matrix(stub, path, modules, probes, per_test_timeout=3.0)
    correct, wrong, loops = matrix.results
    assert [r.got for r in correct[:2]] == ["[4, 2]", "[0]"] and all(r.passed for r in correct[:2])
    assert correct[2].error.rstrip().endswith("ValueError: negative factor")
    assert [r.got for r in wrong] == ["[4, 3]", "[1]", "[0]"]
    # a probe that hangs times out at its own limit, not the tests' 3 s
    assert loops[1].error == "timed out after 1s" and loops[0].got == "[4, 2]"
