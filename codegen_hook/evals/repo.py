"""A/B on the user's own repository: generated against hand-written functions.

For each sampled function that the repository's own tests exercise:
  1. its covering tests run against the hand-written code (the baseline, timed);
  2. the function is cut back to a stub (signature + docstring + `...`) in a scratch
     copy, and filled through the normal `fill_paths` with the scratch copy's index,
     which is refreshed from the stubbed file, so it never holds the body (asserted:
     the original definition's hash is nowhere in the index the fill used);
  3. the hook's answer is spliced in and the same tests run again, in the sandbox.
Arms of the same run: `retrieval` (the hook as configured, the repository's tests
kept from it), `docstring-only` (no retrieved context either) and `tdd` (retrieval and
the visible half of the function's own tests, `evals/tdd.py`). Without `tdd` the
repository's tests are the hidden tests: the fill never sees them, they only score the
answer; with it, every arm is scored by the tests outside the visible half. Every arm's
candidates import the test environment's packages, as a user's project environment.
"""

from __future__ import annotations

import ast
import dataclasses
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from codegen_hook.backends.base import Backend
from codegen_hook.checks.base import Check, CheckContext
from codegen_hook.checks.style import StyleCheck
from codegen_hook.config import Settings, data_dir
from codegen_hook.errors import ConfigError, EvalError
from codegen_hook.evals.results import ResultsLog, wilson_interval
from codegen_hook.evals.tdd import TddSplit, hidden_tests, split_tests
from codegen_hook.evals.testenv import TestRun, Workspace, run_repo_tests
from codegen_hook.index.build import RepoIndex, load_index, refresh_index
from codegen_hook.index.files import list_python_files
from codegen_hook.index.search import is_test_path
from codegen_hook.index.style import StyleProfile, mine_style
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.environment import ProjectEnv
from codegen_hook.pipeline.outcome import Event
from codegen_hook.pipeline.run import fill_paths
from codegen_hook.security.codec import codec_for
from codegen_hook.security.crypto import EncryptedCodec
from codegen_hook.security.perms import private_folder
from codegen_hook.stubs import (filled_function, filled_last_line, find_stubs, splice_bodies,
                                split_lines_keepends)

__all__ = ["ARMS", "DEFAULT_ARMS", "ArmResult", "FunctionResult", "RepoEval", "RepoFunction",
           "ArmSummary", "arm_settings", "eval_environment", "find_functions", "run_repo_eval",
           "stub_out", "summarize_arm"]

ARMS = ("retrieval", "docstring-only", "tdd")
DEFAULT_ARMS = ARMS[:2]
_ARMS_BEFORE = {"no-retrieval": "docstring-only"}    # names in earlier results files
MAX_FUNCTION_LINES = 80      # longer functions are left out: a stub the model cannot fill
_SKIP_DECORATORS = {"overload", "abstractmethod", "abstractproperty"}


@dataclass(frozen=True)
class RepoFunction:
    """A function of the repository that can be cut back to a stub."""

    path: str            # relative to the repository root, with '/'
    qualname: str
    name: str
    first_line: int      # first decorator, or the def
    def_line: int
    last_line: int
    header_end: int      # last line a stub keeps: the docstring's end
    body_first: int      # first line after the docstring
    body_indent: str
    statements: int      # the body's statements, the docstring not counted

    @property
    def key(self) -> str:
        return f"{self.path}::{self.qualname}"


def _is_test_file(rel: str) -> bool:
    """The index's notion of a test file, plus `testing/` folders and setup.py."""
    parts = rel.split("/")
    return is_test_path(rel) or "testing" in parts[:-1] or parts[-1] == "setup.py"


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    names = set()
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        if isinstance(target, ast.Attribute):
            names.add(target.attr)
        elif isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _candidate(rel: str, node: ast.FunctionDef | ast.AsyncFunctionDef, classes: str,
               lines: list[str]) -> RepoFunction | str:
    """The function, or why it is left out."""
    if _decorators(node) & _SKIP_DECORATORS:
        return "overload or abstract"
    doc = node.body[0] if node.body else None
    if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant)
            and isinstance(doc.value.value, str)):
        return "no docstring"
    rest = node.body[1:]
    if not rest or (len(rest) == 1 and isinstance(rest[0], (ast.Pass, ast.Raise))) or (
            len(rest) == 1 and isinstance(rest[0], ast.Expr)
            and isinstance(rest[0].value, ast.Constant)):
        return "no body to write"
    if doc.lineno == node.lineno:
        return "one-line definition"
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    last = node.end_lineno or node.lineno
    if last - first + 1 > MAX_FUNCTION_LINES:
        return f"longer than {MAX_FUNCTION_LINES} lines"
    header_end = doc.end_lineno or doc.lineno
    if rest[0].lineno <= header_end:
        return "code on the docstring's line"
    line = lines[rest[0].lineno - 1]
    indent = line[:len(line) - len(line.lstrip())]
    qualname = f"{classes}.{node.name}" if classes else node.name
    return RepoFunction(rel, qualname, node.name, first, node.lineno, last, header_end,
                        header_end + 1, indent, len(rest))


