"""Prompts: the stub with its module's context, and repair requests with the failure."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from codegen_hook.backends.base import Message
from codegen_hook.security.redact import redact_secrets
from codegen_hook.stubs import Stub, split_lines_keepends

__all__ = ["ALTERNATIVE", "SYSTEM_PROMPT", "alternative_messages", "answer_prefix",
           "module_context", "redact_messages", "repair_messages", "stub_messages"]

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Complete the function the user gives you. "
    "Answer with one ```python code block holding the complete function: its signature "
    "and docstring exactly as given, then a correct implementation of what the docstring "
    "says. Use the standard library and what the module already imports. "
    "Do not write tests, example calls or explanations."
)
_MAX_SIGNATURES = 24


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> str:
    body_start = node.body[0].lineno
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    return "".join(lines[first - 1:body_start - 1]).rstrip() + " ..."


def _import_line(node: ast.Import | ast.ImportFrom) -> str:
    """One line per import statement, however it was wrapped in the file."""
    return ast.unparse(node)


def module_context(text: str, stub: Stub) -> str:
    """The module's imports (one line each) and the signatures of the definitions
    nearest the stub: a long module's whole outline made the small model echo it
    back instead of writing the function."""
    tree = ast.parse(text)
    lines = split_lines_keepends(text)
    imports: list[str] = []
    defs: list[tuple[int, int, str]] = []     # (distance from the stub, order, text)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(_import_line(node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                node.name != stub.name:
            defs.append((abs(node.lineno - stub.def_line), len(defs),
                         _signature(node, lines)))
        elif isinstance(node, ast.ClassDef):
            members = [f"class {node.name}:"]
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                        not (item.name == stub.name and stub.class_names[-1:] == (node.name,)):
                    members.append("    " + _signature(item, lines).strip())
            inside = node.lineno <= stub.def_line <= (node.end_lineno or node.lineno)
            defs.append((0 if inside else abs(node.lineno - stub.def_line), len(defs),
                         "\n".join(members[:12])))
    nearest = sorted(defs)[:_MAX_SIGNATURES]
    return "\n".join(imports + [text for _, _, text in sorted(nearest, key=lambda d: d[1])])


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _stub_block(stub: Stub, source: str = "") -> str:
    """The stub's `source` (default: all of it) as the prompt shows it: a method inside
    its class line."""
    text = (source or stub.source).rstrip()
    return f"class {stub.class_names[-1]}:\n{text}" if stub.is_method else text


def answer_prefix(stub: Stub) -> str:
    """How the asked-for answer starts: the fence, then the stub's block exactly as the
    prompt shows it up to the end of its docstring. A backend that continues a started
    answer (the embedded one) then decodes only the body: the echo of the signature and
    docstring was most of each candidate's tokens. It stops right after the docstring's
    closing quotes, so the model writes the newline and indent as one token of its own.
    "" when the `...` is not on a line of its own (nothing clean to cut at)."""
    lines = split_lines_keepends(stub.source)
    keep = stub.ellipsis_line - stub.start_line
    if keep < 1 or keep >= len(lines) or not lines[keep].strip().startswith("..."):
        return ""
    return f"```python\n{_stub_block(stub, ''.join(lines[:keep]))}"


def stub_messages(stub: Stub, text: str, path: Path, related: str = "") -> list[Message]:
    """The request for one stub: `related` is code retrieved from elsewhere in the repo."""
    context = module_context(text, stub)
    # Context goes in as indented text, not fenced code: given fenced blocks, the small
    # model answered by copying the first one back (measured on more_itertools stubs).
    parts = []
    if context.strip():
        parts.append(f"For reference, the module `{path.name}` has:\n{_indent(context)}\n")
    if related.strip():
        parts.append("For reference, helpers that already exist in this repository (call "
                     f"them where they fit):\n{_indent(related)}\n")
    parts.append("Write the body of this function and answer with the complete function "
                 f"in one ```python block:\n```python\n{_stub_block(stub)}\n```")
    return [Message("system", SYSTEM_PROMPT), Message("user", "\n".join(parts))]


def repair_messages(base: list[Message], answer: str, feedback: str) -> list[Message]:
    """The first request, the failed answer, and what went wrong with it."""
    return base + [Message("assistant", answer), Message(
        "user", f"That function is wrong:\n{feedback}\n\nFix it. Answer with the complete "
                "corrected function in one ```python block.")]


ALTERNATIVE = ("Write it the long way, without a one-line shortcut: explicit loops, "
               "conditions and intermediate variables.")


def alternative_messages(base: list[Message]) -> list[Message]:
    """The first request, asking for another way to write it. The answers so far are
    not shown: a program that agrees with them without having seen them is evidence;
    one asked to rewrite them would copy their mistakes too."""
    *head, last = base
    return head + [Message(last.role, f"{last.content}\n{ALTERNATIVE}")]


def redact_messages(messages: Sequence[Message]) -> tuple[list[Message], Counter[str]]:
    """The messages with credentials replaced by placeholders, and how many of each kind:
    repository code (and what the sandbox printed about it) reaches the model only so."""
    kinds: Counter[str] = Counter()
    out = []
    for message in messages:
        result = redact_secrets(message.content)
        kinds.update(result.kinds())
        out.append(Message(message.role, result.text) if result.count else message)
    return out, kinds
