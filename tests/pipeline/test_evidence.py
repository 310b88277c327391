"""What one test computed, as select compares candidates by it."""

from __future__ import annotations

from codegen_hook.pipeline.evidence import computed_answer
from codegen_hook.pipeline.matrix import TestResult
from codegen_hook.pipeline.spec import SpecTest

ATTRIBUTE = TestResult(False, "",
                       "Traceback ...\nAttributeError: 'int' object has no attribute 'count'")
TYPE = TestResult(False, "", "Traceback ...\nTypeError: 'int' object is not iterable")


def test_refusing_a_model_test_or_probe_input_is_one_answer_however_it_raises() -> None:
    """str.count and a loop refuse count_chars(123456789, 5) with different errors;
    both refused, so they agree there."""
    for test in (SpecTest("count_chars(123456789, 5)", "0", "model"),
                 SpecTest("count_chars(123456789, 5)", "", "probe", kind="probe")):
        assert computed_answer(ATTRIBUTE, test) == computed_answer(TYPE, test)
        assert computed_answer(ATTRIBUTE, test).startswith("!")
        assert computed_answer(ATTRIBUTE, test) != computed_answer(TestResult(False, "0"), test)


def test_on_the_users_own_example_how_it_raised_still_tells_programs_apart() -> None:
    test = SpecTest('count_chars("a", 1)', "0", "docstring", kind="doctest")
    assert computed_answer(ATTRIBUTE, test) != computed_answer(TYPE, test)


def test_a_passed_and_a_failed_model_test_differ_even_when_both_raised() -> None:
    test = SpecTest("parse('x')", "ValueError", "model")
    passed = TestResult(True, "", "Traceback ...\nValueError: bad")
    assert computed_answer(passed, test) != computed_answer(TYPE, test)
