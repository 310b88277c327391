"""Runs INSIDE the sandbox: every candidate against every test, a forked child each.

Shipped as /job/run_matrix.py with /job/matrix.json beside it (pipeline/matrix.py
builds both). For each candidate in turn a child loads the candidate's file under the
module's real dotted name and runs every test under a per-test timer, reporting JSON
lines over a pipe; the parent kills a child past its deadline, turns a crash into that
candidate's problem, and prints one line per candidate that starts with the run's
random marker. A candidate's `sys.exit(0)` is a failed test here, never a pass: a
result counts only when the child reported it.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.machinery
import importlib.util
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import FrameType, ModuleType, TracebackType
from typing import Any, TypeVar

HERE = os.path.dirname(os.path.abspath(__file__))
T = TypeVar("T")
Row = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class TestTimeout(BaseException):
    """Raised by the per-test timer; a BaseException so `except Exception` lets it by."""

    __test__ = False   # not a pytest class


def on_alarm(signum: int, frame: FrameType | None) -> None:
    raise TestTimeout()


def timed(seconds: float, work: Callable[[], T]) -> T:
    signal.setitimer(signal.ITIMER_REAL, seconds)  # one shot
    try:
        return work()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def cap(text: str, size: int = 300) -> str:
    return text if len(text) <= size else text[:200] + " ... " + text[-(size - 205):]


def error_of(exc_info: ExcInfo, seconds: float) -> str:
    if issubclass(exc_info[0], TestTimeout):
        return "timed out after %gs" % seconds
    return "".join(traceback.format_exception(*exc_info, limit=-2))[-800:]


def current_error() -> ExcInfo:
    kind, value, tb = sys.exc_info()
    assert kind is not None and value is not None
    return kind, value, tb


class CandidateFinder:
    """A meta-path finder: the module's real name maps to one candidate's file."""

    def __init__(self, spec: dict[str, Any], path: str) -> None:
        self.spec, self.path = spec, path

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.spec["module"]:
            return None
        package = self.spec["package"]
        if package is None:
            return importlib.util.spec_from_file_location(fullname, self.path)
        return importlib.util.spec_from_file_location(
            fullname, self.path, submodule_search_locations=[os.path.join(HERE, package)])


def load(spec: dict[str, Any], index: int) -> ModuleType:
    """Import candidate `index` as the module; its function must be reachable."""
    path = os.path.join(HERE, spec["candidates"][index])
    sys.meta_path.insert(0, CandidateFinder(spec, path))
    module = importlib.import_module(spec["module"])
    target: object = module
    for part in spec["qualname"].split("."):
        target = getattr(target, part)
    return module


def value_test(test: Row, globs: dict[str, Any], row: Row) -> None:
    got = eval(compile(test["call"], "<test>", "eval"), globs)
    row["got"] = cap(repr(got))
    want = eval(compile(test["expected"], "<expected>", "eval"), globs)
    row["passed"] = bool(got == want)


class Recorder(doctest.DocTestRunner):
    """Puts one doctest example's outcome into `row`."""

    row: Row = {}
    limit: float = 0.0

    def report_success(self, out: Any, test: Any, example: Any, got: str) -> None:
        self.row.update(passed=True, got=cap(got))

    def report_failure(self, out: Any, test: Any, example: Any, got: str) -> None:
        self.row.update(passed=False, got=cap(got))

    def report_unexpected_exception(self, out: Any, test: Any, example: Any,
                                    exc_info: ExcInfo) -> None:
        if issubclass(exc_info[0], TestTimeout):
            raise exc_info[1]
        self.row["error"] = error_of(exc_info, self.limit)


