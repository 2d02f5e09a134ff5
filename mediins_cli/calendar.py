"""Working days and the deduction dates that follow from them (DESIGN §2, seed 000 §一).

"遇工休日顺延": a due date that is a rest day moves forward to the next working day. Rest days are
Saturdays and Sundays plus statutory holidays, minus make-up working days (调休). Sources, in order
of precedence for a date:

1. an operator calendar file ``rules/calendars/<year>.toml`` (the State Council publishes next
   year's arrangement each autumn, before the library catches up);
2. the maintained ``chinese-calendar`` library for the years it covers;
3. nothing: :class:`~mediins_cli.errors.CalendarNotCovered`. mediins never guesses.

The ``weekends`` calendar (some banks use it) knows only Saturdays and Sundays.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import chinese_calendar

from mediins_cli.errors import BadInput, CalendarNotCovered, Problem
from mediins_cli.i18n import N_, _, day_text, translation
from mediins_cli.months import Month
from mediins_cli.resources import display_path
from mediins_cli.rules import Schedule

CALENDAR_NAMES = ("official", "weekends")

#: chinese-calendar's English holiday names, with the Chinese an operator knows them by.
HOLIDAY_CHINESE = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}
_WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
_MAX_ROLL_DAYS = 31


def weekday_name(day: date) -> str:
    return _WEEKDAYS[day.weekday()]


def holiday_label(name: str) -> str:
    """``Spring Festival`` → ``Spring Festival (春节)``; names already Chinese stay as they are."""
    chinese = HOLIDAY_CHINESE.get(name)
    return f"{name} ({chinese})" if chinese else name


@dataclass(frozen=True)
class DayInfo:
    """What one calendar says about one day, and why."""

    day: date
    working: bool
    holiday: str | None  # the holiday a rest day or a make-up working day belongs to
    source: str

    @property
    def reason(self) -> str:
        weekend = self.day.weekday() >= 5
        if self.working:
            if weekend:
                holiday = holiday_label(self.holiday or "an adjusted holiday")
                return f"make-up working day for {holiday}"
            return "working day"
        if self.holiday:
            return holiday_label(self.holiday)
        return weekday_name(self.day) if weekend else "rest day"

    def reason_in(self, lang: str) -> str:
        """:attr:`reason` in ``lang``: in Chinese 春节假期, 春节调休上班日, 星期六, 工作日."""
        t = translation(lang)
        weekend = self.day.weekday() >= 5
        if self.working:
            if not weekend:
                return t.gettext("working day")
            if not self.holiday:
                return t.gettext("make-up working day for an adjusted holiday")
            label = _holiday_in(self.holiday, lang)
            return t.gettext("make-up working day for {holiday}").format(holiday=label)
        if self.holiday:
            return t.pgettext("rest day", "{holiday}").format(
                holiday=_holiday_in(self.holiday, lang)
            )
        return t.gettext(weekday_name(self.day)) if weekend else t.gettext("rest day")


def _holiday_in(name: str, lang: str) -> str:
    """A holiday's name: ``Spring Festival (春节)`` in English, ``春节`` in Chinese."""
    return HOLIDAY_CHINESE.get(name, name) if lang == "zh" else holiday_label(name)


class WorkingCalendar(Protocol):
    name: str

    def day(self, day: date) -> DayInfo: ...


class WeekendCalendar:
    """Saturdays and Sundays are rest days; nothing else is. Covers every year."""

    name = "weekends"

    def day(self, day: date) -> DayInfo:
        return DayInfo(day, day.weekday() < 5, None, "weekends")


@dataclass(frozen=True)
class CalendarFile:
    """One operator calendar file: the holidays and make-up working days of one year."""

    year: int
    path: str
    source: str
    entries: dict[date, tuple[bool, str]]  # day → (working?, holiday name)
    sha256: str = ""  # of the bytes that were parsed


