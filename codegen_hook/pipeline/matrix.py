"""Every candidate against every test, in one sandbox start.

The host ships one job: the module's import tree once (without the module under test),
each candidate's module as a file of its own, the tests as JSON and a small runner.
Inside the sandbox one Python process starts. For each candidate in turn it forks a
child that loads the candidate under the module's real dotted name and runs every test
under a per-test timer, reporting over a pipe; the parent kills a child that passes its
deadline, turns a crash into that candidate's problem, and prints one marker line per
candidate. Nothing here runs the candidates' code: the host only builds the job and
parses the marker lines.

Time budget (seconds), with n candidates and m tests:

    candidate deadline = timeout + m * per_test_timeout + _GRACE_S
    SandboxJob.timeout = _START_S + n * (candidate deadline + _FORK_S)

`timeout` is what one candidate may spend importing its module (and what the per-test
timers leave over); a test that hangs costs `per_test_timeout`, so a candidate that only
times out in tests still reports every test before its deadline.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codegen_hook.isolation.base import RunResult, SandboxJob
from codegen_hook.pipeline.examples import (ExampleResult, ExampleRun, collect_module_files,
                                            module_name)
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.stubs import Stub

__all__ = ["MatrixRun", "TestResult", "as_example_run", "matrix_job", "matrix_timeout",
           "read_matrix"]

_START_S = 5.0    # the runner's interpreter start and imports, the sandbox's own set-up
_FORK_S = 0.5     # fork, kill and reap of one child
_GRACE_S = 0.5    # lets the child's own timers fire before the parent's deadline
# The limit of a test the user did not write (the model's, a probe): its input may be
# one the code never meant to handle (largest_divisor(0) loops in most candidates), and
# such a test only ranks, so a hang there costs this, not the user's tests' limit.
_UNSTATED_S = 1.0
_ENTRY = "run_matrix.py"
_SPEC = "matrix.json"


@dataclass(frozen=True)
class TestResult:
    """One candidate x one test."""

    __test__ = False  # not a pytest class

    passed: bool
    got: str         # value tests: repr of the value; doctest tests: the output text
    error: str = ""  # traceback tail if it raised; "timed out after Ns" past its timer


@dataclass(frozen=True)
class MatrixRun:
    results: tuple[tuple[TestResult, ...], ...]  # [candidate][test]; () where it did not run
    problems: tuple[str, ...]  # per candidate: "" if it ran, else why not
    run: RunResult
    problem: str = ""          # the whole run gave no report (then every problems[i] says so)


_RUNNER = r'''"""Run every candidate against every test: one forked child per candidate."""
import doctest, importlib, importlib.util, json, os, select, signal, sys, time, traceback

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "src"))
with open(os.path.join(here, "matrix.json")) as handle:
    spec = json.load(handle)
PER_TEST, TESTS = spec["per_test_timeout"], spec["tests"]
BUDGET = spec["timeout"] + len(TESTS) * PER_TEST + spec["grace"]


class TestTimeout(BaseException):
    """Raised by the per-test timer; a BaseException so `except Exception` lets it by."""


def on_alarm(signum, frame):
    raise TestTimeout()


def timed(seconds, work):
    signal.setitimer(signal.ITIMER_REAL, seconds)  # one shot
    try:
        return work()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def cap(text, size=300):
    return text if len(text) <= size else text[:200] + " ... " + text[-(size - 205):]


def error_of(exc_info, seconds):
    if issubclass(exc_info[0], TestTimeout):
        return "timed out after %gs" % seconds
    return "".join(traceback.format_exception(*exc_info, limit=-2))[-800:]


class Candidate:
    """A meta-path finder: the module's real name maps to this candidate's file."""
    def __init__(self, path):
        self.path = path

    def find_spec(self, fullname, path=None, target=None):
        if fullname != spec["module"]:
            return None
        if spec["package"] is None:
            return importlib.util.spec_from_file_location(fullname, self.path)
        return importlib.util.spec_from_file_location(
            fullname, self.path, submodule_search_locations=[os.path.join(here, spec["package"])])


def load(index):
    sys.meta_path.insert(0, Candidate(os.path.join(here, spec["candidates"][index])))
    module = importlib.import_module(spec["module"])
    target = module
    for part in spec["qualname"].split("."):
        target = getattr(target, part)
    return module


def value_test(test, globs, row):
    got = eval(compile(test["call"], "<test>", "eval"), globs)
    row["got"] = cap(repr(got))
    want = eval(compile(test["expected"], "<expected>", "eval"), globs)
    row["passed"] = bool(got == want)


class Recorder(doctest.DocTestRunner):
    def report_success(self, out, test, example, got):
        self.row.update(passed=True, got=cap(got))

    def report_failure(self, out, test, example, got):
        self.row.update(passed=False, got=cap(got))

    def report_unexpected_exception(self, out, test, example, exc_info):
        if issubclass(exc_info[0], TestTimeout):
            raise exc_info[1]
        self.row["error"] = error_of(exc_info, PER_TEST)


def doctest_test(test, globs, row):
    want = test["expected"] if test["expected"].endswith("\n") else test["expected"] + "\n"
    text = ">>> " + "\n... ".join(test["call"].rstrip("\n").split("\n")) + "\n" + want
    parsed = doctest.DocTestParser().get_doctest(text, globs, spec["qualname"], spec["module"], 0)
    if len(parsed.examples) != 1:
        raise ValueError("not one doctest example: %r" % text)
    runner = Recorder(verbose=False)
    runner.row = row
    runner.run(parsed, out=lambda text: None)


def probe_test(test, globs, row):
    """No expected value: what the call returns is the result (compared across candidates)."""
    row["got"] = cap(repr(eval(compile(test["call"], "<probe>", "eval"), globs)))
    row["passed"] = True


KINDS = {"value": value_test, "doctest": doctest_test, "probe": probe_test}


def run_test(test, globs, row):
    """The docstring's earlier statements first (errors ignored, as doctest goes on)."""
    for source in test.get("setup", ()):
        try:
            exec(compile(source, "<doctest setup>", "exec"), globs)
        except TestTimeout:
            raise
        except Exception:
            pass
    KINDS[test["kind"]](test, globs, row)


