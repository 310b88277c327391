"""Tests from examples a docstring states in free form, not as `>>>` lines.

    digitSum("abAB") => 131            add([4, 2, 6, 7]) ==> 2       f(x) ➞ y
    encode('test') returns 'TGST'      f(3) = 6                      # returns "db1111db"
    For lst = [1,2,3] the output should be 14
    Example 1:  Input: arr = [1,2,3], k = 2   Output: 6

Each becomes a SpecTest(call, expected, origin="stated"). Parsing is host-side text
work checked with `ast`: nothing here is evaluated. A call must be a call of the
function itself with literal arguments, and the expected value a literal that
`ast.literal_eval` accepts; `Input: a = 1` maps to arguments only by the stub's own
parameter names. Anything less certain is left out: a wrong test makes a right body fail.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections.abc import Iterator, Sequence

from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.pipeline.stated_text import (PARSE_ERRORS, ascii_quotes, is_open, literal,
                                               literal_call, literal_value, matching,
                                               split_top)

__all__ = ["stated_tests"]

_MAX_JOIN = 30  # lines a call or a value may span

# What follows the call: an arrow, `==`, `=`, or words; `# returns` and `# =>` too.
_RELATION = re.compile(r"""\s*(?:\#\s*)?(?P<rel>
    ==>|-->|=>|->|➞|→|⇒|==|=(?![=>])
  | (?:should|will|would)\s+(?:return|be|give|output)\b | returns?\b | gives\b | is\b
  | outputs?\b | yields\b | evaluates\s+to\b
)\s*:?\s*""", re.X | re.I)
# A relation cut off by the end of the line ("... should" / "return 15").
_UNFINISHED = re.compile(r"\s*(?:\#\s*)?(?:should|will|would|returns?|==>|=>|->|➞|→|==|=)?"
                         r"\s*:?\s*", re.I)
_BULLET = re.compile(r"\s*(?:[-*•]|\d+[.)])?\s*")
# A call right after an operator is part of a larger expression, and one right after
# these words (also at the end of the line above: "If" / "is_ok() is true, ...") is a
# condition or a clause: neither is an example.
_CLAUSE = r"\b(?:if|elif|while|when|whenever|whether|unless|until|not|lambda|in|is|or|return)"
_OPERAND = re.compile(rf"(?:[-+*/%=<>(\[{{@&|^~]|{_CLAUSE})\s*$", re.I)
_CLAUSE_END = re.compile(rf"{_CLAUSE}\s*$", re.I)
_INPUT = re.compile(r"^\s*(?:[-*•]\s*)?(?:example\s*\d*\s*:\s*)?input\s*:\s*(?P<rest>.*)$",
                    re.I)
_OUTPUT = re.compile(r"\boutput\s*:\s*", re.I)
_BLOCK_END = re.compile(r"^\s*(?:example\b|input\s*:|constraints?\b|note\b)", re.I)
_FOR = re.compile(r"""^\s*(?:[-*•]\s*)?for\s+(?P<args>[A-Za-z_]\w*\s*=.+?)\s*,?\s*
    the\s+(?:output|result|answer|return\s+value)\s+(?:should|will|would)\s+be\s*:?\s*
    (?P<out>.*)$""", re.X | re.I)
_ASSIGN = re.compile(r"\s*(?P<name>[A-Za-z_]\w*)\s*(?P<sep>=|:)(?!=)\s*(?P<value>.*\S)\s*$",
                     re.S)
_HEADER = re.compile(r"^\s*(?:for\s+)?examples?\b(?:[^:]*:)?\s*$", re.I)


def stated_tests(docstring: str, func_name: str, params: Sequence[str] = ()) -> list[SpecTest]:
    """The free-form examples in `docstring` of calls to `func_name`, as value tests.

    `params` (the stub's parameter names, in order) lets `Input: a = 1, b = 2` and
    `For lst = [..] ...` become calls; without them those forms are skipped. Examples
    that the docstring's `>>>` lines already give are left to the doctest path, unless
    doctest cannot read them: then `>>> f(args)` over a one-line literal is taken here.
    """
    lines = [ascii_quotes(line) for line in docstring.splitlines()]
    doctest_lines, doctest_calls, doctest_read = _doctest_parts(docstring)
    found: list[tuple[SpecTest, str, int]] = []  # each with its relation and section
    definitional: set[int] = set()  # sections where `f(n) = ...` defines the function
    section = 0
    for index, line in enumerate(lines):
        if _HEADER.match(line):
            section += 1
        if index in doctest_lines:
            continue
        for start in _call_starts(line, lines[index - 1] if index else "", func_name):
            text = _logical(lines, index, start, doctest_lines)
            test, relation = _call_example(text, func_name, index + 1)
            if test is not None:
                found.append((test, relation, section))
            elif relation == "=":
                definitional.add(section)
        if params:
            test = _input_example(lines, index, doctest_lines, func_name, params)
            test = test or _for_example(line, index + 1, func_name, params)
            if test is not None:
                found.append((test, "", section))
    # "tri(1) = 3" beside "tri(n) = 1 + n / 2" states the sequence, not the function's value
    kept = [test for test, relation, where in found
            if not (relation == "=" and where in definitional)]
    if not doctest_read:
        kept.extend(_unread_doctests(lines, func_name))
    return _unique(kept, doctest_calls)


# --- the call form: f(args) <relation> value ---------------------------------------------

def _call_starts(line: str, before: str, func_name: str) -> Iterator[int]:
    """Where calls of `func_name` start in `line` that are not part of an expression or a
    clause (`before` is the line above)."""
    for match in re.finditer(rf"(?<![\w.]){re.escape(func_name)}\s*\(", line):
        prefix = line[:match.start()]
        if not prefix.strip() and _CLAUSE_END.search(before):
            continue
        if _BULLET.fullmatch(prefix) or not _OPERAND.search(prefix):
            yield match.start()


def _logical(lines: list[str], index: int, start: int, skip: set[int]) -> str:
    """The text from a call on, joined with the next lines while brackets stay open,
    or with the next line when the line ends before the value ("... should")."""
    text = lines[index][start:].strip()
    following = index + 1
    while following < len(lines) and following - index <= _MAX_JOIN and following not in skip:
        end = matching(text, text.index("("))
        unfinished = end is not None and _UNFINISHED.fullmatch(text[end:])
        if not is_open(text) and not (unfinished and following == index + 1):
            break
        text = f"{text} {lines[following].strip()}"
        following += 1
    return text


def _call_example(text: str, func_name: str, line: int) -> tuple[SpecTest | None, str]:
    """A test from `f(args) <relation> value ...`, and the relation ("" when none).

    A `=` whose call or value is no literal ("f(n) = f(n - 1) + 1") comes back as
    (None, "="): the docstring defines the function with `=` around there.
    """
    end = matching(text, text.index("("))
    if end is None:
        return None, ""
    relation = _RELATION.match(text, end)
    if relation is None:
        return None, ""
    rel = relation["rel"].lower()
    if rel == "is" and re.match(r"(?:true|false)\b", text[relation.end():]):
        return None, rel  # "f() is true, ..." is English, not a literal
    call = literal_call(text[:end], func_name)
    expected = literal_value(text[relation.end():], func_name, chain=True)
    if call is None or expected is None:
        return None, rel
    return SpecTest(call=call, expected=expected, origin="stated", kind="value", line=line), rel


# --- the Input:/Output: and "For x = ... the output should be" forms ----------------------

def _input_example(lines: list[str], index: int, skip: set[int], func_name: str,
                   params: Sequence[str]) -> SpecTest | None:
    start = _INPUT.match(lines[index])
    if start is None:
        return None
    given, output = start["rest"], None
    split = _OUTPUT.search(given)
    if split is not None:
        given, output = given[:split.start()], given[split.end():]
    following = index + 1
    while output is None and following < len(lines) and following - index <= _MAX_JOIN:
        line = lines[following]
        split = _OUTPUT.search(line)
        if following in skip or (split is None and _BLOCK_END.match(line)):
            return None
        if split is not None:
            output = line[split.end():]
        elif line.strip():
            given = f"{given}{' ' if is_open(given) else ', '}{line.strip()}"
        following += 1
    while output is not None and following < len(lines) and following not in skip \
            and (not output.strip() or is_open(output)) and following - index <= _MAX_JOIN:
        output = f"{output} {lines[following].strip()}"
        following += 1
    if output is None:
        return None
    return _built_test(given.strip(" ,"), output, func_name, params, index + 1, ":=")


def _for_example(line: str, number: int, func_name: str,
                 params: Sequence[str]) -> SpecTest | None:
    match = _FOR.match(line)
    if match is None:
        return None
    return _built_test(match["args"], match["out"], func_name, params, number, "=")


def _built_test(given: str, output: str, func_name: str, params: Sequence[str], line: int,
                separators: str) -> SpecTest | None:
    arguments = _arguments(given, params, separators)
    expected = literal_value(output, func_name, chain=True)
    if arguments is None or expected is None:
        return None
    call = literal_call(f"{func_name}({', '.join(arguments)})", func_name)
    if call is None:
        return None
    return SpecTest(call=call, expected=expected, origin="stated", kind="value", line=line)


def _arguments(given: str, params: Sequence[str], separators: str) -> list[str] | None:
    """Positional argument texts for `name = value, ...` naming every parameter once, or
    for a bare value when there is one parameter; None when the mapping is not certain.
    Prose after the assignments (", the sum of digits will be 1") is passed over."""
    pieces = split_top(given)
    assigned = [_ASSIGN.fullmatch(piece) for piece in pieces]
    if assigned[0] is None:  # a bare value: only a one-parameter function takes it
        value = literal_value(given, "", chain=False)
        return [value] if value is not None and len(params) == 1 else None
    count = next((number for number, match in enumerate(assigned)
                  if match is None or match["sep"] not in separators), len(pieces))
    if not all(_is_prose(piece) for piece in pieces[count:]):
        return None
    named: dict[str, str] = {}
    for match in assigned[:count]:
        value = None if match is None else literal_value(match["value"], "", chain=False)
        if match is None or value is None or match["name"] in named:
            return None
        named[match["name"]] = value
    if sorted(named) != sorted(params):
        return None
    return [named[name] for name in params]


def _is_prose(text: str) -> bool:
    return bool(re.fullmatch(r"\s*[A-Za-z][\w\s]*", text)) and "=" not in text


# --- doctest overlap, duplicates ---------------------------------------------------------

def _doctest_parts(docstring: str) -> tuple[set[int], set[str], bool]:
    """The 0-based lines `>>>` examples occupy (source and output), their calls, and
    whether doctest could read them (one malformed example makes it read none)."""
    lines: set[int] = {number for number, line in enumerate(docstring.splitlines())
                       if line.lstrip().startswith((">>>", "..."))}
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError:
        return lines, set(), False
    calls: set[str] = set()
    for example in examples:
        span = example.source.count("\n") + example.want.count("\n")
        lines.update(range(example.lineno, example.lineno + span))
        key = _key(example.source)
        if key:
            calls.add(key)
    return lines, calls, True


def _unread_doctests(lines: list[str], func_name: str) -> Iterator[SpecTest]:
    """`>>> f(args)` with a one-line literal output, from a docstring whose doctest text
    doctest rejects as a whole (e.g. a string with a real line break in another example)."""
    for index, line in enumerate(lines[:-1]):
        source = re.match(r"\s*>>> (.*)$", line)
        after = lines[index + 2] if index + 2 < len(lines) else ""
        if source is None or not (not after.strip() or after.lstrip().startswith(">>>")):
            continue
        call = literal_call(source[1].strip(), func_name)
        expected = literal(lines[index + 1].strip())
        if call is not None and expected is not None:
            yield SpecTest(call=call, expected=expected, origin="stated", kind="value",
                           line=index + 1)


def _key(source: str) -> str:
    try:
        return ast.dump(ast.parse(source.strip(), mode="eval"))
    except PARSE_ERRORS:
        return ""


def _unique(tests: list[SpecTest], doctest_calls: set[str]) -> list[SpecTest]:
    """Tests in docstring order, once each, without calls the doctests make; a call
    stated with two different values is dropped altogether."""
    values: dict[str, set[str]] = {}
    for test in tests:
        values.setdefault(_key(test.call), set()).add(_key(test.expected))
    kept: list[SpecTest] = []
    seen: set[str] = set()
    for test in sorted(tests, key=lambda test: test.line):
        call = _key(test.call)
        if call in seen or call in doctest_calls or len(values[call]) > 1:
            continue
        seen.add(call)
        kept.append(test)
    return kept
