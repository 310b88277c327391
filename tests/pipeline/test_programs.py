"""Which candidates are the same program: names, layout and docstrings do not count."""

from __future__ import annotations

from codegen_hook.pipeline.candidate import Candidate
from codegen_hook.pipeline.programs import distinct_count, program_key, program_of


def test_renamed_reformatted_and_documented_copies_are_one_program() -> None:
    one = "    total = 0\n    for x in xs:\n        total += x\n    return total\n"
    renamed = ('    """Sum them."""\n    acc: int = 0\n    for item in xs:  # each\n'
               "        acc += item\n\n    return acc\n")
    assert program_key(one) == program_key(renamed)
    assert distinct_count([one, renamed, one]) == 1


def test_different_computations_are_different_programs() -> None:
    assert distinct_count(["    return x * x\n", "    return x ** 2\n",
                           "    return pow(x, 2)\n", "    return x * x + 0\n"]) == 4
    # the order of first use decides the names: swapped operands differ
    assert program_key("    return a - b\n") != program_key("    return b - a\n")


def test_a_body_that_does_not_parse_is_keyed_by_its_text() -> None:
    assert program_key("    return (\n") == program_key("    return (\n")
    assert program_key("    return (\n") != program_key("    return  (\n")


def test_a_record_without_its_body_is_a_program_of_its_own() -> None:
    first, second = Candidate(1, 0, 0.0, 0), Candidate(1, 1, 0.0, 1)
    assert program_of(first) != program_of(second)