def child(index, report):
    """In the forked child: output to /dev/null, results as JSON lines on `report`."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    signal.signal(signal.SIGALRM, on_alarm)
    out = os.fdopen(report, "w")

    def send(**message):
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        module = timed(spec["timeout"], lambda: load(index))
    except BaseException:
        send(problem="the module could not be imported in the sandbox:\n"
             + error_of(sys.exc_info(), spec["timeout"]))
        return
    send(loaded=True)
    for test in TESTS:
        row = {"passed": False, "got": "", "error": ""}
        globs = dict(vars(module))
        limit = test.get("timeout") or PER_TEST
        try:
            timed(limit, lambda: run_test(test, globs, row))
        except BaseException:
            row.update(passed=False, error=error_of(sys.exc_info(), limit))
        send(result=row)
    send(done=True)


def collect(pid, fd, deadline):
    """The child's report until it closes the pipe or exits; overdue past the deadline."""
    data = b""
    while len(data) < 16 << 20:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, True
        if select.select([fd], [], [], min(left, 0.25))[0]:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        elif os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            while select.select([fd], [], [], 0)[0] and (chunk := os.read(fd, 1 << 16)):
                data += chunk
            break
    return data, False


def verdict(data, overdue, code):
    """(problem, results) of one candidate from its messages and how its process ended."""
    try:
        messages = [json.loads(line) for line in data.decode().splitlines()]
        problem = "".join(m.get("problem", "") for m in messages)
        results = [m["result"] for m in messages if "result" in m]
        loaded, done = (any(key in m for m in messages) for key in ("loaded", "done"))
    except (ValueError, AttributeError, TypeError):
        return "its process sent an unreadable report", []
    if problem:
        return problem, []
    if done and len(results) == len(TESTS):
        return "", results
    where = ("during test %d of %d" % (len(results) + 1, len(TESTS)) if loaded
             else "while importing the module")
    if overdue:
        return "it ran past its time (%gs) %s" % (BUDGET, where), []
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return "its process was killed by signal %s %s" % (name, where), []
    return "its process exited with code %d %s" % (code, where), []


