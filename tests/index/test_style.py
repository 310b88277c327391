"""Mining a repository's style from a real index of small sample repos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codegen_hook.index.build import load_index, refresh_index
from codegen_hook.index.style import StyleProfile, classify_name, docstring_style, mine_style

SNAKE = '''\
MAX_SIZE = 10
DEFAULT_NAME = "x"
logger = None


def load_file(file_path: str, max_bytes: int = 10) -> str:
    return "text"


def parse_line(line: str) -> list[str]:
    return line.split(",")


class LineReader:
    def read_all(self, source_path: str) -> list[str]:
        return []

    def __init__(self, buffer_size: int) -> None:
        self.buffer_size = buffer_size
'''

CAMEL = '''\
def loadFile(filePath, maxBytes=10):
    return 'text'


def parseLine(line, sepChar):
    return line.split(sepChar)


def countWords(textBody):
    return 0


class lineReader:
    def readAll(self, sourcePath):
        return []
'''

GOOGLE = '''\
def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first.
        b: the second.

    Returns:
        The sum.
    """
    return a + b
'''

NUMPY = '''\
def add(a: int, b: int) -> int:
    """Add two numbers.

    Parameters
    ----------
    a : int
        The first.

    Returns
    -------
    int
    """
    return a + b
'''

REST = '''\
def add(a: int, b: int) -> int:
    """Add two numbers.

    :param a: the first.
    :param b: the second.
    :returns: the sum.
    """
    return a + b
'''

PLAIN = '''\
def sub(a: int, b: int) -> int:
    """Subtract b from a."""
    return a - b