class OfficialCalendar:
    """The official mainland-China calendar: operator files first, then chinese-calendar."""

    name = "official"

    def __init__(self, files: list[CalendarFile] | None = None, directory: str = "") -> None:
        self.files = {f.year: f for f in files or []}
        self.directory = directory
        self._entries: dict[date, tuple[bool, str, str]] = {}
        for f in self.files.values():
            for day, (working, holiday) in f.entries.items():
                self._entries[day] = (working, holiday, f.path)

    def covers(self, year: int) -> bool:
        if year in self.files:
            return True
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def day(self, day: date) -> DayInfo:
        if day in self._entries:
            working, holiday, path = self._entries[day]
            return DayInfo(day, working, holiday, path)
        if day.year in self.files:
            return DayInfo(day, day.weekday() < 5, None, self.files[day.year].path)
        try:
            rest, holiday = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            raise CalendarNotCovered(day.year, self.directory) from None
        return DayInfo(day, not rest, holiday, f"chinese-calendar {chinese_calendar.__version__}")


@dataclass(frozen=True)
class Roll:
    """A due date and the working day it became, with every rest day passed over."""

    due: date
    effective: date
    passed_over: tuple[DayInfo, ...]
    landing: DayInfo

    @property
    def rolled(self) -> bool:
        return self.effective != self.due

    def explanation(self, lang: str = "en") -> str:
        """Why the effective date is what it is, in words an operator can repeat, in ``lang``
        (English: as the files record it; Chinese with every date a word of its own, so a
        narrow terminal never splits one)."""
        t = translation(lang)
        landing = self.landing
        if not self.rolled:
            if landing.reason == "working day":
                return t.gettext("working day, not rolled")
            return t.gettext("not rolled: {reason}").format(reason=landing.reason_in(lang))
        parts: list[str] = []
        for group in _group_runs(self.passed_over):
            first, last = day_text(group[0].day, lang), day_text(group[-1].day, lang)
            span = (
                first
                if first == last
                else t.gettext("{first}–{last}").format(first=first, last=last)
            )
            parts.append(f"{span} {_group_reason(group, lang)}")
        text = t.gettext("rolled over {days}").format(days=t.gettext("; ").join(parts))
        if landing.reason != "working day":
            text += t.gettext("; {day} is a {reason}").format(
                day=day_text(landing.day, lang), reason=landing.reason_in(lang)
            )
        return text


def _group_runs(days: tuple[DayInfo, ...]) -> list[list[DayInfo]]:
    """Consecutive passed-over days that share a holiday (or are plain weekend days) group."""
    groups: list[list[DayInfo]] = []
    for info in days:
        if groups and groups[-1][-1].holiday == info.holiday:
            groups[-1].append(info)
        else:
            groups.append([info])
    return groups


def _group_reason(group: list[DayInfo], lang: str) -> str:
    t = translation(lang)
    if group[0].holiday:
        return group[0].reason_in(lang)
    return t.gettext("weekend") if len(group) > 1 else t.gettext(weekday_name(group[0].day))


def roll_forward(calendar: WorkingCalendar, due: date) -> Roll:
    """The first working day on or after ``due``; it may lie in the next month (seed 000 §一)."""
    passed: list[DayInfo] = []
    day = due
    for _step in range(_MAX_ROLL_DAYS):
        info = calendar.day(day)
        if info.working:
            return Roll(due, day, tuple(passed), info)
        passed.append(info)
        day += timedelta(days=1)
    raise BadInput(
        _(
            "no working day within {days} days of {due} in the {calendar} calendar; check the "
            "calendar files"
        ).format(days=_MAX_ROLL_DAYS, due=due, calendar=calendar.name)
    )


@dataclass(frozen=True)
class RoundDates:
    """The dates of one deduction round of one run month."""

    month: Month
    round: int
    roll: Roll
    deposit_by: date
    #: the day the source itself names for deposits (Beijing's 11th / 24th / 21st), where it
    #: names one; it differs from ``deposit_by`` only when the round's date rolled
    deposit_by_stated: date | None = None

    @property
    def due(self) -> date:
        return self.roll.due

    @property
    def effective(self) -> date:
        return self.roll.effective

    @property
    def cutoff(self) -> datetime:
        """Deposits posted before this instant count for the round (00:00 of the effective day)."""
        return datetime.combine(self.effective, datetime.min.time())


