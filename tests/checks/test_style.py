"""The style check: generated lines scored against a profile mined from a real index."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_hook.checks import make_checks
from codegen_hook.checks.base import CheckContext, Finding
from codegen_hook.checks.examples import ExampleSpecialCaseCheck
from codegen_hook.checks.style import StyleCheck, rename, style_score
from codegen_hook.checks.tools import Flake8Check
from codegen_hook.errors import ConfigError
from codegen_hook.index.build import load_index, refresh_index
from codegen_hook.index.style import StyleProfile, mine_style

SNAKE_REPO = '''\
def load_file(file_path: str, max_bytes: int) -> str:
    return "text"


def parse_line(line_text: str, sep_char: str) -> list[str]:
    return line_text.split(sep_char)


def count_words(text_body: str) -> int:
    return len(text_body.split(" "))


class LineReader:
    def read_all(self, source_path: str) -> list[str]:
        return ["a", "b", "c", "d", "e", "f", "g", "h"]
'''

CAMEL_REPO = '''\
def loadFile(filePath, maxBytes):
    return 'text'


def parseLine(lineText, sepChar):
    return lineText.split(sepChar)
'''

# Lines 1-4 are the user's (with their own camelCase names); 5-8 are generated.
SPLICED = '''\
def word_count(textBody: str) -> int:
    """How many words."""
    userTotal = 0
    wordList = textBody.split()
    total = 0
    for w in wordList:
        total += 1
    return total + userTotal
'''
GENERATED = (5, 8)

CAMEL_LOCAL = '''\
def word_count(text: str) -> int:
    """How many words."""
    wordList = text.split()
    return len(wordList)
'''


def mined(root: Path, text: str, config: dict[str, str] | None = None) -> StyleProfile:
    root.mkdir(exist_ok=True)
    (root / "mod.py").write_text(text, "utf-8")
    for name, body in (config or {}).items():
        (root / name).write_text(body, "utf-8")
    refresh_index(root, root / ".store")
    return mine_style(load_index(root, root / ".store"), root)


def context(root: Path, lines: tuple[int, int], style: StyleProfile | None) -> CheckContext:
    return CheckContext(path=root / "mod.py", root=root, first_line=lines[0],
                        last_line=lines[1], cache_dir=root / ".cache", style=style)


@pytest.fixture
def snake(tmp_path: Path) -> StyleProfile:
    return mined(tmp_path / "snake", SNAKE_REPO)


def codes(findings: list[Finding]) -> list[tuple[str, int]]:
    return [(f.code, f.line) for f in findings]


def test_camel_case_local_in_a_snake_case_repo(tmp_path: Path, snake: StyleProfile) -> None:
    reported = StyleCheck().run(CAMEL_LOCAL, context(tmp_path, (3, 4), snake))
    assert codes(reported) == [("STY102", 3)]
    finding = reported[0]
    assert finding.check == "style"
    assert finding.col == 4
    assert finding.blocking is False
    assert finding.message == ("rename local variable `wordList` to `word_list` (snake_case): "
                               "100% of this repo's arguments are snake_case")
    enforced = StyleCheck(enforce=True).run(CAMEL_LOCAL, context(tmp_path, (3, 4), snake))
    assert [(f.code, f.line, f.blocking) for f in enforced] == [("STY102", 3, True)]


def test_users_names_and_lines_are_never_flagged(tmp_path: Path, snake: StyleProfile) -> None:
    findings = StyleCheck().run(SPLICED, context(tmp_path, GENERATED, snake))
    # `userTotal` (line 3) and `textBody` (the user's argument) are the user's own;
    # `wordList` on line 4 is outside the generated lines; `w` and `total` conform.
    assert findings == []
    findings = StyleCheck().run(SPLICED, context(tmp_path, (4, 8), snake))
    assert codes(findings) == [("STY102", 4)]


def test_a_conforming_body_has_no_findings(tmp_path: Path, snake: StyleProfile) -> None:
    code = '''\
def word_count(text: str) -> int:
    """How many words."""
    MAX_WORDS = 100

    def is_word(token: str) -> bool:
        return bool(token.strip())

    words = [part for part in text.split(" ") if is_word(part)]
    with open("log") as log_file, open("x") as _:
        log_file.write("done")
    try:
        first, *rest = words
    except ValueError as error:
        raise ValueError("empty") from error
    return min(len(rest) + 1, MAX_WORDS)
'''
    score = StyleCheck().score(code, context(tmp_path, (3, 15), snake))
    assert score.findings == []
    assert score.score == 1.0
    assert score.opportunities > 10


def test_new_names_of_every_kind(tmp_path: Path, snake: StyleProfile) -> None:
    code = '''\
def outer(text: str) -> int:
    """Doc."""
    class wordBag:
        def addWord(self, newWord: str) -> None:
            pass

    def helperFn(firstArg: int) -> int:
        return firstArg

    pick = lambda someItem: someItem
    total = sum(itemCount for itemCount in [1])
    if (seenCount := total):
        pass
    return helperFn(pick(seenCount))
'''
    findings = StyleCheck().run(code, context(tmp_path, (3, 14), snake))
    assert codes(findings) == [
        ("STY101", 3), ("STY100", 4), ("STY103", 4), ("STY100", 7), ("STY103", 7),
        ("STY103", 10), ("STY102", 11), ("STY102", 12)]
    messages = {f.message.split(":")[0] for f in findings}
    assert "rename class `wordBag` to `WordBag` (PascalCase)" in messages
    assert "rename method `addWord` to `add_word` (snake_case)" in messages
    assert "rename function `helperFn` to `helper_fn` (snake_case)" in messages
    assert "rename argument `someItem` to `some_item` (snake_case)" in messages


def test_a_camel_case_repo_wants_camel_case(tmp_path: Path) -> None:
    profile = mined(tmp_path / "camel", CAMEL_REPO)
    code = '''\
def wordCount(text):
    """Doc."""
    word_list = text.split()
    wordTotal = len(word_list)
    return wordTotal
'''
    findings = StyleCheck().run(code, context(tmp_path, (3, 5), profile))
    assert codes(findings) == [("STY102", 3)]
    assert "`word_list` to `wordList` (camelCase)" in findings[0].message


def test_without_a_profile_pep8_applies(tmp_path: Path) -> None:
    findings = StyleCheck().run(CAMEL_LOCAL, context(tmp_path, (3, 4), None))
    assert codes(findings) == [("STY102", 3)]
    assert findings[0].message.endswith("PEP 8 names arguments in snake_case")


def test_long_lines_against_the_configured_limit(tmp_path: Path) -> None:
    profile = mined(tmp_path / "r", SNAKE_REPO, {"setup.cfg": "[flake8]\nmax-line-length = 60\n"})
    code = ("def f(text: str) -> str:\n    \"\"\"Doc.\"\"\"\n"
            f"    return text + \"{'a' * 60}\"\n")
    findings = StyleCheck().run(code, context(tmp_path, (3, 3), profile))
    assert codes(findings) == [("STY110", 3)]
    assert findings[0].message == ("line is 80 characters; this repo's limit is 60 "
                                   "(setup.cfg [flake8] max-line-length): wrap it or split "
                                   "the expression")
    assert StyleCheck().run(code, context(tmp_path, (3, 3), None))[0].code == "STY110"


def test_quotes_only_where_the_repo_clearly_prefers_one(tmp_path: Path,
                                                        snake: StyleProfile) -> None:
    assert snake.quotes.preferred == "double" and snake.quotes.share == 1.0
    code = '''\
def f(text: str) -> str:
    """Doc."""
    a = 'single'
    b = 'has "double" inside'
    c = """triple"""
    d = f'{text}!'
    return a + b + c + d + "fine"
'''
    findings = StyleCheck().run(code, context(tmp_path, (3, 7), snake))
    assert codes(findings) == [("STY120", 3), ("STY120", 6)]
    assert findings[0].message.startswith("use double quotes (\") for `'single'`")
    camel = mined(tmp_path / "camel", CAMEL_REPO)  # one string: no clear preference
    assert StyleCheck().run(code, context(tmp_path, (3, 7), camel)) == []


def test_annotations_only_in_a_typed_repo(tmp_path: Path, snake: StyleProfile) -> None:
    code = '''\
def f(text: str) -> str:
    """Doc."""
    def helper(value, other: int):
        return value
    return helper(text, 1)
'''
    assert snake.type_hints.param_share == 1.0
    findings = StyleCheck().run(code, context(tmp_path, (3, 5), snake))
    assert codes(findings) == [("STY131", 3), ("STY130", 3)]
    assert findings[1].message.startswith("annotate parameter `value` of `helper`")
    untyped = mined(tmp_path / "camel", CAMEL_REPO)
    assert StyleCheck().run(code, context(tmp_path, (3, 5), untyped)) == []
    assert StyleCheck().run(code, context(tmp_path, (3, 5), None)) == []


def test_a_mixed_repo_is_not_judged(tmp_path: Path) -> None:
    text = "".join(f"def f{i}({a}):\n    pass\n\n\n" for i, a in
                   enumerate(("one_two", "three_four", "fiveSix", "sevenEight")))
    profile = mined(tmp_path / "mixed", text)
    assert profile.naming["arguments"].share == 0.5
    assert StyleCheck().run(CAMEL_LOCAL, context(tmp_path, (3, 4), profile)) == []


def test_code_that_does_not_parse_has_no_findings(tmp_path: Path) -> None:
    assert StyleCheck().run("def f(:\n", context(tmp_path, (1, 1), None)) == []


def test_score() -> None:
    finding = Finding("style", 1, 0, "STY102", "x", False)
    assert style_score([], 0) == 1.0
    assert style_score([finding], 4) == 0.75
    assert style_score([finding] * 5, 4) == 0.0


def test_score_of_a_body_with_one_violation(tmp_path: Path, snake: StyleProfile) -> None:
    score = StyleCheck().score(CAMEL_LOCAL, context(tmp_path, (3, 4), snake))
    # judged: the name `wordList`, two lines; quotes: none in these lines
    assert score.opportunities == 3
    assert score.score == pytest.approx(2 / 3)


@pytest.mark.parametrize("name, convention, expected", [
    ("myVar", "snake_case", "my_var"),
    ("getHTTPResponse", "snake_case", "get_http_response"),
    ("_privateThing", "snake_case", "_private_thing"),
    ("word_list", "camelCase", "wordList"),
    ("word_bag", "PascalCase", "WordBag"),
    ("maxSize", "UPPER_CASE", "MAX_SIZE"),
])
def test_rename(name: str, convention: str, expected: str) -> None:
    assert rename(name, convention) == expected


def test_make_checks_builds_the_style_check_by_mode() -> None:
    checks = make_checks(("flake8", "style"))
    assert [type(c) for c in checks] == [ExampleSpecialCaseCheck, Flake8Check, StyleCheck]
    style = checks[2]
    assert isinstance(style, StyleCheck) and style.enforce is False
    enforcing = make_checks(("style",), style_mode="enforce")[1]
    assert isinstance(enforcing, StyleCheck) and enforcing.enforce is True
    with pytest.raises(ConfigError, match="report, enforce"):
        make_checks(("style",), style_mode="strict")
