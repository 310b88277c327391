"""Pulling a function body out of a model's free-form answer."""

from __future__ import annotations

import pytest

from codegen_hook.pipeline.extract import ExtractedCode, extract_body

F = "```"


def _body(answer: str, name: str) -> str:
    found = extract_body(answer, name)
    assert found is not None, answer
    return found.body


def test_fenced_block_with_chatter_around() -> None:
    answer = (
        "Sure! Here is an implementation:\n\n"
        f"{F}python\n"
        "def add(a: int, b: int) -> int:\n"
        "    total = a + b\n"
        "    return total\n"
        f"{F}\n\n"
        "This function adds `a` and `b`. Let me know if you need anything else!"
    )
    assert extract_body(answer, "add") == ExtractedCode(
        body="total = a + b\nreturn total", imports=(), helpers=())


@pytest.mark.parametrize("lang", ["", "py", "Python", "python3"])
def test_fence_language_tags(lang: str) -> None:
    answer = f"{F}{lang}\ndef f(x):\n    return x * 2\n{F}"
    assert _body(answer, "f") == "return x * 2"


def test_no_fences_at_all() -> None:
    answer = "def add(a, b):\n    return a + b\n"
    assert _body(answer, "add") == "return a + b"


def test_no_fences_with_prose_before_and_after() -> None:
    answer = ("Here is the function you asked for:\n"
              "def add(a, b):\n"
              "    return a + b\n"
              "Hope this helps!")
    assert _body(answer, "add") == "return a + b"


def test_unterminated_fence_ran_out_mid_explanation() -> None:
    answer = (
        "Here you go:\n"
        f"{F}python\n"
        "def clamp(x: int, lo: int, hi: int) -> int:\n"
        "    if x < lo:\n"
        "        return lo\n"
        "    return min(x, hi)\n"
        "\n"
        "The function first checks whether x is below lo, and in that case it"
    )
    assert _body(answer, "clamp") == "if x < lo:\n    return lo\nreturn min(x, hi)"


def test_several_blocks_only_one_holds_the_function() -> None:
    answer = (
        "First, some setup:\n"
        f"{F}bash\npip install nothing\n{F}\n"
        f"{F}python\nprint('unrelated')\n{F}\n"
        "Then the function:\n"
        f"{F}python\ndef add(a, b):\n    return a + b\n{F}\n"
        "And a usage example:\n"
        f"{F}python\nassert add(1, 2) == 3\n{F}\n"
    )
    assert _body(answer, "add") == "return a + b"


def test_block_with_other_function_is_passed_over() -> None:
    answer = (f"{F}python\ndef other(a):\n    return 0\n{F}\n"
              f"{F}python\ndef target(a):\n    return a\n{F}\n")
    assert _body(answer, "target") == "return a"


def test_first_block_repeating_the_stub_is_passed_over() -> None:
    answer = (f"You wrote:\n{F}python\ndef f(a):\n    \"\"\"Doc.\"\"\"\n    ...\n{F}\n"
              f"Filled in:\n{F}python\ndef f(a):\n    \"\"\"Doc.\"\"\"\n    return a + 1\n{F}\n")
    assert _body(answer, "f") == "return a + 1"


def test_non_python_fence_is_ignored() -> None:
    answer = (f"{F}text\ndef f(s):\n    return 1\n{F}\n"
              f"{F}python\ndef f(s):\n    return 2\n{F}\n")
    assert _body(answer, "f") == "return 2"


def test_repeated_docstring_is_dropped() -> None:
    answer = (
        f"{F}python\n"
        "def count(s: str, c: str) -> int:\n"
        '    """Count `c` in `s`.\n'
        "\n"
        "    >>> count('aab', 'a')\n"
        "    2\n"
        '    """\n'
        "    return s.count(c)\n"
        f"{F}"
    )
    body = _body(answer, "count")
    assert body == "return s.count(c)"
    assert '"""' not in body and ">>>" not in body


def test_multiline_body_keeps_relative_indentation_and_blank_lines() -> None:
    answer = (
        f"{F}python\n"
        "def f(items):\n"
        "    out = []\n"
        "    for item in items:\n"
        "        if item:\n"
        "            out.append(item)\n"
        "\n"
        "    return out\n"
        f"{F}"
    )
    assert _body(answer, "f") == (
        "out = []\nfor item in items:\n    if item:\n        out.append(item)\n\nreturn out")