def round_dates(
    calendar: WorkingCalendar,
    month: Month,
    round_1_day: int,
    round_2_day: int,
    round_2_day_february: int,
    deposit_by_days_before: int,
    deposit_days_stated: tuple[int | None, int | None, int | None] = (None, None, None),
) -> tuple[RoundDates, RoundDates]:
    """Both rounds of ``month``. Round 2 is on ``round_2_day`` (``round_2_day_february`` in
    February); each is rolled forward, and enrollees must deposit by the day(s) before (DESIGN
    §2). ``deposit_days_stated`` are the days the source itself names for deposits (round 1,
    round 2, round 2 in February), kept to be shown beside a date that rolled."""
    day_2 = round_2_day_february if month.month == 2 else round_2_day
    stated_1, stated_2, stated_2_february = deposit_days_stated
    stated_2 = stated_2_february if month.month == 2 else stated_2
    result = []
    for number, due_day, stated in ((1, round_1_day, stated_1), (2, day_2, stated_2)):
        roll = roll_forward(calendar, month.day(due_day))
        deposit_by = roll.effective - timedelta(days=deposit_by_days_before)
        shown = month.day(stated) if stated is not None else None
        result.append(RoundDates(month, number, roll, deposit_by, shown))
    return result[0], result[1]


def schedule_dates(
    schedule: Schedule, calendar: WorkingCalendar, month: Month
) -> tuple[RoundDates, RoundDates]:
    """Both rounds of ``month`` by a rule pack's schedule."""
    return round_dates(
        calendar,
        month,
        schedule.round_1_day.value,
        schedule.round_2_day.value,
        schedule.round_2_day_february.value,
        schedule.deposit_by_days_before.value,
        (
            schedule.deposit_day_round_1.value,
            schedule.deposit_day_round_2.value,
            schedule.deposit_day_round_2_february.value,
        ),
    )


# --------------------------------------------------------------------------- calendar files

#: a day or days of a calendar file outside the year it is for
OUTSIDE = N_("{days} is outside {year} (and the adjacent December/January)")


def load_calendar_files(directory: Path) -> list[CalendarFile]:
    """Every ``<year>.toml`` in ``directory``, validated; all problems raised together."""
    if not directory.is_dir():
        return []
    files: list[CalendarFile] = []
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.toml")):
        calendar_file, found = parse_calendar_file(path)
        problems.extend(found)
        if calendar_file is not None:
            files.append(calendar_file)
    problems.extend(_cross_file_conflicts(files))
    if problems:
        raise BadInput(problems)
    return files


def _cross_file_conflicts(files: list[CalendarFile]) -> list[Problem]:
    seen: dict[date, tuple[bool, str]] = {}
    problems = []
    for f in files:
        for day, (working, _name) in sorted(f.entries.items()):
            if day in seen and seen[day][0] != working:
                problems.append(
                    Problem(
                        f.path,
                        0,
                        "",
                        "CALENDAR_CONFLICT",
                        _("{day} contradicts {other}").format(day=day, other=seen[day][1]),
                    )
                )
            seen.setdefault(day, (working, f.path))
    return problems


