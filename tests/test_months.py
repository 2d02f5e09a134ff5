"""Run months: parsing and the month arithmetic the rounds and continuity rely on."""

from __future__ import annotations

from datetime import date

import pytest

from mediins_cli.months import Month


@pytest.mark.parametrize(
    "text", ["2024-13", "2024-00", "2024-2", "24-02", "2024/02", "", "1899-12"]
)
def test_malformed_months_are_refused(text):
    with pytest.raises(ValueError, match="is not a month YYYY-MM"):
        Month.parse(text)


def test_february_has_29_days_in_a_leap_year_and_28_otherwise():
    assert Month.parse("2024-02").last_day == date(2024, 2, 29)
    assert Month.parse("2023-02").last_day == date(2023, 2, 28)
    assert Month.parse("2100-02").days == 28  # divisible by 100, not by 400
    assert Month.parse("2000-02").days == 29  # divisible by 400


def test_shift_crosses_year_ends_both_ways():
    assert Month.parse("2024-12").shift(1) == Month(2025, 1)
    assert Month.parse("2024-01").shift(-1) == Month(2023, 12)
    assert Month.parse("2024-02").shift(12) == Month(2025, 2)
    assert str(Month(2024, 2)) == "2024-02"
    assert Month(2023, 12) < Month(2024, 1)
