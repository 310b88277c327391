"""Score generated code against the repository's mined style.

Reads the spliced module with `ast` (never runs it) and judges only what the
generated lines introduce; a name the user's own lines already use is theirs and
is left alone. Without a mined profile, PEP 8's conventions apply.

Finding codes:

* STY100 a new function or method name is not in the repo's convention
* STY101 a new class name is not in the repo's convention
* STY102 a new local variable (assignment, loop, comprehension, `with`/`except`
  `as`, walrus) is not in the convention of the repo's arguments; UPPER_CASE
  local constants are accepted too
* STY103 an argument of a new function or lambda is not in the repo's convention
* STY110 a generated line is longer than the repo's limit
* STY120 a string uses the other quote than the one the repo clearly prefers
  (at least 80% of at least 10 strings); triple-quoted strings and strings that
  contain the preferred quote are exempt
* STY130 a parameter of a new function lacks an annotation (repo coverage >= 90%)
* STY131 a new function lacks a return annotation (repo coverage >= 90%)

Findings block only when the check is built with `enforce=True`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import ClassVar

from codegen_hook.checks.base import Check, CheckContext, CheckOptions, Finding
from codegen_hook.index.style import StyleProfile, fits_convention, is_dunder, strip_name

__all__ = ["StyleCheck", "StyleScore", "style_score"]

MIN_NAMING_SHARE = 0.7     # below this the repo is mixed and its names are not judged
MIN_QUOTE_SHARE = 0.8
MIN_QUOTE_STRINGS = 10
MIN_ANNOTATION_SHARE = 0.9
_QUOTE_CHAR = {"single": "'", "double": '"'}
_WORDS = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def style_score(findings: list[Finding], opportunities: int) -> float:
    """1.0 for no violations, down to 0.0 when every opportunity was missed."""
    if opportunities <= 0:
        return 1.0
    return max(0.0, 1.0 - len(findings) / opportunities)


@dataclass(frozen=True)
class StyleScore:
    score: float
    opportunities: int       # names, lines, strings and annotation slots judged
    findings: list[Finding]


def rename(name: str, convention: str) -> str:
    """`myVar` -> `my_var` for snake_case; keeps leading underscores."""
    bare = strip_name(name)
    prefix = name[:len(name) - len(name.lstrip("_"))]
    words = [w for part in bare.split("_") for w in _WORDS.findall(part)]
    if not words:
        return name
    if convention == "snake_case":
        new = "_".join(w.lower() for w in words)
    elif convention == "UPPER_CASE":
        new = "_".join(w.upper() for w in words)
    elif convention == "camelCase":
        new = words[0].lower() + "".join(w.capitalize() for w in words[1:])
    else:
        new = "".join(w.capitalize() for w in words)
    return prefix + new


# What each kind of new name is judged against: (label, profile kind, code).
_KINDS = {
    "function": ("function", "functions", "STY100"),
    "method": ("method", "methods", "STY100"),
    "class": ("class", "classes", "STY101"),
    "variable": ("local variable", "arguments", "STY102"),
    "argument": ("argument", "arguments", "STY103"),
}
_PEP8 = StyleProfile.default()


@dataclass
class _Scan:
    profile: StyleProfile
    context: CheckContext
    user_names: set[str]
    enforce: bool
    findings: list[Finding] = field(default_factory=list)
    opportunities: int = 0
    seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, line: int, col: int, code: str, message: str) -> None:
        self.findings.append(Finding("style", line, col, code, message, self.enforce))

    def expected(self, kind: str) -> tuple[str, str] | None:
        """The convention for a profile kind and why, or None for a mixed repo."""
        style = self.profile.naming.get(kind)
        if self.profile.files and style and style.dominant and style.counts:
            if style.share < MIN_NAMING_SHARE:
                return None
            return style.dominant, (f"{style.share:.0%} of this repo's {kind} are "
                                    f"{style.dominant}")
        pep8 = _PEP8.naming[kind].dominant or "snake_case"
        return pep8, f"PEP 8 names {kind} in {pep8}"

    def name(self, name: str, kind: str, line: int, col: int) -> None:
        if not self.context.owns(line) or name in self.user_names or is_dunder(name) \
                or not strip_name(name) or (kind, name) in self.seen:
            return
        self.seen.add((kind, name))
        label, profile_kind, code = _KINDS[kind]
        rule = self.expected(profile_kind)
        if rule is None:
            return
        self.opportunities += 1
        convention, why = rule
        if fits_convention(name, convention) or \
                (kind == "variable" and fits_convention(name, "UPPER_CASE")):
            return
        self.add(line, col, code, f"rename {label} `{name}` to `{rename(name, convention)}` "
                                  f"({convention}): {why}")


def _user_names(tree: ast.Module, context: CheckContext) -> set[str]:
    """Every identifier on the lines the user wrote (outside the generated range)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        line = getattr(node, "lineno", None)
        if line is None or context.owns(line):
            continue
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.alias) and not context.owns(getattr(node, "lineno", 0)):
            names.add(node.asname or node.name.split(".")[0])
    return names


