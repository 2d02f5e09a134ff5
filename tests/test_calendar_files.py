"""Operator calendar files (rules/calendars/<year>.toml): the fix for a year the library does not
cover yet, taking precedence over the library where both exist (DESIGN §2)."""

from __future__ import annotations

from datetime import date

import pytest

from mediins_cli.calendar import load_calendar_files, make_calendar, round_dates
from mediins_cli.errors import BadInput, CalendarNotCovered
from mediins_cli.months import Month

# A made-up arrangement for 2035, shaped like a State Council notice: Spring Festival holiday
# Mon 02-12 .. Sat 02-17 with Sunday 02-18 a make-up working day, and Labour Day 05-01..05-05
# with Saturday 05-12 a make-up working day.
CAL_2035 = """\
year = 2035
source = "test notice for 2035"
holidays = [
  { name = "Spring Festival", from = 2035-02-12, to = 2035-02-17 },
  { name = "劳动节", from = 2035-05-01, to = 2035-05-05 },
]
makeup_workdays = [
  { date = 2035-02-18, name = "Spring Festival" },
  { date = 2035-05-12, name = "劳动节" },
]
"""


def rounds(cal, month):
    return round_dates(cal, Month.parse(month), 12, 25, 22, 1)


def test_a_calendar_file_makes_an_uncovered_year_usable(tmp_path):
    (tmp_path / "2035.toml").write_text(CAL_2035, encoding="utf-8")
    cal = make_calendar("official", tmp_path)
    r1, r2 = rounds(cal, "2035-02")
    # 2035-02-12 is a Monday inside the holiday → Sunday 02-18, the make-up working day.
    assert date(2035, 2, 12).weekday() == 0
    assert r1.effective == date(2035, 2, 18)
    assert r1.deposit_by == date(2035, 2, 17)
    assert "make-up working day" in r1.roll.explanation()
    assert r1.roll.landing.source.endswith("2035.toml")
    assert r2.effective == date(2035, 2, 22)  # Thursday
    # 2035-05-12 is a Saturday, but the file makes it a working day: no roll.
    r1, _ = rounds(cal, "2035-05")
    assert date(2035, 5, 12).weekday() == 5
    assert r1.effective == date(2035, 5, 12)
    assert r1.roll.explanation() == "not rolled: make-up working day for 劳动节"


def test_days_a_file_does_not_list_follow_the_weekend_rule(tmp_path):
    (tmp_path / "2035.toml").write_text(CAL_2035, encoding="utf-8")
    cal = make_calendar("official", tmp_path)
    assert not cal.day(date(2035, 3, 3)).working  # a Saturday
    assert cal.day(date(2035, 3, 5)).working  # a Monday


def test_the_file_takes_precedence_over_the_library(tmp_path):
    # A 2024 file with no holidays at all: 2024-02-12 becomes an ordinary Monday.
    (tmp_path / "2024.toml").write_text('year = 2024\nsource = "override"\n', encoding="utf-8")
    cal = make_calendar("official", tmp_path)
    r1, _ = rounds(cal, "2024-02")
    assert r1.effective == date(2024, 2, 12)
    # Years without a file still come from the library.
    r1, _ = rounds(cal, "2023-02")
    assert r1.effective == date(2023, 2, 13)


def test_without_a_file_the_year_is_refused(tmp_path):
    cal = make_calendar("official", tmp_path)
    with pytest.raises(CalendarNotCovered) as info:
        rounds(cal, "2035-02")
    assert "2035" in str(info.value)


def test_a_file_may_settle_the_adjacent_december(tmp_path):
    # Like the 2012 notice, which made Saturday 2011-12-31 a working day.
    text = CAL_2035 + ""
    text = text.replace(
        "makeup_workdays = [",
        'makeup_workdays = [\n  { date = 2034-12-30, name = "New Year\'s Day" },',
    )
    (tmp_path / "2035.toml").write_text(text, encoding="utf-8")
    cal = make_calendar("official", tmp_path)
    assert date(2034, 12, 30).weekday() == 5
    assert cal.day(date(2034, 12, 30)).working


def test_every_problem_in_a_calendar_file_is_reported_together(tmp_path):
    (tmp_path / "2036.toml").write_text(
        """\
year = 2037
colour = "red"
holidays = [
  { name = "Spring Festival", from = 2036-02-10, to = 2036-02-01 },
  { name = "Labour Day", from = 2036-05-01 },
  { name = "Far", from = 2039-01-01, to = 2039-01-02 },
]
makeup_workdays = [
  { date = 2036-02-13, name = "Spring Festival" },
]
""",
        encoding="utf-8",
    )
    with pytest.raises(BadInput) as info:
        load_calendar_files(tmp_path)
    text = str(info.value)
    assert "colour: unknown key" in text
    assert "year: the file for 2037 must be named 2037.toml" in text
    assert "source:" in text
    assert "holidays[0].to: 2036-02-01 is before from = 2036-02-10" in text
    assert "holidays[1]: expected a table with exactly name, from and to" in text
    assert "holidays[2]: 2039-01-01–2039-01-02 is outside 2037" in text
    assert "is a Wednesday; a make-up working day is a Saturday or Sunday" in text
    assert info.value.errors == 7


def test_broken_toml_is_reported_with_the_file(tmp_path):
    (tmp_path / "2035.toml").write_text("year = = 2035\n", encoding="utf-8")
    with pytest.raises(BadInput) as info:
        load_calendar_files(tmp_path)
    assert "2035.toml" in str(info.value) and "not valid TOML" in str(info.value)


def test_holiday_and_make_up_day_on_the_same_date_is_refused(tmp_path):
    (tmp_path / "2035.toml").write_text(
        """\
year = 2035
source = "x"
holidays = [ { name = "Spring Festival", from = 2035-02-17, to = 2035-02-18 } ]
makeup_workdays = [ { date = 2035-02-18, name = "Spring Festival" } ]
""",
        encoding="utf-8",
    )
    with pytest.raises(BadInput, match="both as a holiday and as a make-up working day"):
        load_calendar_files(tmp_path)


def test_the_shipped_calendar_folder_is_valid():
    from mediins_cli.resources import calendar_dir

    load_calendar_files(calendar_dir())
