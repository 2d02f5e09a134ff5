"""Deduction dates by seed 000 §一 and DESIGN §2, worked out by hand from the official
State Council calendars and checked here against the tool."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from mediins_cli.calendar import (
    OfficialCalendar,
    WeekendCalendar,
    roll_forward,
    round_dates,
)
from mediins_cli.errors import CalendarNotCovered
from mediins_cli.months import Month

OFFICIAL = OfficialCalendar([], "rules/calendars")


def beijing(month: str, calendar=OFFICIAL):
    """Seed 000 §一: 12th and 25th (22nd in February), deposit by the day before."""
    return round_dates(calendar, Month.parse(month), 12, 25, 22, 1)


def test_feb_2024_round_one_rolls_over_spring_festival_to_make_up_sunday():
    # 2024-02-12 (Mon) is inside the Spring Festival holiday 02-10..02-17; Sun 02-18 was a
    # make-up working day (国办发明电〔2023〕7号), so round 1 is effective on a Sunday.
    r1, _ = beijing("2024-02")
    assert r1.due == date(2024, 2, 12)
    assert r1.effective == date(2024, 2, 18)
    assert r1.effective.weekday() == 6
    assert r1.deposit_by == date(2024, 2, 17)
    assert r1.cutoff == datetime(2024, 2, 18, 0, 0)
    assert [d.day for d in r1.roll.passed_over] == [date(2024, 2, d) for d in range(12, 18)]
    assert all(d.holiday == "Spring Festival" for d in r1.roll.passed_over)
    why = r1.roll.explanation()
    assert "Spring Festival" in why and "make-up working day" in why


def test_feb_2024_round_two_is_the_22nd_not_the_25th():
    _, r2 = beijing("2024-02")
    assert r2.due == date(2024, 2, 22)
    assert r2.effective == date(2024, 2, 22)
    assert r2.deposit_by == date(2024, 2, 21)  # seed 000 §一: 2月为21日
    assert not r2.roll.rolled


def test_oct_2024_round_one_stays_on_make_up_saturday():
    # 2024-10-12 is a Saturday, but a make-up working day for National Day: no roll.
    r1, r2 = beijing("2024-10")
    assert r1.effective == date(2024, 10, 12)
    assert r1.effective.weekday() == 5
    assert r1.deposit_by == date(2024, 10, 11)
    assert "make-up working day" in r1.roll.explanation()
    assert r2.effective == date(2024, 10, 25)
    assert r2.deposit_by == date(2024, 10, 24)


def test_jan_2020_round_two_rolls_into_february():
    # Spring Festival 2020 was extended to 02-02; the run month stays 2020-01.
    _, r2 = beijing("2020-01")
    assert r2.month == Month(2020, 1)
    assert r2.due == date(2020, 1, 25)
    assert r2.effective == date(2020, 2, 3)
    assert r2.deposit_by == date(2020, 2, 2)


def test_jan_2009_round_two_rolls_into_february_onto_make_up_sunday():
    _, r2 = beijing("2009-01")
    assert r2.effective == date(2009, 2, 1)
    assert r2.effective.weekday() == 6


def test_weekend_calendar_ignores_holidays():
    r1, _ = beijing("2024-02", WeekendCalendar())
    assert r1.effective == date(2024, 2, 12)
    r1, _ = beijing("2024-10", WeekendCalendar())
    assert r1.effective == date(2024, 10, 14)  # Saturday 12th → Monday 14th


@pytest.mark.parametrize(
    ("month", "round_no", "effective"),
    [
        # February rounds on the 22nd, in a common and in a leap year
        ("2023-02", 2, date(2023, 2, 22)),  # Wed
        ("2025-02", 2, date(2025, 2, 24)),  # Sat 22nd → Mon 24th
        ("2026-02", 2, date(2026, 2, 24)),  # Sun 22nd, holiday to 23rd → Tue 24th
        ("2007-02", 2, date(2007, 2, 25)),  # holiday 22–24 → make-up Sunday 25th
        ("2013-02", 1, date(2013, 2, 16)),  # holiday 12–15 → make-up Saturday 16th
        ("2016-02", 1, date(2016, 2, 14)),  # holiday 12–13 → make-up Sunday 14th
        ("2011-02", 1, date(2011, 2, 12)),  # Saturday 12th is a make-up working day
        ("2020-06", 2, date(2020, 6, 28)),  # Dragon Boat 25–27 → make-up Sunday 28th
        ("2021-09", 2, date(2021, 9, 26)),  # Sat 25th → make-up Sunday 26th
        ("2023-01", 2, date(2023, 1, 28)),  # Spring Festival → make-up Saturday 28th
        ("2026-10", 2, date(2026, 10, 26)),  # Sun 25th → Mon 26th
        ("2023-02", 1, date(2023, 2, 13)),  # Sun 12th → Mon 13th
    ],
)
def test_hand_worked_dates(month, round_no, effective):
    rounds = beijing(month)
    assert rounds[round_no - 1].effective == effective


def test_a_year_no_calendar_covers_is_an_error_naming_the_year():
    with pytest.raises(CalendarNotCovered) as info:
        beijing("2035-01")
    assert info.value.year == 2035
    assert "2035" in str(info.value) and "rules/calendars/2035.toml" in str(info.value)
    with pytest.raises(CalendarNotCovered):
        beijing("2003-06")  # before chinese-calendar's first year


def test_roll_that_reaches_an_uncovered_year_is_an_error_not_a_guess():
    # A due date at the end of the last covered year rolls into a year with no data.
    roll = roll_forward(OFFICIAL, date(2026, 12, 31))
    assert roll.effective == date(2026, 12, 31)  # Thursday: fine
    with pytest.raises(CalendarNotCovered) as info:
        roll_forward(OFFICIAL, date(2027, 1, 1))
    assert info.value.year == 2027


def test_official_calendar_agrees_with_the_library_on_every_deduction_date_2007_2026():
    # LIBRARIES.md: over 480 dates the weekend rule is wrong 31 times; 21 official effective
    # dates fall on a make-up Saturday or Sunday; two round-2 dates roll into the next month.
    weekend_wrong = make_up = next_month = 0
    for year in range(2007, 2027):
        for m in range(1, 13):
            official = beijing(f"{year}-{m:02d}")
            weekends = beijing(f"{year}-{m:02d}", WeekendCalendar())
            for o, w in zip(official, weekends, strict=True):
                weekend_wrong += o.effective != w.effective
                make_up += o.effective.weekday() >= 5
                next_month += o.effective.month != m
    assert (weekend_wrong, make_up, next_month) == (31, 21, 2)


@pytest.mark.parametrize(
    ("month", "effective", "deposit_by"),
    [
        ("2023-02", date(2023, 2, 22), date(2023, 2, 21)),  # common year, Wednesday
        ("2024-02", date(2024, 2, 22), date(2024, 2, 21)),  # leap year, Thursday
        ("2025-02", date(2025, 2, 24), date(2025, 2, 23)),  # Saturday 22nd → Monday 24th
    ],
)
def test_february_round_two_is_the_22nd_in_leap_and_common_years(month, effective, deposit_by):
    _, r2 = beijing(month)
    assert r2.due.day == 22
    assert (r2.effective, r2.deposit_by) == (effective, deposit_by)
