"""Runs INSIDE the sandbox: the repository's own tests against each candidate.

Shipped as /job/repo_matrix.py with /job/repo_matrix.json, the repository's Python and
config files under /job/repo/ and each candidate's module under /job/candidates/.
The tree is copied to /work/repo (writable scratch), pytest is imported ONCE, and for
each candidate a forked child puts the candidate's module in place and runs the
selected tests through `pytest.main`, reporting each test's outcome over a pipe; the
parent kills a child past its deadline and prints one line per candidate that starts
with the run's random marker. Only what a child reported counts: an exit status, a
crash or `sys.exit(0)` is never a pass.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import sys
import time
import traceback
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = "/work/repo"


class Outcomes:
    """A pytest plugin: per selected node id, passed only if every case of it passed."""

    def __init__(self, wanted: list[str]) -> None:
        self.wanted = wanted
        self.rows: dict[str, dict[str, Any]] = {}

    def _base(self, nodeid: str) -> str | None:
        for want in self.wanted:
            if nodeid == want or nodeid.startswith(want + "["):
                return want
        return None

    def pytest_runtest_logreport(self, report: Any) -> None:
        base = self._base(report.nodeid)
        if base is None:
            return
        row = self.rows.setdefault(base, {"outcome": "passed", "message": "", "ran": 0})
        if report.when == "call":
            row["ran"] += 1
        if report.failed:
            row["outcome"] = "failed" if report.when == "call" else "error"
            if not row["message"]:
                text = getattr(report, "longreprtext", "") or str(report.longrepr)
                row["message"] = text[-1200:]
        elif report.skipped and report.when != "teardown" and row["outcome"] == "passed" \
                and not row["ran"]:
            row["outcome"] = "skipped"

    def results(self) -> list[dict[str, Any]]:
        out = []
        for want in self.wanted:
            row = self.rows.get(want, {"outcome": "missing", "message": "not collected",
                                       "ran": 0})
            if row["outcome"] == "passed" and not row["ran"]:
                row = {**row, "outcome": "skipped"}
            out.append({"test": want, "outcome": row["outcome"], "message": row["message"]})
        return out


def child(spec: dict[str, Any], index: int, report: int) -> None:
    """In the forked child: the candidate in place, the tests run, results on `report`."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    out = os.fdopen(report, "w")
    try:
        shutil.copyfile(os.path.join(HERE, spec["candidates"][index]),
                        os.path.join(REPO, spec["module_path"]))
        import pytest

        plugin = Outcomes(spec["tests"])
        args = [*spec["tests"], "-p", "no:cacheprovider", "-q", "-o", "addopts=",
                "--rootdir", REPO, "-o", "console_output_style=classic"]
        code = pytest.main(args, plugins=[plugin])
    except BaseException:   # the tests' own failures are outcomes; this is the run's
        out.write(json.dumps({"problem": "pytest could not run the repository's tests:\n"
                              + traceback.format_exc(limit=-3)[-1500:]}) + "\n")
        out.flush()
        return
    if int(code) in (3, 4):   # internal error, usage error: no outcomes to trust
        out.write(json.dumps({"problem": "pytest stopped (exit %d) before running the "
                              "tests" % int(code)}) + "\n")
    else:
        out.write(json.dumps({"results": plugin.results()}) + "\n")
    out.flush()


def collect(pid: int, fd: int, deadline: float) -> tuple[bytes, bool]:
    """The child's report until it closes the pipe or exits; overdue past the deadline."""
    data = b""
    while len(data) < 4 << 20:
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


def run_candidate(spec: dict[str, Any], index: int) -> tuple[str, list[dict[str, Any]]]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            child(spec, index, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    data, overdue = collect(pid, read_end, time.monotonic() + spec["timeout"])
    os.close(read_end)
    for kill, target in ((os.killpg, pid), (os.kill, pid)):
        try:
            kill(target, signal.SIGKILL)
        except OSError:
            pass
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    for line in data.decode(errors="replace").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("results"), list):
            return "", message["results"]
        if isinstance(message, dict) and isinstance(message.get("problem"), str):
            return message["problem"], []
    if overdue:
        return "its tests ran past their time (%gs)" % spec["timeout"], []
    return "its test run ended without a report (exit %d)" % code, []


def main() -> None:
    with open(os.path.join(HERE, "repo_matrix.json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    shutil.copytree(os.path.join(HERE, "repo"), REPO)
    for folder, _, names in os.walk(REPO):   # the job's files are read-only; the copy not
        os.chmod(folder, 0o700)
        for name in names:
            os.chmod(os.path.join(folder, name), 0o600)
    os.chdir(REPO)
    paths = [REPO] + ([os.path.join(REPO, "src")] if os.path.isdir("src") else [])
    sys.path[:0] = paths + spec["site"]   # ahead of the system's own packages
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + spec["site"])
    import pytest  # noqa: F401  (once, before the forks: each child starts from it)

    for index in range(len(spec["candidates"])):
        problem, results = run_candidate(spec, index)
        sys.stdout.flush()
        print("\n" + spec["marker"] + json.dumps({"candidate": index, "problem": problem,
                                                  "results": results}), flush=True)


if __name__ == "__main__":
    main()