def test_indented_bare_body() -> None:
    answer = f"{F}python\n    return s.count(c)\n{F}"
    assert extract_body(answer, "count") == ExtractedCode("return s.count(c)", (), ())


@pytest.mark.parametrize("answer", [
    "return s.count(c)",
    f"{F}python\nreturn s.count(c)\n{F}",
])
def test_unindented_bare_body(answer: str) -> None:
    assert _body(answer, "count") == "return s.count(c)"


@pytest.mark.parametrize("answer", [
    "",
    "   \n\n",
    "I'm sorry, I can't help with that.",
    "Sorry",
    f"{F}python\nx = 1\n{F}",
    f"{F}python\ndef other(x):\n    return x\n{F}",
    "def f(:\n    return",
    "!!! ??? <<<>>>",
    f"{F}\n{F}",
])
def test_no_usable_function_gives_none(answer: str) -> None:
    assert extract_body(answer, "f") is None


@pytest.mark.parametrize("answer", [
    "def f(x):\n    pass\n",
    "def f(x):\n    ...\n",
    'def f(x):\n    """Doc."""\n    ...\n',
    'def f(x):\n    """Doc."""\n    pass\n    ...\n',
    f"{F}python\ndef f(x):\n    \"\"\"Only a docstring.\"\"\"\n{F}",
    "pass",
    "    ...",
])
def test_placeholder_only_body_gives_none(answer: str) -> None:
    assert extract_body(answer, "f") is None


def test_imports_returned_and_future_dropped() -> None:
    answer = (
        f"{F}python\n"
        "from __future__ import annotations\n"
        "import re\n"
        "from collections import (\n"
        "    Counter,\n"
        "    OrderedDict,\n"
        ")\n"
        "\n"
        "\n"
        "def words(s: str) -> Counter[str]:\n"
        "    import string\n"
        "    return Counter(re.findall(r'\\w+', s))\n"
        f"{F}"
    )
    found = extract_body(answer, "words")
    assert found is not None
    assert found.imports == ("import re",
                             "from collections import (\n    Counter,\n    OrderedDict,\n)")
    assert not any("__future__" in imp for imp in found.imports)
    # an import inside the function stays in the body
    assert found.body == "import string\nreturn Counter(re.findall(r'\\w+', s))"
    assert found.helpers == ()


def test_helpers_beside_the_target() -> None:
    answer = (
        f"{F}python\n"
        "LIMIT = 3\n"
        "\n"
        "def _norm(s: str) -> str:\n"
        "    return s.strip().lower()\n"
        "\n"
        "def same(a: str, b: str) -> bool:\n"
        "    return _norm(a) == _norm(b)\n"
        "\n"
        "@staticmethod\n"
        "def decorated() -> None:\n"
        "    return None\n"
        f"{F}"
    )
    found = extract_body(answer, "same")
    assert found is not None
    assert found.body == "return _norm(a) == _norm(b)"
    assert found.helpers == ("LIMIT = 3", "def _norm(s: str) -> str:\n    return s.strip().lower()")
    assert found.imports == ()


def test_method_found_inside_class_block() -> None:
    answer = (
        "Here is the class:\n"
        f"{F}python\n"
        "import math\n"
        "\n"
        "class Circle:\n"
        "    def __init__(self, r):\n"
        "        self.r = r\n"
        "\n"
        "    def area(self) -> float:\n"
        '        """Area."""\n'
        "        value = math.pi * self.r ** 2\n"
        "        return value\n"
        f"{F}"
    )
    found = extract_body(answer, "area")
    assert found is not None
    assert found.body == "value = math.pi * self.r ** 2\nreturn value"
    assert found.imports == ("import math",)
    # the class the method sits in is not a helper
    assert found.helpers == ()


def test_async_function() -> None:
    answer = f"{F}python\nasync def fetch(x):\n    await x\n    return 1\n{F}"
    assert _body(answer, "fetch") == "await x\nreturn 1"


def test_one_line_def() -> None:
    assert extract_body("def f(x): return x", "f") == ExtractedCode("return x", (), ())


def test_one_line_def_with_several_statements() -> None:
    assert _body("def f(x): y = x + 1; return y", "f") == "y = x + 1; return y"


def test_matching_name_only() -> None:
    answer = f"{F}python\ndef ff(x):\n    return 1\ndef f(x):\n    return 2\n{F}"
    assert _body(answer, "f") == "return 2"
    assert _body(answer, "ff") == "return 1"