def parse_calendar_file(path: Path) -> tuple[CalendarFile | None, list[Problem]]:
    """Parse one calendar file. Format (rules/calendars/README.md)::

    year = 2027
    source = "国务院办公厅关于2027年部分节假日安排的通知"
    holidays = [ { name = "Spring Festival", from = 2027-02-06, to = 2027-02-13 } ]
    makeup_workdays = [ { date = 2027-02-14, name = "Spring Festival" } ]
    """
    shown = display_path(path)
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(shown, 0, key, "BAD_CALENDAR", message))

    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        bad("", _("not valid TOML: {problem}").format(problem=exc))
        return None, problems

    for key in sorted(set(data) - {"year", "source", "holidays", "makeup_workdays"}):
        bad(key, _("unknown key (expected year, source, holidays, makeup_workdays)"))
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool):
        bad("year", _("expected the year as an integer, e.g. year = 2027"))
        return None, problems
    if path.stem != str(year):
        bad("year", _("the file for {year} must be named {year}.toml").format(year=year))
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        bad("source", _("expected the notice the dates come from, e.g. 国务院办公厅关于…的通知"))
        source = ""

    entries: dict[date, tuple[bool, str]] = {}

    def in_range(day: date) -> bool:
        # A year's notice may also settle the last days of December before it and the first of
        # January after it (e.g. 2011-12-31, a make-up working day set by the 2012 notice).
        return date(year - 1, 12, 1) <= day <= date(year + 1, 1, 31)

    def add(key: str, day: date, working: bool, name: str) -> None:
        if not in_range(day):
            bad(key, _(OUTSIDE).format(days=day, year=year))
        elif day in entries and entries[day][0] != working:
            bad(
                key,
                _("{day} is listed both as a holiday and as a make-up working day").format(day=day),
            )
        else:
            entries[day] = (working, name)

    holidays = data.get("holidays", [])
    if not isinstance(holidays, list):
        bad("holidays", _("expected an array of tables { name, from, to }"))
        holidays = []
    for i, item in enumerate(holidays):
        key = f"holidays[{i}]"
        if not _is_table(item, {"name", "from", "to"}):
            bad(key, _("expected a table with exactly name, from and to"))
            continue
        name, start, end = item["name"], item["from"], item["to"]
        if not isinstance(name, str) or not name.strip():
            bad(f"{key}.name", _("expected the holiday's name, e.g. Spring Festival or 春节"))
            continue
        if not _is_date(start) or not _is_date(end):
            bad(key, _("from and to must be dates, e.g. from = 2027-02-06"))
            continue
        if end < start:
            bad(f"{key}.to", _("{end} is before from = {start}").format(end=end, start=start))
            continue
        if not (in_range(start) and in_range(end)):
            bad(key, _(OUTSIDE).format(days=f"{start}–{end}", year=year))
            continue
        day = start
        while day <= end:
            add(key, day, False, name)
            day += timedelta(days=1)

    makeups = data.get("makeup_workdays", [])
    if not isinstance(makeups, list):
        bad("makeup_workdays", _("expected an array of tables { date, name }"))
        makeups = []
    for i, item in enumerate(makeups):
        key = f"makeup_workdays[{i}]"
        if not _is_table(item, {"date", "name"}):
            bad(key, _("expected a table with exactly date and name"))
            continue
        day, name = item["date"], item["name"]
        if not _is_date(day):
            bad(f"{key}.date", _("expected a date, e.g. date = 2027-02-14"))
            continue
        if not isinstance(name, str) or not name.strip():
            bad(f"{key}.name", _("expected the holiday the make-up day belongs to"))
            continue
        if day.weekday() < 5:
            bad(
                f"{key}.date",
                _("{day} is a {weekday}; a make-up working day is a Saturday or Sunday").format(
                    day=day, weekday=_(weekday_name(day))
                ),
            )
            continue
        add(key, day, True, name)

    if problems:
        return None, problems
    return CalendarFile(year, shown, source, entries, hashlib.sha256(raw).hexdigest()), problems


def _is_table(item: Any, keys: set[str]) -> bool:
    return isinstance(item, dict) and set(item) == keys


def _is_date(value: Any) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def make_calendar(name: str, directory: Path | None = None) -> WorkingCalendar:
    """The calendar called ``name`` (``official`` or ``weekends``)."""
    if name == "weekends":
        return WeekendCalendar()
    if name != "official":
        raise BadInput(
            _("--calendar: {name!r} is not one of {names}").format(
                name=name, names=", ".join(CALENDAR_NAMES)
            )
        )
    from mediins_cli.resources import calendar_dir

    directory = directory or calendar_dir()
    return OfficialCalendar(load_calendar_files(directory), display_path(directory))
