"""Prompts: the stub with its module's context, and repair requests with the failure."""

from __future__ import annotations

import ast
from pathlib import Path

from codegen_hook.backends.base import Message
from codegen_hook.stubs import Stub, split_lines_keepends

__all__ = ["SYSTEM_PROMPT", "module_context", "repair_messages", "stub_messages"]

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Complete the function the user gives you. "
    "Answer with one ```python code block holding the complete function: its signature "
    "and docstring exactly as given, then a correct implementation of what the docstring "
    "says. Use the standard library and what the module already imports. "
    "Do not write tests, example calls or explanations."
)
_MAX_CONTEXT_LINES = 60


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str:
    body_start = node.body[0].lineno
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "".join(lines[first - 1:body_start - 1]).rstrip() + " ..."


def module_context(text: str, stub: Stub) -> str:
    """The module's imports and the signatures of its other definitions."""
    tree = ast.parse(text)
    lines = split_lines_keepends(text)
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(ast.get_source_segment(text, node) or "")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name != stub.name:
            out.append(_signature(node, lines))
        elif isinstance(node, ast.ClassDef):
            out.append(f"class {node.name}:")
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                        not (item.name == stub.name and stub.class_names[-1:] == (node.name,)):
                    out.append("    " + _signature(item, lines).strip())
    return "\n".join(out[:_MAX_CONTEXT_LINES])


def _stub_block(stub: Stub) -> str:
    if not stub.is_method:
        return stub.source.rstrip()
    return f"class {stub.class_names[-1]}:\n" + stub.source.rstrip()


def stub_messages(stub: Stub, text: str, path: Path, related: str = "") -> list[Message]:
    """The request for one stub: `related` is code retrieved from elsewhere in the repo."""
    context = module_context(text, stub)
    parts = []
    if related.strip():
        parts.append("Helpers that already exist in this repository (call them where "
                     f"they fit):\n```python\n{related}\n```\n")
    if context.strip():
        parts.append(f"The module `{path.name}` contains:\n```python\n{context}\n```\n")
    parts.append(f"Complete this function:\n```python\n{_stub_block(stub)}\n```")
    return [Message("system", SYSTEM_PROMPT), Message("user", "\n".join(parts))]


def repair_messages(base: list[Message], answer: str, feedback: str) -> list[Message]:
    """The first request, the failed answer, and what went wrong with it."""
    return base + [Message("assistant", answer), Message(
        "user", f"That function is wrong:\n{feedback}\n\nFix it. Answer with the complete "
                "corrected function in one ```python block.")]
