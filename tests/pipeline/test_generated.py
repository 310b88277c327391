"""Model-written tests: only `assert f(literals) == literal` survives the parse."""

from __future__ import annotations

from codegen_hook.pipeline.generated import merge_tests, parse_model_tests, model_tests_messages
from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.stubs import find_stubs

ANSWER = '''Sure! Here are the tests:
```python
assert add(1, 2) == 3
assert add(-1, 1) == 0  # zero
assert 5 == add(2, 3)
assert add(0, 0) is None
assert add([1], [2]) == [1, 2]
assert is_even(4)
assert not is_even(3)
assert add(1, 2) == 4
assert add(x=1, y=2) == 3
import os
assert os.system("rm -rf /") == 0
assert add(len("ab"), 1) == 3
assert add(1, 2) == 1 + 2
assert add(1, 2) < 4
assert add(1,
```
'''


def test_only_literal_calls_of_the_function_are_kept() -> None:
    tests = parse_model_tests(ANSWER, "add", limit=20)
    # add(1, 2) had two different expected values: the model contradicted itself
    assert [(t.call, t.expected) for t in tests] == [
        ("add(-1, 1)", "0"), ("add(2, 3)", "5"), ("add(0, 0)", "None"),
        ("add([1], [2])", "[1, 2]"), ("add(x=1, y=2)", "3")]
    assert {t.origin for t in tests} == {"model"} and {t.kind for t in tests} == {"value"}
    assert tests[0].line == 2   # the line in the code block


def test_bare_and_negated_calls_become_true_and_false() -> None:
    tests = parse_model_tests(ANSWER, "is_even", limit=20)
    assert [(t.call, t.expected) for t in tests] == [
        ("is_even(4)", "True"), ("is_even(3)", "False")]


def test_limit_and_unfenced_answers() -> None:
    text = "assert f(1) == 1\nassert f(2) == 4\nassert f(3) == 9\n"
    assert [t.call for t in parse_model_tests(text, "f", limit=2)] == ["f(1)", "f(2)"]
    assert parse_model_tests("no tests here", "f", limit=5) == []


def test_the_users_expected_value_wins_over_the_models() -> None:
    stated = [SpecTest('f("a")\n', "'A'\n", "docstring", "doctest")]
    model = [SpecTest("f('a')", "'a'", "model"), SpecTest("f('b')", "'B'", "model")]
    merged = merge_tests(stated, model)
    assert merged == [stated[0], model[1]]


def test_the_request_names_the_function_and_shows_the_stub() -> None:
    [stub] = find_stubs('def f(x: int) -> int:\n    """Square x."""\n    ...\n').stubs
    system, user = model_tests_messages(stub, 7)
    assert system.role == "system" and "Do not implement" in system.content
    assert "Write 7 different tests of `f`" in user.content
    assert 'def f(x: int) -> int:\n    """Square x."""' in user.content
