"""The static checks: real flake8 and mypy runs on spliced modules, and the
example special-case check. Only findings on the generated lines count."""

from __future__ import annotations

from pathlib import Path

import pytest

from codegen_hook.checks import CheckContext, Finding, make_checks
from codegen_hook.checks.examples import ExampleSpecialCaseCheck
from codegen_hook.checks.tools import Flake8Check, MypyCheck
from codegen_hook.errors import ConfigError

# Lines 1-8 are the user's own (with their own flake8 and mypy findings);
# lines 9-12 are the generated function's (with an unused local on line 11 and
# a str returned from a `-> int` function on line 12); line 14 is the user's again.
SPLICED = '''\
import os


def users_helper(x: int) -> int:
    unused_by_user = 1
    return "not an int"


def count_chars(s: str, c: str) -> int:
    """How often `c` occurs in `s`."""
    leftover = 0
    return str(s.count(c))

users_tail = 1
'''
GENERATED = (9, 12)


def context(root: Path, lines: tuple[int, int] = GENERATED,
            examples: tuple[str, ...] = ()) -> CheckContext:
    return CheckContext(path=root / "strings.py", root=root, first_line=lines[0],
                        last_line=lines[1], cache_dir=root / ".cache",
                        example_sources=examples)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder


def by_code(findings: list[Finding]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for finding in findings:
        out.setdefault(finding.code, []).append(finding.line)
    return out


# -- flake8 -------------------------------------------------------------------------


def test_flake8_reports_generated_lines_only(root: Path) -> None:
    findings = Flake8Check().run(SPLICED, context(root))
    codes = by_code(findings)
    assert codes.get("F841") == [11]  # `leftover`, in the generated function
    assert all(GENERATED[0] <= f.line <= GENERATED[1] for f in findings)
    assert "F401" not in codes  # the user's unused `import os`, line 1
    assert "E305" not in codes  # the user's missing blank lines, line 14
    leftover = next(f for f in findings if f.code == "F841")
    assert leftover.check == "flake8"
    assert leftover.col == 5
    assert "leftover" in leftover.message
    assert leftover.render() == f"flake8 F841 line 11: {leftover.message}"


def test_flake8_reports_the_users_lines_when_they_are_in_range(root: Path) -> None:
    codes = by_code(Flake8Check().run(SPLICED, context(root, lines=(1, 14))))
    assert codes["F401"] == [1]
    assert sorted(codes["F841"]) == [5, 11]
    assert codes["E305"] == [14]


def test_flake8_clean_code_has_no_findings(root: Path) -> None:
    code = 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'
    assert Flake8Check().run(code, context(root, lines=(1, 3))) == []


def test_flake8_honours_the_repositorys_config(root: Path, tmp_path: Path) -> None:
    long_line = "    return '" + "a" * 87 + "'"
    assert len(long_line) == 100
    code = f"def text() -> str:\n{long_line}\n"

    plain = Flake8Check().run(code, context(root, lines=(1, 2)))
    assert [(f.code, f.line) for f in plain] == [("E501", 2)]

    configured = tmp_path / "configured"
    configured.mkdir()
    (configured / ".flake8").write_text("[flake8]\nmax-line-length = 120\n")
    assert Flake8Check().run(code, context(configured, lines=(1, 2))) == []


# -- mypy (a few seconds per run: keep these few) ------------------------------------


def test_mypy_reports_a_type_error_in_range_only(root: Path) -> None:
    findings = MypyCheck().run(SPLICED, context(root))
    assert [(f.check, f.code, f.line) for f in findings] == [("mypy", "return-value", 12)]
    message = findings[0].message
    assert '"str"' in message and '"int"' in message
    assert not message.endswith("]")  # the code is split off the message
    assert findings[0].col > 0


def test_mypy_reports_the_users_lines_when_they_are_in_range(root: Path) -> None:
    findings = MypyCheck().run(SPLICED, context(root, lines=(1, 14)))
    found = sorted((f.code, f.line) for f in findings)
    assert found == [("return-value", 6), ("return-value", 12)]


def test_mypy_clean_code_has_no_findings(root: Path) -> None:
    code = 'def double(x: int) -> int:\n    """Twice x."""\n    return 2 * x\n'
    assert MypyCheck().run(code, context(root, lines=(1, 3))) == []


def test_mypy_checks_a_module_with_relative_imports_in_its_package(root: Path) -> None:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "sub" / "__init__.py").write_text("")
    code = ('from .helpers import shout\nfrom ..core import Thing\n\n\n'
            'def double(x: int) -> int:\n    """Twice x."""\n    return "no"\n')
    where = CheckContext(path=root / "pkg" / "sub" / "mod.py", root=root, first_line=5,
                         last_line=7, cache_dir=root / ".cache")
    # Alone in a temp folder this was mypy's exit 2: "No parent module".
    findings = MypyCheck().run(code, where)
    assert [(f.code, f.line) for f in findings] == [("return-value", 7)]
    assert Flake8Check().run(code, where) == []