'''


def mine(root: Path, files: dict[str, str]) -> StyleProfile:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
    refresh_index(root, root / ".store")
    return mine_style(load_index(root, root / ".store"), root)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return folder


def test_classify_name() -> None:
    assert classify_name("load_file") == "snake_case"
    assert classify_name("count") == "snake_case"  # one lowercase word
    assert classify_name("_private_helper") == "snake_case"
    assert classify_name("loadFile") == "camelCase"
    assert classify_name("LineReader") == "PascalCase"
    assert classify_name("HTTPServer") == "PascalCase"
    assert classify_name("MAX_SIZE") == "UPPER_CASE"
    assert classify_name("visit_FunctionDef") == "other"


def test_snake_case_repo(repo: Path) -> None:
    profile = mine(repo, {"pkg/mod.py": SNAKE})
    assert profile.files == 1
    functions = profile.naming["functions"]
    assert (functions.dominant, functions.share) == ("snake_case", 1.0)
    assert functions.counts == {"snake_case": 2}
    methods = profile.naming["methods"]  # __init__ is a dunder: not counted
    assert methods.counts == {"snake_case": 1}
    assert profile.naming["classes"].dominant == "PascalCase"
    constants = profile.naming["constants"]
    assert constants.counts == {"UPPER_CASE": 2, "snake_case": 1}
    assert (constants.dominant, round(constants.share, 2)) == ("UPPER_CASE", 1.0)
    arguments = profile.naming["arguments"]  # self is left out; `line` is one word
    assert arguments.counts == {"snake_case": 5}
    assert arguments.single_words == 1
    assert (arguments.dominant, arguments.share) == ("snake_case", 1.0)


def test_camel_case_repo(repo: Path) -> None:
    profile = mine(repo, {"mod.py": CAMEL})
    assert profile.naming["functions"].dominant == "camelCase"
    assert profile.naming["functions"].counts == {"camelCase": 3}
    assert profile.naming["methods"].dominant == "camelCase"
    assert profile.naming["classes"].dominant == "camelCase"
    arguments = profile.naming["arguments"]
    # `line` is one word: counted as snake_case, but it does not outvote the camels
    assert arguments.counts == {"snake_case": 1, "camelCase": 5}
    assert (arguments.dominant, arguments.share) == ("camelCase", 1.0)
    assert profile.quotes.preferred == "single"
    assert profile.quotes.counts == {"single": 1, "double": 0}


def test_mixed_names_share(repo: Path) -> None:
    text = "".join(f"def {name}():\n    pass\n\n\n" for name in
                   ("one_two", "three_four", "five_six", "sevenEight"))
    functions = mine(repo, {"m.py": text}).naming["functions"]
    assert (functions.dominant, functions.share) == ("snake_case", 0.75)


@pytest.mark.parametrize("files, dominant, counts", [
    ({"g.py": GOOGLE, "p.py": PLAIN}, "google", {"google": 1, "plain": 1}),
    ({"n.py": NUMPY}, "numpy", {"numpy": 1}),
    ({"r.py": REST, "g.py": GOOGLE, "r2.py": REST}, "rest", {"google": 1, "rest": 2}),
    ({"p.py": PLAIN}, None, {"plain": 1}),
])
def test_docstring_style(repo: Path, files: dict[str, str], dominant: str | None,
                         counts: dict[str, int]) -> None:
    docstrings = mine(repo, files).docstrings
    assert docstrings.dominant == dominant
    assert docstrings.counts == counts


def test_docstring_style_of_one_docstring() -> None:
    assert docstring_style("Do it.\n\n@param x: the x") == "epytext"
    assert docstring_style("Do it.\n\nRaises:\n    ValueError: when bad") == "google"
    assert docstring_style("Args are passed through.") == "plain"


def test_type_hint_coverage(repo: Path) -> None:
    text = ("def typed(a: int, *rest: int) -> int:\n    return a\n\n\n"
            "def untyped(a, b: int):\n    return a\n\n\n"
            "class K:\n    def __init__(self, n: int):\n        self.n = n\n")
    hints = mine(repo, {"m.py": text}).type_hints
    # params: a, rest, a, b, n (self left out); returns: typed, untyped (__init__ left out)
    assert (hints.params, hints.annotated_params) == (5, 4)
    assert (hints.returns, hints.annotated_returns) == (2, 1)
    assert hints.param_share == 0.8
    assert hints.return_share == 0.5


def test_quote_preference(repo: Path) -> None:
    text = 'A = "a"\nB = "b"\nC = "c"\nD = \'d\'\nE = """not counted"""\n'
    quotes = mine(repo, {"m.py": text}).quotes
    assert quotes.preferred == "double"
    assert quotes.counts == {"single": 1, "double": 3}
    assert quotes.share == 0.75


def test_no_config_is_flake8_default(repo: Path) -> None:
    profile = mine(repo, {"m.py": "x = 1\n" + "y = '" + "a" * 90 + "'\n"})
    length = profile.line_length
    assert (length.max, length.source) == (79, "flake8 default")
    assert length.longest_line == 96
    assert (length.lines_over, length.counted_over) == (1, 79)
    assert profile.flake8 == {} and profile.flake8_source is None
    assert profile.notes == ()


@pytest.mark.parametrize("name, body, source", [
    (".flake8", "[flake8]\nmax-line-length = 100\nextend-ignore = E203\n", ".flake8 [flake8]"),
    ("setup.cfg", "[metadata]\nname = x\n[flake8]\nmax_line_length = 100\n"
     "extend-ignore = E203\n", "setup.cfg [flake8]"),
    ("tox.ini", "[tox]\nenvlist = py311\n[flake8]\nmax-line-length = 100\n"
     "extend-ignore = E203\n", "tox.ini [flake8]"),
    ("pyproject.toml", '[tool.flake8]\nmax-line-length = 100\nextend-ignore = ["E203"]\n',
     "pyproject.toml [tool.flake8]"),
])
def test_line_length_from_each_flake8_config(repo: Path, name: str, body: str,
                                             source: str) -> None:
    (repo / name).write_text(body, "utf-8")
    profile = mine(repo, {"m.py": "x = 1\n"})
    assert profile.line_length.max == 100
    assert profile.line_length.source == f"{source} max-line-length"
    assert profile.flake8_source == source
    assert profile.flake8 == {"max-line-length": "100", "extend-ignore": "E203"}


def test_flake8_files_are_read_in_flake8s_order(repo: Path) -> None:
    (repo / ".flake8").write_text("[flake8]\nmax-line-length = 120\n")
    (repo / "setup.cfg").write_text("[flake8]\nmax-line-length = 99\n")
    assert mine(repo, {"m.py": "x = 1\n"}).line_length.max == 99


@pytest.mark.parametrize("tool, length", [("black", 88), ("ruff", 110)])
def test_black_and_ruff_line_length_are_fallbacks(repo: Path, tool: str, length: int) -> None:
    (repo / "pyproject.toml").write_text(f"[tool.{tool}]\nline-length = {length}\n")
    profile = mine(repo, {"m.py": "x = 1\n"})
    assert profile.line_length.max == length
    assert profile.line_length.source == f"pyproject.toml [tool.{tool}] line-length"
    assert profile.flake8_source is None


def test_flake8_without_a_limit_falls_back_to_black(repo: Path) -> None:
    (repo / "setup.cfg").write_text("[flake8]\nselect = E,F\n")
    (repo / "pyproject.toml").write_text("[tool.black]\nline-length = 88\n")
    profile = mine(repo, {"m.py": "x = 1\n"})
    assert profile.flake8 == {"select": "E,F"}
    assert (profile.line_length.max, profile.line_length.source) == \
        (88, "pyproject.toml [tool.black] line-length")


def test_lines_over_a_limit_the_index_does_not_count_use_the_nearest_below(repo: Path) -> None:
    (repo / ".flake8").write_text("[flake8]\nmax-line-length = 90\n")
    text = "".join(f"v{n} = '{'a' * width}'\n" for n, width in enumerate((85, 92, 110)))
    length = mine(repo, {"m.py": text}).line_length
    assert length.max == 90
    assert length.counted_over == 88   # the index counts over 79/88/99/100/120
    assert length.lines_over == 3      # lines 92, 99 and 117 characters long
    assert length.longest_line == 117


def test_broken_configs_are_noted_not_fatal(repo: Path) -> None:
    (repo / "setup.cfg").write_text("this is not ini\n[flake8\n")
    (repo / "tox.ini").write_text("[flake8]\nmax-line-length = wide\n")
    (repo / "pyproject.toml").write_text("[tool.black\nline-length = 88\n")
    profile = mine(repo, {"m.py": "x = 1\n"})
    assert profile.line_length.max == 79
    assert profile.line_length.source == "flake8 default"
    assert profile.flake8_source == "tox.ini [flake8]"
    assert len(profile.notes) == 3
    assert profile.notes[0].startswith("pyproject.toml could not be read")
    assert profile.notes[1].startswith("setup.cfg could not be read")
    assert "'wide' in tox.ini [flake8] is not a positive whole number" in profile.notes[2]
    assert any(line.startswith("note: setup.cfg") for line in profile.summary_lines())


def test_json_round_trip_and_summary(repo: Path) -> None:
    (repo / ".flake8").write_text("[flake8]\nmax-line-length = 100\n")
    profile = mine(repo, {"pkg/mod.py": SNAKE, "g.py": GOOGLE})
    data = json.loads(json.dumps(profile.to_json()))
    assert StyleProfile.from_json(data) == profile
    summary = profile.summary_lines()
    assert summary[0] == "style mined from 2 file(s)"
    assert "functions: snake_case (100% of 2; 1 lowercase one-word names left out)" in summary
    assert "classes: PascalCase (100% of 1)" in summary
    assert "docstrings: google (100% of 1 with sections; 0 plain)" in summary
    assert any(line.startswith("line length: max 100 (.flake8 [flake8] max-line-length)")
               for line in summary)


def test_empty_repo(repo: Path) -> None:
    profile = mine(repo, {})
    assert profile.files == 0
    assert profile.naming["functions"].dominant is None
    assert profile.quotes.preferred is None
    assert profile.type_hints.param_share == 0.0
    assert profile.summary_lines()[0] == "style: PEP 8 defaults (nothing mined)"


def test_default_profile_is_pep8() -> None:
    profile = StyleProfile.default()
    assert profile.naming["functions"].dominant == "snake_case"
    assert profile.naming["classes"].dominant == "PascalCase"
    assert profile.naming["arguments"].dominant == "snake_case"
    assert profile.line_length.max == 79
