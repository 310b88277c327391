"""Tests from the docstring's own examples, run in the sandbox, never here.

The host parses the examples (the user's text) and ships them as JSON; a small
runner inside the sandbox imports the module under test and runs each example
with doctest's own machinery, one result per example.
"""

from __future__ import annotations

import doctest
import functools
import json
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from codegen_hook.isolation.base import RunResult, SandboxJob
from codegen_hook.stubs import Stub

__all__ = ["Example", "ExampleResult", "ExampleRun", "collect_module_files", "docstring_examples",
           "examples_job", "module_name", "read_example_results"]

_MAX_FILES = 2000
_MAX_BYTES = 20 << 20
_SKIP_DIRS = {"node_modules", "site-packages", "__pycache__", "venv", "build", "dist"}


@dataclass(frozen=True)
class Example:
    source: str
    want: str
    line: int


@dataclass(frozen=True)
class ExampleResult:
    source: str
    want: str
    got: str
    passed: bool
    error: str = ""


@dataclass(frozen=True)
class ExampleRun:
    """Per-example results, or why none could be had (import error, timeout, ...)."""

    results: tuple[ExampleResult, ...]
    problem: str
    run: RunResult


def docstring_examples(stub: Stub) -> list[Example]:
    parser = doctest.DocTestParser()
    try:
        found = parser.get_examples(stub.docstring)
    except ValueError:  # malformed doctest text: no usable examples
        return []
    return [Example(e.source, e.want, e.lineno) for e in found]


def _import_root(path: Path) -> Path:
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        folder = folder.parent
    return folder


def module_name(path: Path) -> str:
    path = path.resolve()
    rel = path.with_suffix("").relative_to(_import_root(path))
    return ".".join(rel.parts)


@functools.lru_cache(maxsize=8)
def _python_files_under(root: Path) -> tuple[tuple[str, str], ...]:
    """Python files below an import root, read once per process (a fill run is short)."""
    files: list[tuple[str, str]] = []
    size = 0
    for other in sorted(root.rglob("*.py")):
        rel = other.relative_to(root)
        if any(p.startswith(".") or p in _SKIP_DIRS for p in rel.parts[:-1]):
            continue
        try:
            text = other.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        size += len(text)
        if len(files) >= _MAX_FILES or size > _MAX_BYTES:
            break
        files.append((str(PurePosixPath(*rel.parts)), text))
    return tuple(files)


def collect_module_files(path: Path, spliced: str) -> dict[str, str]:
    """The module under test and the Python files beside it that it may import.

    Files are keyed by their path under the import root; the module itself is the
    spliced text. Hidden and virtual-env folders are skipped, and the total is capped.
    """
    path = path.resolve()
    root = _import_root(path)
    files = dict(_python_files_under(root))
    files[str(PurePosixPath(*path.relative_to(root).parts))] = spliced
    return files


_RUNNER = '''\
import doctest, importlib, json, os, sys, traceback
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "src"))
spec = json.load(open(os.path.join(here, "examples.json")))
marker = spec["marker"]

def emit(payload):
    sys.stdout.flush()
    print("\\n" + marker + json.dumps(payload), flush=True)

try:
    target = importlib.import_module(spec["module"])
    globs = dict(vars(target))
    for part in spec["qualname"].split("."):
        target = getattr(target, part)
except BaseException:
    emit({"problem": "the module could not be imported in the sandbox:\\n"
          + traceback.format_exc(limit=-3)})
    raise SystemExit(0)

results = []

class Recorder(doctest.DocTestRunner):
    def report_success(self, out, test, example, got):
        results.append({"source": example.source, "want": example.want,
                        "got": got, "passed": True})
    def report_failure(self, out, test, example, got):
        results.append({"source": example.source, "want": example.want,
                        "got": got, "passed": False})
    def report_unexpected_exception(self, out, test, example, exc_info):
        error = "".join(traceback.format_exception(*exc_info, limit=-2))
        results.append({"source": example.source, "want": example.want, "got": "",
                        "passed": False, "error": error})

test = doctest.DocTestParser().get_doctest(spec["docstring"], globs, spec["qualname"],
                                           spec["module"], 0)
Recorder(verbose=False).run(test, out=lambda text: None)
emit({"results": results})
'''


def examples_job(stub: Stub, path: Path, spliced: str, timeout: float,
                 memory_mb: int) -> tuple[SandboxJob, str]:
    """A job that runs the stub's examples against the spliced module, and its marker."""
    marker = f"@@codegen-hook-{secrets.token_hex(8)}@@"
    spec = {"marker": marker, "module": module_name(path), "qualname": stub.qualname,
            "docstring": stub.docstring}
    files = {f"src/{name}": text for name, text in collect_module_files(path, spliced).items()}
    files["examples.json"] = json.dumps(spec)
    files["run_examples.py"] = _RUNNER
    return SandboxJob(files=files, entry="run_examples.py", timeout=timeout,
                      memory_mb=memory_mb), marker


def read_example_results(run: RunResult, marker: str) -> ExampleRun:
    """Parse the runner's report; anything else the run printed is only context."""
    for line in reversed(run.stdout.splitlines()):
        if line.startswith(marker):
            payload = json.loads(line[len(marker):])
            if "problem" in payload:
                return ExampleRun((), str(payload["problem"]), run)
            results = tuple(ExampleResult(r["source"], r["want"], r["got"], bool(r["passed"]),
                                          r.get("error", "")) for r in payload["results"])
            return ExampleRun(results, "", run)
    reason = "; ".join(run.notes) or f"exit code {run.exit_code}"
    tail = run.stderr.strip()[-600:]
    return ExampleRun((), f"the sandbox run ended without a report ({run.verdict}: {reason})"
                      + (f"\n{tail}" if tail else ""), run)
