from datetime import date

from bookings.dates import Stay, add_months, business_days


def test_business_days_skip_the_weekend():
    assert business_days(date(2026, 12, 4), date(2026, 12, 8)) == 2   # Fri, Mon


def test_business_days_of_a_whole_week():
    assert business_days(date(2026, 12, 7), date(2026, 12, 14)) == 5


def test_business_days_of_an_empty_range():
    assert business_days(date(2026, 12, 7), date(2026, 12, 7)) == 0


def test_business_days_of_a_weekend_and_a_monday():
    assert business_days(date(2026, 12, 5), date(2026, 12, 7)) == 0   # Sat, Sun
    assert business_days(date(2026, 12, 7), date(2026, 12, 8)) == 1   # Mon


def test_add_months_clips_to_the_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_add_months_goes_back_and_across_years():
    assert add_months(date(2026, 3, 15), -4) == date(2025, 11, 15)


def test_nights_of_a_stay():
    assert Stay(date(2026, 12, 30), date(2027, 1, 2)).nights() == 3


def test_dates_of_a_stay():
    stay = Stay(date(2026, 12, 7), date(2026, 12, 9))
    assert stay.dates() == [date(2026, 12, 7), date(2026, 12, 8)]
