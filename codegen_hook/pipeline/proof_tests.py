"""The tests that proved a body, kept as a pytest file a reviewer can read and re-run.

`fill --write-tests` (setting `write_tests`) writes, per verified function, one test
function into `tests/test_<module>_codegen.py` (setting `tests_path`): the docstring's
examples and the model's tests that the chosen body and at least one other candidate
that computed the same passed, each with its origin in a comment. The file is ours when
it starts with `HEADER`; a hand-written file of that name is never touched. Before it
is written, the new file runs under pytest in the sandbox against the filled module:
one that does not collect, or whose tests fail, is not written, and the report says why.
Host side: tests are rendered as text from the spec's records, never evaluated here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.atomic import write_atomic
from codegen_hook.config import Settings
from codegen_hook.errors import ConfigError
from codegen_hook.isolation.base import Sandbox
from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.layout import module_name
from codegen_hook.pipeline.outcome import Outcome
from codegen_hook.pipeline.repo_matrix import read_repo_matrix, repo_job
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.stubs import Stub

__all__ = ["HEADER", "ProofFile", "proof_file", "proof_tests", "proof_tests_path",
           "write_proof_tests"]

HEADER = "# Written by codegen-hook: the tests that proved the generated functions.\n"
_ORIGIN = {"docstring": "the docstring's example", "stated": "the docstring's text",
           "model": "a model-written test the chosen body and an agreeing candidate pass"}


def proof_tests(chosen: Candidate, cands: Sequence[Candidate],
                tests: Sequence[SpecTest]) -> list[SpecTest]:
    """The user's examples, and the model's tests the chosen body passed that another
    candidate computing the same also passed (probes have no expected value)."""
    same = [c for c in cands if c.index != chosen.index and c.ran
            and [r.answer for r in c.results] == [r.answer for r in chosen.results]]
    kept = []
    for j, test in enumerate(tests):
        if j >= len(chosen.results) or not chosen.results[j].passed or test.kind == "probe":
            continue
        if test.origin == "model" and not same:
            continue
        kept.append(test)
    return kept


def _assertion(test: SpecTest) -> list[str]:
    """Lines of one test: `assert call == expected` where the expected output is a
    literal, else the example run as a doctest."""
    lines = [line for source in test.setup for line in source.rstrip("\n").split("\n")]
    call = test.call.strip()
    if test.kind == "value":
        return lines + [f"assert {call} == {test.expected}"]
    want = test.expected.strip()
    try:
        ast.parse(call, mode="eval")
        ast.literal_eval(want)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        if not want and call.startswith("assert "):
            return lines + [call]
        example = ">>> " + "\n... ".join(test.call.rstrip("\n").split("\n")) + "\n" + \
            test.expected
        return lines + [f"_doctest({example!r}, globals() | locals())"]
    return lines + [f"assert {call} == {want}"]


def _function_name(stub: Stub) -> str:
    return "test_" + re.sub(r"\W", "_", stub.qualname).lower() + "_codegen"


def render_test(stub: Stub, tests: Sequence[SpecTest]) -> str:
    body: list[str] = []
    for test in tests:
        where = f", line {test.line}" if test.line else ""
        body.append(f"# from {_ORIGIN.get(test.origin, test.origin)}{where}")
        body += _assertion(test)
    text = "\n".join("    " + line if line else "" for line in body)
    return f"def {_function_name(stub)}():\n{text}\n"


_HELPER = '''

def _doctest(example, globs):
    """Run one docstring example as doctest would and fail on a wrong output."""
    import doctest

    test = doctest.DocTestParser().get_doctest(example, dict(globs), "example", None, 0)
    runner = doctest.DocTestRunner(verbose=False)
    runner.run(test, out=lambda text: None)
    assert runner.failures == 0, example
'''


@dataclass(frozen=True)
class ProofFile:
    path: Path
    text: str
    node_ids: tuple[str, ...]   # the functions this fill added, relative to the root


def proof_tests_path(root: Path, path: Path, pattern: str) -> Path:
    """`pattern` (setting tests_path, e.g. tests/test_{module}_codegen.py) for `path`."""
    try:
        rel = Path(pattern.format(module=path.stem))
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"setting tests_path = {pattern!r} is not a pattern of "
                          "{module} (e.g. tests/test_{module}_codegen.py)") from exc
    if rel.is_absolute() or ".." in rel.parts or rel.suffix != ".py":
        raise ConfigError(f"setting tests_path = {pattern!r} must name a .py file inside "
                          "the repository")
    return root / rel


def proof_file(root: Path, path: Path, pattern: str,
               functions: Sequence[tuple[Stub, Sequence[SpecTest]]]) -> ProofFile | str:
    """The tests file with these functions' tests added (an older test of the same
    function replaced), or why it cannot be written."""
    target = proof_tests_path(root, path, pattern)
    existing = target.read_text("utf-8") if target.is_file() else ""
    if existing and not existing.startswith(HEADER):
        return (f"{target} exists and was not written by codegen-hook; the tests were not "
                "written (set tests_path to another file)")
    names = {_function_name(stub) for stub, _ in functions}
    kept = _without(existing, names) if existing else ""
    module = module_name(path)
    imports = sorted({f"from {module} import {stub.qualname.split('.')[0]}"
                      for stub, _ in functions})
    head = kept or HEADER + _HELPER
    new_imports = "".join(f"{line}\n" for line in imports if line not in head)
    text = head.replace(HEADER, HEADER + new_imports, 1).rstrip("\n") + "\n"
    for stub, tests in functions:
        text += "\n\n" + render_test(stub, tests)
    rel = target.relative_to(root).as_posix()
    return ProofFile(target, text, tuple(f"{rel}::{_function_name(s)}" for s, _ in functions))


def _without(text: str, names: set[str]) -> str:
    """`text` without the top-level functions named `names`."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    lines = text.splitlines(keepends=True)
    drop = {i for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in names
            for i in range(node.lineno - 1, node.end_lineno or node.lineno)}
    return "".join(line for i, line in enumerate(lines) if i not in drop)