def _functions_in(rel: str, text: str) -> tuple[list[RepoFunction], Counter[str]]:
    skipped: Counter[str] = Counter()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        skipped["file does not parse"] += 1
        return [], skipped
    lines = split_lines_keepends(text)
    found: list[RepoFunction] = []
    for node in tree.body:
        pairs: list[tuple[ast.AST, str]] = [(node, "")]
        if isinstance(node, ast.ClassDef):
            pairs = [(child, node.name) for child in node.body]
        for child, classes in pairs:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                got = _candidate(rel, child, classes, lines)
                if isinstance(got, str):
                    skipped[got] += 1
                else:
                    found.append(got)
    names = Counter(f.qualname for f in found)
    for name, count in names.items():
        if count > 1:    # a property's getter and setter, conditional definitions
            skipped["defined more than once"] += count
    return [f for f in found if names[f.qualname] == 1], skipped


def find_functions(root: Path) -> tuple[list[RepoFunction], Counter[str]]:
    """Every function or method (of a top-level class) outside the tests that has a
    docstring and a body; and how many were left out, by reason."""
    listing = list_python_files(root)
    functions: list[RepoFunction] = []
    skipped: Counter[str] = Counter()
    for rel in listing.files:
        if _is_test_file(rel):
            continue
        try:
            text = (root / rel).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            skipped["file not readable as UTF-8"] += 1
            continue
        found, why = _functions_in(rel, text)
        functions += found
        skipped.update(why)
    return functions, skipped


def stub_out(text: str, fn: RepoFunction) -> str:
    """`text` with `fn`'s body (after its docstring) replaced by `...`."""
    lines = split_lines_keepends(text)
    newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
    stub = fn.body_indent + "..." + newline
    return "".join(lines[:fn.header_end] + [stub] + lines[fn.last_line:])


@dataclass
class ArmResult:
    """One way of filling (retrieval on or off): the hook's answer, scored."""

    verdict: str = "failed"
    passed: bool = False                 # the repository's covering tests passed
    tests: dict[str, int] = field(default_factory=dict)
    failed_tests: list[str] = field(default_factory=list)
    detail: str = ""
    fill_seconds: float = 0.0
    completion_tokens: int = 0
    seconds_in_function: float | None = None
    calls: int = 0
    speed_ratio: float | None = None     # generated / hand-written time inside the function
    style_score: float | None = None
    lines: int = 0
    nodes: int = 0
    retrieved: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)   # what verified it ("repo-tests:2")
    repo_tests: list[str] = field(default_factory=list)  # the fill's repository evidence
    code: str = ""


@dataclass
class FunctionResult:
    key: str
    path: str
    qualname: str
    tests: int = 0                                # covering tests run
    status: str = "done"                          # done | skipped
    skip_reason: str = ""
    original_seconds_in_function: float | None = None
    original_calls: int = 0
    original_style_score: float | None = None
    original_lines: int = 0
    original_nodes: int = 0
    visible_tests: list[str] = field(default_factory=list)   # shown to the tdd arm
    scored_tests: int = 0                                    # the tests that scored
    arms: dict[str, ArmResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FunctionResult":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["arms"] = {_ARMS_BEFORE.get(name, name): ArmResult(**arm)
                          for name, arm in data.get("arms", {}).items()}
        return cls(**values)


