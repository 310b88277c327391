"""The prepare stage: a model's answer made into a body spliced into the module.

Host side only: the answer is parsed (`ast`), composed and compiled, never run. Code
the answer put outside the function (imports, helpers) becomes local statements of
the body, so nothing outside the stub's own lines changes.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import sys
from pathlib import Path

from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.extract import ExtractedCode, extract_body
from codegen_hook.stubs import Stub, splice_bodies

__all__ = ["compose_body", "prepare_untrusted"]


def _import_keys(module: ast.Module) -> set[str]:
    return {ast.dump(node) for node in module.body
            if isinstance(node, (ast.Import, ast.ImportFrom))}


def _parsed(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _as_function(code: str) -> ast.Module | None:
    """Statements (a body, its helpers) parsed as the body of a function."""
    return _parsed("def _():\n" + "\n".join("    " + ln for ln in code.split("\n")))


def _needed(statement: str, used: set[str]) -> bool:
    node = ast.parse(statement).body[0]
    assert isinstance(node, (ast.Import, ast.ImportFrom))
    if any(alias.name == "*" for alias in node.names):
        return False  # a star import cannot be local; the code must name what it uses
    return any((alias.asname or alias.name.split(".")[0]) in used for alias in node.names)


def _bound_names(tree: ast.AST) -> set[str]:
    """Every name `tree` binds anywhere: assignments, parameters, definitions, imports."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def _unimported_modules(tree: ast.Module, module: ast.Module, imports: list[str]) -> list[str]:
    """`import m` for each standard-library module the code (`tree`, from _as_function)
    uses by name (`hashlib.md5`) that nothing binds: not the module, the code, its
    imports, nor a builtin. An answer that starts after the stub's docstring
    (answer_prefix) has no place above the `def` for its imports, and the model often
    leaves them out."""
    loaded = {node.id for node in ast.walk(tree)
              if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    bound = _bound_names(tree) | _bound_names(module) | set(dir(builtins))
    bound |= {(a.asname or a.name).split(".")[0] for imp in imports
              for node in ast.parse(imp).body if isinstance(node, (ast.Import, ast.ImportFrom))
              for a in node.names}
    return [f"import {name}" for name in sorted(loaded - bound)
            if name in sys.stdlib_module_names and not name.startswith("_")]


def compose_body(extracted: ExtractedCode, module_text: str) -> str:
    """Imports the module lacks and helpers become local statements before the body,
    so nothing outside the stub's own lines changes. Unused imports are dropped;
    standard-library modules used but never imported are imported."""
    module = _parsed(module_text)   # the user's file, parsed once for both questions
    have = _import_keys(module) if module is not None else set()
    tree = _as_function("\n".join([*extracted.helpers, extracted.body]))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()
    missing = [imp for imp in extracted.imports
               if ast.dump(ast.parse(imp).body[0]) not in have and _needed(imp, used)]
    if tree is not None and module is not None:
        missing += _unimported_modules(tree, module, list(extracted.imports))
    if not extracted.helpers:
        return "\n".join([*missing, extracted.body])
    # pycodestyle wants a blank line before a nested definition (E306)
    head = ["\n".join(missing)] if missing else []
    return "\n\n".join([*head, *extracted.helpers, extracted.body])


def prepare_untrusted(cand: Candidate, module_text: str, path: Path, stub: Stub) -> Candidate:
    """`cand` with its body, the module it is spliced into, and what is wrong with it
    on the host side (no usable body, does not compile); parsed and compiled only."""
    extracted = extract_body(cand.answer, stub.name)
    if extracted is None:
        return dataclasses.replace(cand, problem=(
            f"the answer held no usable body for `{stub.name}`; answer with "
            f"the complete function `{stub.name}` in one ```python block"))
    body = compose_body(extracted, module_text)
    module = splice_bodies(module_text, [(stub, body)], "\n")
    problem = ""
    try:  # compile, never run: catches what ast.parse lets through
        compile(module, str(path), "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        problem = f"the function does not compile: {exc}"
    return dataclasses.replace(cand, body=body, module=module, problem=problem)