def write_proof_tests(settings: Settings, sandbox: Sandbox, root: Path, path: Path,
                      filled: str, done: Sequence[tuple[Stub, Outcome]],
                      site: Sequence[Path]) -> tuple[str, str]:
    """Write the proof tests of the verified `done` stubs of `path` (whose text is now
    `filled`); (the file written or "", why not or "")."""
    functions = []
    for stub, outcome in done:
        chosen = next((c for c in outcome.candidates if c.index == outcome.selection.index),
                      None)
        if outcome.verdict != "verified" or chosen is None:
            continue
        tests = proof_tests(chosen, outcome.candidates, outcome.spec)
        if tests:
            functions.append((stub, tests))
    if not functions:
        return "", ""
    made = proof_file(root, path, settings.tests_path, functions)
    if isinstance(made, str):
        return "", made
    rel = made.path.relative_to(root).as_posix()
    job, marker = repo_job(root, path, [filled], made.node_ids, site, timeout=settings.timeout,
                           memory_mb=settings.memory_mb, extra_files={rel: made.text})
    [(problem, outcomes)] = read_repo_matrix(sandbox.run(job), marker, 1, made.node_ids)
    failed = [o for o in outcomes if not o.passed]
    if problem or failed:
        why = problem or "; ".join(f"{o.test} {o.outcome}: {o.message.strip()[-300:]}"
                                   for o in failed)
        return "", f"{rel} was not written: under pytest in the sandbox it {why}"
    try:
        write_atomic(made.path, made.text.encode("utf-8"))
    except OSError as exc:
        return "", f"{rel} could not be written ({exc.strerror}); the tests were not kept"
    return str(made.path), ""