@dataclass
class ArmSummary:
    functions: int
    passed: int
    accuracy: float | None               # share whose generated version passes the tests
    accuracy_ci: tuple[float, float] | None      # 95% Wilson interval
    verified: int
    precision_verified: float | None     # verified and passing, among verified
    precision_ci: tuple[float, float] | None
    speed_ratios: list[float]
    speed_ratio_median: float | None
    speed_ratio_geomean: float | None
    style_generated: float | None
    style_original: float | None
    size_ratio_median: float | None      # generated / hand-written statements' nodes
    fill_seconds_median: float | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize_arm(results: Sequence[FunctionResult], arm: str) -> ArmSummary:
    done = [r for r in results if r.status == "done" and arm in r.arms]
    arms = [r.arms[arm] for r in done]
    passed = sum(a.passed for a in arms)
    verified = [a for a in arms if a.verdict == "verified"]
    right = sum(a.passed for a in verified)
    ratios = [a.speed_ratio for a in arms if a.speed_ratio is not None and a.speed_ratio > 0]
    styles = [a.style_score for a in arms if a.style_score is not None]
    originals = [r.original_style_score for r in done
                 if r.original_style_score is not None and r.arms[arm].style_score is not None]
    sizes = [r.arms[arm].nodes / r.original_nodes for r in done
             if r.original_nodes and r.arms[arm].nodes]
    return ArmSummary(
        functions=len(arms), passed=passed, accuracy=passed / len(arms) if arms else None,
        accuracy_ci=wilson_interval(passed, len(arms)), verified=len(verified),
        precision_verified=right / len(verified) if verified else None,
        precision_ci=wilson_interval(right, len(verified)),
        speed_ratios=sorted(round(x, 4) for x in ratios),
        speed_ratio_median=_median(ratios),
        speed_ratio_geomean=statistics.geometric_mean(ratios) if ratios else None,
        style_generated=statistics.fmean(styles) if styles else None,
        style_original=statistics.fmean(originals) if originals else None,
        size_ratio_median=_median(sizes),
        fill_seconds_median=_median([a.fill_seconds for a in arms]))


def _size(code: str, name: str) -> tuple[int, int]:
    """Statements' lines (no blanks, comments or docstring) and AST nodes of the body."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return 0, 0
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    func = next((n for n in ast.walk(tree) if isinstance(n, kinds) and n.name == name), None)
    if func is None:
        return 0, 0
    body = func.body[1:] if ast.get_docstring(func) is not None else func.body
    lines = {ln for stmt in body
             for ln in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1)}
    text_lines = code.splitlines()
    kept = [ln for ln in lines if ln <= len(text_lines)
            and text_lines[ln - 1].strip() and not text_lines[ln - 1].strip().startswith("#")]
    return len(kept), sum(1 for stmt in body for _ in ast.walk(stmt))


@dataclass
class RepoEval:
    results: list[FunctionResult]
    summaries: dict[str, ArmSummary]
    candidates: int                     # functions with a docstring and a body
    covered: int                        # of those, exercised by the tests
    skipped: dict[str, int]             # left out before sampling, by reason
    baseline: dict[str, Any]            # the full suite's run on the hand-written code
    results_path: Path
    report_path: Path | None = None
    resumed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"benchmark": "repo", "summaries": {k: v.to_json()
                                                   for k, v in self.summaries.items()},
                "candidates": self.candidates, "covered": self.covered,
                "skipped": self.skipped, "baseline": self.baseline,
                "results_file": str(self.results_path),
                "report": str(self.report_path) if self.report_path else None,
                "resumed": self.resumed,
                "functions": [{**r.to_json(), "arms": {k: {f: v for f, v in asdict(a).items()
                                                           if f != "code"}
                                                       for k, a in r.arms.items()}}
                              for r in self.results]}


Progress = Callable[[str], None]


@dataclass
class _Flow:
    settings: Settings
    workspace: Workspace
    argv: list[str]
    make_backend: Callable[[], Backend]
    sandbox: Sandbox
    checks: list[Check]
    codec: EncryptedCodec
    cache_dir: Path
    test_timeout: float
    arms: tuple[str, ...]
    env: ProjectEnv
    seed: int = 0
    fill_progress: Callable[[Event], None] | None = None
    style: StyleProfile | None = None
    hashes: dict[str, str] = field(default_factory=dict)       # key -> definition hash
    hash_count: Counter[str] = field(default_factory=Counter)
    _backend: Backend | None = None
    _splits: dict[str, TddSplit | str] = field(default_factory=dict)

    def split(self, fn: RepoFunction, covering: list[str]) -> TddSplit | str:
        """The tdd split of `fn`'s tests (or why there is none), made once a run."""
        if fn.key not in self._splits:
            path = self.workspace.src / fn.path
            stubbed = stub_out(path.read_text("utf-8"), fn)
            self._splits[fn.key] = split_tests(self.workspace.src, path, stubbed, fn.qualname,
                                               covering, self.seed, fn.key)
        return self._splits[fn.key]

    def backend(self) -> Backend:
        """Loaded on the first fill, so a broken test set-up stops before the model loads."""
        if self._backend is None:
            self._backend = self.make_backend()
        return self._backend

    def load(self) -> RepoIndex:
        return load_index(self.workspace.src, codec=self.codec)

    def index_original(self) -> None:
        """Index the copy as written, once: each definition's hash (what the leak check
        looks for), how often each hash occurs, and the repository's style."""
        refresh_index(self.workspace.src, codec=self.codec,
                      exclude=self.settings.index_exclude,
                      max_file_bytes=self.settings.index_max_file_bytes)
        index = self.load()
        symbols = [(rec.path, sym) for rec in index.records for sym in rec.content.symbols]
        self.hashes = {f"{path}::{sym.qualname}": sym.hash for path, sym in symbols}
        self.hash_count = Counter(sym.hash for _, sym in symbols)
        self.style = mine_style(index, self.workspace.src)