def _params(args: ast.arguments, method: bool) -> list[ast.arg]:
    """Every parameter but a method's leading `self`/`cls`."""
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    if method and every and every[0].arg in ("self", "cls"):
        every = every[1:]
    return every


def _check_args(scan: _Scan, args: ast.arguments, method: bool) -> None:
    for arg in _params(args, method):
        scan.name(arg.arg, "argument", arg.lineno, arg.col_offset)


def _check_annotations(scan: _Scan, node: ast.FunctionDef | ast.AsyncFunctionDef,
                       method: bool) -> None:
    hints = scan.profile.type_hints
    if scan.profile.files and hints.params and hints.param_share >= MIN_ANNOTATION_SHARE:
        for arg in _params(node.args, method):
            scan.opportunities += 1
            if arg.annotation is None:
                scan.add(arg.lineno, arg.col_offset, "STY130",
                         f"annotate parameter `{arg.arg}` of `{node.name}`: "
                         f"{hints.param_share:.0%} of this repo's parameters are annotated")
    if scan.profile.files and hints.returns and hints.return_share >= MIN_ANNOTATION_SHARE \
            and node.name != "__init__":
        scan.opportunities += 1
        if node.returns is None:
            scan.add(node.lineno, node.col_offset, "STY131",
                     f"add a return annotation to `{node.name}`: {hints.return_share:.0%} "
                     "of this repo's functions have one")


def _check_definitions(scan: _Scan, tree: ast.Module) -> None:
    methods = {id(stmt) for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
               for stmt in node.body if isinstance(stmt, _FUNCTIONS)}
    for node in ast.walk(tree):
        if isinstance(node, _FUNCTIONS) and scan.context.owns(node.lineno):
            method = id(node) in methods
            scan.name(node.name, "method" if method else "function", node.lineno,
                      node.col_offset)
            _check_args(scan, node.args, method)
            _check_annotations(scan, node, method)
        elif isinstance(node, ast.Lambda):
            _check_args(scan, node.args, False)
        elif isinstance(node, ast.ClassDef):
            scan.name(node.name, "class", node.lineno, node.col_offset)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            scan.name(node.id, "variable", node.lineno, node.col_offset)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scan.name(node.name, "variable", node.lineno, node.col_offset)


def _check_lines(scan: _Scan, code: str) -> None:
    length = scan.profile.line_length
    for number, line in enumerate(code.splitlines(), 1):
        if not scan.context.owns(number):
            continue
        scan.opportunities += 1
        if len(line) > length.max:
            scan.add(number, length.max, "STY110",
                     f"line is {len(line)} characters; this repo's limit is {length.max} "
                     f"({length.source}): wrap it or split the expression")


def _check_quotes(scan: _Scan, tree: ast.Module, code: str) -> None:
    quotes = scan.profile.quotes
    if not quotes.preferred or quotes.share < MIN_QUOTE_SHARE or \
            quotes.total < MIN_QUOTE_STRINGS:
        return
    want = _QUOTE_CHAR[quotes.preferred]
    inside_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
                       for part in ast.walk(node) if part is not node}
    flagged: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Constant, ast.JoinedStr)) or id(node) in inside_fstrings \
                or not scan.context.owns(node.lineno):
            continue
        if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)):
            continue
        literal = (ast.get_source_segment(code, node) or "").lstrip("rRbBuUfF")
        if not literal or literal[:3] in ("'''", '"""'):
            continue
        scan.opportunities += 1
        if literal[0] != want and want not in literal[1:-1] and node.lineno not in flagged:
            flagged.add(node.lineno)
            scan.add(node.lineno, node.col_offset, "STY120",
                     f"use {quotes.preferred} quotes ({want}) for `{literal[:30]}`: "
                     f"{quotes.share:.0%} of this repo's strings use them")


class StyleCheck(Check):
    """Style conformance of the generated lines; blocking only when `enforce`."""

    name: ClassVar[str] = "style"

    def __init__(self, enforce: bool = False) -> None:
        self.enforce = enforce

    @classmethod
    def configured(cls, options: CheckOptions) -> "StyleCheck":
        return cls(enforce=options.style_mode == "enforce")

    def run(self, code: str, context: CheckContext) -> list[Finding]:
        return self.score(code, context).findings

    def score(self, code: str, context: CheckContext) -> StyleScore:
        """The findings and a 0..1 score (1 - violations / opportunities)."""
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            return StyleScore(1.0, 0, [])  # flake8 and mypy report what does not parse
        scan = _Scan(context.style or _PEP8, context, _user_names(tree, context), self.enforce)
        _check_definitions(scan, tree)
        _check_lines(scan, code)
        _check_quotes(scan, tree, code)
        findings = sorted(scan.findings, key=lambda f: (f.line, f.col, f.code))
        return StyleScore(style_score(findings, scan.opportunities), scan.opportunities,
                          findings)
