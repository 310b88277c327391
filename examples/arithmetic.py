"""Example stubs about numbers."""


def is_prime(n: int) -> bool:
    """Return True if `n` is a prime number.

    >>> is_prime(2)
    True
    >>> is_prime(15)
    False
    >>> is_prime(97)
    True
    >>> is_prime(1)
    False
    """
    ...


def digit_sum(n: int) -> int:
    """Return the sum of the decimal digits of the non-negative integer `n`.

    >>> digit_sum(0)
    0
    >>> digit_sum(1234)
    10
    """
    ...


def fizzbuzz(n: int) -> list[str]:
    """FizzBuzz from 1 to `n`: multiples of 3 are "Fizz", of 5 "Buzz", of both "FizzBuzz".

    >>> fizzbuzz(5)
    ['1', '2', 'Fizz', '4', 'Buzz']
    >>> fizzbuzz(15)[-1]
    'FizzBuzz'
    """
    ...


def gcd(a: int, b: int) -> int:
    """Greatest common divisor of two non-negative integers.

    >>> gcd(12, 18)
    6
    >>> gcd(7, 0)
    7
    """
    ...