def assert_no_leak(flow: _Flow, fn: RepoFunction) -> None:
    """The index the fill used must not hold the hand-written definition anywhere."""
    original = flow.hashes.get(fn.key)
    index = flow.load()
    if original is None or any(sym.hash == original for rec in index.records
                               for sym in rec.content.symbols):
        raise EvalError(f"{fn.key}: the repository index still holds the hand-written "
                        "definition while its stub is filled; the evaluation stopped "
                        "rather than report a leaked result (report this as a bug)")


def _style_score(flow: _Flow, module: str, fn_path: Path, first: int, last: int) -> float:
    context = CheckContext(fn_path, flow.workspace.src, first, last, flow.cache_dir,
                           style=flow.style)
    return StyleCheck().score(module, context).score


def _timing(fn: RepoFunction) -> dict[str, Any]:
    return {"path": fn.path, "name": fn.name, "lines": sorted({fn.first_line, fn.def_line})}


def _run(flow: _Flow, fn: RepoFunction, tests: list[str]) -> TestRun:
    return run_repo_tests(flow.sandbox, flow.workspace, flow.argv, select=tests,
                          timing=_timing(fn), timeout=flow.test_timeout)


def arm_settings(settings: Settings, arm: str) -> Settings:
    """What the hook is configured with in `arm`: only tdd runs repository tests."""
    if arm == "tdd":
        return dataclasses.replace(settings, repo_tests=True)
    if arm == "docstring-only":
        return dataclasses.replace(settings, repo_tests=False, context_tokens=0)
    return dataclasses.replace(settings, repo_tests=False)


