"""The repository's own tests of a stub: found statically, kept as pytest node ids.

Strongest evidence a body can have (design: "where verification gets its truth"). The
test files are the ones the project's pytest would collect: under the `testpaths` of
`[tool.pytest.ini_options]`, `pytest.ini`, `setup.cfg` (`[tool:pytest]`) or `tox.ini`
(`[pytest]`), else under the repository; named `test_*.py` or `*_test.py`. A test is
kept when its own code names the stub (its function, or for a method its class and the
method's name) and its file imports the stub's module. Host side, `ast` only: nothing
here runs a test. Whether a test says anything about the stub is settled later, in the
sandbox: a test that already passes with the `...` body proves nothing.
"""

from __future__ import annotations

import ast
import configparser
import tomllib
from dataclasses import dataclass
from pathlib import Path

from codegen_hook.pipeline.layout import module_name
from codegen_hook.stubs import Stub

__all__ = ["RepoTest", "find_repo_tests", "configured_testpaths"]

_MAX_FILES = 400
_MAX_SOURCE = 1500      # characters of a test's source kept for the repair prompt
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".nox",
              "build", "dist", ".codegen-hook", "site-packages"}


@dataclass(frozen=True)
class RepoTest:
    """One test function of the repository that exercises the stub."""

    __test__ = False  # not a pytest class

    node_id: str        # relative to the repository root: tests/test_m.py::TestX::test_y
    source: str         # the test's own text, bounded (for the repair prompt)


def _ini_testpaths(path: Path, section: str) -> list[str] | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None
    if not parser.has_option(section, "testpaths"):
        return None
    return parser.get(section, "testpaths").split()


def configured_testpaths(root: Path) -> list[Path]:
    """Where the project's pytest looks for tests, as its own config says; the
    repository root when it says nothing. First config found wins, as in pytest."""
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            options = tomllib.loads(pyproject.read_text("utf-8")).get("tool", {}).get(
                "pytest", {}).get("ini_options", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            options = {}
        given = options.get("testpaths")
        if given:
            found = [given] if isinstance(given, str) else [str(p) for p in given]
            return [root / p for p in found]
    for name, section in (("pytest.ini", "pytest"), ("setup.cfg", "tool:pytest"),
                          ("tox.ini", "pytest")):
        if (root / name).is_file():
            listed = _ini_testpaths(root / name, section)
            if listed:
                return [root / p for p in listed]
    return [root]


def _test_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for base in configured_testpaths(root):
        candidates = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in candidates:
            rel = path.relative_to(root).parts if path.is_relative_to(root) else ()
            if any(p in _SKIP_DIRS or p.startswith(".") for p in rel[:-1]):
                continue
            if path.name.startswith("test_") or path.name.endswith("_test.py"):
                files.append(path)
    return sorted(set(files))[:_MAX_FILES]


def _imports_module(tree: ast.Module, module: str) -> bool:
    """The file imports the stub's module (or a name from it, or its package)."""
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name in prefixes or
                                                a.name.startswith(module + ".")
                                                for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and (
                node.module == module or node.module in prefixes):
            return True
    return False


def _names(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.add(sub.attr)
    return found


def _exercises(test: ast.AST, stub: Stub, file_names: set[str]) -> bool:
    """A function's name in the test; a method's name as an attribute in the test and its
    class anywhere in the file (a fixture may build the object)."""
    if not stub.is_method:
        return stub.name in _names(test)
    attributes = {n.attr for n in ast.walk(test) if isinstance(n, ast.Attribute)}
    return stub.name in attributes and stub.class_names[-1] in file_names


def _is_test_case(node: ast.ClassDef) -> bool:
    """A `unittest.TestCase` subclass, which pytest collects whatever its name."""
    for base in node.bases:
        name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
        if isinstance(name, str) and name.endswith("TestCase"):
            return True
    return False


def _tests_in(tree: ast.Module) -> list[tuple[str, ast.AST]]:
    """(node id tail, node) of each test pytest collects by its default rules
    (`test*` functions, `test*` methods of `Test*` classes and of `unittest.TestCase`
    subclasses)."""
    found: list[tuple[str, ast.AST]] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name.startswith("test"):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and (node.name.startswith("Test")
                                                 or _is_test_case(node)):
            found += [(f"{node.name}::{item.name}", item) for item in node.body
                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and item.name.startswith("test")]
    return found


def find_repo_tests(root: Path, path: Path, stub: Stub) -> tuple[RepoTest, ...]:
    """The repository's tests that name `stub` in a file importing its module."""
    root = root.resolve()
    try:
        module = module_name(path)
    except ValueError:
        return ()
    found: list[RepoTest] = []
    for test_file in _test_files(root):
        try:
            text = test_file.read_text("utf-8")
            tree = ast.parse(text)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        if test_file.resolve() == path.resolve() or not _imports_module(tree, module):
            continue
        file_names = _names(tree)
        rel = test_file.relative_to(root).as_posix()
        for tail, node in _tests_in(tree):
            if _exercises(node, stub, file_names):
                source = ast.get_source_segment(text, node) or ""
                found.append(RepoTest(f"{rel}::{tail}", source[:_MAX_SOURCE]))
    return tuple(found)
