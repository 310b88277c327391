"""Probe inputs varied from the tests' own calls (pipeline/probes.py)."""

from __future__ import annotations

from codegen_hook.pipeline.probes import probe_tests
from codegen_hook.pipeline.spec import SpecTest


def test_probes_vary_one_argument_round_robin_and_never_repeat_a_test() -> None:
    tests = [SpecTest("pick([3, 1, 2], 2)", "0", "docstring"),
             SpecTest("pick([1], 0)", "0", "model")]
    probes = probe_tests(tests, "pick", 20)
    assert all(p.kind == "probe" and p.origin == "probe" and p.expected == "" for p in probes)
    assert all(p.weight == 0 and not p.stated for p in probes)
    # each call in turn, each argument in turn, the likeliest-valid change first;
    # `pick([1], 0)` reversed is itself, so it is no probe
    assert [p.call for p in probes] == [
        "pick([2, 1, 3], 2)", "pick([3, 1, 2], 3)", "pick([1], 1)", "pick([3, 1, 2, 3], 2)",
        "pick([1, 1], 0)", "pick([3, 1, 2], 1)", "pick([1], -1)", "pick([1, 2], 2)",
        "pick([], 0)", "pick([3, 1, 2], 0)", "pick([3], 2)", "pick([3, 1, 2], -2)",
        "pick([], 2)"]


def test_the_limit_keywords_and_determinism() -> None:
    tests = [SpecTest("f('abc', flag=True)", "0", "docstring")]
    assert [p.call for p in probe_tests(tests, "f", 3)] == [
        "f('cba', flag=True)", "f('abc', flag=False)", "f('abcabc', flag=True)"]
    assert probe_tests(tests, "f", 0) == []
    assert probe_tests(tests, "f", 8) == probe_tests(tests, "f", 8)
    assert [p.call for p in probe_tests(tests, "f", 20)][3:] == [
        "f('a', flag=True)", "f('ABC', flag=True)", "f('', flag=True)"]


def test_calls_that_are_not_literal_calls_of_the_function_give_nothing() -> None:
    tests = [SpecTest(call, "0", "docstring") for call in (
        "g(1)", "f(x)", "f(*[1])", "f(**{'a': 1})", "sorted(f(1))", "f(1) + 1", "not valid (",
        "f(10**6)")]
    assert probe_tests(tests, "f", 10) == []


def test_doctest_calls_are_varied_and_huge_values_left_out() -> None:
    tests = [SpecTest("f(999999)\n", "1\n", "docstring", "doctest"),
             SpecTest("f([10**7 - 1, 2])", "1", "stated")]  # not a literal: left out
    assert [p.call for p in probe_tests(tests, "f", 10)] == [
        "f(1000000)", "f(999998)", "f(0)", "f(-999999)"]
    big = [SpecTest("f(1000000)", "1", "docstring")]
    assert "f(1000001)" not in [p.call for p in probe_tests(big, "f", 10)]