def _fill_arm(flow: _Flow, fn: RepoFunction, arm: str, stubbed: str, tests: list[str],
              original: TestRun, target: Path, split: TddSplit | None) -> ArmResult:
    hidden = split.hidden if split and arm == "tdd" else ()
    start = time.perf_counter()
    with hidden_tests(flow.workspace.src, hidden):
        report = fill_paths([target], arm_settings(flow.settings, arm), flow.workspace.src,
                            flow.cache_dir, make_backend=flow.backend,
                            make_sandbox=lambda: flow.sandbox, checks=flow.checks,
                            check_only=True, only={target: [fn.qualname]},
                            progress=flow.fill_progress, project_env=flow.env)
    result = ArmResult(fill_seconds=round(time.perf_counter() - start, 3))
    assert_no_leak(flow, fn)
    outcome = next((o for o in report.outcomes if o.qualname == fn.qualname), None)
    seen = set(outcome.repo_tests if outcome else ()) - set(split.visible if split else ())
    if seen:
        raise EvalError(f"{fn.key}: the {arm} arm used repository tests it must not see "
                        f"({', '.join(sorted(seen)[:3])}); the evaluation stopped rather "
                        "than report a leaked result (report this as a bug)")
    stub = next((s for s in find_stubs(stubbed).stubs if s.qualname == fn.qualname), None)
    if outcome is None or stub is None:
        result.reasons = [f.error for f in report.files if f.error] or [
            "the fill returned no outcome for the stub"]
        return result
    result.verdict, result.reasons = outcome.verdict, list(outcome.reasons)
    result.evidence, result.repo_tests = list(outcome.evidence), list(outcome.repo_tests)
    result.completion_tokens = int(outcome.timings.get("completion_tokens", 0))
    result.retrieved = list(outcome.retrieved)
    if not outcome.body:
        return result
    newline = "\r\n" if "\r\n" in stubbed else "\n"
    module = splice_bodies(stubbed, [(stub, outcome.body)], newline)
    last = filled_last_line(stub, outcome.body)
    result.code = filled_function(module, stub, outcome.body)
    result.lines, result.nodes = _size(result.code, fn.name)
    result.style_score = round(_style_score(flow, module, target, stub.ellipsis_line, last), 4)
    target.write_text(module, "utf-8")     # untrusted from here on: run only in the sandbox
    run = _run(flow, fn, tests)
    result.passed = run.passed
    result.tests, result.failed_tests, result.detail = run.counts, run.failed[:5], run.detail
    if run.passed and run.timing.get("calls"):
        result.seconds_in_function = run.timing["seconds"]
        result.calls = int(run.timing["calls"])
        if original.timing.get("seconds"):
            result.speed_ratio = round(run.timing["seconds"] / original.timing["seconds"], 4)
    return result


def _evaluate(flow: _Flow, fn: RepoFunction, tests: list[str]) -> FunctionResult:
    result = FunctionResult(fn.key, fn.path, fn.qualname, tests=len(tests))
    target = flow.workspace.src / fn.path
    text = target.read_text("utf-8")
    if flow.hash_count.get(flow.hashes.get(fn.key, ""), 0) > 1:
        result.status, result.skip_reason = "skipped", "the same definition is elsewhere too"
        return result
    stubbed = stub_out(text, fn)
    split = None
    if "tdd" in flow.arms:
        got = flow.split(fn, tests)
        if isinstance(got, str):
            result.status, result.skip_reason = "skipped", got
            return result
        split, tests = got, list(got.scoring)
        result.visible_tests = list(got.visible)
    result.scored_tests = len(tests)
    original = _run(flow, fn, tests)
    if not original.passed:
        result.status = "skipped"
        result.skip_reason = ("its tests fail with the hand-written code: "
                              + (", ".join(original.failed[:3]) or original.detail[-300:]))
        return result
    result.original_seconds_in_function = original.timing.get("seconds")
    result.original_calls = int(original.timing.get("calls", 0))
    original_code = "".join(split_lines_keepends(text)[fn.first_line - 1:fn.last_line])
    result.original_lines, result.original_nodes = _size(original_code, fn.name)
    result.original_style_score = round(
        _style_score(flow, text, target, fn.body_first, fn.last_line), 4)
    try:
        for arm in flow.arms:
            target.write_text(stubbed, "utf-8")
            result.arms[arm] = _fill_arm(flow, fn, arm, stubbed, tests, original, target,
                                         split)
    finally:
        target.write_text(text, "utf-8")
    return result


def _sample(covered: list[RepoFunction], sample: int | None, seed: int,
            only: Sequence[str] | None) -> list[RepoFunction]:
    if only:
        by_key = {f.key: f for f in covered}
        missing = [k for k in only if k not in by_key]
        if missing and len(missing) == len(only):
            raise ConfigError(f"none of the functions asked for ({', '.join(only[:5])}) is "
                              "exercised by the tests with a docstring and a body; keys are "
                              "path::qualname as `eval repo --list` prints them")
        return [by_key[k] for k in only if k in by_key]
    chosen = list(covered)
    if sample is not None and sample < len(chosen):
        chosen = random.Random(seed).sample(chosen, sample)
    return sorted(chosen, key=lambda f: f.key)


def eval_environment(workspace: Workspace, sandbox: Sandbox) -> ProjectEnv:
    """The test environment's packages (pip-installed for this interpreter's Python) as
    the project's environment of every fill."""
    env = ProjectEnv("the evaluation's test environment", workspace.base,
                     sys.version_info[:2], tuple(workspace.site))
    inside = sandbox.python_version()
    if inside is not None:
        env.check_version(inside, sandbox.name)
    return env


