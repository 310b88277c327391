"""Example stubs: methods and an async function."""

import asyncio


class Inventory:
    """Item counts by name."""

    def __init__(self) -> None:
        self.items: dict[str, int] = {}

    def add(self, name: str, count: int = 1) -> None:
        """Add `count` of `name`.

        >>> inv = Inventory()
        >>> inv.add("apple", 3)
        >>> inv.items
        {'apple': 3}
        >>> inv.add("apple")
        >>> inv.items["apple"]
        4
        """
        ...

    def total(self) -> int:
        """Total number of items held.

        >>> inv = Inventory()
        >>> inv.add("apple", 2)
        >>> inv.add("pear", 5)
        >>> inv.total()
        7
        """
        ...


async def delayed_sum(values: list[int]) -> int:
    """Sum `values` after yielding to the event loop once.

    >>> asyncio.run(delayed_sum([1, 2, 3]))
    6
    """
    ...
