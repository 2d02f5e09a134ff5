"""Run months (``YYYY-MM``): parsing and arithmetic, one small value type used everywhere."""

from __future__ import annotations

import calendar as _stdcal
import re
from dataclasses import dataclass
from datetime import date, timedelta, timezone

from dateutil.relativedelta import relativedelta

#: China's time (UTC+8, no daylight saving): the clock of every run month and cut-off
CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2024-02"`` → ``Month(2024, 2)``; raises ``ValueError`` with a readable reason."""
        m = _MONTH.match(text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1900:
            raise ValueError(f"{text!r} is not a month YYYY-MM")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, _stdcal.monthrange(self.year, self.month)[1])

    @property
    def days(self) -> int:
        return _stdcal.monthrange(self.year, self.month)[1]

    def shift(self, months: int) -> Month:
        return Month.of(self.first_day + relativedelta(months=months))

    def day(self, day: int) -> date:
        return date(self.year, self.month, day)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