def run_repo_eval(workspace: Workspace, argv: list[str], settings: Settings, *,
                  out_dir: Path, make_backend: Callable[[], Backend],
                  make_sandbox: Callable[[], Sandbox], checks: list[Check],
                  sample: int | None = None, seed: int = 0,
                  only: Sequence[str] | None = None, arms: tuple[str, ...] = DEFAULT_ARMS,
                  resume: bool = False, test_timeout: float = 600.0,
                  progress: Progress | None = None,
                  fill_progress: Callable[[Event], None] | None = None,
                  on_result: Callable[[int, int, FunctionResult], None] | None = None
                  ) -> RepoEval:
    """Evaluate the sampled functions of the workspace's repository copy; results are
    appended to `<out_dir>/repo.jsonl` as each function finishes."""
    def say(message: str) -> None:
        if progress:
            progress(message)

    settings = dataclasses.replace(settings, audit=False)
    log: ResultsLog[FunctionResult] = ResultsLog(private_folder(out_dir) / "repo.jsonl",
                                                 FunctionResult.from_json)
    done = {r.key: r for r in log.load()}
    if done and not resume:
        raise ConfigError(f"{log.path} already holds {len(done)} results; pass --resume to "
                          "continue that run, or choose another --out")
    unknown = [a for a in arms if a not in ARMS]
    if unknown or not arms:
        raise ConfigError(f"unknown arm {', '.join(unknown) or '(none given)'}; the arms are "
                          f"{', '.join(ARMS)}")
    home = data_dir(settings)
    sandbox = make_sandbox()
    flow = _Flow(settings, workspace, argv, make_backend, sandbox=sandbox, checks=checks,
                 codec=codec_for(settings, home), cache_dir=home / "cache",
                 test_timeout=test_timeout, arms=arms, env=eval_environment(workspace, sandbox),
                 seed=seed, fill_progress=fill_progress)
    functions, skipped = find_functions(workspace.src)
    if not functions:
        raise EvalError(f"no function outside the tests has both a docstring and a body "
                        f"in {workspace.src.name}; nothing to evaluate")
    say(f"running the test suite once under coverage ({len(functions)} candidate functions)")
    ranges: dict[str, list[list[Any]]] = {}
    for fn in functions:
        ranges.setdefault(fn.path, []).append([fn.key, fn.body_first, fn.last_line])
    baseline = run_repo_tests(sandbox, workspace, argv, coverage=ranges,
                              timeout=test_timeout)
    if baseline.verdict != "ok" or baseline.exit_code not in (0, 1) or not baseline.covered:
        raise EvalError("the test command did not run as it should on the hand-written "
                        f"code (sandbox {baseline.verdict}, exit {baseline.exit_code}): "
                        f"{baseline.detail[-800:] or baseline.counts}; make `"
                        f"{' '.join(argv)}` pass in the repository first, and give the "
                        "packages its tests import with --install or --deps")
    covered = [f for f in functions if f.key in baseline.covered]
    if "tdd" in arms and not only:      # draw from the functions the tdd arm can split
        splittable = [f for f in covered
                      if not isinstance(flow.split(f, baseline.covered[f.key]), str)]
        skipped["tdd: fewer than 2 covering tests name it"] += len(covered) - len(splittable)
        covered = splittable
    chosen = _sample(covered, sample, seed, only)
    say(f"{len(covered)} of {len(functions)} functions are exercised by the tests"
        f"{' and split for the tdd arm' if 'tdd' in arms else ''}; "
        f"evaluating {len(chosen)}")
    flow.index_original()
    todo = [f for f in chosen if f.key not in done]
    if todo:
        for position, fn in enumerate(chosen, 1):
            if fn.key in done:
                continue
            say(f"[{position}/{len(chosen)}] {fn.key}")
            done[fn.key] = result = _evaluate(flow, fn, baseline.covered[fn.key])
            log.append(result)
            if on_result:
                on_result(position, len(chosen), result)
    results = [done[f.key] for f in chosen]
    return RepoEval(results, {arm: summarize_arm(results, arm) for arm in arms},
                    candidates=len(functions), covered=len(covered), skipped=dict(skipped),
                    baseline={"exit": baseline.exit_code, "counts": baseline.counts,
                              "seconds": round(baseline.seconds, 2)},
                    results_path=log.path, resumed=len(chosen) - len(todo))