def doctest_test(test: Row, globs: dict[str, Any], row: Row, qualname: str,
                 module: str, limit: float) -> None:
    want = test["expected"] if test["expected"].endswith("\n") else test["expected"] + "\n"
    text = ">>> " + "\n... ".join(test["call"].rstrip("\n").split("\n")) + "\n" + want
    parsed = doctest.DocTestParser().get_doctest(text, globs, qualname, module, 0)
    if len(parsed.examples) != 1:
        raise ValueError("not one doctest example: %r" % text)
    runner = Recorder(verbose=False)
    runner.row, runner.limit = row, limit
    runner.run(parsed, out=lambda text: None)


def probe_test(test: Row, globs: dict[str, Any], row: Row) -> None:
    """No expected value: what the call returns is the result (compared across candidates)."""
    row["got"] = cap(repr(eval(compile(test["call"], "<probe>", "eval"), globs)))
    row["passed"] = True


def run_test(spec: dict[str, Any], test: Row, globs: dict[str, Any], row: Row,
             limit: float) -> None:
    """The docstring's earlier statements first (errors ignored, as doctest goes on)."""
    for source in test.get("setup", ()):
        try:
            exec(compile(source, "<doctest setup>", "exec"), globs)
        except TestTimeout:
            raise
        except Exception:
            pass
    if test["kind"] == "doctest":
        doctest_test(test, globs, row, spec["qualname"], spec["module"], limit)
    elif test["kind"] == "probe":
        probe_test(test, globs, row)
    else:
        value_test(test, globs, row)


def child(spec: dict[str, Any], index: int, report: int) -> None:
    """In the forked child: output to /dev/null, results as JSON lines on `report`."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    signal.signal(signal.SIGALRM, on_alarm)
    out = os.fdopen(report, "w")

    def send(**message: Any) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    try:
        module = timed(spec["timeout"], lambda: load(spec, index))
    except BaseException:
        send(problem="the module could not be imported in the sandbox:\n"
             + error_of(current_error(), spec["timeout"]))
        return
    send(loaded=True)
    for test in spec["tests"]:
        row: Row = {"passed": False, "got": "", "error": ""}
        globs = dict(vars(module))
        limit = test.get("timeout") or spec["per_test_timeout"]
        try:
            timed(limit, lambda: run_test(spec, test, globs, row, limit))
        except BaseException:
            row.update(passed=False, error=error_of(current_error(), limit))
        send(result=row)
    send(done=True)


def collect(pid: int, fd: int, deadline: float) -> tuple[bytes, bool]:
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


def verdict(data: bytes, overdue: bool, code: int, n_tests: int,
            budget: float) -> tuple[str, list[Row]]:
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
    if done and len(results) == n_tests:
        return "", results
    where = ("during test %d of %d" % (len(results) + 1, n_tests) if loaded
             else "while importing the module")
    if overdue:
        return "it ran past its time (%gs) %s" % (budget, where), []
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return "its process was killed by signal %s %s" % (name, where), []
    return "its process exited with code %d %s" % (code, where), []


def run_candidate(spec: dict[str, Any], index: int) -> tuple[str, list[Row]]:
    budget = spec["timeout"] + len(spec["tests"]) * spec["per_test_timeout"] + spec["grace"]
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
            child(spec, index, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it first, or is gone already
    data, overdue = collect(pid, read_end, time.monotonic() + budget)
    os.close(read_end)
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:  # the child, if overdue, and whatever it started in its group
            kill(target, signal.SIGKILL)
        except OSError:
            pass
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return verdict(data, overdue, code, len(spec["tests"]), budget)


def main() -> None:
    with open(os.path.join(HERE, "matrix.json")) as handle:
        spec = json.load(handle)
    # the module's own tree first, then the project's packages (bound read-only)
    sys.path[:0] = [os.path.join(HERE, "src"), *spec.get("site", ())]
    for index in range(len(spec["candidates"])):
        problem, results = run_candidate(spec, index)
        sys.stdout.flush()
        print("\n" + spec["marker"]
              + json.dumps({"candidate": index, "problem": problem, "results": results}),
              flush=True)


if __name__ == "__main__":
    main()