# -- examples special-cased ---------------------------------------------------------

EXAMPLES = ('count_chars("strawberry", "r")', 'count_chars("banana", "a")')


def stub(body: str) -> str:
    return 'def count_chars(s: str, c: str) -> int:\n    """Count c in s."""\n' + body


def special_cases(body: str, examples: tuple[str, ...] = EXAMPLES) -> list[Finding]:
    code = stub(body)
    lines = (1, len(code.splitlines()))
    return ExampleSpecialCaseCheck().run(code, context(Path("/nonexistent"), lines, examples))


def test_comparing_with_an_example_input_is_flagged() -> None:
    findings = special_cases('    if s == "strawberry":\n        return 3\n'
                             '    return s.count(c)\n')
    assert len(findings) == 1
    finding = findings[0]
    assert (finding.check, finding.code, finding.line) == ("examples", "special-case", 3)
    assert "'strawberry'" in finding.message


def test_a_table_keyed_by_example_inputs_is_flagged() -> None:
    findings = special_cases('    answers = {"strawberry": 3, "banana": 3}\n'
                             '    return answers.get(s, 0)\n')
    assert [(f.code, f.line) for f in findings] == [("special-case", 3)]


def test_membership_in_a_set_of_example_inputs_is_flagged() -> None:
    findings = special_cases('    if s in {"banana", "cherry"}:\n        return 3\n'
                             '    return 0\n')
    assert findings and all(f.code == "special-case" for f in findings)
    assert "'banana'" in findings[0].message


def test_short_literals_are_not_flagged() -> None:
    body = ('    total = 0\n'
            '    for ch in s:\n'
            '        if ch == c or c == "r":\n'
            '            total += 1\n'
            '    return total\n')
    assert special_cases(body) == []


def test_ordinary_code_is_not_flagged() -> None:
    assert special_cases("    return s.count(c)\n") == []
    assert special_cases('    return len([ch for ch in s if ch == c])\n') == []


def test_no_examples_means_no_findings() -> None:
    assert special_cases('    if s == "strawberry":\n        return 3\n    return 0\n',
                         examples=()) == []


def test_special_case_outside_the_generated_lines_is_not_flagged() -> None:
    code = ('def users_own(s: str) -> bool:\n'
            '    return s == "strawberry"\n'
            '\n\n'
            'def count_chars(s: str, c: str) -> int:\n'
            '    return s.count(c)\n')
    check = ExampleSpecialCaseCheck()
    assert check.run(code, context(Path("/nonexistent"), (5, 6), EXAMPLES)) == []
    assert [f.line for f in check.run(code, context(Path("/nonexistent"), (1, 6),
                                                    EXAMPLES))] == [2]


def test_match_case_on_an_example_input_is_flagged() -> None:
    findings = special_cases('    match s:\n'
                             '        case "strawberry":\n'
                             '            return 3\n'
                             '    return s.count(c)\n')
    assert [f.code for f in findings] == ["special-case"]


# -- choosing checks ----------------------------------------------------------------


def test_make_checks_by_name() -> None:
    checks = make_checks(("flake8", "mypy"))
    assert [type(c) for c in checks] == [ExampleSpecialCaseCheck, Flake8Check, MypyCheck]
    assert [type(c) for c in make_checks(())] == [ExampleSpecialCaseCheck]


def test_make_checks_with_an_unknown_name_is_config_error() -> None:
    with pytest.raises(ConfigError, match="pylint") as caught:
        make_checks(("flake8", "pylint"))
    assert "available: flake8, mypy" in str(caught.value)
