"""Example stubs about text."""

import re


def is_palindrome(text: str) -> bool:
    """True if `text` reads the same backwards, ignoring case and non-letters.

    >>> is_palindrome("A man, a plan, a canal: Panama")
    True
    >>> is_palindrome("codegen")
    False
    """
    ...


def word_count(text: str) -> dict[str, int]:
    """Count the words in `text`, lower-cased; words are runs of letters.

    >>> word_count("The cat and the hat")
    {'the': 2, 'cat': 1, 'and': 1, 'hat': 1}
    """
    ...


def snake_case(name: str) -> str:
    """Turn a CamelCase name into snake_case.

    >>> snake_case("CodegenHook")
    'codegen_hook'
    >>> snake_case("HTTPServer")
    'http_server'
    """
    ...


def first_number(text: str) -> int | None:
    """The first integer written in `text`, or None. Use the module's `re`.

    >>> first_number("order 66 from 1999")
    66
    >>> first_number("none here") is None
    True
    """
    ...