def run_candidate(index):
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        return "no process could be started for it: %s" % exc, []
    if pid == 0:
        try:
            os.close(read_end)
            child(index, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it first, or is gone already
    data, overdue = collect(pid, read_end, time.monotonic() + BUDGET)
    os.close(read_end)
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:  # the child, if overdue, and whatever it started in its group
            kill(target, signal.SIGKILL)
        except OSError:
            pass
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return verdict(data, overdue, code)


for index in range(len(spec["candidates"])):
    problem, results = run_candidate(index)
    sys.stdout.flush()
    print("\n" + spec["marker"]
          + json.dumps({"candidate": index, "problem": problem, "results": results}),
          flush=True)
'''


def matrix_timeout(n_candidates: int, n_tests: int, timeout: float,
                   per_test_timeout: float) -> float:
    """The whole job's wall limit: every candidate may use its full deadline."""
    candidate = timeout + n_tests * per_test_timeout + _GRACE_S
    return _START_S + n_candidates * (candidate + _FORK_S)


def matrix_job(stub: Stub, path: Path, modules: Sequence[str], tests: Sequence[SpecTest], *,
               timeout: float, memory_mb: int,
               per_test_timeout: float = 2.0) -> tuple[SandboxJob, str]:
    """A job that runs every test against every candidate module, and its marker.

    `modules[i]` is the whole module text with candidate i's body spliced in.
    """
    marker = f"@@codegen-hook-{secrets.token_hex(8)}@@"
    # The tree beside the module, without the module itself: each candidate brings its own.
    tree = collect_module_files(path, marker)
    files = {f"src/{name}": text for name, text in tree.items() if text != marker}
    own = next(name for name, text in tree.items() if text == marker)
    name = module_name(path)
    package = None
    if name.endswith(".__init__"):  # the stub is in a package's __init__.py
        name = name[: -len(".__init__")]
        package = "src/" + own.rsplit("/", 1)[0]
    candidates = [f"candidates/{i}/{Path(own).name}" for i in range(len(modules))]
    files.update(zip(candidates, modules))
    spec = {"marker": marker, "module": name, "package": package, "qualname": stub.qualname,
            "candidates": candidates, "timeout": timeout, "per_test_timeout": per_test_timeout,
            "grace": _GRACE_S,
            "tests": [{"call": t.call, "expected": t.expected, "kind": t.kind,
                       "setup": list(t.setup),
                       "timeout": per_test_timeout if t.stated
                       else min(per_test_timeout, _UNSTATED_S)} for t in tests]}
    files[_SPEC] = json.dumps(spec)
    files[_ENTRY] = _RUNNER
    # Each test's line holds at most ~1,100 characters before JSON escaping (up to 6x).
    output_limit = max(1 << 20, len(modules) * (16 << 10) * (1 + len(tests)))
    return SandboxJob(files=files, entry=_ENTRY,
                      timeout=matrix_timeout(len(modules), len(tests), timeout,
                                             per_test_timeout),
                      memory_mb=memory_mb, output_limit=output_limit), marker


def _row(payload: str, n_candidates: int,
         n_tests: int) -> tuple[int, str, tuple[TestResult, ...]] | None:
    """One candidate's line: (index, problem, results), or None if it is not well formed."""
    try:
        data: Any = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    index, problem, rows = data.get("candidate"), data.get("problem"), data.get("results")
    if not (isinstance(index, int) and 0 <= index < n_candidates and isinstance(problem, str)
            and isinstance(rows, list)):
        return None
    if problem:
        return index, problem, ()
    if len(rows) != n_tests:
        return None
    results = []
    for row in rows:
        if not (isinstance(row, dict) and isinstance(row.get("passed"), bool)
                and isinstance(row.get("got"), str) and isinstance(row.get("error", ""), str)):
            return None
        results.append(TestResult(row["passed"], row["got"], row.get("error", "")))
    return index, "", tuple(results)


def read_matrix(run: RunResult, marker: str, n_candidates: int, n_tests: int) -> MatrixRun:
    """Parse the runner's marker lines; anything else the run printed is only context.

    A candidate's last well-formed line counts. A candidate with no line (the run was
    stopped first) gets the run's verdict as its problem; with no line at all, so does
    the whole run.
    """
    found: dict[int, tuple[str, tuple[TestResult, ...]]] = {}
    for line in run.stdout.splitlines():
        if line.startswith(marker):
            row = _row(line[len(marker):], n_candidates, n_tests)
            if row is not None:
                found[row[0]] = row[1:]
    reason = "; ".join(run.notes) or f"exit code {run.exit_code}"
    tail = run.stderr.strip()[-600:]
    context = f"{run.verdict}: {reason}" + (f"\n{tail}" if tail else "")
    if not found:
        problem = f"the sandbox run ended without a report ({context})"
        return MatrixRun(((),) * n_candidates, (problem,) * n_candidates, run, problem)
    missing = f"the sandbox run ended before this candidate's report ({context})"
    rows = [found.get(i, (missing, ())) for i in range(n_candidates)]
    return MatrixRun(tuple(r for _, r in rows), tuple(p for p, _ in rows), run)


def as_example_run(matrix: MatrixRun, index: int, tests: Sequence[SpecTest]) -> ExampleRun:
    """Candidate `index`'s row as examples.py's ExampleRun, the stated tests only."""
    why = matrix.problem or matrix.problems[index]
    if why:
        return ExampleRun((), why, matrix.run)
    results = tuple(ExampleResult(source=test.call, want=test.expected, got=result.got,
                                  passed=result.passed, error=result.error)
                    for test, result in zip(tests, matrix.results[index]) if test.stated)
    return ExampleRun(results, "", matrix.run)
