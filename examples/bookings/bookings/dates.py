"""Dates for a booking system: stubs for codegen-hook to fill.

None of these docstrings has a `>>>` example; tests/test_dates.py says what is right,
and `add_months` needs python-dateutil, installed in this project's .venv only.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta


def business_days(start: date, end: date) -> int:
    """How many Monday-to-Friday dates lie from `start` up to, not including, `end`."""
    ...


def add_months(day: date, months: int) -> date:
    """`day` moved by `months` calendar months (dateutil's relativedelta), the day of
    the month clipped to the last day of the month it lands in."""
    ...


@dataclass
class Stay:
    check_in: date
    check_out: date

    def nights(self) -> int:
        """The nights between check-in and check-out."""
        ...

    def dates(self) -> list[date]:
        """Every night's date, check-in first, the check-out day left out."""
        return [self.check_in + timedelta(days=n) for n in range(self.nights())]
