"""The prompts' answer prefix: the stub's own lines up to its docstring's end."""

from __future__ import annotations

from codegen_hook.pipeline.prompts import answer_prefix, stub_messages
from codegen_hook.stubs import find_stubs

MODULE = '''import math


@cache
def area(r: float) -> float:
    """Area of a circle."""
    ...  # fill me


class Shape:
    def grow(self, by: float) -> None:
        """Grow by `by`.

        Never shrinks.
        """

        ...
'''


def test_a_functions_prefix_ends_at_its_docstring_and_matches_the_prompt() -> None:
    area, grow = find_stubs(MODULE).stubs
    prefix = answer_prefix(area)
    assert prefix == '```python\n@cache\ndef area(r: float) -> float:\n    """Area of a circle."""'
    # the prompt shows the same block, so the prefix is how its echo would start
    user = stub_messages(area, MODULE, __import__("pathlib").Path("m.py"))[1].content
    assert prefix in user


def test_a_methods_prefix_carries_its_class_line() -> None:
    _, grow = find_stubs(MODULE).stubs
    assert answer_prefix(grow) == ('```python\nclass Shape:\n'
                                   '    def grow(self, by: float) -> None:\n'
                                   '        """Grow by `by`.\n\n        Never shrinks.\n'
                                   '        """')
