"""Example stubs for codegen-hook: each is a signature, a docstring and `...`."""


def count_chars(s: str, char: str) -> int:
    """Count occurrences of `char` in `s`.

    >>> count_chars("strawberry", "r")
    3
    """
    ...
